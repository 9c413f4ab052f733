"""A rule whose condition fails at run time in a dry-run: said once per rule, counted, and
fatal under --strict (exit 4), the bot stopping by its kill-switch policy."""

from __future__ import annotations

import json

from click.testing import CliRunner

from rulebot.cli import main
from rulebot.testing.shared import ARCHIVE
from tests.cli.test_backtest_cli import FAILING_RULE

DAY = ARCHIVE / "futures/um/daily/klines/BTCUSDT/1m/BTCUSDT-1m-2025-06-07.zip"


def _dry_run(tmp_path, *extra: str):
    rulebook = tmp_path / "fails.yaml"
    rulebook.write_text(FAILING_RULE)
    run_dir = tmp_path / "run"
    res = CliRunner().invoke(
        main,
        [
            "dry-run",
            str(rulebook),
            "--market",
            f"replay:{DAY}",
            "--max-events",
            "30",
            "--run-dir",
            str(run_dir),
            "--no-watch",
            *extra,
        ],
    )
    return res, run_dir


def test_a_dry_run_prints_each_failing_rule_once_and_journals_every_failure(tmp_path):
    res, run_dir = _dry_run(tmp_path)
    assert res.exit_code == 0, res.output
    assert res.stderr.count("rule 'divides-by-zero' failed on BTCUSDT: ZeroDivisionError") == 1
    assert res.stderr.count("rule 'reads-nan' failed on BTCUSDT: ValueError: entry_price is NaN") == 1
    audit = CliRunner().invoke(
        main, ["audit", "-j", str(run_dir / "journal.sqlite"), "decisions", "--errors", "--format", "json"]
    )
    rows = json.loads(audit.stdout)
    assert len(rows) == 60 and all(r["error"] for r in rows)


def test_strict_stops_a_dry_run_at_the_first_rule_error_with_exit_4(tmp_path):
    res, _ = _dry_run(tmp_path, "--strict")
    assert res.exit_code == 4, res.output
    assert "--strict: rule 'divides-by-zero' failed on BTCUSDT" in res.stderr
    assert "Traceback" not in res.output
