"""FAQ content per locale (``locales/<locale>/faq.yaml``, editable without code) and its matcher.

The matcher is deliberately plain and predictable. Questions are normalized (case, accents,
punctuation) and the locale's function words dropped. A word the FAQ does not know is taken as
a typo of the closest word it does know (rapidfuzz ratio), which absorbs typos and plurals
without confusing two real words ("change" never becomes "charge"). Each word weighs by how
rare it is across entries (IDF), so "card" says more than "help". An entry scores the F1 of
two weighted coverages: how much of the question its vocabulary covers, and how much of its
closest question variant the question covers. No hosted model.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import yaml
from rapidfuzz import fuzz, process

from bot.i18n import LOCALES_DIR
from bot.keywords import fold

MATCH_THRESHOLD = 55.0
"""Minimum score (0–100) for an answer; below it the bot says it is unsure and offers a person."""
SIMILAR_WORD = 80.0
"""rapidfuzz ratio at which an unknown word (four letters or more) is read as a known one."""


class FaqFileError(ValueError):
    """An FAQ file is malformed; the message names the file and the entry."""


@dataclass(frozen=True)
class FaqEntry:
    """One question the bot can answer."""

    id: str
    title: str
    questions: tuple[str, ...]
    answer: str
    follow_ups: tuple[str, ...] = ()


@dataclass(frozen=True)
class FaqAction:
    """A follow-up that leaves the FAQ (e.g. to a person): a title and the payload it sends."""

    id: str
    title: str
    payload: str


@dataclass(frozen=True)
class FaqMatch:
    """The best answer for a question and how sure the matcher is."""

    entry: FaqEntry
    score: float


@dataclass
class FaqBook:
    """The FAQ of one locale."""

    locale: str
    entries: dict[str, FaqEntry]
    actions: dict[str, FaqAction]
    menu: tuple[str, ...]
    greetings: frozenset[str]
    stopwords: frozenset[str] = frozenset()
    _variants: list[tuple[FaqEntry, frozenset[str]]] = field(default_factory=list, repr=False)
    _vocabulary: dict[str, frozenset[str]] = field(default_factory=dict, repr=False)
    _idf: dict[str, float] = field(default_factory=dict, repr=False)
    _known: list[str] = field(default_factory=list, repr=False)
    _unknown_idf: float = 1.0

    def __post_init__(self) -> None:
        vocabulary: dict[str, set[str]] = {}
        for entry in self.entries.values():
            for question in (entry.title, *entry.questions):
                words = self.words(question)
                if words:
                    self._variants.append((entry, frozenset(words)))
                    vocabulary.setdefault(entry.id, set()).update(words)
        self._vocabulary = {entry_id: frozenset(words) for entry_id, words in vocabulary.items()}
        count = len(vocabulary) or 1
        frequency: dict[str, int] = {}
        for words in vocabulary.values():
            for word in words:
                frequency[word] = frequency.get(word, 0) + 1
        self._idf = {word: math.log(1 + count / n) for word, n in frequency.items()}
        self._known = list(self._idf)
        self._unknown_idf = math.log(1 + count)

    def words(self, text: str) -> tuple[str, ...]:
        """The words of ``text`` that carry meaning (normalized, function words dropped)."""
        return tuple(w for w in normalize(text).split() if w not in self.stopwords)

    def _corrected(self, word: str) -> str:
        if word in self._idf or len(word) < 4:
            return word
        close = process.extractOne(word, self._known, scorer=fuzz.ratio, score_cutoff=SIMILAR_WORD)
        return close[0] if close else word

    def match(self, text: str) -> FaqMatch | None:
        """The entry that best answers ``text``, if any is close enough."""
        query = frozenset(self._corrected(w) for w in self.words(text))
        if not query:
            return None
        weight = lambda word: self._idf.get(word, self._unknown_idf)  # noqa: E731
        query_weight = sum(weight(w) for w in query)
        precision: dict[str, float] = {}
        for entry, variant in self._variants:
            covered = sum(weight(w) for w in variant if w in query)
            if covered:
                share = covered / sum(weight(w) for w in variant)
                precision[entry.id] = max(precision.get(entry.id, 0.0), share)
        best: FaqMatch | None = None
        for entry_id, p in precision.items():
            r = sum(weight(w) for w in query if w in self._vocabulary[entry_id]) / query_weight
            score = 100.0 * 2 * p * r / (p + r)
            if score >= MATCH_THRESHOLD and (best is None or score > best.score):
                best = FaqMatch(self.entries[entry_id], score)
        return best

    def is_greeting(self, text: str) -> bool:
        """Whether the message is only a greeting ("hi", "hola", "bom dia"…)."""
        return normalize(text) in self.greetings


def normalize(text: str) -> str:
    """Lower-case words without accents or punctuation: what questions are compared in."""
    return " ".join(fold(text).lower().split())


def _text(value: object, where: str) -> str:
    if not isinstance(value, str):
        raise FaqFileError(f"{where}: {value!r} is not text (put it in quotes)")
    return value


def _require(mapping: dict, key: str, where: str) -> object:
    if key not in mapping or mapping[key] in (None, "", []):
        raise FaqFileError(f"{where}: missing {key!r}")
    return mapping[key]


def parse_faq(locale: str, data: object, source: str = "<faq>") -> FaqBook:
    """Validate the parsed YAML of one FAQ file and build its book."""
    if not isinstance(data, dict):
        raise FaqFileError(f"{source}: expected a mapping at the top")
    entries: dict[str, FaqEntry] = {}
    for position, raw in enumerate(_require(data, "entries", source), start=1):  # type: ignore[arg-type]
        where = f"{source} entry {position}"
        if not isinstance(raw, dict):
            raise FaqFileError(f"{where}: expected a mapping")
        entry_id = str(_require(raw, "id", where))
        questions = _require(raw, "questions", f"{where} ({entry_id})")
        if not isinstance(questions, list):
            raise FaqFileError(f"{where} ({entry_id}): questions must be a list")
        if entry_id in entries:
            raise FaqFileError(f"{where}: duplicate id {entry_id!r}")
        entries[entry_id] = FaqEntry(
            id=entry_id,
            title=str(_require(raw, "title", f"{where} ({entry_id})")),
            questions=tuple(_text(q, f"{where} ({entry_id}) questions") for q in questions),
            answer=str(_require(raw, "answer", f"{where} ({entry_id})")).strip(),
            follow_ups=tuple(str(f) for f in raw.get("follow_ups") or ()),
        )
    actions = {
        str(action_id): FaqAction(str(action_id), str(_require(spec, "title", f"{source} action "
                                                                 f"{action_id}")),
                                  str(_require(spec, "payload", f"{source} action {action_id}")))
        for action_id, spec in (data.get("actions") or {}).items()
    }
    menu = tuple(str(m) for m in data.get("menu") or ())
    for ref in menu + tuple(f for e in entries.values() for f in e.follow_ups):
        if ref not in entries and ref not in actions:
            raise FaqFileError(f"{source}: {ref!r} is neither an entry nor an action")
    greetings = frozenset(normalize(_text(g, f"{source} greetings")) for g in
                          data.get("greetings") or ())
    stopwords = frozenset(normalize(_text(data.get("stopwords") or "", f"{source} stopwords"))
                          .split())
    return FaqBook(locale, entries, actions, menu, greetings, stopwords)


def load_faq(locale: str, locales_dir: Path = LOCALES_DIR) -> FaqBook:
    """Load ``locales/<locale>/faq.yaml``."""
    path = locales_dir / locale / "faq.yaml"
    with path.open(encoding="utf-8") as handle:
        try:
            data = yaml.safe_load(handle)
        except yaml.YAMLError as error:
            raise FaqFileError(f"{path}: {error}") from error
    return parse_faq(locale, data, str(path))


class FaqLibrary:
    """Every shipped locale's FAQ, reloaded when its file changes (operators edit them live)."""

    def __init__(self, locales: tuple[str, ...], default_locale: str,
                 locales_dir: Path = LOCALES_DIR) -> None:
        self.default_locale = default_locale
        self._dir = locales_dir
        self._books: dict[str, tuple[float, FaqBook]] = {}
        self._locales = locales

    def book(self, locale: str) -> FaqBook:
        """The FAQ for ``locale`` (the default locale's when it has none)."""
        if locale not in self._locales or not (self._dir / locale / "faq.yaml").exists():
            locale = self.default_locale
        path = self._dir / locale / "faq.yaml"
        mtime = path.stat().st_mtime
        cached = self._books.get(locale)
        if cached is None or cached[0] != mtime:
            cached = (mtime, load_faq(locale, self._dir))
            self._books[locale] = cached
        return cached[1]
