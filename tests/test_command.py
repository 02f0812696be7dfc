"""The real ``lowstakes`` command in a subprocess: exit codes, messages, the run directory."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

import lowstakes
from lowstakes import IncompleteRunError

ROOT = Path(__file__).parent.parent


def lowstakes_cmd(*args, **kwargs):
    return subprocess.run([sys.executable, "-m", "lowstakes", *map(str, args)], cwd=ROOT,
                          capture_output=True, text=True, timeout=120, **kwargs)


def test_run_writes_a_complete_directory(tmp_path):
    out = tmp_path / "run"
    done = lowstakes_cmd("run", "scenarios/shift.yaml", "--horizon", 2000, "--seeds", 2, "--out", out)
    assert done.returncode == 0, done.stderr
    for arm in ("logreg / aligned", "logreg / misaligned", "tree / aligned", "tree / misaligned"):
        assert arm in done.stdout
    assert f"run directory: {out}" in done.stdout.replace("\n", "")
    for name in ("scenario.yaml", "summary.json", "trace.parquet", "figures/regret.png",
                 "figures/transition.png"):
        assert (out / name).is_file(), name
    assert not (out / "INCOMPLETE").exists()
    resolved = lowstakes.load_scenario(out / "scenario.yaml")
    original = lowstakes.load_scenario(ROOT / "scenarios/shift.yaml")
    assert resolved == original.with_overrides(seeds=2, horizon=2000)
    assert resolved.stream.shifts[0].at == 1000


@pytest.mark.parametrize("args, expected", [
    (["run", "{bad}"], "stream.label_noise: Input should be less than 0.5"),
    (["run", "scenarios/shift.yaml", "--seeds", "0"], "--seeds: must be at least 1"),
    (["run", "missing.yaml"], "missing.yaml: (top level): cannot read the file"),
    (["run", "scenarios/shift.yaml", "--out", "{existing}"], "already exists and is not empty"),
])
def test_bad_input_exits_2_with_one_message(args, expected, tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text((ROOT / "scenarios/shift.yaml").read_text().replace("label_noise: 0.1",
                                                                      "label_noise: 0.7"))
    existing = tmp_path / "existing"
    existing.mkdir()
    (existing / "keep.txt").write_text("mine")
    args = [a.format(bad=bad, existing=existing) for a in args]
    done = lowstakes_cmd(*args)
    assert done.returncode == 2
    assert "Traceback" not in done.stderr
    assert expected in done.stderr
    assert (existing / "keep.txt").read_text() == "mine"


def test_an_interrupted_run_is_never_mistaken_for_a_complete_one(tmp_path):
    out = tmp_path / "run"
    proc = subprocess.Popen([sys.executable, "-m", "lowstakes", "run", "scenarios/shift.yaml",
                             "--out", str(out)], cwd=ROOT, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while not (out / "scenario.yaml").exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(0.5)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    assert (out / "INCOMPLETE").exists()
    assert not (out / "summary.json").exists()
    with pytest.raises(IncompleteRunError, match="not a complete run directory"):
        lowstakes.load(out)
