"""API credentials: from the environment or a key file only the user can read. Never logged."""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass
from pathlib import Path

from rulebot.core.errors import UserError


class CredentialsError(UserError, RuntimeError):
    """No usable API keys: the message says what to set or fix."""


@dataclass(frozen=True, slots=True)
class Credentials:
    api_key: str
    api_secret: str

    def __repr__(self) -> str:
        return f"Credentials(api_key={self.api_key[:4]}…, api_secret=…)"

    __str__ = __repr__


_KEY_FILE_FORM = "write two lines, BINANCE_API_KEY=… and BINANCE_API_SECRET=… (mode 600); nothing was started"


def load_credentials(key_file: str | Path | None = None, env: dict[str, str] | None = None) -> Credentials:
    """`BINANCE_API_KEY` / `BINANCE_API_SECRET`, or a key file with `key` and `secret` lines
    (`KEY=VALUE` or two lines) whose permissions let nobody but its owner read it."""
    env = dict(os.environ) if env is None else env
    if key_file is not None:
        path = Path(key_file)
        if not path.is_file():
            raise CredentialsError(f"no key file at {path}")
        mode = path.stat().st_mode
        if mode & (stat.S_IRWXG | stat.S_IRWXO):
            raise CredentialsError(
                f"{path} can be read by others (mode {stat.filemode(mode)}); "
                f"run `chmod 600 {path}` first: it holds your API secret"
            )
        values: dict[str, str] = {}
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError:  # its text is the secret: say where, never what
            raise CredentialsError(f"{path} is not UTF-8 text; {_KEY_FILE_FORM}") from None
        lines = [ln.strip() for ln in text.splitlines() if ln.strip() and not ln.startswith("#")]
        for ln in lines:
            if "=" in ln:
                k, v = ln.split("=", 1)
                name = k.strip().removeprefix("export ").strip().upper()  # a shell's .env file
                if name in values:  # which one Binance should get is a guess either way
                    raise CredentialsError(f"{path} gives {name}= twice; keep one line; {_KEY_FILE_FORM}")
                values[name] = _unquoted(v.strip())
        if not values and len(lines) == 2:
            values = {"BINANCE_API_KEY": lines[0], "BINANCE_API_SECRET": lines[1]}
        key = _one(path, values, ("BINANCE_API_KEY", "KEY", "API_KEY"))
        secret = _one(path, values, ("BINANCE_API_SECRET", "SECRET", "API_SECRET"))
        missing = [name for name, v in (("BINANCE_API_KEY", key), ("BINANCE_API_SECRET", secret)) if not v]
        if missing:
            raise CredentialsError(f"{path} has no {' and no '.join(m + '=' for m in missing)} line; {_KEY_FILE_FORM}")
        for what, given in (("API key", key), ("API secret", secret)):
            if given and any(c.isspace() for c in given):  # a paste that took two words; Binance's have none
                raise CredentialsError(f"{path}: the {what} has a space in it; {_KEY_FILE_FORM}")
    else:
        key, secret = env.get("BINANCE_API_KEY"), env.get("BINANCE_API_SECRET")
    if not key or not secret:
        raise CredentialsError(
            "live trading needs an API key and secret: set BINANCE_API_KEY and BINANCE_API_SECRET, "
            "or pass --key-file FILE (mode 600) with BINANCE_API_KEY=… and BINANCE_API_SECRET=… "
            "lines; nothing was started"
        )
    return Credentials(key, secret)


def _unquoted(value: str) -> str:
    """A value as a .env file quotes it: the quotes are not part of the key (Binance's keys have none);
    taken with them, Binance refuses every signature (-1022) and the message points elsewhere."""
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
        return value[1:-1]
    return value


def _one(path: Path, values: dict[str, str], names: tuple[str, ...]) -> str | None:
    """The value of the one name of `names` the file gives (never what it is: it is a credential)."""
    given = [n for n in names if values.get(n)]
    if len(given) > 1:
        raise CredentialsError(f"{path} gives both {given[0]}= and {given[1]}=; keep one line; {_KEY_FILE_FORM}")
    return values[given[0]] if given else None
