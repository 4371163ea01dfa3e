"""Console sessions: kept in the API process's memory, never in the cookie.

A session id is 256 random bits; the store keys sessions by the id's SHA-256, so nothing
in it can be sent back as a cookie. A session ends 30 minutes after its last request or 12
hours after it began, at sign-out, or when its person's token or Roster entry no longer lets
them in. A session made before sign-in (for the sign-in form's CSRF token) holds no login;
signing in replaces it with a new one (a new id: no fixation).

What a session holds to sign its person in again on every request is the token they pasted
(memory only, never logged), or the handle a trusted proxy named. It also holds, for a few
moments, a form that came back refused (``FormFlash``): the refused POST redirects to the
form's page, and that page's next GET shows it once (Post/Redirect/Get).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from sopflow.web.settings import ConsoleSettings


@dataclass(frozen=True, slots=True)
class TokenLogin:
    """Signed in with an API token; checked against the token store on every request."""

    token: str = field(repr=False)


@dataclass(frozen=True, slots=True)
class HeaderLogin:
    """Signed in by a trusted proxy's identity header; valid only alongside that header."""

    handle: str


Login = TokenLogin | HeaderLogin

# A session keeps only the latest few refused forms (one per page): each is taken by the GET
# its POST redirected to, so more are only ever a few tabs' worth, or never-followed redirects.
MAX_FORM_FLASHES = 3
# What one may hold, in characters: the API's default body limit, so any form the API takes
# fits; only a raised SOPFLOW_API_MAX_BODY can make a bigger one.
MAX_FLASH_CHARS = 64 * 1024
MAX_REASON_CHARS = 2000
# Not kept of what was sent: the CSRF token (the session has it) and the Idempotency-Key
# (the page gives the form a new one).
NOT_KEPT = ("csrf", "key")
TOO_BIG = "What you typed was too long to keep; type it again."


@dataclass(frozen=True, slots=True)
class FormFlash:
    """A form that came back refused or invalid, for its page's next GET: which form on the
    page, the status the API answered, the workflow's reason, what was typed (by field
    name), and the errors by field name (``""``: the whole form)."""

    control: str
    status: int
    message: str | None = None
    raw: Mapping[str, list[str]] = field(default_factory=dict)
    errors: Mapping[str, list[str]] = field(default_factory=dict)

    def size(self) -> int:
        """Roughly what it holds, in characters."""
        held = [*self.raw.items(), *self.errors.items()]
        return len(self.message or "") + sum(len(k) + sum(map(len, v)) for k, v in held)

    def kept(self) -> FormFlash:
        """What a session keeps of it: what was typed but NOT_KEPT, and if that is too big,
        only its reason, saying what was typed is gone."""
        raw = {name: list(values) for name, values in self.raw.items() if name not in NOT_KEPT}
        kept = FormFlash(self.control, self.status, self.message, raw, self.errors)
        if kept.size() <= MAX_FLASH_CHARS:
            return kept
        said = f"{self.message[:MAX_REASON_CHARS]} " if self.message else ""
        return FormFlash(self.control, self.status, said + TOO_BIG)


@dataclass(slots=True)
class Session:
    """One browser's session: its CSRF token, its login, a message for its next page, and
    the refused forms waiting for their page (by page: ``incident:<id>``, ``start``)."""

    csrf: str
    created: float
    seen: float
    login: Login | None = None
    flash: str | None = None
    forms: dict[str, FormFlash] = field(default_factory=dict)

    def take_flash(self) -> str | None:
        """The message for the next page, once."""
        message, self.flash = self.flash, None
        return message

    def keep_form(self, page: str, flash: FormFlash) -> None:
        """Keep a refused form for ``page``'s next GET, in place of an older one for it; the
        oldest others go past MAX_FORM_FLASHES, so a session cannot grow without bound."""
        self.forms.pop(page, None)  # re-added last: the dict's order is the age
        self.forms[page] = flash.kept()
        while len(self.forms) > MAX_FORM_FLASHES:
            del self.forms[next(iter(self.forms))]

    def take_form(self, page: str) -> FormFlash | None:
        """The refused form kept for ``page``, once."""
        return self.forms.pop(page, None)

    def csrf_ok(self, submitted: str) -> bool:
        """Whether a form carries this session's CSRF token (a constant-time compare)."""
        return hmac.compare_digest(submitted.encode(), self.csrf.encode())


def _key(session_id: str) -> str:
    return hashlib.sha256(session_id.encode()).hexdigest()


class SessionStore:
    """Every console session of this process."""

    def __init__(
        self, settings: ConsoleSettings, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.settings, self.clock = settings, clock
        self._sessions: dict[str, Session] = {}

    def __len__(self) -> int:
        return len(self._sessions)

    def new(self, login: Login | None = None) -> tuple[str, Session]:
        """A new session and its id (the cookie's value)."""
        now = self.clock()
        if len(self._sessions) >= self.settings.max_sessions:
            self._make_room(now)
        session_id = secrets.token_urlsafe(32)
        session = Session(csrf=secrets.token_urlsafe(32), created=now, seen=now, login=login)
        self._sessions[_key(session_id)] = session
        return session_id, session

    def get(self, session_id: str | None) -> Session | None:
        """The live session with this id (its idle time restarts), or None."""
        if not session_id:
            return None
        key = _key(session_id)
        session = self._sessions.get(key)
        if session is None:
            return None
        now = self.clock()
        if self._expired(session, now):
            del self._sessions[key]
            return None
        session.seen = now
        return session

    def alive(self, session_id: str) -> bool:
        """Whether the session is still live and signed in, without restarting its idle time
        (a live-update stream must not keep a session open on its own)."""
        session = self._sessions.get(_key(session_id))
        if session is None or session.login is None:
            return False
        return not self._expired(session, self.clock())

    def end(self, session_id: str | None) -> None:
        """End a session (sign-out, a login that no longer holds)."""
        if session_id:
            self._sessions.pop(_key(session_id), None)

    def _expired(self, session: Session, now: float) -> bool:
        idle = now - session.seen >= self.settings.idle_timeout_s
        return idle or now - session.created >= self.settings.absolute_timeout_s

    def _make_room(self, now: float) -> None:
        """Drop expired sessions; if still full, the least recently used one, preferring
        those nobody signed in to (a flood of sign-in pages cannot end real sessions first)."""
        for key in [k for k, s in self._sessions.items() if self._expired(s, now)]:
            del self._sessions[key]
        if len(self._sessions) < self.settings.max_sessions:
            return
        anonymous = [(s.seen, k) for k, s in self._sessions.items() if s.login is None]
        pool = anonymous or [(s.seen, k) for k, s in self._sessions.items()]
        del self._sessions[min(pool)[1]]
