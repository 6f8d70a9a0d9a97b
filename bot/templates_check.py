"""``bot templates check``: every template × locale × channel — the shipped file and the
operator's version in force — and every locale's FAQ, checked with the editors' rules."""

from __future__ import annotations

from dataclasses import dataclass

from bot.content_versions import ContentKind, OverrideSnapshot
from bot.faq_editor import FaqEditor
from bot.messages import Channel
from bot.template_editor import TemplateEditor, UnknownTemplate
from bot.template_lint import Problem, Severity


@dataclass(frozen=True)
class Finding:
    """A problem and the text it was found in."""

    where: str
    problem: Problem


@dataclass(frozen=True)
class CheckReport:
    """What ``bot templates check`` found."""

    texts: int
    """How many texts were checked."""
    findings: tuple[Finding, ...]

    @property
    def errors(self) -> tuple[Finding, ...]:
        """Findings that fail the check."""
        return tuple(f for f in self.findings if f.problem.severity is Severity.ERROR)


def check_everything(templates: TemplateEditor, faqs: FaqEditor,
                     saved: OverrideSnapshot) -> CheckReport:
    """Check every shipped text and every saved version in force."""
    findings: list[Finding] = []
    texts = 0
    for key in templates.specs:
        for locale in templates.locales:
            for channel in Channel:
                where = f"{key} {locale} {channel}"
                try:
                    sources = [("shipped file", templates.shipped(key, channel))]
                except UnknownTemplate as error:
                    findings.append(Finding(where, Problem("syntax", Severity.ERROR, str(error))))
                    sources = []
                if (edit := saved.template(key, locale, channel)) is not None:
                    sources.append((f"version {edit.version}", edit.source))
                for origin, source in sources:
                    texts += 1
                    check = templates.check(key, locale, channel, source)
                    findings += [Finding(f"{where} ({origin})", p) for p in check.problems]
    for locale in faqs.locales:
        sources = [("shipped file", faqs.shipped(locale))]
        if (edit := saved.faq(locale)) is not None:
            sources.append((f"version {edit.version}", edit.source))
        for origin, source in sources:
            texts += 1
            findings += [Finding(f"FAQ {locale} ({origin})", p)
                         for p in faqs.check(locale, source).problems]
    for scope in saved.by_scope:
        if scope.kind is ContentKind.TEMPLATE and scope.key not in templates.specs:
            findings.append(Finding(scope.label, Problem(
                "variables", Severity.WARNING, "a saved version of a message that no longer "
                                               "exists (it is never sent)")))
    return CheckReport(texts, tuple(findings))
