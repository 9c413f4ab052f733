"""Who may read the page and who may press its buttons.

- The token is generated once (`secrets`), stored in a mode-600 file and printed once, when it
  is made. A browser signs in with it (or with a one-time link printed at each start) and gets
  an HttpOnly, SameSite=Strict cookie holding a random session of its own, never the token nor
  anything derived from it; scripts send `Authorization: Bearer TOKEN`. Browsers send a cookie
  of 127.0.0.1 to every port of it, so any local server the browser visits may see it: a session
  therefore ends after `SESSION_TTL_S` and with the server, and signing in again makes a new one.
- Bound to a loopback address, reading needs no token; any other address needs it for
  everything. The Host header must name the loopback address then (a DNS-rebinding page
  cannot read the API through its own host name).
- Control (kill, reload) is a POST, only when the server was started with `--control`, only
  signed in, only from the page's own origin (Origin header), and with the CSRF header the
  page gets from `/api/session`: a cross-site form or script can do none of these.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import os
import secrets
import stat
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

COOKIE = "rulebot_session"
CSRF_HEADER = "X-Rulebot-CSRF"
LOOPBACK_NAMES = frozenset({"localhost", "127.0.0.1", "::1", "[::1]"})
ONCE_TTL_S = 600
SESSION_TTL_S = 12 * 3600  # a working day: then the page asks to sign in again


class TokenError(RuntimeError):
    pass


def default_token_file() -> Path:
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "rulebot" / "web-token"


def load_or_create_token(path: Path) -> tuple[str, bool]:
    """The token in `path`, or a new one written there (mode 600). Returns (token, created)."""
    if path.exists():
        mode = path.stat().st_mode
        if mode & (stat.S_IRWXG | stat.S_IRWXO):
            raise TokenError(
                f"{path} can be read by others (mode {stat.filemode(mode)}); run `chmod 600 {path}` first: "
                "it lets whoever holds it stop your bots"
            )
        token = path.read_text().strip()
        if len(token) < 24:
            raise TokenError(f"{path} holds no usable token (at least 24 characters); delete it to make a new one")
        return token, False
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    token = secrets.token_urlsafe(32)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(token + "\n")
    return token, True


def is_loopback(host: str) -> bool:
    if host in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def host_name(header: str) -> str:
    """The host part of a Host header (`127.0.0.1:8787`, `[::1]:8787`, `localhost`)."""
    if header.startswith("["):
        return header[: header.find("]") + 1] if "]" in header else header
    return header.rsplit(":", 1)[0] if header.count(":") == 1 else header


@dataclass
class Guard:
    token: str
    loopback: bool
    control: bool
    clock: Callable[[], float] = time.monotonic
    _once: dict[str, float] = field(default_factory=dict)
    _sessions: dict[str, float] = field(default_factory=dict)  # session -> when it ends (clock)
    # Keyed by this server's start: a CSRF value of an earlier run of the page proves nothing now.
    _csrf_key: bytes = field(default_factory=lambda: secrets.token_bytes(32))

    def new_session(self) -> str:
        """A session for a browser that just signed in: random, unrelated to the token, ending
        after SESSION_TTL_S (or with this server)."""
        self._prune(self._sessions)
        session = secrets.token_urlsafe(32)
        self._sessions[session] = self.clock() + SESSION_TTL_S
        return session

    def csrf(self, session: str) -> str:
        """The CSRF value of one session: another session's, or an ended one's, is refused."""
        return hmac.new(self._csrf_key, session.encode(), hashlib.sha256).hexdigest()

    def token_ok(self, offered: str | None) -> bool:
        return offered is not None and hmac.compare_digest(offered.encode(), self.token.encode())

    def session_ok(self, cookie: str | None) -> bool:
        if not cookie:
            return False
        self._prune(self._sessions)
        return any(hmac.compare_digest(cookie.encode(), s.encode()) for s in self._sessions)

    def csrf_ok(self, session: str | None, header: str | None) -> bool:
        return (
            header is not None
            and self.session_ok(session)
            and hmac.compare_digest(header.encode(), self.csrf(session or "").encode())
        )

    def _prune(self, ends: dict[str, float]) -> None:
        now = self.clock()
        for k in [k for k, until in ends.items() if until <= now]:
            del ends[k]

    def one_time_link(self) -> str:
        """A sign-in secret good once and for ten minutes: printed at each start instead of the
        token, so that the token itself is printed only when it is made."""
        code = secrets.token_urlsafe(24)
        self._once[code] = self.clock() + ONCE_TTL_S
        return code

    def use_once(self, code: str | None) -> bool:
        if code is None:
            return False
        self._prune(self._once)
        for k in list(self._once):
            if hmac.compare_digest(k.encode(), code.encode()):
                del self._once[k]
                return True
        return False
