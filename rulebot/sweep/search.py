"""Which parameter sets to try: grid, random (seeded) and Bayesian search with optuna (seeded).

A search proposes a batch, hears the batch's scores in trial order, proposes the next. Optuna's
batch size is fixed (not the number of workers), so the same seed gives the same trials on one
process, a process pool, Ray or Dask.
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from typing import Any, Protocol

from rulebot.rulebook.params import Value
from rulebot.sweep.space import MAX_GRID, Constraints, Dimension, SweepError, grid, grid_size

OPTUNA_BATCH = 8
_NONE_ALLOWED = "no parameter set satisfies the --constraint(s): nothing to run"
SEARCHES = ("grid", "random", "optuna")


class Search(Protocol):
    def propose(self) -> list[dict[str, Value]]:
        """The next batch of parameter sets; empty when the search is over."""
        ...

    def tell(self, scores: Sequence[float | None]) -> None:
        """The scores of the last batch, in the order proposed (None: the trial failed or has no score)."""
        ...


class GridSearch:
    def __init__(self, dims: Sequence[Dimension], constraints: Constraints, trials: int | None):
        points = list(grid(dims, constraints))
        if not points:
            raise SweepError([_NONE_ALLOWED, *constraints.failure_notes()])
        self._batch = points[:trials] if trials is not None else points
        self.size = len(points)  # the allowed grid; `--trials` may run only its first points

    def propose(self) -> list[dict[str, Value]]:
        batch, self._batch = self._batch, []
        return batch

    def tell(self, scores: Sequence[float | None]) -> None:
        pass


class RandomSearch:
    """Distinct points drawn with `random.Random(seed)`: from the allowed grid when it is finite."""

    def __init__(self, dims: Sequence[Dimension], constraints: Constraints, trials: int, seed: int):
        rng = random.Random(seed)
        size = grid_size(dims)
        if size is not None and size <= MAX_GRID:
            points = list(grid(dims, constraints))
            if not points:
                raise SweepError([_NONE_ALLOWED, *constraints.failure_notes()])
            self._batch = rng.sample(points, min(trials, len(points)))
            return
        batch: list[dict[str, Value]] = []
        seen: set[tuple[Value, ...]] = set()
        attempts = 0
        while len(batch) < trials:
            attempts += 1
            if attempts > 1000 * trials:
                raise SweepError(
                    [
                        f"random search found only {len(batch)} parameter sets the constraints allow",
                        *constraints.failure_notes(),
                    ]
                )
            point = {
                d.name: rng.choice(d.values) if d.values else rng.uniform(d.low or 0.0, d.high or 0.0) for d in dims
            }
            key = tuple(point.values())
            if key in seen or not constraints.allows(point):
                continue
            seen.add(key)
            batch.append(point)
        self._batch = batch

    def propose(self) -> list[dict[str, Value]]:
        batch, self._batch = self._batch, []
        return batch

    def tell(self, scores: Sequence[float | None]) -> None:
        pass


class OptunaSearch:
    """TPE (optuna's default sampler), seeded, maximising the metric, in fixed-size batches."""

    def __init__(
        self, dims: Sequence[Dimension], constraints: Constraints, trials: int, seed: int, batch: int = OPTUNA_BATCH
    ):
        try:
            import optuna
        except ImportError:
            raise SweepError(["--search optuna needs optuna: pip install 'rulebot[sweep]'"]) from None
        optuna.logging.set_verbosity(optuna.logging.WARNING)
        self._optuna = optuna
        self._dims = list(dims)
        self._constraints = constraints
        self._left = trials
        size = grid_size(dims)
        if size is not None and size <= MAX_GRID:
            # A finite space smaller than the budget: TPE keeps proposing the points it knows, and
            # a backtest run twice gives the same score twice (10 trials of fast=3,6 ran 10).
            allowed = sum(1 for _ in grid(dims, constraints))
            if not allowed:
                raise SweepError([_NONE_ALLOWED, *constraints.failure_notes()])
            self._left = min(trials, allowed)
        self._batch_size = batch
        self._pending: list[Any] = []
        self._pending_keys: list[tuple[tuple[str, Value], ...]] = []
        self._known: dict[tuple[tuple[str, Value], ...], float | None] = {}  # a point run: its score
        self._study = optuna.create_study(direction="maximize", sampler=optuna.samplers.TPESampler(seed=seed))
        self._distributions = {d.name: _distribution(optuna, d) for d in dims}

    def propose(self) -> list[dict[str, Value]]:
        out: list[dict[str, Value]] = []
        misses = repeats = 0
        while len(out) < min(self._batch_size, self._left):
            trial = self._study.ask(self._distributions)
            params = {d.name: _value(d, trial.params[d.name]) for d in self._dims}
            key = tuple(params.items())
            if key in self._known or key in self._pending_keys:
                # Run already (or in this batch): optuna hears the score it got, and no trial runs twice.
                score = self._known.get(key)
                if score is None:
                    self._study.tell(trial, state=self._optuna.trial.TrialState.FAIL)
                else:
                    self._study.tell(trial, score)
                repeats += 1
                if repeats > 1000:  # TPE only proposes what it has seen: the search has converged
                    self._left = len(out)
                    break
                continue
            if not self._constraints.allows(params):
                # Not a trial: optuna hears it is infeasible and proposes elsewhere; it costs no budget.
                self._study.tell(trial, state=self._optuna.trial.TrialState.PRUNED)
                misses += 1
                if misses > 1000:
                    raise SweepError(
                        [
                            "optuna could not find parameter sets the constraints allow",
                            *self._constraints.failure_notes(),
                        ]
                    )
                continue
            self._pending.append(trial)
            self._pending_keys.append(key)
            out.append(params)
        self._left -= len(out)
        return out

    def tell(self, scores: Sequence[float | None]) -> None:
        fail = self._optuna.trial.TrialState.FAIL
        for trial, key, score in zip(self._pending, self._pending_keys, scores, strict=True):
            if score is None or score != score:  # None or NaN
                self._study.tell(trial, state=fail)
                self._known[key] = None
            else:
                self._study.tell(trial, score)
                self._known[key] = score
        self._pending = []
        self._pending_keys = []


def _distribution(optuna: Any, d: Dimension) -> Any:
    dist = optuna.distributions
    if d.values is None:
        return dist.FloatDistribution(d.low, d.high)
    if d.step is not None and len(d.values) > 1:
        if d.kind == "int":
            return dist.IntDistribution(int(d.values[0]), int(d.values[-1]), step=int(d.step))
        return dist.FloatDistribution(float(d.values[0]), float(d.values[-1]), step=float(d.step))
    return dist.CategoricalDistribution(list(d.values))


def _value(d: Dimension, raw: Any) -> Value:
    if d.values is not None and d.step is not None and d.kind == "float":
        # optuna's stepped float is lo + k * step in floats; snap to the exact grid value.
        return min(d.values, key=lambda v: abs(float(v) - raw))
    return raw  # type: ignore[no-any-return]


def make_search(
    kind: str,
    dims: Sequence[Dimension],
    constraints: Constraints,
    trials: int | None,
    seed: int,
    batch: int = OPTUNA_BATCH,
) -> Search:
    if kind == "grid":
        return GridSearch(dims, constraints, trials)
    if trials is None:
        trials = 50
    if kind == "random":
        return RandomSearch(dims, constraints, trials, seed)
    if kind == "optuna":
        return OptunaSearch(dims, constraints, trials, seed, batch)
    raise SweepError([f"unknown search {kind!r}; one of {', '.join(SEARCHES)}"])


def defaults_of(decls: Mapping[str, Any]) -> dict[str, Value]:
    return {name: decl.default for name, decl in decls.items()}
