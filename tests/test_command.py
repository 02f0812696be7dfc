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
    for name in ("scenario.yaml", "summary.json", "curves.parquet", "figures/regret.png",
                 "figures/transition.png", "trace.parquet/seed-00000.parquet",
                 "trace.parquet/seed-00001.parquet"):
        assert (out / name).is_file(), name
    assert not (out / "INCOMPLETE").exists()
    assert sorted(p.name for p in out.iterdir()) == [
        "bounds.parquet", "curves.parquet", "figures", "scenario.yaml", "summary.json", "trace.parquet"]
    resolved = lowstakes.load_scenario(out / "scenario.yaml")
    original = lowstakes.load_scenario(ROOT / "scenarios/shift.yaml")
    assert resolved == original.with_overrides(seeds=2, horizon=2000)
    assert resolved.stream.shifts[0].at == 1000


def test_run_with_trace_summary_keeps_no_trace(tmp_path):
    out = tmp_path / "run"
    done = lowstakes_cmd("run", "scenarios/shift.yaml", "--horizon", 1500, "--seeds", 1, "--out", out,
                         "--trace", "summary")
    assert done.returncode == 0, done.stderr
    assert not (out / "trace.parquet").exists() and (out / "curves.parquet").is_file()
    assert (out / "figures" / "transition.png").stat().st_size > 10_000
    assert lowstakes.load_scenario(out / "scenario.yaml").trace == "summary"
    assert "logreg / misaligned" in done.stdout


@pytest.mark.parametrize("args, expected", [
    (["run", "{bad}"], "stream.label_noise: must be below 0.5"),
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


@pytest.mark.parametrize("how", [signal.SIGKILL, signal.SIGINT], ids=["killed", "ctrl-c"])
def test_an_interrupted_run_is_never_mistaken_for_a_complete_one(tmp_path, how):
    out = tmp_path / "run"
    proc = subprocess.Popen([sys.executable, "-m", "lowstakes", "run", "scenarios/shift.yaml",
                             "--out", str(out)], cwd=ROOT, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        while not (out / "scenario.yaml").exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(0.5)
    finally:
        proc.send_signal(how)
        _, stderr = proc.communicate(timeout=60)
    if how == signal.SIGINT:
        assert proc.returncode == 130
        assert "Traceback" not in stderr and "interrupted" in stderr
    assert (out / "INCOMPLETE").exists()
    assert not (out / "summary.json").exists()
    with pytest.raises(IncompleteRunError, match="not a complete run directory"):
        lowstakes.load(out)


def test_validate_checks_every_file_and_exits_2_if_any_is_bad(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: bad\nhorizon: 10\n")
    good = lowstakes_cmd("validate", "scenarios/shift.yaml", "scenarios/phishing.yaml")
    assert good.returncode == 0 and good.stdout.count("ok: ") == 2
    mixed = lowstakes_cmd("validate", "scenarios/shift.yaml", bad)
    assert mixed.returncode == 2 and "ok: scenarios/shift.yaml" in mixed.stdout
    assert f"{bad}:1:1: stream: required field is missing" in mixed.stderr
    assert "Traceback" not in mixed.stderr


def test_list_names_what_a_scenario_can_use():
    done = lowstakes_cmd("list")
    assert done.returncode == 0
    for name in ("sea", "stale", "region_flip", "fixed_share", "consensus", "uncertainty",
                 "best_constant", "linear_model.LogisticRegression", "module:attribute"):
        assert name in done.stdout
    assert "base.Classifier" not in done.stdout


def test_schema_describes_the_scenario_files():
    import json

    import jsonschema
    import yaml

    done = lowstakes_cmd("schema")
    assert done.returncode == 0
    schema = json.loads(done.stdout)
    for path in sorted((ROOT / "scenarios").glob("*.yaml")):
        jsonschema.validate(yaml.safe_load(path.read_text()), schema)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({"name": "x", "horizon": 5, "stream": {"source": "sea"},
                             "learners": {}, "horizn": 3}, schema)


def test_sweep_command_runs_resumes_and_refuses_bad_paths(tmp_path):
    out = tmp_path / "sweep"
    args = ("sweep", "scenarios/shift.yaml", "--set", "horizon=1000", "--set", "seeds=1",
            "--set", "stream.shifts.0.at=400,600", "--out", out)
    done = lowstakes_cmd(*args)
    assert done.returncode == 0, done.stderr
    assert "2 task(s): 2 run now, 0 already done" in done.stdout
    # Fields given one value are not drawn: a figure per field that varies.
    assert sorted(p.name for p in (out / "figures").iterdir()) == ["stream.shifts.0.at.png"]
    assert "2 task(s): 0 run now, 2 already done" in lowstakes_cmd(*args).stdout
    bad = lowstakes_cmd("sweep", "scenarios/shift.yaml", "--set", "stream.shifts.0.att=5", "--out", out)
    assert bad.returncode == 2 and "Traceback" not in bad.stderr
    assert "scenarios/shift.yaml" in bad.stderr and "stream.shifts.0.att" in bad.stderr
