"""Coverage per locale for the console: how much of the catalog is translated, how many
messages read right, and whether the FAQ keeps up with the source locale's."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from bot.faq_editor import FaqStatus
from bot.i18n import LOCALES_DIR
from bot.template_editor import TemplateRow
from bot.template_translations import CatalogSummary, Translation, catalog_summary


@dataclass(frozen=True)
class LocaleCoverage:
    """One locale's coverage."""

    locale: str
    catalog: CatalogSummary
    messages: int
    """Messages × channels."""
    by_state: dict[Translation, int]
    edited: int
    faq: FaqStatus | None


def locale_coverage(locales: tuple[str, ...], rows: list[TemplateRow], faqs: list[FaqStatus],
                    locales_dir: Path = LOCALES_DIR) -> list[LocaleCoverage]:
    """Coverage of every locale from the template overview and the FAQ overview."""
    faq_by_locale = {status.locale: status for status in faqs}
    report = []
    for locale in locales:
        statuses = [s for row in rows for s in row.statuses if s.locale == locale]
        states = Counter(s.coverage.state for s in statuses)
        report.append(LocaleCoverage(
            locale, catalog_summary(locale, locales_dir), len(statuses),
            {state: states.get(state, 0) for state in Translation},
            sum(1 for s in statuses if s.edited is not None), faq_by_locale.get(locale)))
    return report
