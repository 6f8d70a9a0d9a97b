"""US states whose telephone-solicitation laws reach text messages: Florida, Oklahoma and Maryland.

A number with one of their area codes gets proactive messages only 08:00–20:00 local time and at
most three on one subject in any 24 hours. The area code decides, not where the person says they
live: the laws presume a number with the state's area code belongs to a resident.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, time, timedelta

from bot.quiet_hours import Window

STATE_WINDOW = Window(time(8, 0), time(20, 0))
SUBJECT_CAP = 3
CAP_PERIOD = timedelta(hours=24)

# Area codes in service, overlays included (NANPA).
AREA_CODES: dict[str, frozenset[str]] = {
    "FL": frozenset({"239", "305", "321", "324", "352", "386", "407", "448", "561", "645", "656",
                     "689", "727", "728", "754", "772", "786", "813", "850", "863", "904", "941",
                     "954"}),
    "OK": frozenset({"405", "539", "572", "580", "918"}),
    "MD": frozenset({"227", "240", "301", "410", "443", "667"}),
}
_STATE_OF = {code: state for state, codes in AREA_CODES.items() for code in codes}


def restricted_state(e164: str) -> str | None:
    """``FL``, ``OK`` or ``MD`` when the number's area code belongs to one of those states."""
    if not e164.startswith("+1") or len(e164) != 12:
        return None
    return _STATE_OF.get(e164[2:5])


def cap_release(recent_sends: Sequence[datetime], now: datetime) -> datetime | None:
    """When one more message on a subject may go, given the sends on it in the last 24 hours:
    None when it may go now, else the moment the oldest counted send leaves the period."""
    in_period = sorted(sent for sent in recent_sends if now - sent < CAP_PERIOD)
    if len(in_period) < SUBJECT_CAP:
        return None
    return in_period[-SUBJECT_CAP] + CAP_PERIOD
