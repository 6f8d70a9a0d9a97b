"""Objects built once per process and shared by the store's threads (write lanes, readers, the
FAQ editor's worker thread) stay correct when those threads use them at the same time."""

from __future__ import annotations

import itertools
import sys
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import TypeVar

import snowballstemmer
from jinja2 import DictLoader

from bot import faq as faq_module
from bot.content_versions import ContentOverrides, Override, OverrideSnapshot, Scope
from bot.faq import FaqLibrary, stemmer_for
from bot.messages import Channel, Say
from bot.render import Renderer

T = TypeVar("T")
LANES = 4


@contextmanager
def switching_threads_constantly() -> Iterator[None]:
    """Let the interpreter switch threads as often as it can, as a busy server might."""
    previous = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    try:
        yield
    finally:
        sys.setswitchinterval(previous)


def on_lanes(work: Callable[[int], T]) -> list[T]:
    """Run ``work(lane)`` on every lane at once; every lane's result (a lane's error is raised)."""
    with switching_threads_constantly(), ThreadPoolExecutor(LANES) as pool:
        return list(pool.map(work, range(LANES)))


def test_lanes_resolving_new_templates_at_once_all_render() -> None:
    """Lanes rendering templates none of them has resolved yet (after start-up, an operator's
    edit or a changed file) each get their message, instead of one failing on the cache the
    others are filling."""
    count = 2000
    keys = [f"flow{i}.message" for i in range(count)]
    for _ in range(5):  # a few rounds, each with a fresh (empty) cache
        renderer = Renderer(["en"], "en", loader=DictLoader(
            {f"flow{i}/message.txt": f"message {i}" for i in range(count)}))

        def render_share(lane: int, renderer: Renderer = renderer) -> list[str]:
            return [renderer.render(Say(key), Channel.SMS, "en").body for key in keys[lane::LANES]]

        bodies = on_lanes(render_share)
        assert sorted(itertools.chain(*bodies)) == sorted(f"message {i}" for i in range(count))


def _faq(revision: int) -> str:
    return ("greetings: [hi]\n"
            "entries:\n"
            "  - id: hours\n"
            f"    title: revision {revision}\n"
            "    questions: [when are you open]\n"
            "    answer: Always.\n")


def _save_faq_version(overrides: ContentOverrides, revision: int) -> None:
    """What ContentOverrides.refresh installs once an operator saved FAQ version ``revision``."""
    overrides._snapshot = OverrideSnapshot(revision, {
        Scope.faq("en"): Override(revision, revision, _faq(revision))})


def test_a_slower_lane_does_not_put_back_an_older_faq_version(tmp_path: Path,
                                                             monkeypatch) -> None:
    """A lane still parsing the previous FAQ version when another lane installs the operator's
    newer one leaves the newer one in force: the turns that follow answer from it."""
    (tmp_path / "en").mkdir()
    (tmp_path / "en" / "faq.yaml").write_text(_faq(0), encoding="utf-8")
    overrides = ContentOverrides()
    library = FaqLibrary(("en",), "en", tmp_path, edits=overrides)
    parsing_old, newer_refreshed = threading.Event(), threading.Event()
    parse = faq_module.parse_faq_text

    def descheduled_while_parsing_version_1(locale: str, text: str, source: str = "<faq>"):
        if "revision 1" in text:
            parsing_old.set()
            # The OS runs other threads meanwhile (with the default 5 ms switch interval a
            # parse can easily outlast another lane's whole refresh).
            newer_refreshed.wait(timeout=1)
        return parse(locale, text, source)

    monkeypatch.setattr(faq_module, "parse_faq_text", descheduled_while_parsing_version_1)
    _save_faq_version(overrides, 1)
    with switching_threads_constantly(), ThreadPoolExecutor(LANES) as pool:
        slow_lane = pool.submit(library.refresh)
        assert parsing_old.wait(timeout=5)
        _save_faq_version(overrides, 2)
        pool.submit(library.refresh).result()
        newer_refreshed.set()
        slow_lane.result()
    assert library.book("en").entries["hours"].title == "revision 2"


def test_lanes_stemming_at_once_give_each_word_its_own_stem() -> None:
    """Lanes matching questions at once each get every word's right stem: a Snowball stemmer
    keeps the word in progress on itself, so one shared between threads mangles words or raises."""
    words = [f"{root}{n}{ending}" for n in range(1500)
             for root in ("charg", "cancel", "pausing", "renew")
             for ending in ("ing", "ed", "ations", "ly")]
    expected = {word: snowballstemmer.stemmer("english").stemWord(word) for word in words}
    stem = stemmer_for("en")
    stems = on_lanes(lambda lane: {word: stem(word) for word in words[lane::LANES]})
    assert {word: s for share in stems for word, s in share.items()} == expected
