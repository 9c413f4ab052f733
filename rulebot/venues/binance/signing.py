"""Binance's request signature: hex HMAC-SHA256 of the exact bytes sent (FACTS §2)."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from decimal import Decimal
from urllib.parse import urlencode


def param_text(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Decimal):
        return format(value, "f")
    return str(value)


def encode(params: Mapping[str, object]) -> str:
    """The query string, in the given order, with Binance's spelling of booleans and decimals."""
    return urlencode([(k, param_text(v)) for k, v in params.items() if v is not None])


def sign(secret: str, total_params: str) -> str:
    """`totalParams` is the query string directly followed by the body (no `&` between)."""
    return hmac.new(secret.encode(), total_params.encode(), hashlib.sha256).hexdigest()


def signed_query(secret: str, params: Mapping[str, object]) -> str:
    query = encode(params)
    return f"{query}&signature={sign(secret, query)}" if query else f"signature={sign(secret, '')}"
