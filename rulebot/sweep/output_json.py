"""A sweep's results as one JSON document (`rulebot sweep --format json`): what the table, the
warnings and the replay line say, for a script.

Strict JSON: a score that is not a finite number (a profit factor of ∞ when nothing was lost) is
the text "inf" (or "-inf", "nan"), never the bare `Infinity` that most JSON parsers refuse; a
score that could not be computed is null.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from typing import Any

from rulebot.sweep.api import SweepResult, iso
from rulebot.sweep.output import rows


def _finite(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf")
    return value


def sweep_json(sweep: SweepResult, warnings: Sequence[str], replay: Sequence[str] | None) -> str:
    """The document: the sweep's settings, every trial (the `--out` columns), the trial numbers best
    first, the walk-forward folds, the warnings printed under the table and the best's replay command."""
    folds = [
        {
            "fold": f.fold.index,
            "train": [iso(f.fold.train[0]), iso(f.fold.train[1])],
            "test": [iso(f.fold.test[0]), iso(f.fold.test[1])],
            "best_trial": f.best.number if f.best else None,
            "test_trial": f.test.number if f.test else None,
            "in_sample": _finite(f.in_sample),
            "out_of_sample": _finite(f.out_of_sample),
            "diverges": f.diverges,
        }
        for f in sweep.folds
    ]
    doc = {
        "rulebook": sweep.rulebook,
        "data": list(sweep.data),
        "metric": sweep.metric,
        "search": sweep.search,
        "seed": sweep.seed,
        "engine": sweep.engine,
        "workers": sweep.workers,
        "interrupted": sweep.interrupted,
        "planned": sweep.planned,
        "finished": len(sweep.trials),
        "failed": len(sweep.failed),
        "seconds": round(sweep.seconds, 3),
        "ranked": [t.number for t in sweep.ranked("train" if sweep.folds else None) if t.ok],
        "trials": [
            {**{k: _finite(v) for k, v in row.items()}, "warnings": list(t.warnings)}
            for row, t in zip(rows(sweep), sweep.trials, strict=True)
        ],
        "folds": folds,
        "warnings": list(warnings),
        "replay": list(replay) if replay is not None else None,
    }
    return json.dumps(doc, indent=2, allow_nan=False)
