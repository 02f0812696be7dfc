"""Every kind of bad scenario gives one clear error naming the file, line, field and problem."""

from __future__ import annotations

import copy

import pytest
import yaml

from lowstakes import ScenarioError, load_scenario

BASE = {
    "name": "bad",
    "horizon": 1000,
    "harm": {"bound": 1.0, "false_positive": 1.0, "false_negative": 1.0},
    "stream": {"source": "sea", "params": {"variant": 0}, "label_noise": 0.1,
               "shifts": [{"at": 500, "params": {"variant": 3}}]},
    "objectives": {"aligned": {"feedback": "truth"}, "misaligned": {"feedback": "stale"}},
    "learners": {"logreg": {"model": "linear_model.LogisticRegression",
                            "preprocess": ["preprocessing.StandardScaler"]}},
}


def mutate(path, value):
    """A copy of BASE with the value at ``path`` replaced (or deleted when value is DELETE)."""
    data = copy.deepcopy(BASE)
    *parents, last = path
    target = data
    for key in parents:
        target = target[key]
    if value is DELETE:
        del target[last]
    else:
        target[last] = value
    return data


DELETE = object()

CASES = {
    "unknown top-level field": (mutate(("horizn",), 5), "horizn", "unknown field (did you mean 'horizon'?)"),
    "misspelt nested field": (mutate(("stream", "shifts", 0, "widht"), 2), "stream.shifts.0.widht",
                              "did you mean 'width'?); allowed: at, width, params"),
    "missing horizon": (mutate(("horizon",), DELETE), "horizon", "required field is missing"),
    "horizon zero": (mutate(("horizon",), 0), "horizon", "greater than or equal to 1"),
    "negative seeds": (mutate(("seeds",), -2), "seeds", "greater than or equal to 1"),
    "label noise too high": (mutate(("stream", "label_noise"), 0.7), "stream.label_noise", "below 0.5"),
    "misspelt source": (mutate(("stream", "source"), "sae"), "stream.source", "did you mean 'sea'"),
    "bad SEA variant": (mutate(("stream", "params", "variant"), 7), "stream.params.variant",
                        "possible choices"),
    "shift beyond horizon": (mutate(("stream", "shifts", 0, "at"), 5000), "stream.shifts.0.at",
                             "beyond the horizon"),
    "overlapping shifts": (mutate(("stream", "shifts"), [{"at": 300, "width": 200},
                                                          {"at": 400, "params": {"variant": 1}}]),
                           "stream.shifts.1.at", "not overlap"),
    "unshiftable param": (mutate(("stream", "shifts", 0, "params"), {"noise": 0.3}),
                          "stream.shifts.0.params.noise",
                          "unknown param 'noise'; it takes: variant, threshold, focus"),
    # What validate used to let through and the run then crashed on (issue 18).
    "concept rule beyond the stream": (
        mutate(("learners",), {"pool": {"algorithm": "hedge", "experts": {
            "a": {"rule": "concept", "params": {"concept": 5}}, "b": {"rule": "constant"}}}}),
        "learners.pool.experts.a.params.concept",
        "concept 5 does not exist; this stream has 2 concept(s), 0..1"),
    "stale concept beyond the stream": (
        mutate(("objectives", "misaligned", "params"), {"concept": 2}),
        "objectives.misaligned.params.concept", "concept 2 does not exist; this stream has 2 concept(s)"),
    "typo in a shift's params": (
        mutate(("stream",), {"source": "agrawal", "params": {"classification_function": 0},
                             "shifts": [{"at": 500, "params": {"classification_funtion": 3}}]}),
        "stream.shifts.0.params.classification_funtion", "did you mean 'classification_function'?"),
    "a shift's value out of range": (
        mutate(("stream",), {"source": "sine",
                             "shifts": [{"at": 500, "params": {"classification_function": 4}}]}),
        "stream.shifts.0.params.classification_function", "Valid values are: 0, 1, 2, 3"),
    "a base value out of range": (
        mutate(("stream",), {"source": "agrawal", "params": {"classification_function": 12}}),
        "stream.params.classification_function", "takes values from 0 to 9 and 12 was passed"),
    "service as a list": (mutate(("timing",), {"overseer": {"service": [0.8]}}), "timing.overseer.service",
                          "expected a mapping with fixed or exponential or a number"),
    # Numbers: finite, and neither booleans nor quoted (issue 15).
    "infinite harm bound": (mutate(("harm", "bound"), float("inf")), "harm.bound",
                            "must be a finite number, got inf"),
    "infinite delay": (mutate(("timing",), {"feedback_delay": {"fixed": float("inf")}}),
                       "timing.feedback_delay.fixed", "must be a finite number"),
    "NaN in free-form params": (mutate(("stream", "params"), {"threshold": float("nan")}),
                                "stream.params.threshold", "must be a finite number, got nan"),
    "seeds: true": (mutate(("seeds",), True), "seeds", "expected a whole number, got True (YAML reads"),
    "quoted horizon": (mutate(("horizon",), "1000"), "horizon",
                       "got the text '1000' (a quoted number is text"),
    "boolean River param": (mutate(("learners", "logreg", "params"), {"l2": True}), "learners.logreg.params",
                            "param 'l2' is a number (default 0.0), got the boolean True"),
    "a long name": (mutate(("name",), "x" * 5_000), "name", "at most 100 characters"),
    "harm above bound": (mutate(("harm", "false_positive"), 2.0), "harm", "exceeds the harm bound"),
    "misspelt feedback": (mutate(("objectives", "misaligned", "feedback"), "stael"),
                          "objectives.misaligned.feedback", "did you mean 'stale'"),
    "bad stale concept": (mutate(("objectives", "misaligned", "params"), {"concept": -1}),
                          "objectives.misaligned.params", "concept index"),
    "region flip without region": (mutate(("objectives", "misaligned"), {"feedback": "region_flip"}),
                                   "objectives.misaligned.params", "missing param 'region'"),
    "misspelt model": (mutate(("learners", "logreg", "model"), "linear_model.LogisticRegresion"),
                       "learners.logreg.model", "did you mean 'linear_model.LogisticRegression'"),
    "unknown model param": (mutate(("learners", "logreg", "params"), {"l3": 0.1}),
                            "learners.logreg.params", "unknown param 'l3'"),
    "unknown preprocess step": (mutate(("learners", "logreg", "preprocess"), ["preprocessing.Scaler"]),
                                "learners.logreg.preprocess.0", "unknown River class 'preprocessing.Scaler'"),
    "not a classifier": (mutate(("learners", "logreg", "model"), "preprocessing.StandardScaler"),
                         "learners.logreg.model", "not a River classifier"),
    "both arrival kinds": ({**BASE, "timing": {"arrivals": {"every": 1, "poisson": 2}}},
                           "timing.arrivals", "not both"),
    "oracle on real data": (mutate(("stream",), {"source": "phishing"}), "comparator", "no oracle"),
    "misspelt model param": (mutate(("learners", "logreg", "params"), {"l22": 0.1}),
                             "learners.logreg.params", "did you mean 'l2'"),
    "misspelt feedback param": (mutate(("objectives", "misaligned", "params"), {"concpt": 1}),
                                "objectives.misaligned.params", "did you mean 'concept'"),
    "unknown comparator": (mutate(("comparator",), "best"), "comparator", "'oracle'"),
    "top-level list": ([1, 2], "(top level)", "mapping"),
}


@pytest.mark.parametrize("case", CASES, ids=list(CASES))
def test_bad_scenario_names_file_field_and_problem(case, tmp_path):
    data, field, problem = CASES[case]
    path = tmp_path / "scenario.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    with pytest.raises(ScenarioError) as caught:
        load_scenario(path)
    message = str(caught.value)
    assert message.startswith(f"{path}:")
    assert f": {field}: " in message
    assert problem in message


def test_line_and_column_point_at_the_offending_value(tmp_path):
    path = tmp_path / "scenario.yaml"
    text = yaml.safe_dump(mutate(("stream", "label_noise"), 0.7), sort_keys=False)
    path.write_text(text)
    line = next(i for i, row in enumerate(text.splitlines(), 1) if "label_noise" in row)
    column = text.splitlines()[line - 1].index("0.7") + 1
    with pytest.raises(ScenarioError, match=f"^{path}:{line}:{column}: stream.label_noise: "):
        load_scenario(path)


def test_yaml_syntax_error_has_line_and_column(tmp_path):
    path = tmp_path / "scenario.yaml"
    path.write_text("name: bad\nhorizon: 10\nstream: {source: sea\n")
    with pytest.raises(ScenarioError, match=rf"^{path}:4:1: \(top level\): YAML syntax error"):
        load_scenario(path)


def test_python_tags_are_refused_not_run(tmp_path):
    marker = tmp_path / "pwned"
    path = tmp_path / "scenario.yaml"
    path.write_text(f'name: !!python/object/apply:os.system ["touch {marker}"]\nhorizon: 10\n')
    with pytest.raises(ScenarioError, match="YAML syntax error"):
        load_scenario(path)
    assert not marker.exists()


@pytest.mark.parametrize("text", ["", "# only a comment\n"])
def test_empty_file(text, tmp_path):
    path = tmp_path / "scenario.yaml"
    path.write_text(text)
    with pytest.raises(ScenarioError, match="mapping of fields"):
        load_scenario(path)


def test_missing_file(tmp_path):
    with pytest.raises(ScenarioError, match="cannot read the file"):
        load_scenario(tmp_path / "nope.yaml")


def test_defaults_are_filled(tmp_path):
    path = tmp_path / "scenario.yaml"
    path.write_text(yaml.safe_dump(BASE))
    scenario = load_scenario(path)
    assert scenario.seeds == 1 and scenario.comparator == "oracle"
    assert scenario.timing.arrivals.every == 1.0 and scenario.timing.feedback_delay.kind == "none"
    assert scenario.windows.smoothing == 500
    assert scenario.learners["logreg"].preprocess[0].model == "preprocessing.StandardScaler"
