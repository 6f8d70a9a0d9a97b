"""Console accounts: password hashing, sign-in, and server-side sessions.

Passwords are hashed with scrypt (hashlib; OWASP's N=2^14, r=8, p=5). A session is a random
token: the browser holds it signed (itsdangerous, with BOT_SECRET_KEY), the database holds
only its SHA-256, so signing out — or a stolen database — never yields a usable cookie.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
from collections import deque
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from bot.store.models import ConsoleSession, ConsoleUser

SCRYPT = {"n": 2**14, "r": 8, "p": 5}
SESSION_LIFETIME = timedelta(hours=12)
FAILED_SIGN_IN_LIMIT = 5
FAILED_SIGN_IN_WINDOW = timedelta(minutes=15)
MIN_PASSWORD = 12
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


class Role(StrEnum):
    """What a console user may do. Operators may also work the agent console."""

    AGENT = "agent"
    OPERATOR = "operator"

    def may(self, needed: Role) -> bool:
        """Whether this role covers what ``needed`` requires."""
        return self is needed or self is Role.OPERATOR


class AccountError(ValueError):
    """A user cannot be created as asked; the message says why."""


@dataclass(frozen=True)
class Viewer:
    """The signed-in user behind a request."""

    user_id: int
    email: str
    role: Role
    csrf_token: str


def hash_password(password: str) -> str:
    """``scrypt$n$r$p$salt$hash`` for storing."""
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, dklen=32, maxmem=64 * 2**20, **SCRYPT)
    encode = lambda raw: base64.b64encode(raw).decode()  # noqa: E731
    return f"scrypt${SCRYPT['n']}${SCRYPT['r']}${SCRYPT['p']}${encode(salt)}${encode(digest)}"


def verify_password(password: str, stored: str) -> bool:
    """Whether ``password`` matches a stored hash (constant-time comparison)."""
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
    except ValueError:
        return False
    if scheme != "scrypt":
        return False
    computed = hashlib.scrypt(password.encode(), salt=base64.b64decode(salt), dklen=32,
                              n=int(n), r=int(r), p=int(p), maxmem=64 * 2**20)
    return hmac.compare_digest(computed, base64.b64decode(digest))


_DECOY_HASH = hash_password(secrets.token_urlsafe(16))


def create_user(session: Session, email: str, role: str, password: str,
                now: datetime) -> ConsoleUser:
    """Add a console user; raises AccountError for a bad email, role, password or duplicate."""
    email = email.strip().lower()
    if not _EMAIL.match(email):
        raise AccountError(f"{email!r} is not an email address")
    try:
        role = Role(role)
    except ValueError:
        raise AccountError("role must be agent or operator") from None
    if len(password) < MIN_PASSWORD:
        raise AccountError(f"the password needs at least {MIN_PASSWORD} characters")
    if session.scalars(select(ConsoleUser).where(ConsoleUser.email == email)).first():
        raise AccountError(f"{email} already exists")
    user = ConsoleUser(email=email, role=str(role), password_hash=hash_password(password),
                       created_at=now)
    session.add(user)
    session.flush()
    return user


@dataclass(frozen=True)
class LoginCandidate:
    """The active user an email names, with the stored hash to check a password against."""

    user_id: int
    role: Role
    password_hash: str


def login_candidate(session: Session, email: str) -> LoginCandidate | None:
    """The active user signing in as ``email``, or None."""
    user = session.scalars(
        select(ConsoleUser).where(ConsoleUser.email == email.strip().lower())).first()
    if user is None or not user.active:
        return None
    return LoginCandidate(user.id, Role(user.role), user.password_hash)


def password_matches(candidate: LoginCandidate | None, password: str) -> bool:
    """Whether ``password`` is the candidate's. Takes as long without a candidate (an unknown
    email). Slow on purpose (scrypt): call it outside any database transaction."""
    if candidate is None:
        verify_password(password, _DECOY_HASH)
        return False
    return verify_password(password, candidate.password_hash)


class SignInThrottle:
    """Failed sign-ins per email (known or not, so it tells nothing about who exists): after
    ``limit`` of them within ``window``, that email may not try again until the oldest leaves the
    window. Per process; it bounds online password guessing, at the price of letting someone who
    knows an email keep its sign-in closed for a while."""

    def __init__(self, limit: int = FAILED_SIGN_IN_LIMIT,
                 window: timedelta = FAILED_SIGN_IN_WINDOW, tracked: int = 10_000) -> None:
        self.limit, self.window, self.tracked = limit, window, tracked
        self._failures: dict[str, deque[datetime]] = {}

    def retry_after(self, email: str, now: datetime) -> timedelta | None:
        """How long ``email`` must wait before trying again, or None if it may try now."""
        failures = self._recent(email.strip().lower(), now)
        if len(failures) < self.limit:
            return None
        return failures[0] + self.window - now

    def failed(self, email: str, now: datetime) -> None:
        """Count a failed sign-in for ``email``."""
        key = email.strip().lower()
        failures = self._recent(key, now)
        if key not in self._failures and len(self._failures) >= self.tracked:
            # Random emails must not grow memory without bound: forget the stalest one.
            del self._failures[min(self._failures, key=lambda k: self._failures[k][-1])]
        failures.append(now)
        self._failures[key] = failures

    def succeeded(self, email: str) -> None:
        """Forget the failures of an email that has just signed in."""
        self._failures.pop(email.strip().lower(), None)

    def _recent(self, key: str, now: datetime) -> deque[datetime]:
        failures = self._failures.get(key, deque())
        while failures and failures[0] <= now - self.window:
            failures.popleft()
        if not failures:
            self._failures.pop(key, None)
        return failures


def _token_id(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def open_session(session: Session, user_id: int, now: datetime) -> str:
    """Start a session for the user; returns the token to put (signed) in the cookie."""
    token = secrets.token_urlsafe(32)
    session.add(ConsoleSession(id=_token_id(token), user_id=user_id, created_at=now,
                               csrf_token=secrets.token_urlsafe(24),
                               expires_at=now + SESSION_LIFETIME))
    return token


def viewer_for(session: Session, token: str, now: datetime) -> Viewer | None:
    """Who holds this session token, if it is current and the user still active."""
    row = session.execute(
        select(ConsoleSession, ConsoleUser)
        .join(ConsoleUser, ConsoleUser.id == ConsoleSession.user_id)
        .where(ConsoleSession.id == _token_id(token))).first()
    if row is None:
        return None
    console_session, user = row
    if console_session.expires_at <= now or not user.active:
        return None
    return Viewer(user.id, user.email, Role(user.role), console_session.csrf_token)


def has_left(session: Session, email: str) -> bool:
    """Whether ``email`` is a console account that was deactivated (a name the agent API was
    given without an account has not left)."""
    return session.scalars(select(ConsoleUser.active).where(ConsoleUser.email == email)).first() \
        is False


def close_session(session: Session, token: str) -> None:
    """Sign out: the token stops working everywhere."""
    session.execute(delete(ConsoleSession).where(ConsoleSession.id == _token_id(token)))
