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
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from bot.store.models import ConsoleSession, ConsoleUser

SCRYPT = {"n": 2**14, "r": 8, "p": 5}
SESSION_LIFETIME = timedelta(hours=12)
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


def authenticate(session: Session, email: str, password: str) -> ConsoleUser | None:
    """The active user with these credentials, or None. Takes as long for an unknown email."""
    user = session.scalars(
        select(ConsoleUser).where(ConsoleUser.email == email.strip().lower())).first()
    if user is None or not user.active:
        verify_password(password, _DECOY_HASH)
        return None
    return user if verify_password(password, user.password_hash) else None


def _token_id(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def open_session(session: Session, user: ConsoleUser, now: datetime) -> str:
    """Start a session for ``user``; returns the token to put (signed) in the cookie."""
    token = secrets.token_urlsafe(32)
    session.add(ConsoleSession(id=_token_id(token), user_id=user.id, created_at=now,
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


def close_session(session: Session, token: str) -> None:
    """Sign out: the token stops working everywhere."""
    session.execute(delete(ConsoleSession).where(ConsoleSession.id == _token_id(token)))
