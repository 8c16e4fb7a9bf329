"""``python -m deltamem.train``, the program ``accelerate launch`` runs: a dry run prints its checks as JSON, a
failed one exits 1, and a missing config is one line on stderr, never a traceback."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _run(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), os.environ.get("PYTHONPATH", "")])}
    return subprocess.run([sys.executable, "-m", "deltamem.train", *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=300)


def test_a_dry_run_prints_its_checks_and_passes(synth_dir: Path, tmp_path: Path) -> None:
    pytest.importorskip("trl")
    config = tmp_path / "run.toml"
    config.write_text(
        f'[model]\nbase = "smollm2-135m"\n[data]\npath = "{synth_dir}"\neval_personas = 1\n'
        '[reward]\nembedder = "hashing"\n[grpo]\nnum_generations = 2\nprompts_per_step = 1\n', encoding="utf-8")
    done = _run("--config", str(config), "--dry-run", "--output-dir", str(tmp_path / "out"))
    report = json.loads(done.stdout)
    assert report["ok"] and done.returncode == 0, (report["problems"], done.stderr)
    assert report["checks"]["data"]["train"] > 0 and report["checks"]["data"]["eval"] > 0


def test_a_missing_config_is_one_line_not_a_traceback() -> None:
    done = _run("--dry-run")
    assert done.returncode == 1
    assert done.stderr.strip() == "error: --config FILE is required (see configs/train/)"
