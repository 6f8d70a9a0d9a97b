"""Link tokens: bound to one subject and purpose, refused when tampered or expired."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from bot.links import LinkExpired, LinkInvalid, issue_link_token, read_link_token

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)


def test_round_trip_until_expiry() -> None:
    token = issue_link_token("k", "pay", "in_1", NOW + timedelta(days=7))
    assert read_link_token("k", "pay", token, NOW + timedelta(days=6, hours=23)) == "in_1"
    with pytest.raises(LinkExpired):
        read_link_token("k", "pay", token, NOW + timedelta(days=7))


@pytest.mark.parametrize("mutate", [
    lambda t: t[:-1] + ("A" if t[-1] != "A" else "B"),
    lambda t: t.replace(t.split(".")[0], "aW5fMg"),  # another invoice, same signature
    lambda t: t.split(".")[0] + "." + "ffffffff" + "." + t.split(".")[2],  # later expiry
    lambda t: t[:10],
    lambda t: "",
])
def test_tampered_tokens_are_invalid(mutate) -> None:
    token = issue_link_token("k", "pay", "in_1", NOW + timedelta(days=7))
    with pytest.raises(LinkInvalid):
        read_link_token("k", "pay", mutate(token), NOW)


def test_purpose_and_key_bind_the_token() -> None:
    token = issue_link_token("k", "pay", "in_1", NOW + timedelta(days=7))
    with pytest.raises(LinkInvalid):
        read_link_token("k", "consent", token, NOW)
    with pytest.raises(LinkInvalid):
        read_link_token("other-key", "pay", token, NOW)
