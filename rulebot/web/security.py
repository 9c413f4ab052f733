"""Who may read the page and who may press its buttons.

- The token is generated once (`secrets`), stored in a mode-600 file and printed once, when it
  is made. A browser signs in with it (or with a one-time link printed at each start) and gets
  an HttpOnly, SameSite=Strict cookie derived from it, never the token itself; scripts send
  `Authorization: Bearer TOKEN`.
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
from dataclasses import dataclass, field
from pathlib import Path

COOKIE = "rulebot_session"
CSRF_HEADER = "X-Rulebot-CSRF"
LOOPBACK_NAMES = frozenset({"localhost", "127.0.0.1", "::1", "[::1]"})
ONCE_TTL_S = 600


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
    _once: dict[str, float] = field(default_factory=dict)

    def _derive(self, what: str) -> str:
        return hmac.new(self.token.encode(), what.encode(), hashlib.sha256).hexdigest()

    @property
    def session(self) -> str:
        return self._derive("session")

    @property
    def csrf(self) -> str:
        return self._derive("csrf")

    def token_ok(self, offered: str | None) -> bool:
        return offered is not None and hmac.compare_digest(offered.encode(), self.token.encode())

    def session_ok(self, cookie: str | None) -> bool:
        return cookie is not None and hmac.compare_digest(cookie.encode(), self.session.encode())

    def csrf_ok(self, header: str | None) -> bool:
        return header is not None and hmac.compare_digest(header.encode(), self.csrf.encode())

    def one_time_link(self) -> str:
        """A sign-in secret good once and for ten minutes: printed at each start instead of the
        token, so that the token itself is printed only when it is made."""
        code = secrets.token_urlsafe(24)
        self._once[code] = time.monotonic() + ONCE_TTL_S
        return code

    def use_once(self, code: str | None) -> bool:
        if code is None:
            return False
        now = time.monotonic()
        for k in [k for k, until in self._once.items() if until < now]:
            del self._once[k]
        for k in list(self._once):
            if hmac.compare_digest(k.encode(), code.encode()):
                del self._once[k]
                return True
        return False
