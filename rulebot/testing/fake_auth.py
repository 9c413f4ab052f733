"""How the fake exchange checks a request's API key, HMAC signature and timestamp (FACTS §2), and
Binance's error answer `{"code", "msg"}` as an HTTP response.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from typing import TYPE_CHECKING

import orjson
from aiohttp import web

if TYPE_CHECKING:
    from rulebot.testing.fake_binance import FakeBinance


def authenticate(
    fake: FakeBinance, request: web.Request, query: str, body: str, params: dict[str, str], signed: bool
) -> web.Response | None:
    """The refusal Binance would send for this request's API key, signature or timestamp; None when
    it passes (`signed`: a SIGNED endpoint; otherwise only the key is checked)."""
    key = request.headers.get("X-MBX-APIKEY")
    if not key:
        return error_response(400, -2014, "API-key format invalid.")
    if key != fake.api_key:
        return error_response(401, -2015, "Invalid API-key, IP, or permissions for action.")
    if not signed:
        return None
    signature = params.get("signature", "")
    # totalParams: the query string then the body, each without its own `signature`.
    total = without_signature(query) + without_signature(body)
    expected = hmac.new(fake.api_secret.encode(), total.encode(), hashlib.sha256).hexdigest()
    if not signature or not hmac.compare_digest(expected, signature.lower()):
        return error_response(400, -1022, "Signature for this request is not valid.")
    f = fake.rest_faults
    if f.timestamp_1021 > 0:
        f.timestamp_1021 -= 1
        return error_response(400, -1021, "Timestamp for this request is outside of the recvWindow.")
    try:
        ts, window = int(params.get("timestamp", "")), int(params.get("recvWindow", "5000"))
    except ValueError:
        return error_response(
            400,
            -1102,
            "Mandatory parameter 'timestamp' was not sent, was empty/null, or malformed.",
        )
    server = fake.now()
    if ts >= server + 1000:
        return error_response(400, -1021, "Timestamp for this request was 1000ms ahead of the server's time.")
    if server - ts > window:
        return error_response(400, -1021, "Timestamp for this request is outside of the recvWindow.")
    return None


def without_signature(text: str) -> str:
    if text.startswith("signature="):
        return ""
    return text.rsplit("&signature=", 1)[0]


def error_response(status: int, code: int, msg: str, headers: Mapping[str, str] | None = None) -> web.Response:
    return web.Response(
        status=status,
        body=orjson.dumps({"code": code, "msg": msg}),
        content_type="application/json",
        headers=dict(headers or {}),
    )
