"""Guarantees for River's linear learners: online gradient descent with constant steps.

River's ``linear_model.LogisticRegression`` (log loss), ``Perceptron`` (hinge, threshold 0)
and ``LinearRegression`` (squared loss) with ``optim.SGD(lr)``, a constant ``intercept_lr``,
no L1 and no gradient clipping that triggers are online gradient descent. Learning event k
(the k-th ``learn_one``, in the order they happen, delayed or not) takes the features x_k
the model learns on (after any preprocessing, as seen at that moment), the label y_k and
the weights theta_k = (w_k, b_k), and steps theta_{k+1} = theta_k - eta (.) g_k with g_k
the gradient of f_k(theta) = loss(w.x_k + b, y_k) + (l2/2)||w||^2 at theta_k (eta is
``lr`` for the weights and ``intercept_lr`` for the intercept). For ANY fixed u and any
run W = [s, e) of consecutive learning events:

    sum_{k in W} f_k(theta_k) - f_k(u)
        <= sum_i [(theta_{s,i} - u_i)^2 - (theta_{e,i} - u_i)^2] / (2 eta_i)      (distance)
           + sum_{k in W} sum_i eta_i g_{k,i}^2 / 2                                  (step)
           + sum_{k in W} (l'(z_k) - g_k^loss) (z_k - z_k(u))                        (approximation)

Proof: ||theta_{k+1} - u||^2 = ||theta_k - u||^2 - 2 <eta g_k, theta_k - u> + ||eta g_k||^2
coordinate-wise, and convexity gives f_k(theta_k) - f_k(u) <= <grad f_k(theta_k), theta_k - u>.
The last term is zero except where River's loss gradient is not the exact one: its log
loss uses exp(-z) in place of 1 / (1 + exp(z)) for |z| > 18, a difference below 1e-8.

:class:`LinearRecorder` records what the bound needs while the arm runs (hooks on the
final estimator's ``learn_one`` and prediction: no second model, no change to what River
computes); :func:`window_guarantees` computes, for every transition window and the whole
run, the comparator u* (the best fixed linear model on the window's learning events), the
arm's regret on its own feedback against it, the bound with its terms, the a-priori form
D^2/(2 eta) + eta G^2 tau / 2, and the decision-time shift sum |z(decision) - z(learning)|.

Examples
--------
>>> from river import linear_model, optim
>>> support(linear_model.LogisticRegression()) is None
True
>>> support(linear_model.LogisticRegression(optimizer=optim.Adam()))
'optimizer optim.Adam: the bound is for plain optim.SGD with a constant learning rate'
>>> support(linear_model.LogisticRegression(l1=0.1))
'l1 = 0.1: an L1 penalty is applied outside the gradient step'
"""

from __future__ import annotations

import itertools
import math

import numpy as np
from river import compose, optim
from river.linear_model.base import GLM
from scipy import optimize, sparse, special

__all__ = ["support", "final_step", "LinearRecorder", "window_guarantees", "replay", "window_loss",
           "fit_comparator", "checkpoints", "marks", "SOURCE", "NAME"]

NAME = "ogd_window"
SOURCE = "online gradient descent with constant steps (BOUNDS.md, 'River's linear learners')"
#: Tolerance of the check bound >= regret, relative to the size of the terms (float rounding).
RELATIVE_TOLERANCE = 1e-9
#: The comparator search has converged when every coordinate of the gradient (per unit-scale
#: feature) is at most this times the number of learning events.
CONVERGED = 1e-7


def final_step(model):
    """The estimator at the end of a pipeline (or the model itself)."""
    if isinstance(model, compose.Pipeline):
        return list(model.steps.values())[-1]
    return model


def _loss_kind(loss) -> str | None:
    if type(loss) is optim.losses.Log:
        return "log"
    if type(loss) is optim.losses.Hinge:
        return "hinge"
    if type(loss) is optim.losses.Squared:
        return "squared"
    return None


def support(model) -> str | None:
    """None when ``model`` (a River model or pipeline) is covered by the bound; otherwise the
    reason it is not, in one line. Clipping is checked while the arm runs."""
    estimator = final_step(model)
    name = f"{type(estimator).__module__.split('.')[1]}.{type(estimator).__name__}" \
        if type(estimator).__module__.startswith("river.") else type(estimator).__name__
    if not isinstance(estimator, GLM):
        return (f"{name} is not online gradient descent on a convex loss: no regret bound "
                "applies to it")
    kind = _loss_kind(estimator.loss)
    if kind is None:
        return f"loss {type(estimator.loss).__name__}: the bound covers log, hinge and squared losses"
    if kind == "hinge" and (estimator.loss.threshold < 0 or
                            (estimator.loss.threshold > 0 and estimator.l2 != 0)):
        return (f"hinge loss with threshold {estimator.loss.threshold} and l2 = {estimator.l2}: no "
                "exact comparator is computed for it")
    if type(estimator.optimizer) is not optim.SGD:
        return (f"optimizer optim.{type(estimator.optimizer).__name__}: the bound is for plain "
                "optim.SGD with a constant learning rate")
    if type(estimator.optimizer.lr) is not optim.schedulers.Constant:
        return (f"learning-rate schedule {type(estimator.optimizer.lr).__name__}: the bound is for a "
                "constant learning rate")
    if type(estimator.intercept_lr) is not optim.schedulers.Constant:
        return (f"intercept_lr schedule {type(estimator.intercept_lr).__name__}: the bound is for a "
                "constant intercept_lr")
    lr = estimator.optimizer.lr.learning_rate
    if not lr > 0 or not math.isfinite(lr):
        return f"learning rate {lr}: the bound needs a positive, finite step"
    intercept_lr = estimator.intercept_lr.learning_rate
    if not intercept_lr >= 0 or not math.isfinite(intercept_lr):
        return f"intercept_lr {intercept_lr}: the bound needs a non-negative, finite step"
    if estimator.l1 != 0:
        return f"l1 = {estimator.l1}: an L1 penalty is applied outside the gradient step"
    if estimator.l2 < 0:
        return f"l2 = {estimator.l2}: a negative penalty is not convex"
    if type(estimator.initializer) is not optim.initializers.Zeros:
        return (f"initializer {type(estimator.initializer).__name__}: weights drawn when a feature is "
                "first seen are not recorded; use the default (zeros)")
    return None


class LinearRecorder:
    """Records the learning events of one River GLM (behind its pipeline, if any).

    Hooks the final estimator's ``learn_one`` and its prediction method on the instance:
    River still does all the computing; the hooks note the features it learns on, the label,
    the margin z = w.x + b at that moment, and the margin each decision was taken with.
    River's loss gradient at each event is a function of (y, z) and is computed for all
    events at once at the end (the replay check then confirms that it reproduces River's
    weights). The arm's policy calls :meth:`decide` before each decision (to snapshot the
    weights at ``marks``) and sets :attr:`learning` to the decision whose feedback it is
    learning. Events are packed into arrays every :attr:`CHUNK` events.
    """

    CHUNK = 4096

    def __init__(self, model, marks=()):
        self.model = model
        est = self.estimator = final_step(model)
        self.kind = _loss_kind(est.loss)
        self.eta_w = float(est.optimizer.lr.learning_rate)
        self.eta_b = float(est.intercept_lr.learning_rate)
        self.l2 = float(est.l2)
        self.clip = float(est.clip_gradient)
        self.intercept_init = float(est.intercept_init)
        self.marks = {int(m) for m in marks}
        self.keys: list = []
        self._keys: tuple = ()
        self.decided = 0          # decisions taken so far
        self.learning = -1        # the decision whose feedback is being learned
        self.acting = -1
        self._pending: dict[int, float] = {}
        self._events: list[tuple] = []   # (c, t, y, z, z at decision) per event, not yet packed
        self._rows: list = []            # the features of each event, not yet packed
        self._chunks: list[dict] = []
        self._extra: list[tuple] | None = [] if self.l2 else None
        self.snapshots: dict[int, tuple[dict, float]] = {}
        self.varying_keys = False
        self._dot = est._raw_dot_one
        self._learn = est.learn_one
        est.learn_one = self._learn_one
        if hasattr(est, "predict_proba_one") and self.kind != "squared":
            est.predict_proba_one = self._predict_proba_one
        else:
            est.predict_one = self._predict_one

    # -- hooks ---------------------------------------------------------------------------

    def decide(self, t: int) -> None:
        """Decision t is about to be taken."""
        if t in self.marks:
            est = self.estimator
            self.snapshots[t] = (est._weights.to_dict(), float(est.intercept))
        self.acting = t
        self.decided = t + 1

    def forget(self, t: int) -> None:
        """Decision t's label will never be learned."""
        self._pending.pop(t, None)

    def _predict_proba_one(self, x):
        # River's LogisticRegression.predict_proba_one, with the margin kept.
        z = self._pending[self.acting] = self._dot(x)
        p = self.estimator.loss.mean_func(z)
        return {False: 1.0 - p, True: p}

    def _predict_one(self, x):
        # River's LinearRegression.predict_one, with the margin kept.
        z = self._pending[self.acting] = self._dot(x)
        return self.estimator.loss.mean_func(z)

    def _learn_one(self, x, y, w=1.0):
        z = self._dot(x)
        if tuple(x) != self._keys:
            self._see_keys(x)
        self._rows.append(x)
        self._events.append((self.decided, self.learning, y, z, self._pending.pop(self.learning, z), w))
        if self._extra is not None:  # with L2, the weights' norm enters the loss and the gradient
            weights = self.estimator._weights
            self._extra.append(tuple(weights.get(k, 0.0) for k in x))
        if len(self._events) >= self.CHUNK:
            self._pack()
        self._learn(x, y, w)

    def _see_keys(self, x):
        if self._keys:
            self.varying_keys = True
        known = set(self.keys)
        self.keys += [k for k in x if k not in known]
        self._keys = tuple(x)

    def _pack(self):
        """Move the pending events into arrays (features aligned to :attr:`keys`)."""
        if not self._events:
            return
        c, t, y, z, zd, w = (np.array(column, dtype=float) for column in zip(*self._events, strict=True))
        keys = self.keys
        if self.varying_keys:
            X = np.array([[row.get(k, 0.0) for k in keys] for row in self._rows], dtype=float)
        else:  # every row's keys were checked to be `keys`, in this order
            X = np.fromiter(itertools.chain.from_iterable(row.values() for row in self._rows), float,
                            count=len(self._rows) * len(keys)).reshape(len(self._rows), len(keys))
        chunk = {"c": c.astype(np.int64), "t": t.astype(np.int64), "y": y, "z": z, "zd": zd, "w": w, "X": X}
        if self._extra is not None:
            # Each event's weights, on its own features (River's L2 acts on those alone).
            W = np.zeros_like(X)
            index = {k: i for i, k in enumerate(keys)}
            for r, (row, weights) in enumerate(zip(self._rows, self._extra, strict=True)):
                W[r, [index[k] for k in row]] = weights
            chunk["W"] = W
            self._extra = []
        self._chunks.append(chunk)
        self._events, self._rows = [], []

    # -- results -------------------------------------------------------------------------

    def finish(self) -> dict:
        """The records as arrays (one row per learning event) and the weight snapshots."""
        self._pack()
        est = self.estimator
        d = len(self.keys)

        def vector(weights: dict) -> np.ndarray:
            return np.array([weights.get(k, 0.0) for k in self.keys], dtype=float)

        out = {}
        for name in ("c", "t", "y", "z", "zd", "w"):
            out[name] = np.concatenate([c[name] for c in self._chunks]) if self._chunks else np.zeros(0)
        out["c"], out["t"] = out["c"].astype(np.int64), out["t"].astype(np.int64)
        out["X"] = np.vstack([np.pad(c["X"], ((0, 0), (0, d - c["X"].shape[1]))) for c in self._chunks]) \
            if self._chunks else np.zeros((0, d))
        params = _loss_params(est.loss)
        out["lp"] = river_gradient(self.kind, params, out["z"], out["y"]) * out["w"]
        out["dz"] = np.abs(out.pop("zd") - out["z"])
        clipped = np.flatnonzero(np.abs(out["lp"]) > self.clip)
        if self._chunks and "W" in self._chunks[0]:
            W = np.vstack([np.pad(c["W"], ((0, 0), (0, d - c["W"].shape[1]))) for c in self._chunks])
            out["wn2"] = np.einsum("ij,ij->i", W, W)
            out["gw2"] = np.einsum("ij,ij->i", *(2 * [out["lp"][:, None] * out["X"] + self.l2 * W]))
        elif self.l2:
            out["wn2"] = out["gw2"] = np.zeros(0)
        out |= {
            "keys": list(self.keys), "kind": self.kind, "loss_params": params,
            "eta_w": self.eta_w, "eta_b": self.eta_b, "l2": self.l2,
            "clipped_at": int(out["t"][clipped[0]]) if len(clipped) else None,
            "varying_keys": self.varying_keys,
            "initial": (np.zeros(d), self.intercept_init),
            "snapshots": {t: (vector(w), b) for t, (w, b) in self.snapshots.items()},
            "final": (vector(est._weights.to_dict()), float(est.intercept)),
        }
        return out


def river_gradient(kind: str, params: dict, z: np.ndarray, y: np.ndarray) -> np.ndarray:
    """River's d loss / dz at margins ``z`` for labels ``y`` (its scalar formulas, cut-offs
    included), for all events at once.

    >>> river_gradient("log", {"weight_pos": 1.0, "weight_neg": 1.0}, np.array([0.0, 20.0]), np.array([1, 1]))
    array([-5.00000000e-01, -2.06115362e-09])
    """
    if kind == "log":
        s = 2 * y - 1
        weights = _log_weights(y, params)
        m = z * s
        with np.errstate(over="ignore"):
            middle = -s / (np.exp(np.clip(m, -18.0, 18.0)) + 1.0)
        tail = np.exp(-np.maximum(m, 18.0)) * -s
        return weights * np.where(m > 18.0, tail, np.where(m < -18.0, -s, middle))
    if kind == "hinge":
        s = 2 * y - 1
        return np.where(s * z <= params["threshold"], -s, 0.0)
    return 2 * (z - y)


def _loss_params(loss) -> dict:
    if type(loss) is optim.losses.Log:
        return {"weight_pos": float(loss.weight_pos), "weight_neg": float(loss.weight_neg)}
    if type(loss) is optim.losses.Hinge:
        return {"threshold": float(loss.threshold)}
    return {}


# -- the loss, exactly ---------------------------------------------------------------------


def _log_weights(y, params):
    return np.where(y == 0, params["weight_neg"], params["weight_pos"])


def window_loss(kind: str, params: dict, z: np.ndarray, y: np.ndarray) -> np.ndarray:
    """The loss of margins ``z`` against labels ``y``, computed stably (not River's cut-offs).

    >>> window_loss("log", {"weight_pos": 1.0, "weight_neg": 1.0}, np.array([0.0]), np.array([1.0]))
    array([0.69314718])
    """
    if kind == "log":
        s = 2 * y - 1
        return _log_weights(y, params) * np.logaddexp(0.0, -s * z)
    if kind == "hinge":
        s = 2 * y - 1
        return np.maximum(params["threshold"] - s * z, 0.0)
    return (z - y) ** 2


def _exact_gradient(kind, params, z, y, river):
    """d loss / dz exactly (log loss); for hinge and squared River's value is exact."""
    if kind != "log":
        return river
    s = 2 * y - 1
    return -s * _log_weights(y, params) * special.expit(-s * z)


def _objective(kind, params, X, y, free, fixed_b):
    """F(u) = sum_k loss(u_w.x_k + u_b, y_k) with its gradient and Hessian, over the free
    coordinates (the intercept is fixed when its learning rate is 0). One exponential per
    event and evaluation: the log loss, its derivative and its curvature all come from
    e = exp(-|s z|), kept for the Hessian at the same point."""

    def unpack(v):
        return (v[:-1], v[-1]) if free else (v, fixed_b)

    A = np.hstack([X, np.ones((len(X), 1))]) if free else X
    s = 2 * y - 1
    weights = _log_weights(y, params) if kind == "log" else None
    last = {}

    def curvature_at(v):
        if last.get("v") is not None and np.array_equal(last["v"], v):
            return last["curvature"]
        f(v)
        return last["curvature"]

    def f(v):
        w, b = unpack(v)
        z = X @ w + b
        if kind == "log":
            m = s * z
            e = np.exp(-np.abs(m))
            value = float(weights @ (np.log1p(e) + np.maximum(-m, 0.0)))
            sig = np.where(m >= 0, e, 1.0) / (1.0 + e)   # sigmoid(-m): the chance of a mistake
            dz = -s * weights * sig
            last["curvature"] = weights * e / (1.0 + e) ** 2
        else:  # squared
            value = float(np.sum((z - y) ** 2))
            dz = 2 * (z - y)
            last["curvature"] = np.full(len(z), 2.0)
        last["v"] = np.array(v, copy=True)
        return value, A.T @ dz

    def hessian(v):
        return (A * curvature_at(v)[:, None]).T @ A

    return f, hessian, unpack


def fit_comparator(kind, params, X, y, l2, start, eta_w=None, eta_b=None, fixed_b=None):
    """The best fixed linear model u* on learning events (X, y): argmin sum_k f_k(u).

    ``start`` (w, b) warm-starts the search (it never ends above its start). With
    ``eta_w`` given, it instead minimises sum_k f_k(u) + ||theta_s - u||^2 / (2 eta), the
    u_reg of BOUNDS.md (``start`` is then theta_s). ``fixed_b``: the intercept is not learned
    (intercept_lr = 0) and stays at this value. Returns (w, b, info)."""
    free = fixed_b is None
    w0, b0 = np.asarray(start[0], float), start[1]
    if kind == "hinge":
        # threshold 0 (Perceptron): every term is >= 0 and is 0 at u = 0.
        if params["threshold"] == 0:
            return np.zeros_like(w0), (0.0 if free else fixed_b), {"method": "exact (u = 0)",
                                                                  "converged": True}
        return _hinge_lp(X, y, params["threshold"], free, fixed_b)
    if kind == "squared" and eta_w is None:
        return _least_squares(X, y, l2, free, fixed_b)
    # Search in coordinates where every feature has unit scale (v = u * scale), with the exact
    # Hessian (a trust-region Newton method): features here range over orders of magnitude,
    # and quasi-Newton methods stall on such problems long before the gradient is small.
    scale = np.sqrt(np.mean(X ** 2, axis=0)) if len(X) else np.ones(X.shape[1])
    scale = np.where(scale > 0, scale, 1.0)
    f, hessian, unpack = _objective(kind, params, X / scale, y, free, fixed_b)
    tau, d = len(y), len(scale)
    # Quadratic terms: tau (l2/2) ||u_w||^2 and, for u_reg, ||theta_s - u||^2 / (2 eta).
    curvature = np.r_[np.full(d, tau * l2) / scale ** 2, [0.0] * free]
    centre = np.r_[np.asarray(w0) * scale, [b0] * free]
    pull = np.zeros(d + free)
    if eta_w is not None:
        pull[:d] = 1 / (eta_w * scale ** 2)
        if free and eta_b:
            pull[d] = 1 / eta_b

    def objective(v):
        value, grad = f(v)
        diff = v - centre
        value += 0.5 * float(np.sum(curvature * v ** 2)) + 0.5 * float(np.sum(pull * diff ** 2))
        return value, grad + curvature * v + pull * diff

    def hess(v):
        return hessian(v) + np.diag(curvature + pull)

    # Start from whichever of the given point and u = 0 is lower: far out on the flat tails of
    # the log loss (a fast learner's weights on large features) Newton steps are tiny.
    origin = np.zeros_like(centre) if free else np.zeros_like(centre)
    start_at = min((centre, origin), key=lambda v: objective(v)[0])
    result = optimize.minimize(objective, start_at, jac=True, hess=hess, method="trust-exact",
                               options={"maxiter": 500, "gtol": 1e-12})
    value, grad = objective(result.x)
    norm = float(np.max(np.abs(grad))) if len(grad) else 0.0
    # Converged when the gradient (per unit-scale coordinate) is small next to the size of
    # the sum it is the gradient of.
    converged = norm <= CONVERGED * max(1.0, len(y))
    w, b = unpack(result.x)
    info = {"method": "trust-region Newton (exact Hessian)", "converged": bool(converged),
            "gradient_norm": norm, "iterations": int(result.nit)}
    return w / scale, float(b), info


def _least_squares(X, y, l2, free, fixed_b):
    A = np.hstack([X, np.ones((len(X), 1))]) if free else X
    target = y if free else y - fixed_b
    if l2:
        penalty = np.diag(np.r_[np.full(X.shape[1], len(y) * l2 / 2), [0.0] * free])
        u = np.linalg.solve(A.T @ A + penalty, A.T @ target)
    else:
        u = np.linalg.lstsq(A, target, rcond=None)[0]
    w, b = (u[:-1], float(u[-1])) if free else (u, fixed_b)
    return w, b, {"method": "least squares (exact)", "converged": True}


def _hinge_lp(X, y, threshold, free, fixed_b):
    """sum_k max(0, t - s_k (w.x_k + b)) as a linear programme: minimise sum xi subject to
    xi_k >= t - s_k (w.x_k + b), xi >= 0."""
    n, d = X.shape
    s = 2 * y - 1
    m = d + free
    A = np.hstack([X, np.ones((n, 1))]) if free else X
    # variables [u (m, free), xi (n, >= 0)]: -s_k A_k u - xi_k <= -t (+ s_k b when b is fixed)
    rhs = -threshold + (0 if free else s * fixed_b)
    # Sparse: the slack block is the n x n identity (dense, 20,000 events would need 3 GB).
    a_ub = sparse.hstack([sparse.csr_matrix(-(s[:, None] * A)), -sparse.eye(n, format="csr")],
                         format="csr")
    cost = np.r_[np.zeros(m), np.ones(n)]
    bounds = [(None, None)] * m + [(0, None)] * n
    result = optimize.linprog(cost, A_ub=a_ub, b_ub=np.full(n, 1.0) * rhs, bounds=bounds, method="highs")
    u = result.x[:m]
    w, b = (u[:-1], float(u[-1])) if free else (u, fixed_b)
    return w, b, {"method": "linear programme (HiGHS)", "converged": bool(result.status == 0)}


def checkpoints(spans, points: int = 40) -> list[np.ndarray]:
    """Decisions inside each (start, end) window at which the bound curves are drawn.

    >>> [c.tolist() for c in checkpoints([(10, 20)], points=3)]
    [[10, 15, 20]]
    """
    return [np.unique(np.linspace(start, end, points).round().astype(int)) for start, end in spans]


def marks(spans, horizon: int, points: int = 40) -> set[int]:
    """Every decision at which a recorder must snapshot the weights: each window's first
    decision, the one after its last, and the checkpoints between (not the horizon: the
    weights at the end are taken when the run finishes)."""
    out = {int(m) for cps in checkpoints(spans, points) for m in cps}
    return {m for m in out if m < horizon}


# -- replay --------------------------------------------------------------------------------


def replay(records: dict, lo: int, hi: int, theta) -> tuple[np.ndarray, np.ndarray]:
    """The weights before each learning event lo..hi-1, rebuilt from theta = (w, b) before
    event lo and the recorded features and loss gradients (River's own update rule).

    Returns (W, b): W[k] and b[k] are the weights before event lo + k; the last row is the
    weights after event hi - 1."""
    X, lp = records["X"][lo:hi], records["lp"][lo:hi]
    eta_w, eta_b, l2 = records["eta_w"], records["eta_b"], records["l2"]
    w0, b0 = theta
    b = b0 - eta_b * np.concatenate([[0.0], np.cumsum(lp)])
    if not l2:
        W = w0 - eta_w * np.vstack([np.zeros(len(w0)), np.cumsum(lp[:, None] * X, axis=0)])
        return W, b
    W = np.empty((len(lp) + 1, len(w0)))
    w = np.array(w0, dtype=float)
    W[0] = w
    for k in range(len(lp)):
        present = X[k] != 0 if records["varying_keys"] else True
        w = w - eta_w * (lp[k] * X[k] + l2 * w * present)
        W[k + 1] = w
    return W, b


# -- the bound per window ------------------------------------------------------------------


def _theta_at(records, decision: int, horizon: int):
    if decision >= horizon:
        return records["final"]
    return records["snapshots"][decision]


def _per_event(records, lo, hi, u_w, u_b) -> dict:
    """For events lo..hi-1: f_k(theta_k), f_k(u), the step term and the gradient cut-off
    term of each event, and the squared gradient norms."""
    kind, params = records["kind"], records["loss_params"]
    eta_w, eta_b, l2 = records["eta_w"], records["eta_b"], records["l2"]
    X, y, z, lp = (records[name][lo:hi] for name in ("X", "y", "z", "lp"))
    z_u = X @ u_w + u_b
    own = window_loss(kind, params, z, y)
    theirs = window_loss(kind, params, z_u, y)
    if l2:
        own = own + l2 / 2 * records["wn2"][lo:hi]
        theirs = theirs + l2 / 2 * float(u_w @ u_w)
        gw2 = records["gw2"][lo:hi]
    else:
        gw2 = lp ** 2 * np.einsum("ij,ij->i", X, X)
    return {"own": own, "theirs": theirs, "step": (eta_w * gw2 + eta_b * lp ** 2) / 2,
            "approximation": (_exact_gradient(kind, params, z, y, lp) - lp) * (z - z_u),
            "gw2": gw2, "lp2": lp ** 2}


def _distance(records, theta_s, theta_e, u_w, u_b) -> float:
    (w_s, b_s), (w_e, b_e) = theta_s, theta_e
    distance = float((np.sum((w_s - u_w) ** 2) - np.sum((w_e - u_w) ** 2)) / (2 * records["eta_w"]))
    if records["eta_b"] > 0:
        distance += ((b_s - u_b) ** 2 - (b_e - u_b) ** 2) / (2 * records["eta_b"])
    return distance


def _holds(regret, distance, step, approximation, own_total) -> bool:
    scale = abs(distance) + step + abs(approximation) + abs(own_total) + 1.0
    return bool(regret <= distance + step + approximation + RELATIVE_TOLERANCE * scale)


def _terms(records, lo, hi, theta_s, theta_e, u_w, u_b):
    """Regret against u on events lo..hi-1 and the bound's terms."""
    eta_w, eta_b = records["eta_w"], records["eta_b"]
    each = _per_event(records, lo, hi, u_w, u_b)
    own, theirs = float(np.sum(each["own"])), float(np.sum(each["theirs"]))
    regret = float(np.sum(each["own"] - each["theirs"]))
    distance = _distance(records, theta_s, theta_e, u_w, u_b)
    step = float(np.sum(each["step"]))
    approximation = float(np.sum(each["approximation"]))
    tau = hi - lo
    (w_s, b_s) = theta_s
    d_w = float(np.sqrt(np.sum((w_s - u_w) ** 2)))
    d_b = abs(b_s - u_b)
    g_w = float(np.sqrt(each["gw2"].max())) if tau else 0.0
    g_b = float(np.sqrt(each["lp2"].max())) if tau else 0.0
    apriori = d_w ** 2 / (2 * eta_w) + tau * eta_w * g_w ** 2 / 2
    if eta_b > 0:
        apriori += d_b ** 2 / (2 * eta_b) + tau * eta_b * g_b ** 2 / 2
    apriori += max(approximation, 0.0)
    return {
        "events": tau, "regret": regret, "bound": distance + step + approximation, "distance": distance,
        "step": step, "approximation": approximation, "apriori": apriori,
        "holds": _holds(regret, distance, step, approximation, own),
        "D": math.hypot(d_w, d_b if eta_b > 0 else 0.0), "G": math.hypot(g_w, g_b if eta_b > 0 else 0.0),
        "own_loss": own, "comparator_loss": theirs,
        "decision_shift": float(np.sum(records["dz"][lo:hi])),
    }


def _window(records, lo, hi, theta_s, theta_e, regularised=True):
    """The bound on events lo..hi-1 against u*, and (``regularised``, log loss) against u_reg,
    the u that minimises the bound on the arm's own window loss."""
    kind, params = records["kind"], records["loss_params"]
    X, y = records["X"][lo:hi], records["y"][lo:hi]
    fixed_b = None if records["eta_b"] > 0 else theta_s[1]
    u_w, u_b, info = fit_comparator(kind, params, X, y, records["l2"], theta_e, fixed_b=fixed_b)
    out = _terms(records, lo, hi, theta_s, theta_e, u_w, u_b)
    out["comparator"] = {"weights": dict(zip(map(str, records["keys"]), u_w.tolist(), strict=True)),
                         "intercept": u_b, **info}
    if kind == "log" and regularised:
        r_w, r_b, r_info = fit_comparator(kind, params, X, y, records["l2"], theta_s,
                                          eta_w=records["eta_w"], eta_b=records["eta_b"],
                                          fixed_b=fixed_b)
        reg = _terms(records, lo, hi, theta_s, theta_e, r_w, r_b)
        out["regularised"] = {"regret": reg["regret"], "bound": reg["bound"], "holds": reg["holds"],
                              "comparator_loss": reg["comparator_loss"],
                              "own_loss_bound": reg["comparator_loss"] + reg["bound"],
                              "converged": r_info["converged"]}
    return out


def _consistent(records, lo, hi, theta_s, theta_e) -> float:
    """Largest difference between the weights rebuilt from the records and the snapshot."""
    W, b = replay(records, lo, hi, theta_s)
    return float(max(np.max(np.abs(W[-1] - theta_e[0]), initial=0.0), abs(b[-1] - theta_e[1])))


def window_guarantees(records: dict, spans, horizon: int, curves_at=None) -> dict:
    """The bound on every transition window (``spans``: (start, end) decisions) and on the
    whole run, from one arm's records on one seed.

    A window's learning events are those that happen after its first decision is taken and
    before the decision after its last: the weights at its first decision are theta_s.
    Returns ``{"applies": True, "windows": [...], "run": {...}}``, or ``{"applies": False,
    "reason": ...}`` when gradient clipping triggered or the records do not reproduce the
    model's weights (then no bound is reported rather than a wrong one)."""
    if records["clipped_at"] is not None:
        return {"applies": False, "reason": f"gradient clipping triggered (learning from decision "
                                            f"{records['clipped_at']}): the step was not the gradient"}
    c = records["c"]
    parts = []
    for start, end in spans:
        lo, hi = np.searchsorted(c, start, side="right"), np.searchsorted(c, end, side="right")
        parts.append((int(lo), int(hi), _theta_at(records, start, horizon), _theta_at(records, end, horizon)))
    run_part = (0, len(c), records["initial"], records["final"])
    drift = max(_consistent(records, *part) for part in [*parts, run_part])
    size = max(1.0, float(np.abs(records["final"][0]).max(initial=0.0)), abs(records["final"][1]))
    if drift > 1e-6 * size:
        return {"applies": False, "reason": f"the recorded learning events do not reproduce the "
                                            f"model's weights (off by {drift:.3g}); no bound is reported"}
    out = {"applies": True, "windows": [], "run": _window(records, *run_part, regularised=False),
           "replay_error": drift}
    for k, part in enumerate(parts):
        window = _window(records, *part)
        if curves_at is not None:
            window["curve"] = _curve(records, *part, window, curves_at[k])
        out["windows"].append({"shift": k, "start": spans[k][0], "end": spans[k][1], **window})
    return out


def _curve(records, lo, hi, theta_s, theta_e, window, checkpoints) -> dict:
    """Regret against the window's u* and the bound after each checkpoint decision (from
    cumulative sums over the window's events; the weights at each checkpoint are its
    snapshot)."""
    comparator = window["comparator"]
    u_w = np.array(list(comparator["weights"].values()), dtype=float)
    u_b = comparator["intercept"]
    each = _per_event(records, lo, hi, u_w, u_b)
    cumulative = {name: np.concatenate([[0.0], np.cumsum(each[name])])
                  for name in ("own", "theirs", "step", "approximation")}
    ends = np.clip(np.searchsorted(records["c"], checkpoints, side="right"), lo, hi) - lo
    values = {"step": [int(d) for d in checkpoints], "regret": [], "bound": []}
    for decision, end in zip(checkpoints, ends, strict=True):
        theta = records["snapshots"].get(int(decision), theta_e)
        values["regret"].append(float(cumulative["own"][end] - cumulative["theirs"][end]))
        values["bound"].append(_distance(records, theta_s, theta, u_w, u_b) + float(cumulative["step"][end])
                               + float(cumulative["approximation"][end]))
    return values
