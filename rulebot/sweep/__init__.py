"""Parameter sweeps and walk-forward tests of a rulebook, in this process, a process pool, Ray or Dask."""

from rulebot.sweep.api import SweepResult, replay_args, run_sweep
from rulebot.sweep.space import SweepError
from rulebot.sweep.trial import TrialResult, TrialSpec

__all__ = ["SweepError", "SweepResult", "TrialResult", "TrialSpec", "replay_args", "run_sweep"]
