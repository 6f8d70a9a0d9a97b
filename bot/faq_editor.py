"""Editing the FAQ of each locale: checking a text, trying a question against it, saving it as a
version that overrides ``locales/<locale>/faq.yaml``, rolling back.

A version holds a locale's whole FAQ document (the YAML the shipped file uses): entries refer to
each other (follow-ups, the menu), so they are checked and saved together.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.orm import Session

from bot.content_versions import (
    ContentKind,
    Edit,
    Scope,
    current_versions,
    digest,
    history,
    rollback_edit,
)
from bot.faq import FaqBook, FaqFileError, FaqLibrary, FaqMatch, parse_faq_text
from bot.i18n import LOCALES_DIR
from bot.keywords import forbidden_reply_instructions
from bot.render import (
    MAX_BUTTON_TITLE,
    MAX_BUTTONS,
    MAX_LIST_ROWS,
    MAX_LIST_TITLE,
    Picker,
    whatsapp_picker,
)
from bot.segments import normalize_for_sms, sms_cost
from bot.store.models import ContentVersion
from bot.template_editor import normalize_source
from bot.template_lint import (
    DEFAULT_MAX_SEGMENTS,
    Findings,
    Problem,
    Refused,
    Severity,
    layout_problems,
    markup_problems,
    sms_problems,
)
from bot.template_translations import SOURCE_LOCALE, Coverage, Translation

MAX_FAQ_SOURCE = 200_000
"""Characters in one locale's FAQ document."""


@dataclass(frozen=True)
class FaqCheck(Findings):
    """An FAQ text checked: the book it makes (None when it does not parse) and its problems.

    Malformed YAML, a broken reference and a forbidden reply instruction in an answer are
    errors. What WhatsApp or SMS would make awkward — a title too long for a button, more
    follow-ups than buttons, an answer with symbols that force UCS-2 or that costs more SMS parts
    than the default budget — is a warning: the bot still works (a numbered menu instead of
    buttons, a longer SMS).
    """

    book: FaqBook | None
    problems: tuple[Problem, ...]


class FaqRefused(Refused):
    """The FAQ text breaks a rule; ``check`` (a FaqCheck) lists every problem."""


@dataclass(frozen=True)
class FaqStatus:
    """A locale's FAQ: where it comes from and whether it keeps up with the default one."""

    locale: str
    edited: ContentVersion | None
    entries: int
    coverage: Coverage


@dataclass(frozen=True)
class FaqView:
    """Everything the editor shows for one locale's FAQ."""

    status: FaqStatus
    version: int
    text: str
    shipped: str
    check: FaqCheck
    history: tuple[ContentVersion, ...]


@dataclass(frozen=True)
class FaqAnswer:
    """What the bot would do with a question."""

    greeting: bool
    match: FaqMatch | None


def check_faq(locale: str, text: str) -> FaqCheck:
    """Check one locale's FAQ document."""
    if len(text) > MAX_FAQ_SOURCE:
        return FaqCheck(None, (Problem("syntax", Severity.ERROR,
                                       f"longer than {MAX_FAQ_SOURCE} characters"),))
    try:
        book = parse_faq_text(locale, text, "FAQ")
    except FaqFileError as error:
        return FaqCheck(None, (Problem("faq", Severity.ERROR, str(error)),))
    problems: list[Problem] = []
    if (shown := _shown_as([book.title_of(ref) for ref in book.menu])) is not None:
        problems.append(Problem("whatsapp", Severity.WARNING, f"the menu is shown {shown}"))
    for entry in book.entries.values():
        if (shown := _shown_as([book.title_of(ref) for ref in book.follow_ups_of(entry)])):
            problems.append(Problem("whatsapp", Severity.WARNING,
                                    f"{entry.id}: the follow-ups are shown {shown}"))
        for phrase in forbidden_reply_instructions(entry.answer):
            problems.append(Problem("forbidden", Severity.ERROR, f"{entry.id}: “{phrase}” asks "
                                    f"the customer to send a word that opts them out"))
        for problem in [*markup_problems(entry.answer, None), *layout_problems(entry.answer)]:
            problems.append(Problem(problem.rule, problem.severity,
                                    f"{entry.id}: {problem.message}"))
        for problem in sms_problems(sms_cost(normalize_for_sms(entry.answer)),
                                    DEFAULT_MAX_SEGMENTS):
            # Accented letters are the language's (not worth a mark); symbols and length are.
            if problem.severity is Severity.ERROR:
                problems.append(Problem(problem.rule, Severity.WARNING,
                                        f"{entry.id}: as an SMS the answer {problem.message}"))
    return FaqCheck(book, tuple(problems))


class FaqEditor:
    """Reads, checks and versions each locale's FAQ."""

    def __init__(self, library: FaqLibrary, locales: tuple[str, ...],
                 locales_dir: Path = LOCALES_DIR) -> None:
        self.library = library
        self.locales = locales
        self.locales_dir = locales_dir

    def shipped(self, locale: str) -> str:
        """The shipped ``faq.yaml`` of a locale (empty when it has none)."""
        self._locale(locale)
        path = self.locales_dir / locale / "faq.yaml"
        return path.read_text(encoding="utf-8") if path.exists() else ""

    def _locale(self, locale: str) -> None:
        if locale not in self.locales:
            raise ValueError(f"locale must be one of {', '.join(self.locales)}")

    def overview(self, session: Session) -> list[FaqStatus]:
        """Every locale's FAQ with its state (each locale's text parsed once)."""
        current = current_versions(session, ContentKind.FAQ)
        books = {locale: self._book(locale, current) for locale in self.locales}
        return [self._status(locale, books, current) for locale in self.locales]

    def view(self, session: Session, locale: str) -> FaqView:
        """One locale's FAQ with its check and history."""
        self._locale(locale)
        current = current_versions(session, ContentKind.FAQ)
        text = self._text(locale, self._edited(locale, current))
        check = check_faq(locale, text)
        versions = tuple(history(session, Scope.faq(locale)))
        return FaqView(self._status(locale, {locale: check.book}, current),
                       versions[0].version if versions else 0, text, self.shipped(locale), check,
                       versions)

    def _edited(self, locale: str, current: dict[Scope, ContentVersion]) -> ContentVersion | None:
        """The operator's version in force (None: the shipped file is)."""
        own = current.get(Scope.faq(locale))
        return own if own is not None and own.source is not None else None

    def _text(self, locale: str, edited: ContentVersion | None) -> str:
        text = edited.source if edited is not None else None
        return text if text is not None else self.shipped(locale)

    def _book(self, locale: str, current: dict[Scope, ContentVersion]) -> FaqBook | None:
        """The locale's text in force parsed, without the rest of the check (None: invalid)."""
        try:
            return parse_faq_text(locale, self._text(locale, self._edited(locale, current)), "FAQ")
        except FaqFileError:
            return None

    def _status(self, locale: str, books: dict[str, FaqBook | None],
                current: dict[Scope, ContentVersion]) -> FaqStatus:
        """``books`` holds the locale's parsed text in force, and may hold the default one's."""
        edited, book = self._edited(locale, current), books[locale]
        return FaqStatus(locale, edited, len(book.entries) if book else 0,
                         self._coverage(locale, book, edited, books, current))

    def _coverage(self, locale: str, book: FaqBook | None, edited: ContentVersion | None,
                  books: dict[str, FaqBook | None],
                  current: dict[Scope, ContentVersion]) -> Coverage:
        if book is None:
            return Coverage(Translation.MISSING, "no valid FAQ: the default locale's is used")
        if locale != SOURCE_LOCALE and SOURCE_LOCALE in self.locales:
            source_edit = self._edited(SOURCE_LOCALE, current)
            source_book = (books[SOURCE_LOCALE] if SOURCE_LOCALE in books
                           else self._book(SOURCE_LOCALE, current))
            if source_book is not None and (missing := set(source_book.entries) - set(book.entries)):
                return Coverage(Translation.MISSING, f"entries only in {SOURCE_LOCALE}: "
                                                     f"{', '.join(sorted(missing))}")
            if source_edit is not None and (edited is None or source_edit.id > edited.id):
                return Coverage(Translation.STALE, f"the {SOURCE_LOCALE} FAQ was edited after "
                                                   f"this one (version {source_edit.version})")
        if edited is not None and edited.shipped_digest != digest(self.shipped(locale)):
            return Coverage(Translation.STALE, f"the shipped file changed after version "
                                               f"{edited.version}: compare and save again")
        return Coverage(Translation.OK)

    def check(self, locale: str, text: str) -> FaqCheck:
        """Check an FAQ text for a locale."""
        self._locale(locale)
        return check_faq(locale, normalize_source(text))

    def try_question(self, locale: str, question: str, text: str | None = None) -> FaqAnswer:
        """What the bot answers ``question`` with: from ``text`` (a draft) when given, else from
        the FAQ in force (refresh the overrides first)."""
        self._locale(locale)
        if text is None:
            book = self.library.book(locale)
        else:
            check = self.check(locale, text)
            if check.book is None:
                raise FaqRefused(check)
            book = check.book
        return FaqAnswer(book.is_greeting(question), book.match(question))

    def edit(self, locale: str, text: str) -> Edit:
        """An FAQ checked for saving as the next version (``save_version`` writes it);
        FaqRefused with the problems otherwise."""
        text = normalize_source(text)
        self._approve(locale, text)
        return Edit(Scope.faq(locale), text, self.shipped(locale))

    def rollback(self, session: Session, locale: str, version: int | None) -> Edit:
        """The edit that rolls back to an older version (checked again), or to the shipped file
        (None)."""
        self._locale(locale)
        edit = rollback_edit(session, Scope.faq(locale), version, shipped=self.shipped(locale))
        if edit.source is not None:
            self._approve(locale, edit.source)
        return edit

    def _approve(self, locale: str, text: str) -> None:
        """FaqRefused unless the text keeps every rule."""
        if not (check := self.check(locale, text)).ok:
            raise FaqRefused(check)


def _shown_as(titles: list[str]) -> str | None:
    """How WhatsApp will show these choices when it is not as buttons (None when it is)."""
    picker = whatsapp_picker(titles)
    if picker is Picker.LIST:
        return (f"as a list, not buttons: buttons allow {MAX_BUTTONS} choices of at most "
                f"{MAX_BUTTON_TITLE} characters")
    if picker is Picker.MENU:
        return (f"as a numbered menu in the text: a list allows {MAX_LIST_ROWS} choices of "
                f"at most {MAX_LIST_TITLE} characters")
    return None
