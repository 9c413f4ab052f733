"""Where the project's reference files live: the `shared` folder beside the checkout.

Tests and benchmarks read Binance's facts, real payloads and historical archive files from
there, in place (they are never copied into the project). `RULEBOT_SHARED` points elsewhere.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

SHARED = Path(os.environ.get("RULEBOT_SHARED") or Path(__file__).resolve().parents[2].parent / "shared")
PAYLOADS = SHARED / "binance" / "payloads"
DATA = SHARED / "data"
ARCHIVE = DATA / "binance-vision"


def require(path: Path) -> Path:
    """`path`, or a clear error: the tests need the shared folder, they never skip without it."""
    if not path.exists():
        raise FileNotFoundError(
            f"{path} is missing: the tests and benchmarks read the `shared` folder beside the project "
            f"checkout ({SHARED}); put it there or set RULEBOT_SHARED"
        )
    return path


def load_payload(name: str) -> Any:
    """A real Binance payload from `shared/binance/payloads/`, decoded."""
    return json.loads(require(PAYLOADS / name).read_text(encoding="utf-8"))


def load_doc(name: str) -> str:
    """A shared Binance document (FACTS.md, MARGIN.md) as text."""
    return require(SHARED / "binance" / name).read_text(encoding="utf-8")
