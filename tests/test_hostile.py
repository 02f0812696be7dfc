"""Hostile and careless scenario files, resource limits, and no run lost to a late error:
each class of input is refused at once with one message, read correctly, or handled, and
hypothesis mutates the real scenario files to find the next class before a user does."""

from __future__ import annotations

import contextlib
import io
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import lowstakes
from lowstakes import resources
from lowstakes.cli import main
from lowstakes.scenario import load_scenario

ROOT = Path(__file__).parent.parent
SCENARIOS = sorted((ROOT / "scenarios").glob("*.yaml"))
SHIFT = (ROOT / "scenarios" / "shift.yaml").read_text()


def cli(*argv) -> tuple[int, str, str]:
    """Run the command in this process: (exit status, stdout, stderr). An exception that
    escapes main() would be a traceback: it fails the test instead."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        status = main([str(a) for a in argv])
    return status, out.getvalue(), err.getvalue()


def _refused_quickly(path, *expected):
    started = time.perf_counter()
    status, _, err = cli("validate", path)
    elapsed = time.perf_counter() - started
    assert status == 2 and elapsed < 1.0, (status, elapsed, err)
    assert err.count("error:") == 1 and "Traceback" not in err
    for text in expected:
        assert text in err
    return err


def test_alias_bombs_are_refused_at_once(tmp_path):
    lines = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for prev, name in zip("abcdefgh", "bcdefghi", strict=True):
        lines.append(f"{name}: &{name} [" + ",".join([f"*{prev}"] * 9) + "]")
    path = tmp_path / "laughs.yaml"
    path.write_text("\n".join(lines) + "\n")
    _refused_quickly(path, "more than 100,000 values once its aliases are expanded")


def test_deep_nesting_is_refused(tmp_path):
    path = tmp_path / "deep.yaml"
    path.write_text("x: " + "[" * 5000 + "]" * 5000 + "\n")
    _refused_quickly(path, "nested")
    path.write_text("x: " + "[" * 60 + "]" * 60 + "\n")
    _refused_quickly(path, "nested more than 40 levels")


def test_encodings(tmp_path):
    utf16 = tmp_path / "utf16.yaml"
    utf16.write_bytes(SHIFT.encode("utf-16"))
    assert load_scenario(utf16).name == "shift"                      # read correctly
    latin = tmp_path / "latin.yaml"
    latin.write_bytes(SHIFT.replace("description: >-", "description: café >-").encode("latin-1"))
    _refused_quickly(latin, "not UTF-8 text", "save the file as UTF-8")
    big = tmp_path / "big.yaml"
    big.write_text(SHIFT + "# " + "x" * 2_000_000 + "\n")
    _refused_quickly(big, "a scenario file has at most 1,048,576")


@pytest.mark.parametrize("edit, key, lines", [
    (lambda s: s.replace("seeds: 5\n", "seeds: 5\nseeds: 2\n"), "seeds", (19, 20)),
    (lambda s: s.replace("  tree:\n", "  logreg:\n"), "logreg", (36, 39)),
])
def test_duplicate_keys_are_refused_naming_both_lines(edit, key, lines, tmp_path):
    path = tmp_path / "dup.yaml"
    path.write_text(edit(SHIFT))
    text = path.read_text().splitlines()
    first, second = (i + 1 for i, row in enumerate(text) if row.strip().startswith(f"{key}:"))
    err = _refused_quickly(path, f"key {key!r} is given twice", f"line {first} and line {second}")
    assert f"dup.yaml:{second}:" in err


def test_merge_keys_may_still_be_overridden(tmp_path):
    path = tmp_path / "merge.yaml"
    tree = "  tree:\n    model: tree.HoeffdingAdaptiveTreeClassifier\n    params: {seed: 1}\n"
    path.write_text(SHIFT.replace(tree, "  logreg2:\n    <<: *logreg\n    params: {l2: 0.01}\n")
                    .replace("  logreg:\n", "  logreg: &logreg\n"))
    scenario = load_scenario(path)
    assert scenario.learners["logreg2"].params == {"l2": 0.01}


def test_messages_carry_no_schema_internals(tmp_path):
    data = yaml.safe_load(SHIFT)
    data["timing"]["feedback_delay"] = {"exponentiall": 20}
    path = tmp_path / "typo.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    err = _refused_quickly(path, "timing.feedback_delay.exponentiall: unknown field "
                                 "(did you mean 'exponential'?)")
    assert "function-after" not in err and "[" not in err.split(": ", 2)[-1].split(";")[0]


def test_resources_are_estimated_and_refused_before_anything_is_written(tmp_path):
    data = yaml.safe_load(SHIFT)
    data["horizon"], data["stream"]["shifts"][0]["at"] = 10**12, 10**11
    path = tmp_path / "huge.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    err = _refused_quickly(path, "of memory", "decisions per seed fit")
    status, _, err = cli("run", path, "--out", tmp_path / "run")
    assert status == 2 and "GiB of memory" in err and not (tmp_path / "run").exists()
    # The disk: a trace that would not fit where it is written.
    scenario = load_scenario(ROOT / "scenarios" / "shift.yaml")
    with pytest.raises(resources.ResourceError, match="the trace of this run needs about .* of disk"):
        resources.check(scenario, tmp_path / "run", disk=1_000_000)
    needs = resources.estimate(scenario, workers=2)
    assert needs.concurrent == 2 and needs.disk == 20_000 * 5 * 4 * resources.TRACE_ROW
    # Two seeds at a time, each with two recorded logistic-regression arms in temporary files.
    assert needs.scratch == 2 * 20_000 * 2 * resources.LINEAR_EVENT
    assert resources.estimate(scenario.with_overrides(trace="summary")).disk == 0
    with pytest.raises(resources.ResourceError, match="of temporary files .*TMPDIR"):
        resources.check(scenario, tmp_path / "run", scratch=1_000_000)
    # Memory grows with the horizon only by the audit's largest 1% of harms, per arm.
    long = scenario.with_overrides(horizon=10**8)
    grown = resources.estimate(long).memory - resources.estimate(scenario).memory
    assert grown == pytest.approx((10**8 - 20_000) * 4 * resources.TOP_BYTES, rel=1e-6)


def test_a_figure_that_fails_keeps_the_trace_and_summary(tmp_path, monkeypatch):
    from lowstakes import plots

    def broken(*args, **kwargs):
        raise RuntimeError("no fonts today")

    monkeypatch.setattr(plots, "save_figures", broken)
    status, _, err = cli("run", ROOT / "scenarios" / "shift.yaml", "--horizon", "400", "--seeds", "1",
                         "--out", tmp_path / "run")
    assert status == 1 and "drawing the figures failed (RuntimeError: no fonts today)" in err
    run = tmp_path / "run"
    assert (run / "trace.parquet").exists() and (run / "summary.json").exists()
    assert "drawing the figures failed" in (run / "INCOMPLETE").read_text()
    with pytest.raises(lowstakes.IncompleteRunError):
        lowstakes.load(run)
    assert lowstakes.load(run, partial=True).summary["horizon"] == 400


def test_an_unwritable_out_is_exit_2(tmp_path):
    blocked = tmp_path / "file"
    blocked.write_text("not a directory")
    status, _, err = cli("run", ROOT / "scenarios" / "shift.yaml", "--horizon", "200",
                         "--out", blocked / "run")
    assert status == 2 and "cannot create the run directory" in err


def _command(*argv):
    return subprocess.Popen([sys.executable, "-m", "lowstakes", *map(str, argv)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, cwd=ROOT)


def test_two_runs_racing_for_one_out(tmp_path):
    out = tmp_path / "run"
    runs = [_command("run", "scenarios/shift.yaml", "--horizon", "2000", "--seeds", "1", "--out", out)
            for _ in range(2)]
    results = [(p.wait(timeout=120), p.stderr.read()) for p in runs]
    statuses = sorted(status for status, _ in results)
    assert statuses == [0, 2], results
    loser = next(err for status, err in results if status == 2)
    assert "already exists" in loser and "Traceback" not in loser
    assert lowstakes.load(out).summary["horizon"] == 2000


def test_sigterm_leaves_a_run_marked_incomplete(tmp_path):
    out = tmp_path / "run"
    process = _command("run", "scenarios/shift.yaml", "--horizon", "400000", "--seeds", "1", "--out", out)
    deadline = time.time() + 60
    while not (out / "INCOMPLETE").exists() and time.time() < deadline:
        time.sleep(0.05)
    time.sleep(1.0)
    process.send_signal(signal.SIGTERM)
    process.wait(timeout=30)
    assert (out / "INCOMPLETE").exists() and not (out / "summary.json").exists()
    with pytest.raises(lowstakes.IncompleteRunError):
        lowstakes.load(out)


# -- fuzzing the real scenario files ------------------------------------------------------

ODD = st.one_of(
    st.none(), st.booleans(), st.integers(-10**15, 10**15), st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=30), st.text(min_size=2000, max_size=5000), st.just("1e9"), st.just(".inf"),
    st.lists(st.integers(), max_size=3), st.dictionaries(st.text(max_size=5), st.integers(), max_size=3),
    st.recursive(st.integers(), lambda inner: st.lists(inner, max_size=2) | st.dictionaries(
        st.text(max_size=3), inner, max_size=2), max_leaves=30),
)


def _paths(node, path=()):
    yield path
    if isinstance(node, dict):
        for key, value in node.items():
            yield from _paths(value, path + (key,))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from _paths(value, path + (i,))


@st.composite
def mutants(draw):
    """A real scenario file, changed: a value dropped, retyped or replaced by something odd; a
    key duplicated; the text re-encoded or cut."""
    source = draw(st.sampled_from(SCENARIOS))
    text = source.read_text()
    kind = draw(st.sampled_from(["value", "drop", "duplicate", "encoding", "cut"]))
    if kind in ("value", "drop"):
        data = yaml.safe_load(text)
        paths = [p for p in _paths(data) if p]
        path = draw(st.sampled_from(paths))
        parent = data
        for key in path[:-1]:
            parent = parent[key]
        if kind == "drop":
            del parent[path[-1]]
        else:
            parent[path[-1]] = draw(ODD)
        return yaml.safe_dump(data, sort_keys=False, allow_unicode=True).encode()
    if kind == "duplicate":
        lines = text.splitlines()
        keyed = [i for i, line in enumerate(lines) if ":" in line and not line.lstrip().startswith("#")]
        i = draw(st.sampled_from(keyed))
        lines.insert(i + 1, lines[i])
        return "\n".join(lines).encode()
    if kind == "encoding":
        codec = draw(st.sampled_from(["utf-16", "utf-32", "latin-1", "utf-8-sig"]))
        return text.encode(codec, errors="replace")
    return text.encode()[: draw(st.integers(0, len(text)))]


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                   HealthCheck.function_scoped_fixture])
@given(mutants())
def test_mutated_scenarios_validate_or_fail_cleanly(tmp_path, raw):
    path = tmp_path / "mutant.yaml"
    path.write_bytes(raw)
    started = time.perf_counter()
    status, _, err = cli("validate", path)
    assert time.perf_counter() - started < 2.0
    assert status in (0, 2) and "unexpected" not in err, err


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                  HealthCheck.function_scoped_fixture])
@given(mutants())
def test_mutants_that_validate_run_at_a_tiny_horizon_without_a_traceback(tmp_path, raw):
    path = tmp_path / "mutant.yaml"
    path.write_bytes(raw)
    status, _, _ = cli("validate", path)
    if status != 0:
        return
    out = tmp_path / f"run{time.monotonic_ns()}"
    status, _, err = cli("run", path, "--horizon", "300", "--seeds", "1", "--out", out)
    assert status in (0, 1, 2) and "unexpected" not in err, err
    if status == 0:
        assert json.loads((out / "summary.json").read_text())["horizon"] == 300


def test_the_fuzz_profile_is_deterministic():
    if os.environ.get("HYPOTHESIS_PROFILE", "ci") == "ci":
        assert settings.default.derandomize and settings.default.database is None


def test_a_deceptive_experts_imitated_params_must_be_a_mapping():
    """Found by the mutation test above: ``imitate: {rule: threshold, params: true}`` crashed
    the checks with an AttributeError."""
    with pytest.raises(lowstakes.ScenarioError) as caught:
        lowstakes.Scenario.from_dict({
            "name": "d", "horizon": 100, "stream": {"source": "sea"},
            "learners": {"c": {"algorithm": "consensus", "experts": {
                "a": {"rule": "threshold", "params": {"features": [0, 1], "value": 8}},
                "b": {"rule": "deceptive", "params": {"imitate": {"rule": "threshold", "params": True},
                                                      "after": 50, "region": {2: [9, 10]}}}}}}})
    (path, message), = caught.value.problems
    assert path == ("learners", "c", "experts", "b", "params")
    assert "imitate.params must be a mapping" in message
