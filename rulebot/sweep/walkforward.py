"""Walk-forward windows, and the verdict on whether a fold's edge survived unseen data.

`folds=N` cuts the data's span into N + 1 equal windows (whole minutes): fold k is tuned on
window k and scored on window k + 1. `train`/`test` durations roll a train window followed by a
test window forward by one test window at a time, as many as fit (at most `folds` if given).
"""

from __future__ import annotations

from dataclasses import dataclass

from rulebot.sweep.space import SweepError
from rulebot.sweep.trial import TrialResult

MINUTE_MS = 60_000
HOUR_MS = 3_600_000
DAY_MS = 86_400_000
SHORTEST = HOUR_MS  # a window shorter than this scores noise (and most rulebooks are still warming up)


@dataclass(frozen=True, slots=True)
class Fold:
    index: int
    train: tuple[int, int]
    test: tuple[int, int]


def windows(first: int, last: int, folds: int | None, train_ms: int | None, test_ms: int | None) -> list[Fold]:
    """Folds over the events from `first` to `last` (ms, inclusive)."""
    begin = first - first % MINUTE_MS
    stop = last + 1
    if train_ms is None and test_ms is None:
        if folds is None or folds < 1:
            raise SweepError(["--walk-forward needs at least 1 fold"])
        seg = (stop - begin) // (folds + 1)
        seg -= seg % MINUTE_MS
        if seg < SHORTEST:
            raise SweepError([f"{folds} walk-forward folds cut the data into windows shorter than an hour; use fewer"])
        out = []
        for k in range(folds):
            a, b = begin + k * seg, begin + (k + 1) * seg
            c = stop if k == folds - 1 else b + seg
            out.append(Fold(k, (a, b), (b, c)))
        return out
    if train_ms is None or test_ms is None:
        raise SweepError(["--train and --test go together (e.g. --train 3d --test 1d)"])
    if train_ms < SHORTEST or test_ms < SHORTEST:
        raise SweepError(["--train and --test must be at least an hour long"])
    out = []
    k = 0
    while begin + k * test_ms + train_ms + test_ms <= stop and (folds is None or k < folds):
        a = begin + k * test_ms
        out.append(Fold(k, (a, a + train_ms), (a + train_ms, a + train_ms + test_ms)))
        k += 1
    if not out:
        raise SweepError([f"the data ({(stop - begin) / DAY_MS:.1f} days) is shorter than one --train plus --test"])
    return out


@dataclass(frozen=True, slots=True)
class FoldResult:
    fold: Fold
    best: TrialResult | None  # the training trial with the best score
    test: TrialResult | None  # its parameters on the unseen window
    in_sample: float | None
    out_of_sample: float | None

    @property
    def diverges(self) -> bool:
        return diverges(self.in_sample, self.out_of_sample)


def comparable_score(metric: str, score: float | None, window: tuple[int, int]) -> float | None:
    """Scores of windows of different lengths compared fairly: net PnL per day; ratios as they are
    (they are annualised or scale-free already)."""
    if score is None or metric != "net_pnl":
        return score
    return score / max(window[1] - window[0], 1) * DAY_MS


def diverges(in_sample: float | None, out_of_sample: float | None) -> bool:
    """True when the unseen window lost the edge: no score, the sign flipped against it, or less
    than half of what training promised."""
    if in_sample is None:
        return False
    if out_of_sample is None:
        return True
    if in_sample > 0:
        return out_of_sample < 0.5 * in_sample
    return out_of_sample < in_sample
