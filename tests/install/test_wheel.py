"""A wheel built from the repository works where an editable install is not there to help.

`pip install .` once broke `rulebot demo` (`site-packages/rules/ema-trend-btc.yaml does not
exist`): the ready rulebooks lived beside the package, not in it. The wheel is built from a
copy of the sources, installed with pip into a folder of its own, and run from elsewhere.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from rulebot.testing.shared import SHARED

ROOT = Path(__file__).resolve().parents[2]
READY = sorted(p.name for p in (ROOT / "rules").glob("*.yaml"))


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    src = tmp_path_factory.mktemp("src")
    # Only what the build reads: no .venv, build/ or egg-info of the checkout leaks in.
    shutil.copy(ROOT / "pyproject.toml", src)
    shutil.copy(ROOT / "README.md", src)
    shutil.copytree(ROOT / "rulebot", src / "rulebot", ignore=shutil.ignore_patterns("__pycache__"))
    out = tmp_path_factory.mktemp("dist")
    # With `wheel` installed (the test extra) the build needs no download: seconds, not tens.
    isolation = [] if importlib.util.find_spec("wheel") else ["--use-pep517"]
    no_isolation = ["--no-build-isolation"] if not isolation else []
    proc = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", *no_isolation, "-w", str(out), str(src)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    (built,) = out.glob("rulebot-*.whl")
    return built


@pytest.fixture(scope="module")
def installed(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    target = tmp_path_factory.mktemp("site")
    proc = subprocess.run(
        [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-index", "--target", str(target), str(wheel)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return target


def _rulebot(installed: Path, cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    # PYTHONPATH puts the installed copy before the checkout's editable install; cwd is not the checkout.
    env = {**os.environ, "PYTHONPATH": str(installed), "RULEBOT_SHARED": str(SHARED)}
    code = "import sys, rulebot, rulebot.cli; print('from', rulebot.__file__); sys.exit(rulebot.cli.main())"
    return subprocess.run(
        [sys.executable, "-c", code, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=300
    )


def test_the_wheel_ships_the_ready_rulebooks_and_the_schema(wheel: Path):
    names = set(zipfile.ZipFile(wheel).namelist())
    assert READY and {f"rulebot/rules/{name}" for name in READY} <= names
    assert "rulebot/schemas/rulebook.schema.json" in names
    assert "rulebot/web/static/index.html" in names


def test_rulebot_demo_runs_from_a_wheel_install_not_only_from_a_checkout(installed: Path, tmp_path: Path):
    proc = _rulebot(installed, tmp_path, "demo", "--hours", "6", "--report", str(tmp_path / "r.html"))
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert f"from {installed}" in proc.stdout  # the wheel's copy ran, not the checkout's
    assert "does not exist" not in proc.stderr and "report written to" in proc.stdout
    assert (tmp_path / "r.html").stat().st_size > 0


def test_the_installed_rulebooks_are_valid(installed: Path, tmp_path: Path):
    rules = installed / "rulebot" / "rules"
    proc = _rulebot(installed, tmp_path, "validate", *(str(rules / name) for name in READY))
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert proc.stdout.count(": valid") == len(READY)


def test_the_wheel_ships_the_web_page(wheel: Path) -> None:
    names = set(zipfile.ZipFile(wheel).namelist())
    assert {f"rulebot/web/static/{n}" for n in ("index.html", "app.js", "app.css")} <= names


def test_rulebot_new_works_from_a_wheel_install(installed: Path, tmp_path: Path) -> None:
    proc = _rulebot(installed, tmp_path, "new", "mine", "--template", "funding")
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert _rulebot(installed, tmp_path, "validate", "mine.yaml").returncode == 0
