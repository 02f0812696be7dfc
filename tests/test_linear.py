"""The OGD bound on River's linear learners: it holds on every window of adversarial streams,
its terms equal an independent computation, the comparator is optimal, the records equal
River's own numbers, and configurations it does not cover get a reason, never a bound."""

from __future__ import annotations

import heapq
import math

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from river import linear_model, optim, preprocessing, tree
from scipy import special

import lowstakes
from lowstakes import linear
from lowstakes.learners import RecordedRegressionPolicy, RecordedRiverPolicy
from lowstakes.objectives import cost_matrix
from lowstakes.results import seed_metrics
from lowstakes.simulation import simulate

MODELS = {
    "logreg": lambda: linear_model.LogisticRegression(),
    "logreg_fast_l2": lambda: linear_model.LogisticRegression(optimizer=optim.SGD(0.2), intercept_lr=0.05,
                                                              l2=0.01),
    "perceptron": lambda: linear_model.Perceptron(),
    "hinge_svm": lambda: linear_model.LogisticRegression(loss=optim.losses.Hinge(threshold=1.0)),
    "logreg_fixed_intercept": lambda: linear_model.LogisticRegression(intercept_lr=0.0),
}


def col(records, name):
    """One recorded column of every learning event, as one array."""
    return records["events"].column(name)


def _model(name, scaler):
    model = MODELS[name]()
    return preprocessing.StandardScaler() | model if scaler else model


class Twin:
    """The same River model, unhooked, stepped through by hand exactly as River's pipeline
    does (scaler learns, then transforms, then the linear model learns): the ground truth."""

    def __init__(self, model):
        self.model = model
        self.est = linear.final_step(model)
        self.events = []  # (x as learned on, y, z, River's p, weights before, intercept before)

    def learn(self, x, y):
        if self.est is not self.model:
            scaler = self.model.steps["StandardScaler"]
            scaler.learn_one(x)
            x = scaler.transform_one(x)
        w = dict(self.est.weights)
        b = float(self.est.intercept)
        p = self.est.predict_proba_one(x)[True]
        z = self.est._raw_dot_one(x)
        self.events.append((x, y, z, p, w, b))
        self.est.learn_one(x, y)


def drive(name, scaler, xs, labels, delays, marks):
    """Decisions 0..n-1 with the recorded policy and the twin; label t is learned before
    decision t + delay[t] (ties in decision order). ``labels``: an array, or "adversarial"
    (each label the one the model found less likely when it acted)."""
    policy = RecordedRiverPolicy(_model(name, scaler), cost_matrix(), marks)
    twin = Twin(_model(name, scaler))
    queue, n = [], len(xs)
    chosen = []
    for t in range(n):
        while queue and queue[0][0] <= t:
            _, s, y = heapq.heappop(queue)
            policy.learn(s, xs[s], y)
            twin.learn(xs[s], bool(y))
        action = policy.act(t, xs[t])
        y = int(1 - action) if isinstance(labels, str) else int(labels[t])
        chosen.append(y)
        heapq.heappush(queue, (t + delays[t], t, y))
    return policy.finish()["records"], twin


streams = st.fixed_dictionaries({
    "model": st.sampled_from(sorted(MODELS)),
    "scaler": st.booleans(),
    "n": st.integers(20, 400),
    "d": st.integers(1, 4),
    "scale": st.sampled_from([1e-3, 1e-1, 1.0, 10.0, 1e3]),
    "labels": st.sampled_from(["random", "adversarial", "linear"]),
    "delay": st.sampled_from(["none", "fixed", "random"]),
    "seed": st.integers(0, 2**16),
    "cuts": st.lists(st.floats(0.0, 1.0), min_size=1, max_size=3),
})


def _stream(spec):
    rng = np.random.default_rng(spec["seed"])
    n, d = spec["n"], spec["d"]
    X = rng.normal(size=(n, d)) * spec["scale"] * rng.uniform(0.2, 5, size=d)
    xs = [{f"f{i}": float(v) for i, v in enumerate(row)} for row in X]
    if spec["labels"] == "random":
        labels = rng.integers(0, 2, n)
    elif spec["labels"] == "linear":
        labels = (X @ rng.normal(size=d) + 0.3 * spec["scale"] * rng.normal(size=n) > 0).astype(int)
    else:
        labels = "adversarial"
    delays = {"none": np.ones(n, int), "fixed": np.full(n, 7),
              "random": 1 + rng.geometric(0.1, n)}[spec["delay"]]
    cuts = sorted({int(c * (n - 1)) for c in spec["cuts"]})
    spans = [(a, b) for a, b in zip(cuts, cuts[1:] + [n], strict=True) if b > a]
    return xs, labels, delays, spans


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(streams)
def test_the_bound_holds_in_every_window_and_its_terms_are_exact(spec):
    xs, labels, delays, spans = _stream(spec)
    n = len(xs)
    records, twin = drive(spec["model"], spec["scaler"], xs, labels, delays, linear.marks(spans, n))
    out = linear.window_guarantees(records, spans, n)
    assert out["applies"], out
    for window in [out["run"], *out["windows"]]:
        assert window["holds"], window
        assert window["regret"] <= window["apriori"] + 1e-9 * (1 + abs(window["apriori"]))
    # Independent computation from the twin: the weights River had before each event,
    # the loss River optimises, the gradient River steps along.
    events = twin.events
    assert len(events) == records["n"] == len(col(records, "c"))
    est = twin.est
    keys = records["keys"]
    for (x, _, z, p, _, _), rz, rx in zip(events, col(records, "z"), col(records, "X"), strict=True):
        assert rz == z                                    # the margin River computes
        if spec["model"] not in ("perceptron", "hinge_svm"):
            assert special.expit(rz) == pytest.approx(p, abs=1e-12)
        assert rx.tolist() == [x.get(k, 0.0) for k in keys]
    c = col(records, "c")
    for k, (start, end) in enumerate(spans):
        lo, hi = np.searchsorted(c, start, side="right"), np.searchsorted(c, end, side="right")
        _check_terms(spec, records, events, est, keys, lo, hi, out["windows"][k])
    _check_terms(spec, records, events, est, keys, 0, len(events), out["run"])


def _weights(events, k, est, keys):
    if k < len(events):
        w, b = events[k][4], events[k][5]
    else:
        w, b = est.weights, float(est.intercept)
    return np.array([w.get(key, 0.0) for key in keys]), b


def _check_terms(spec, records, events, est, keys, lo, hi, window):
    """The window's regret, distance and step terms, recomputed from the twin."""
    model = linear.final_step(MODELS[spec["model"]]())
    lr, ilr, l2 = model.optimizer.lr.learning_rate, model.intercept_lr.learning_rate, model.l2
    u_w = np.array([window["comparator"]["weights"][str(k)] for k in keys])
    u_b = window["comparator"]["intercept"]
    w_s, b_s = _weights(events, lo, est, keys)
    w_e, b_e = _weights(events, hi, est, keys)
    distance = (np.sum((w_s - u_w) ** 2) - np.sum((w_e - u_w) ** 2)) / (2 * lr)
    if ilr > 0:
        distance += ((b_s - u_b) ** 2 - (b_e - u_b) ** 2) / (2 * ilr)
    step = regret = 0.0
    loss = model.loss
    for x, y, z, _, w, _ in events[lo:hi]:
        xv = np.array([x.get(key, 0.0) for key in keys])
        wv = np.array([w.get(key, 0.0) for key in keys])
        g = loss.gradient(y_true=y, y_pred=z)
        step += (lr * np.sum((g * xv + l2 * wv) ** 2) + ilr * g ** 2) / 2
        z_u = float(xv @ u_w + u_b)
        if isinstance(loss, optim.losses.Log):
            own, theirs = np.logaddexp(0, -(2 * y - 1) * z), np.logaddexp(0, -(2 * y - 1) * z_u)
        else:
            t = loss.threshold
            own, theirs = max(t - (2 * y - 1) * z, 0), max(t - (2 * y - 1) * z_u, 0)
        regret += own + l2 / 2 * wv @ wv - theirs - l2 / 2 * u_w @ u_w
    scale = 1 + abs(distance) + step + abs(regret)
    assert window["events"] == hi - lo
    assert window["distance"] == pytest.approx(distance, abs=1e-9 * scale)
    assert window["step"] == pytest.approx(step, abs=1e-9 * scale)
    assert window["regret"] == pytest.approx(regret, abs=1e-9 * scale)


@settings(max_examples=60, deadline=None)
@given(streams.filter(lambda s: s["model"] in ("logreg", "logreg_fast_l2")))
def test_the_comparator_is_the_best_fixed_linear_model_of_its_window(spec):
    xs, labels, delays, spans = _stream(spec)
    n = len(xs)
    records, twin = drive(spec["model"], spec["scaler"], xs, labels, delays, linear.marks(spans, n))
    out = linear.window_guarantees(records, spans, n)
    c = col(records, "c")
    l2 = records["l2"]
    for k, (start, end) in enumerate(spans):
        window = out["windows"][k]
        lo, hi = np.searchsorted(c, start, side="right"), np.searchsorted(c, end, side="right")
        if hi == lo:
            continue
        X = np.array([[x.get(key, 0.0) for key in records["keys"]] for x, *_ in twin.events[lo:hi]])
        y = np.array([float(e[1]) for e in twin.events[lo:hi]])
        u_w = np.array(list(window["comparator"]["weights"].values()))
        u_b = window["comparator"]["intercept"]

        def loss(w, b, X=X, y=y):
            return np.logaddexp(0, -(2 * y - 1) * (X @ w + b)).sum() + len(y) * l2 / 2 * w @ w

        s = 2 * y - 1
        dz = -s * special.expit(-s * (X @ u_w + u_b))
        gradient = np.r_[X.T @ dz + len(y) * l2 * u_w, dz.sum()]
        rms = np.sqrt(np.mean(X ** 2, axis=0))
        per_unit = gradient / np.r_[np.where(rms > 0, rms, 1.0), 1.0]
        w_e, b_e = (records["final"] if end >= n else records["snapshots"][end])
        assert loss(u_w, u_b) <= loss(w_e, b_e) + 1e-9 * len(y)
        if window["comparator"]["converged"]:
            assert np.max(np.abs(per_unit)) <= 1e-7 * max(1, len(y))
        else:  # only where u* separates the window's labels: no (or no moderate) minimiser
            assert np.all((2 * y - 1) * (X @ u_w + u_b) > 0)
            assert window["comparator"]["gradient_norm"] > 1e-7 * max(1, len(y))


def test_a_skipped_learning_event_is_caught_and_no_bound_is_reported():
    xs, labels, delays, spans = _stream({"model": "logreg", "scaler": True, "n": 300, "d": 2, "scale": 1.0,
                                         "labels": "random", "delay": "random", "seed": 3, "cuts": [0.5]})
    records, _ = drive("logreg", True, xs, labels, delays, linear.marks(spans, 300))
    assert linear.window_guarantees(records, spans, 300)["applies"]
    k = 200
    kept = {name: np.delete(col(records, name), k, axis=0) for name in ("c", "t", "y", "z", "zd", "w", "X")}
    # Without event k: the window boundaries are counted again from the remaining events.
    before = {d: int(np.searchsorted(kept["c"], d, side="right")) for d in records["events_before"]}
    broken = {**records, "events": linear.Events.from_columns(kept, like=records["events"]),
              "n": len(kept["y"]), "events_before": before}
    out = linear.window_guarantees(broken, spans, 300)
    assert not out["applies"] and "do not reproduce" in out["reason"]


@pytest.mark.parametrize("scaler", [False, True])
def test_on_a_linear_loss_the_bound_is_an_equality(scaler):
    """Hinge loss (threshold 1) with adversarial labels stays on its linear piece, and so does
    the comparator u = 0: convexity is then an equality and so is the bound. Any slip in its
    terms (a wrong eta, a missed event, a wrong weight snapshot) shows as a gap."""
    xs, labels, delays, spans = _stream({"model": "hinge_svm", "scaler": scaler, "n": 300, "d": 3,
                                         "scale": 1.0, "labels": "adversarial", "delay": "none",
                                         "seed": 5, "cuts": [0.0, 0.4]})
    records, _ = drive("hinge_svm", scaler, xs, labels, delays, linear.marks(spans, 300))
    assert np.all((2 * col(records, "y") - 1) * col(records, "z") < 1)  # the adversary keeps it there
    d = len(records["keys"])
    c = col(records, "c")
    for start, end in spans:
        lo, hi = np.searchsorted(c, start, side="right"), np.searchsorted(c, end, side="right")
        theta_s = records["snapshots"][start]
        theta_e = records["final"] if end >= 300 else records["snapshots"][end]
        terms = linear._terms(records, lo, hi, theta_s, theta_e, np.zeros(d), 0.0)
        assert terms["regret"] > 1.0
        assert terms["regret"] == pytest.approx(terms["bound"], rel=1e-9)
        for factor in (0.5, 2.0):  # a wrong eta in the bound
            wrong = {**records, "eta_w": records["eta_w"] * factor, "eta_b": records["eta_b"] * factor}
            moved = linear._terms(wrong, lo, hi, theta_s, theta_e, np.zeros(d), 0.0)
            assert moved["bound"] != pytest.approx(terms["regret"], rel=1e-6)


def test_a_comparator_fitted_on_the_wrong_window_is_not_optimal_there():
    xs, labels, delays, spans = _stream({"model": "logreg", "scaler": False, "n": 400, "d": 2, "scale": 1.0,
                                         "labels": "linear", "delay": "fixed", "seed": 9, "cuts": [0.5]})
    records, _ = drive("logreg", False, xs, labels, delays, linear.marks(spans, 400))
    out = linear.window_guarantees(records, spans, 400)
    window = out["windows"][0]
    right = np.array(list(window["comparator"]["weights"].values()))
    other = np.array(list(out["run"]["comparator"]["weights"].values()))
    assert not np.allclose(right, other, atol=1e-3)


@pytest.mark.parametrize("model, reason", [
    (linear_model.LogisticRegression(optimizer=optim.Adam()), "optim.Adam"),
    (linear_model.LogisticRegression(optimizer=optim.SGD(optim.schedulers.InverseScaling(0.1))),
     "learning-rate schedule InverseScaling"),
    (linear_model.LogisticRegression(l1=0.01), "l1 = 0.01"),
    (linear_model.LogisticRegression(initializer=optim.initializers.Normal(seed=1)), "initializer Normal"),
    (linear_model.LinearRegression(loss=optim.losses.Huber()), "loss Huber"),
    (tree.HoeffdingTreeClassifier(), "is not online gradient descent"),
    (preprocessing.StandardScaler() | tree.HoeffdingTreeClassifier(), "is not online gradient descent"),
])
def test_configurations_the_bound_does_not_cover_get_a_reason(model, reason):
    assert reason in linear.support(model)


def test_clipping_that_triggers_withdraws_the_bound():
    model = linear_model.LogisticRegression(clip_gradient=0.01)
    assert linear.support(model) is None  # clipping is known only once it triggers
    policy = RecordedRiverPolicy(model, cost_matrix(), {0, 50})
    for t in range(100):
        policy.act(t, {"a": 1.0})
        policy.learn(t, {"a": 1.0}, t % 2)
    out = linear.window_guarantees(policy.finish()["records"], [(0, 50)], 100)
    assert not out["applies"] and "clipping triggered" in out["reason"]


def test_clipping_is_found_at_its_first_event_in_a_later_chunk(monkeypatch):
    """Clipping is checked chunk by chunk as events are packed: the first event River
    clipped is found where a pass over all the events finds it, several chunks in."""
    monkeypatch.setattr(linear.LinearRecorder, "CHUNK", 16)
    model = linear_model.LogisticRegression(clip_gradient=0.6)
    policy = RecordedRiverPolicy(model, cost_matrix(), set())
    labels = [1] * 100 + [0] * 20  # confident in 1, then wrong: |dloss/dz| near 1
    for t, y in enumerate(labels):
        policy.act(t, {"a": 1.0})
        policy.learn(t, {"a": 1.0}, y)
    records = policy.finish()["records"]
    lp = np.concatenate([chunk["lp"] for chunk in records["events"].chunks()])
    first = int(np.flatnonzero(np.abs(lp) > 0.6)[0])
    assert records["clipped_at"] == first > 16


def test_linear_regression_on_friedman_holds_and_uses_the_exact_least_squares_comparator():
    scenario = lowstakes.Scenario.from_dict({
        "name": "f", "horizon": 3000, "harm": {"bound": 5.0},
        "stream": {"source": "friedman", "label_noise": 1.0,
                   "shifts": [{"at": 1500, "params": {"roles": [4, 3, 2, 1, 0]}}]},
        "timing": {"feedback_delay": {"exponential": 10}},
        "learners": {"lin": {"model": "linear_model.LinearRegression",
                             "preprocess": ["preprocessing.StandardScaler"]}}})
    run = simulate(scenario, 0)
    guarantee = seed_metrics(run, scenario)[0]["guarantee"]
    assert guarantee["applies"] and guarantee["loss"] == "squared"
    for window in [guarantee["run"], *guarantee["windows"]]:
        assert window["holds"] and window["comparator"]["method"] == "least squares (exact)"


def test_recorded_policy_acts_exactly_as_the_plain_one():
    """The hooks change nothing River computes: the same actions, decision by decision."""
    from lowstakes.learners import RegressionPolicy, RiverPolicy

    rng = np.random.default_rng(0)
    xs = [{"a": float(v), "b": float(u)} for v, u in rng.normal(size=(500, 2))]
    labels = rng.integers(0, 2, 500)
    scaler = [("preprocessing.StandardScaler", {})]
    recorded = RiverPolicy.build("linear_model.LogisticRegression", preprocess=scaler, costs=cost_matrix(),
                                 marks={0, 250})
    plain = RiverPolicy.build("linear_model.LogisticRegression", preprocess=scaler, costs=cost_matrix())
    assert isinstance(recorded, RecordedRiverPolicy) and not isinstance(plain, RecordedRiverPolicy)
    for t, (x, y) in enumerate(zip(xs, labels, strict=True)):
        assert recorded.act(t, x) == plain.act(t, x)
        assert recorded.confidence == plain.confidence
        recorded.learn(t, x, y)
        plain.learn(t, x, y)
    reg = RegressionPolicy.build("linear_model.LinearRegression", marks={0})
    twin = RegressionPolicy.build("linear_model.LinearRegression")
    assert isinstance(reg, RecordedRegressionPolicy)
    for t, x in enumerate(xs[:100]):
        assert reg.act(t, x) == twin.act(t, x)
        reg.learn(t, x, x["a"] * 2)
        twin.learn(t, x, x["a"] * 2)


@pytest.mark.slow
def test_flagship_every_arm_has_a_bound_that_held_or_a_reason(tmp_path):
    result = lowstakes.run("scenarios/shift.yaml", out=tmp_path / "run", seeds=2, horizon=6000, workers=2)
    arms = {(a["learner"], a["objective"]): a for a in result.summary["arms"]}
    for objective in ("aligned", "misaligned"):
        g = arms["logreg", objective]["guarantee"]
        assert g["applies"] and g["name"] == "ogd_window" and g["kind"] == "guaranteed"
        for window in [*g["windows"], g["run"]]:
            assert window["held"] == window["seeds"] == 2
            assert window["bound"] == pytest.approx(window["distance"] + window["step"]
                                                    + window["approximation"])
        assert not arms["tree", objective]["guarantee"]["applies"]
        assert "fixed_share" in arms["tree", objective]["guarantee"]["reason"]
    # The contrast: both arms learn what they are told within the bound; only one is aligned.
    aligned, misaligned = (arms["logreg", o]["guarantee"]["windows"][0] for o in ("aligned", "misaligned"))
    assert misaligned["cost"] > 1.4 * aligned["cost"]
    assert misaligned["regret"] < misaligned["bound"]
    curves = result.bounds
    logreg = curves[(curves["learner"] == "logreg") & (curves["window"] == 0)]
    assert (logreg["proxy_regret"] <= logreg["bound"] + 1e-6).all()
    end = result.summary["arms"][0]["windows"][0]["end"]
    assert math.isclose(logreg.groupby("seed")["step"].max().iloc[0], end)


@pytest.mark.slow
def test_bound_sweep_reads_as_the_readme_says(tmp_path):
    """The corners of scenarios/bound_sweep.yaml at a small horizon: every window bound held;
    the aligned arm's distance term grows with the size of the shift, the step term with lr;
    the misaligned arm's numbers do not depend on the shift (its feedback never shifted)."""
    from lowstakes.sweeps import sweep

    grid = {"stream.shifts.0.params.threshold": [8.5, 12],
            "learners.logreg.params.optimizer.params.lr": [0.003, 0.1]}
    result = sweep("scenarios/bound_sweep.yaml", grid, tmp_path / "s", seeds=2, horizon=8000, workers=1)
    rows = result.load().rename(columns={"set.stream.shifts.0.params.threshold": "thr",
                                         "set.learners.logreg.params.optimizer.params.lr": "lr"})
    assert rows["window_0_bound_held"].all() and len(rows) == 4 * 2 * 2
    mean = rows.groupby(["objective", "thr", "lr"])[["window_0_bound_distance", "window_0_bound_step",
                                                     "window_0_own_regret", "window_0_cost"]].mean()
    aligned, misaligned = mean.loc["aligned"], mean.loc["misaligned"]
    distance, step = "window_0_bound_distance", "window_0_bound_step"
    for lr in (0.003, 0.1):
        assert aligned.loc[(12, lr), distance] > 5 * aligned.loc[(8.5, lr), distance]
        assert misaligned.loc[(12, lr), "window_0_cost"] > 2 * aligned.loc[(12, lr), "window_0_cost"]
        np.testing.assert_allclose(misaligned.loc[(12, lr)][["window_0_own_regret", "window_0_bound_step"]],
                                   misaligned.loc[(8.5, lr)][["window_0_own_regret", "window_0_bound_step"]])
    for thr in (8.5, 12):
        assert aligned.loc[(thr, 0.1), step] > 10 * aligned.loc[(thr, 0.003), step]


@pytest.mark.parametrize("model", ["logreg", "logreg_fast_l2", "logreg_fixed_intercept"])
def test_records_spilled_to_disk_and_computed_in_chunks_give_the_same_guarantees(model, monkeypatch):
    """A long run's events go to a temporary file and every sum, replay, curve and comparator
    is computed chunk by chunk: the same guarantees as one array in memory (comparators to
    the precision of their search)."""
    xs, labels, delays, spans = _stream({"model": "logreg", "scaler": True, "n": 3000, "d": 3,
                                         "scale": 1.0, "labels": "linear", "delay": "random", "seed": 4,
                                         "cuts": [0.3, 0.6]})
    marks = linear.marks(spans, 3000)
    whole, _ = drive(model, True, xs, labels, delays, marks)
    curves = linear.checkpoints(spans)
    a = linear.window_guarantees(whole, spans, 3000, curves_at=curves)  # one chunk per window
    monkeypatch.setattr(linear.Events, "SPILL", 500)
    monkeypatch.setattr(linear.Events, "COMPUTE", 700)
    monkeypatch.setattr(linear.LinearRecorder, "CHUNK", 256)
    chunked, _ = drive(model, True, xs, labels, delays, marks)
    assert chunked["events"].file is not None and whole["events"].file is None
    assert len(chunked["events"].pieces) > 1
    np.testing.assert_array_equal(col(chunked, "X"), col(whole, "X"))
    assert all(e - s > 700 for s, e in spans)  # every window is computed in more than one chunk
    b = linear.window_guarantees(chunked, spans, 3000, curves_at=curves)
    assert a["applies"] and b["applies"]
    for x, y in zip([a["run"], *a["windows"]], [b["run"], *b["windows"]], strict=True):
        assert x["events"] == y["events"] and x["holds"] == y["holds"]
        for term in ("regret", "bound", "distance", "step", "approximation", "apriori", "decision_shift",
                     "own_loss", "comparator_loss"):
            assert y[term] == pytest.approx(x[term], rel=1e-7, abs=1e-7), term
        assert list(y["comparator"]["weights"].values()) == pytest.approx(
            list(x["comparator"]["weights"].values()), rel=1e-6, abs=1e-8)
    for x, y in zip(a["windows"], b["windows"], strict=True):
        assert y["curve"]["regret"] == pytest.approx(x["curve"]["regret"], rel=1e-7, abs=1e-7)
        assert y["curve"]["bound"] == pytest.approx(x["curve"]["bound"], rel=1e-7, abs=1e-7)


@pytest.mark.parametrize("model", ["logreg", "logreg_fast_l2"])
def test_features_that_come_and_go_or_change_order_are_recorded_aligned(model, monkeypatch):
    """Chunks whose contexts all have the keys of the event before them (in that order), a
    chunk where the same keys come in another order, and contexts whose features come and go:
    every event's recorded features are River's, aligned to one list of keys (0 where a
    feature was absent), and replaying the records rebuilds River's final weights."""
    monkeypatch.setattr(linear.LinearRecorder, "CHUNK", 64)
    rng = np.random.default_rng(3)
    names, xs = ["a", "b", "c", "d"], []
    for t in range(400):
        if t < 150:
            keys = names[:3]
        elif t < 200:
            keys = names[2::-1]  # the same three, in another order
        else:
            keys = [k for k in names if rng.random() < 0.7] or ["b"]
        xs.append({k: float(rng.normal()) for k in keys})
        if t % 7 == 0:  # a feature that is there with the value 0 (River's L2 still acts on it)
            xs[-1][keys[0]] = 0.0
    labels = (rng.random(400) < 0.5).astype(int)
    records, twin = drive(model, False, xs, labels, np.ones(400, int), linear.marks([(100, 300)], 400))
    keys = records["keys"]
    assert sorted(keys) == names and records["varying_keys"]
    expected = [[x.get(k, 0.0) for k in keys] for x, *_ in twin.events]
    np.testing.assert_array_equal(col(records, "X"), expected)
    np.testing.assert_array_equal(col(records, "z"), [z for _, _, z, *_ in twin.events])
    W, b = linear.replay(records, 0, len(twin.events), records["initial"])
    w_final, b_final = records["final"]
    np.testing.assert_allclose(W[-1], w_final, rtol=1e-9, atol=1e-12)
    assert b[-1] == pytest.approx(b_final, rel=1e-9, abs=1e-12)
    guarantee = linear.window_guarantees(records, [(100, 300)], 400)
    assert guarantee["applies"], guarantee.get("reason")


def test_a_change_of_key_order_at_a_chunk_boundary_is_seen(monkeypatch):
    """Every chunk uniform on its own, but the second's keys in another order than the
    first's: the features are still aligned to the keys."""
    monkeypatch.setattr(linear.LinearRecorder, "CHUNK", 50)
    rng = np.random.default_rng(4)
    xs = [{k: float(rng.normal()) for k in (["a", "b"] if t < 50 else ["b", "a"])} for t in range(100)]
    records, twin = drive("logreg", False, xs, (rng.random(100) < 0.5).astype(int), np.zeros(100, int) + 1,
                          set())
    expected = [[x.get(k, 0.0) for k in records["keys"]] for x, *_ in twin.events]
    np.testing.assert_array_equal(col(records, "X"), expected)


@pytest.mark.parametrize("kind", ["logreg", "linreg", "logreg_l2"])
def test_a_block_taken_at_once_records_what_act_and_learn_record(kind, monkeypatch):
    """``take_block`` (the engine's path when every label is learned at once) gives the
    actions and the records that ``act`` then ``learn`` give decision by decision: across
    chunk boundaries, at marked decisions, and when the policy goes on one decision at a
    time afterwards (labels learned late)."""
    from lowstakes.learners import RegressionPolicy, RiverPolicy

    monkeypatch.setattr(linear.LinearRecorder, "CHUNK", 64)
    rng = np.random.default_rng(5)
    xs = [{"a": float(v), "b": float(u)} for v, u in rng.normal(size=(600, 2))]
    scaler = [("preprocessing.StandardScaler", {})]
    marks = {0, 63, 64, 200, 450}

    def build():
        if kind == "linreg":
            return RegressionPolicy.build("linear_model.LinearRegression", preprocess=scaler, marks=marks)
        params = {"l2": 0.01} if kind == "logreg_l2" else None
        return RiverPolicy.build("linear_model.LogisticRegression", params, scaler, costs=cost_matrix(),
                                 marks=marks)

    labels = ([x["a"] * 2 for x in xs] if kind == "linreg" else rng.integers(0, 2, 600).tolist())
    one, block = build(), build()
    assert isinstance(one, RecordedRiverPolicy | RecordedRegressionPolicy)
    by_one = []
    for t in range(400):
        by_one.append(one.act(t, xs[t]))
        one.learn(t, xs[t], labels[t])
    by_block = []
    for start, stop in [(0, 100), (100, 101), (101, 400)]:
        block.take_block(list(range(start, stop)), xs[start:stop], labels[start:stop], by_block)
    assert by_block == by_one
    for policy in (one, block):  # then one at a time, each label two decisions late
        for t in range(400, 600):
            policy.act(t, xs[t])
            if t >= 402:
                policy.learn(t - 2, xs[t - 2], labels[t - 2])
    a, b = one.finish()["records"], block.finish()["records"]
    assert a["n"] == b["n"] == 598
    for key in ("events_before", "keys", "final", "snapshots"):
        np.testing.assert_equal(a[key], b[key])
    for x, y in zip(a["events"].chunks(), b["events"].chunks(), strict=True):
        for column in x:
            np.testing.assert_array_equal(x[column], y[column], err_msg=column)


def test_a_converged_comparator_is_the_minimiser_to_rounding_wherever_the_search_stopped():
    """Trust-region searches from different starts stop at different gradients (as the same
    search does on machines that round differently); polished, they give one comparator."""
    rng = np.random.default_rng(4)
    X = rng.normal(0, 1, (600, 3)) * [1.0, 30.0, 0.05]
    y = (X @ [1.0, 0.05, -8.0] + rng.logistic(0, 1, 600) > 0).astype(float)
    params = {"weight_pos": 1.0, "weight_neg": 1.0}
    found = [linear.fit_comparator("log", params, linear.Data(X, y), 0.0, (np.array(w, float), b))
             for w, b in [([0, 0, 0], 0.0), ([0.9, 0.06, -7.0], 0.3), ([3.0, -0.2, 1.0], -2.0)]]
    assert all(info["converged"] for _, _, info in found)
    for w, b, _ in found[1:]:
        np.testing.assert_allclose(w, found[0][0], rtol=1e-11)
        assert math.isclose(b, found[0][1], rel_tol=1e-11, abs_tol=1e-13)
