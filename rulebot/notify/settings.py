"""Notification settings: a `notify:` block in a YAML file kept beside the API keys (never in the
rulebook, which is journaled and shown on the page: the file holds bot tokens and webhook URLs).

    notify:
      events: [guard, kill, halt, liquidation]     # add `fill` for every fill; default: all but fill
      webhook: {url: "https://example.com/hooks/rulebot"}
      telegram: {token: "123456:ABC…", chat_id: "-100123"}   # base_url: for a proxy or a test
      discord: {url: "https://discord.com/api/webhooks/…"}
      retries: 5                                   # attempts per message, with backoff
      liquidation_warning: 10%                     # warn when a position's liquidation price is this close

Like the key file, it must be readable by its owner only (mode 600).
"""

from __future__ import annotations

import stat
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

import yaml

EVENTS = ("guard", "kill", "halt", "liquidation", "fill")
DEFAULT_EVENTS = frozenset({"guard", "kill", "halt", "liquidation"})
FILE_NAME = "notify.yaml"
TELEGRAM_API = "https://api.telegram.org"


class NotifySettingsError(ValueError):
    pass


@dataclass(frozen=True, slots=True)
class Target:
    """Where one message goes: a name for errors (never the URL: it may hold a token) and how."""

    name: str
    kind: str  # webhook, telegram, discord
    url: str
    chat_id: str | None = None

    def __repr__(self) -> str:
        return f"Target({self.name})"  # the URL may carry a secret


@dataclass(frozen=True, slots=True)
class NotifySettings:
    targets: tuple[Target, ...]
    events: frozenset[str] = DEFAULT_EVENTS
    retries: int = 5
    liquidation_warning: Decimal = Decimal("0.10")  # distance from the mark, as a fraction


def beside(key_file: str | Path) -> Path:
    """The settings file that belongs with a key file."""
    return Path(key_file).parent / FILE_NAME


def load(path: str | Path) -> NotifySettings:
    p = Path(path)
    if not p.is_file():
        raise NotifySettingsError(f"no notification settings at {p}")
    mode = p.stat().st_mode
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise NotifySettingsError(
            f"{p} can be read by others (mode {stat.filemode(mode)}); run `chmod 600 {p}` first: "
            "it holds bot tokens and webhook URLs"
        )
    try:
        data = yaml.safe_load(p.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise NotifySettingsError(f"{p}: not valid YAML: {exc}") from None
    if not isinstance(data, dict) or not isinstance(data.get("notify"), dict):
        raise NotifySettingsError(f"{p}: expected a `notify:` block")
    return parse(data["notify"], str(p))


def parse(block: dict[str, Any], where: str = "notify") -> NotifySettings:
    unknown = set(block) - {"events", "webhook", "telegram", "discord", "retries", "liquidation_warning"}
    if unknown:
        raise NotifySettingsError(f"{where}: unknown key(s) {', '.join(sorted(unknown))}")
    targets: list[Target] = []
    if "webhook" in block:
        targets.append(Target("webhook", "webhook", _url(block["webhook"], "webhook", where)))
    if "telegram" in block:
        t = block["telegram"]
        if not isinstance(t, dict) or not t.get("token") or not t.get("chat_id"):
            raise NotifySettingsError(f"{where}: telegram needs `token` and `chat_id`")
        base = str(t.get("base_url") or TELEGRAM_API).rstrip("/")
        targets.append(Target("telegram", "telegram", f"{base}/bot{t['token']}/sendMessage", str(t["chat_id"])))
    if "discord" in block:
        targets.append(Target("discord", "discord", _url(block["discord"], "discord", where)))
    if not targets:
        raise NotifySettingsError(f"{where}: give at least one of webhook, telegram, discord")
    events = block.get("events", sorted(DEFAULT_EVENTS))
    if not isinstance(events, list) or not set(events) <= set(EVENTS) or not events:
        raise NotifySettingsError(f"{where}: events is a list of {', '.join(EVENTS)}")
    retries = block.get("retries", 5)
    if not isinstance(retries, int) or not 1 <= retries <= 20:
        raise NotifySettingsError(f"{where}: retries is a whole number from 1 to 20")
    warning = _fraction(block.get("liquidation_warning", "10%"), where)
    return NotifySettings(tuple(targets), frozenset(events), retries, warning)


def _fraction(value: Any, where: str) -> Decimal:
    text = str(value).strip()
    try:
        number = Decimal(text[:-1]) / 100 if text.endswith("%") else Decimal(text)
    except InvalidOperation:
        number = Decimal(-1)
    if not 0 < number < 1:
        raise NotifySettingsError(f"{where}: liquidation_warning is a distance like 10% (between 0 and 100%)")
    return number


def _url(value: Any, name: str, where: str) -> str:
    url = value.get("url") if isinstance(value, dict) else value
    if not isinstance(url, str) or not url.startswith(("https://", "http://")):
        raise NotifySettingsError(f"{where}: {name} needs a `url` (https://…)")
    return url
