"""FAQ content per locale (``locales/<locale>/faq.yaml``, editable without code) and its matcher.

The matcher is deliberately plain and predictable. Questions are normalized (case, accents,
punctuation), the locale's function words dropped, and the rest reduced to their stems with the
locale's Snowball stemmer ("troco" and "trocar" are one word). A word the FAQ does not know is taken as
a typo of the closest word it does know (rapidfuzz ratio), which absorbs typos and plurals
without confusing two real words ("change" never becomes "charge"). Each word weighs by how
rare it is across entries (IDF), so "card" says more than "help". An entry scores the F1 of
two weighted coverages: how much of the question its vocabulary covers, and how much of its
closest question variant the question covers. No hosted model.
"""

from __future__ import annotations

import logging
import math
import threading
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

import snowballstemmer
import yaml
from babel import Locale
from rapidfuzz import fuzz, process

from bot.i18n import LOCALES_DIR
from bot.keywords import fold

if TYPE_CHECKING:
    from bot.content_versions import ContentOverrides

log = logging.getLogger(__name__)

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


class Courtesy(StrEnum):
    """A message that only thanks or acknowledges ("thanks", "ok", 👍): no question in it."""

    THANKS = "thanks"
    ACKNOWLEDGEMENT = "acknowledgement"
    NO_THANKS = "no_thanks"
    """"No thanks", "that's all": done, after an answer; no answer to a pending question."""


def courtesy_key(text: str) -> str:
    """What courtesy phrases are compared in: the normalized words, or for a message of symbols
    only (👍🏽, 🙏🙏) its symbols once each, without skin tones."""
    words = normalize(text)
    if words:
        return words
    return "".join(dict.fromkeys(ch for ch in text if unicodedata.category(ch) == "So"))


@dataclass
class FaqBook:
    """The FAQ of one locale."""

    locale: str
    entries: dict[str, FaqEntry]
    actions: dict[str, FaqAction]
    menu: tuple[str, ...]
    greetings: frozenset[str]
    stopwords: frozenset[str] = frozenset()
    other_greetings: frozenset[str] = frozenset()
    """Greetings of the other shipped locales: "hi" is a greeting whatever the contact's locale."""
    courtesies: dict[str, Courtesy] = field(default_factory=dict)
    """The locale's thanks and acknowledgements, by ``courtesy_key``."""
    other_courtesies: dict[str, Courtesy] = field(default_factory=dict)
    """Those of the other shipped locales ("thanks" from a Spanish speaker is thanks too)."""
    _variants: list[tuple[FaqEntry, frozenset[str]]] = field(default_factory=list, repr=False)
    _vocabulary: dict[str, frozenset[str]] = field(default_factory=dict, repr=False)
    _idf: dict[str, float] = field(default_factory=dict, repr=False)
    _known: list[str] = field(default_factory=list, repr=False)
    _stem_of: dict[str, str] = field(default_factory=dict, repr=False)
    _unknown_idf: float = 1.0

    def follow_ups_of(self, entry: FaqEntry) -> tuple[str, ...]:
        """What is offered after an answer: its own follow-ups, else the menu without itself."""
        return tuple(ref for ref in entry.follow_ups or self.menu if ref != entry.id)

    def title_of(self, ref: str) -> str:
        """The button title of a menu or follow-up reference (an entry or an action)."""
        return self.entries[ref].title if ref in self.entries else self.actions[ref].title

    def __post_init__(self) -> None:
        vocabulary: dict[str, set[str]] = {}
        stem = stemmer_for(self.locale)
        for entry in self.entries.values():
            for question in (entry.title, *entry.questions):
                raw = self._content_words(question)
                self._stem_of.update((word, stem(word)) for word in raw)
                stems = frozenset(stem(word) for word in raw)
                if stems:
                    self._variants.append((entry, stems))
                    vocabulary.setdefault(entry.id, set()).update(stems)
        self._vocabulary = {entry_id: frozenset(words) for entry_id, words in vocabulary.items()}
        count = len(vocabulary) or 1
        frequency: dict[str, int] = {}
        for words in vocabulary.values():
            for word in words:
                frequency[word] = frequency.get(word, 0) + 1
        self._idf = {word: math.log(1 + count / n) for word, n in frequency.items()}
        self._known = list(self._stem_of)
        self._unknown_idf = math.log(1 + count)

    def _content_words(self, text: str) -> list[str]:
        return [w for w in normalize(text).split() if w not in self.stopwords]

    def words(self, text: str) -> frozenset[str]:
        """The stems a question is matched on: a word the FAQ does not know is read as the
        closest word it does know (a typo), compared before stemming."""
        stem = stemmer_for(self.locale)
        stems = set()
        for word in self._content_words(text):
            stemmed = stem(word)
            if stemmed not in self._idf and len(word) >= 4:
                close = process.extractOne(word, self._known, scorer=fuzz.ratio,
                                           score_cutoff=SIMILAR_WORD)
                if close is not None:
                    stemmed = self._stem_of[close[0]]
            stems.add(stemmed)
        return frozenset(stems)

    def match(self, text: str) -> FaqMatch | None:
        """The entry that best answers ``text``, if any is close enough."""
        query = self.words(text)
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
        """Whether the message is only a greeting ("hi", "hola", "bom dia"…), in any locale."""
        folded = normalize(text)
        return folded in self.greetings or folded in self.other_greetings

    def courtesy(self, text: str) -> Courtesy | None:
        """Whether the message only thanks or acknowledges, in any locale (None: it does not)."""
        key = courtesy_key(text)
        return self.courtesies.get(key) or self.other_courtesies.get(key)


@lru_cache(maxsize=32)
def stemmer_for(locale: str) -> Callable[[str], str]:
    """The locale's Snowball stemmer as a word → stem function (identity when there is none).

    Safe to call from several threads (the store's write lanes): a Snowball stemmer keeps the
    word in progress on itself, so each thread stems with its own; the stems are shared."""
    try:
        language = Locale.parse(locale).get_language_name("en").lower()
    except (ValueError, AttributeError):
        language = ""
    if language not in snowballstemmer.algorithms():
        return lambda word: word
    per_thread = threading.local()

    def stem(word: str) -> str:
        stemmer = getattr(per_thread, "stemmer", None)
        if stemmer is None:
            stemmer = per_thread.stemmer = snowballstemmer.stemmer(language)
        return stemmer.stemWord(word)

    return lru_cache(maxsize=65536)(stem)


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
    courtesies = {courtesy_key(_text(phrase, f"{source} {key}")): kind
                  for key, kind in (("acknowledgements", Courtesy.ACKNOWLEDGEMENT),
                                    ("thanks", Courtesy.THANKS),
                                    ("no_thanks", Courtesy.NO_THANKS))
                  for phrase in data.get(key) or ()}
    courtesies.pop("", None)  # punctuation alone thanks no one
    return FaqBook(locale, entries, actions, menu, greetings, stopwords, courtesies=courtesies)


def parse_faq_text(locale: str, text: str, source: str = "<faq>") -> FaqBook:
    """Parse and validate the YAML text of one FAQ."""
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as error:
        raise FaqFileError(f"{source}: {error}") from error
    return parse_faq(locale, data, source)


def load_faq(locale: str, locales_dir: Path = LOCALES_DIR) -> FaqBook:
    """Load ``locales/<locale>/faq.yaml``."""
    path = locales_dir / locale / "faq.yaml"
    return parse_faq_text(locale, path.read_text(encoding="utf-8"), str(path))


class FaqLibrary:
    """Every shipped locale's FAQ, reloaded when its file changes (operators edit them live).
    An operator's saved version (``edits``, refreshed once per turn batch) overrides the file."""

    def __init__(self, locales: tuple[str, ...], default_locale: str,
                 locales_dir: Path = LOCALES_DIR, edits: ContentOverrides | None = None) -> None:
        self.default_locale = default_locale
        self._dir = locales_dir
        self._books: dict[str, tuple[float, FaqBook]] = {}
        self._edited: dict[str, tuple[int, FaqBook | None]] = {}
        self._locales = locales
        self._edits = edits
        self._current: dict[str, FaqBook] = {}
        self._revision = -1
        self._refreshing = threading.Lock()  # a slower refresh never installs older books

    def book(self, locale: str) -> FaqBook:
        """The FAQ for ``locale`` (the default locale's when it has none)."""
        self._ensure_current()
        return self._current.get(locale) or self._current[self.default_locale]

    def _ensure_current(self) -> None:
        """Books are current with the operators' edits at once; files are re-checked by refresh()."""
        if not self._current or self._edit_revision() != self._revision:
            self.refresh()

    def _edit_revision(self) -> int:
        return self._edits.snapshot.revision if self._edits is not None else 0

    def refresh(self) -> None:
        """Re-read FAQ files changed on disk and pick up operators' edits (the processor calls
        this once per batch, so answering a question costs no file system call)."""
        with self._refreshing:
            revision = self._edit_revision()
            books = {locale: self._load(locale) for locale in self._locales
                     if self._has_faq(locale)}
            if self.default_locale not in books:
                books[self.default_locale] = self._load(self.default_locale)
            for locale, book in books.items():
                others = frozenset().union(*(b.greetings for other, b in books.items()
                                             if other != locale))
                if book.other_greetings != others:
                    book.other_greetings = others
                courtesies = {key: kind for other, b in books.items() if other != locale
                              for key, kind in b.courtesies.items()}
                if book.other_courtesies != courtesies:
                    book.other_courtesies = courtesies
            self._current = books
            self._revision = revision  # only once its books are in force

    def greeting_locale(self, text: str) -> str | None:
        """The locale a bare greeting reveals ("hola" → es): one other than the default that
        alone says it. Default-language greetings ("hi") are used everywhere and reveal nothing."""
        folded = normalize(text)
        self._ensure_current()
        speakers = [locale for locale, book in self._current.items()
                    if locale in self._locales and folded in book.greetings]
        if len(speakers) == 1 and speakers[0] != self.default_locale:
            return speakers[0]
        return None

    def _has_faq(self, locale: str) -> bool:
        return (self._dir / locale / "faq.yaml").exists() or self._edited_book(locale) is not None

    def _edited_book(self, locale: str) -> FaqBook | None:
        """The operator's version in force, parsed once per version."""
        edit = self._edits.snapshot.faq(locale) if self._edits is not None else None
        if edit is None:
            return None
        cached = self._edited.get(locale)
        if cached is None or cached[0] != edit.id:
            try:
                book: FaqBook | None = parse_faq_text(locale, edit.source,
                                                      f"{locale} FAQ version {edit.version}")
            except FaqFileError as error:
                # Checked when saved; a version an older rule let through must not stop the bot.
                log.error("FAQ version no longer valid, using the shipped file: %s", error)
                book = None
            cached = (edit.id, book)
            self._edited[locale] = cached
        return cached[1]

    def _load(self, locale: str) -> FaqBook:
        edited = self._edited_book(locale)
        if edited is not None:
            return edited
        path = self._dir / locale / "faq.yaml"
        mtime = path.stat().st_mtime
        cached = self._books.get(locale)
        if cached is None or cached[0] != mtime:
            cached = (mtime, load_faq(locale, self._dir))
            self._books[locale] = cached
        return cached[1]
