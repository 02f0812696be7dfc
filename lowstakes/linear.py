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

:class:`LinearRecorder` records what the bound needs while the arm runs (a hook on the
final estimator's margin, which its prediction and its step both compute: no second model,
no change to what River computes); :func:`window_guarantees` computes, for every transition
window and the whole run, the comparator u* (the best fixed linear model on the window's
learning events), the arm's regret on its own feedback against it, the bound with its terms,
the a-priori form D^2/(2 eta) + eta G^2 tau / 2, and the decision-time shift
sum |z(decision) - z(learning)|.

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
import pickle
import tempfile

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
#: The largest Newton step (relative to the point) that polishing a converged search takes.
SMALL_STEP = 1e-5


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


class Events:
    """One arm's learning events, kept as pieces of a few thousand events: in memory while
    there are few, in a temporary file once there are more than :attr:`SPILL` (so a long
    run's records do not grow its memory), read back in chunks of at most :attr:`COMPUTE`
    events by :meth:`chunks`.

    A piece holds the recorded columns ``c, t, y, z, zd, w, X`` (and ``W`` with L2); a chunk
    adds what follows from them (:meth:`derive`): River's loss gradient ``lp``, the decision
    shift ``dz`` and, with L2, ``wn2`` and ``gw2``. Features first seen late are zeros in the
    earlier pieces' columns. A range that fits one chunk is computed on exactly the arrays a
    whole-array computation would see (the same numbers to the last digit).
    """

    SPILL = 1 << 16
    COMPUTE = 1 << 18

    def __init__(self):
        self.pieces: list = []       # a dict in memory, or (offset, length) in the file
        self.sizes: list[int] = []
        self.file = None
        self.held = 0
        self.d = 0
        self.derive_with: dict = {}

    def __len__(self) -> int:
        return sum(self.sizes)

    def append(self, piece: dict) -> None:
        self.sizes.append(len(piece["y"]))
        if self.file is None and self.held + len(piece["y"]) > self.SPILL:
            self.file = tempfile.TemporaryFile()  # noqa: SIM115 - open as long as the records
            self.pieces = [self._write(p) if isinstance(p, dict) else p for p in self.pieces]
        self.pieces.append(self._write(piece) if self.file is not None else piece)
        self.held = 0 if self.file is not None else self.held + len(piece["y"])

    def _write(self, piece: dict) -> tuple[int, int]:
        self.file.seek(0, 2)
        offset = self.file.tell()
        pickle.dump(piece, self.file, protocol=pickle.HIGHEST_PROTOCOL)
        return offset, self.file.tell() - offset

    def _piece(self, i: int) -> dict:
        entry = self.pieces[i]
        if isinstance(entry, dict):
            return entry
        self.file.seek(entry[0])
        return pickle.loads(self.file.read(entry[1]))

    def derive(self, chunk: dict) -> dict:
        """The chunk with its derived columns (see the class notes)."""
        kind, params, l2 = (self.derive_with[k] for k in ("kind", "params", "l2"))
        chunk["lp"] = river_gradient(kind, params, chunk["z"], chunk["y"]) * chunk["w"]
        chunk["dz"] = np.abs(chunk["zd"] - chunk["z"])
        if "W" in chunk:
            W = chunk["W"]
            chunk["wn2"] = np.einsum("ij,ij->i", W, W)
            chunk["gw2"] = np.einsum("ij,ij->i", *(2 * [chunk["lp"][:, None] * chunk["X"] + l2 * W]))
        elif l2:
            chunk["wn2"] = chunk["gw2"] = np.zeros(len(chunk["y"]))
        return chunk

    def chunks(self, lo: int = 0, hi: int | None = None, size: int | None = None):
        """The events lo..hi-1 in order, as chunks (dicts of arrays) of at most ``size``."""
        hi = len(self) if hi is None else hi
        size = size or self.COMPUTE
        if hi <= lo:
            yield self.derive(self._empty())
            return
        parts, count, start = [], 0, 0
        for i, n in enumerate(self.sizes):
            a, b = max(lo - start, 0), min(hi - start, n)
            start += n
            if a >= b:
                if start >= hi:
                    break
                continue
            piece = self._piece(i)
            while a < b:
                take = min(b - a, size - count)
                parts.append({k: v[a:a + take] for k, v in piece.items()})
                count += take
                a += take
                if count == size:
                    yield self.derive(self._join(parts))
                    parts, count = [], 0
            if start >= hi:
                break
        if parts:
            yield self.derive(self._join(parts))

    def _empty(self) -> dict:
        out = {name: np.zeros(0) for name in ("y", "z", "zd", "w")}
        out["c"] = out["t"] = np.zeros(0, np.int64)
        out["X"] = np.zeros((0, self.d))
        if self.derive_with.get("l2"):
            out["W"] = np.zeros((0, self.d))
        return out

    def _join(self, parts: list[dict]) -> dict:
        out = {}
        for name in parts[0]:
            if name in ("X", "W"):
                widths = [((0, 0), (0, self.d - p[name].shape[1])) for p in parts]
                out[name] = np.vstack([np.pad(p[name], w) for p, w in zip(parts, widths, strict=True)])
            else:
                out[name] = np.concatenate([p[name] for p in parts])
        return out

    def column(self, name: str, lo: int = 0, hi: int | None = None) -> np.ndarray:
        """One column of events lo..hi-1 as one array (in memory: for small ranges and tests)."""
        return np.concatenate([chunk[name] for chunk in self.chunks(lo, hi)]) if name not in ("X", "W") \
            else np.vstack([chunk[name] for chunk in self.chunks(lo, hi)])

    @classmethod
    def from_columns(cls, columns: dict, like: Events) -> Events:
        """A store (in memory) holding ``columns`` (the recorded ones), derived as ``like``."""
        out = cls()
        out.d, out.derive_with = like.d, like.derive_with
        out.pieces, out.sizes = [dict(columns)], [len(columns["y"])]
        return out


class LinearRecorder:
    """Records the learning events of one River GLM (behind its pipeline, if any).

    One hook, on the final estimator's instance: its ``_raw_dot_one`` (River's margin
    z = w.x + b, which both its prediction and its gradient step compute) is replaced by the
    same computation that also notes the features and the margin. River still does all the
    computing and computes nothing twice. The arm's policy (``learners._Recorded``) calls
    :meth:`decide` before each decision (to snapshot the weights at ``marks``), then sets
    :attr:`decided` to t + 1 and ``pending[t]`` to the margin the decision was taken with (two
    assignments it makes itself: this runs once per decision), and has River learn each
    label through :meth:`learn`, which notes the event (the features River learned on, the
    label, the margin before the step). River's loss gradient at each event is a function of (y, z)
    and is computed for all events at once at the end (the replay check then confirms that
    it reproduces River's weights). Events are packed into arrays every :attr:`CHUNK`
    events; until then they are kept as plain floats, so that recording allocates nothing
    the garbage collector has to walk.
    """

    CHUNK = 4096
    #: Columns of an event kept as floats until packed: decisions taken, the decision
    #: learned, label, margin at learning, margin at the decision.
    FIELDS = 5

    def __init__(self, model, target, marks=()):
        self.model = model
        #: River's learn_one and what it learns from a label (the policy's ``target``).
        self.learn_one, self.target = model.learn_one, target
        est = self.estimator = final_step(model)
        self.kind = _loss_kind(est.loss)
        self.eta_w = float(est.optimizer.lr.learning_rate)
        self.eta_b = float(est.intercept_lr.learning_rate)
        self.l2 = float(est.l2)
        self.clip = float(est.clip_gradient)
        #: The first decision whose learning event River's gradient clipping changed (the
        #: step was then not the gradient), checked as each chunk is packed.
        self.clipped_at: int | None = None
        self._loss_params = _loss_params(est.loss)
        self.intercept_init = float(est.intercept_init)
        self.marks = {int(m) for m in marks}
        self.keys: list = []
        self._keys: tuple = ()    # the keys of the last event, in their order
        self.decided = 0          # decisions taken so far
        #: The margin of each decision taken whose label is not learned yet.
        self.pending: dict[int, float] = {}
        self._flat: list[float] = []     # FIELDS floats per event, not yet packed
        self._rows: list = []            # the features of each event, not yet packed
        self.store = Events()
        #: Per marked decision: how many learning events happened before it was taken.
        self.events_before: dict[int, int] = {}
        # With L2, the weights' norm enters the loss and the gradient: each event's weights
        # on its own features (River's L2 acts on those alone), noted with its margin.
        self._extra: list[tuple] | None = [] if self.l2 else None
        self.snapshots: dict[int, tuple[dict, float]] = {}
        self.varying_keys = False
        #: River's last margin and the features it was computed on.
        self.x: dict = {}
        self.z = 0.0
        self.weights_at: tuple = ()
        est._raw_dot_one = self._raw_dot_l2 if self.l2 else self._raw_dot
        if self.l2:
            self.learn = self._learn_l2

    # -- hooks ---------------------------------------------------------------------------

    def _raw_dot(self, x):
        # River's GLM._raw_dot_one, with x and z kept.
        est = self.estimator
        self.x = x
        z = self.z = est._weights.dot(x) + est.intercept
        return z

    def _raw_dot_l2(self, x):
        weights = self.estimator._weights
        self.weights_at = tuple(weights.get(k, 0.0) for k in x)
        return self._raw_dot(x)

    def decide(self, t: int) -> None:
        """Decision t is about to be taken: at a mark, snapshot the weights."""
        if t in self.marks:
            est = self.estimator
            self.snapshots[t] = (est._weights.to_dict(), float(est.intercept))
            self.events_before[t] = len(self.store) + len(self._rows)

    def learn(self, t: int, x: dict, label) -> None:
        """River learns decision t's ``label`` (what the plain policy's learn does), and the
        event is noted: the label, River's margin at this step (its last) and at the
        decision. A full chunk is packed before the next event, so that under L2 the
        event's weights join it first."""
        if len(self._rows) >= self.CHUNK:
            self._pack()
        self.learn_one(x, self.target(label))
        z = self.z
        self._flat += (self.decided, t, label, z, self.pending.pop(t, z))
        self._rows.append(self.x)

    def _learn_l2(self, t: int, x: dict, label) -> None:
        # learn(), with the weights the event's step met (the instance's learn under L2).
        LinearRecorder.learn(self, t, x, label)
        self._extra.append(self.weights_at)

    def forget(self, t: int) -> None:
        """Decision t's label will never be learned."""
        self.pending.pop(t, None)

    def _see_keys(self, x):
        if self._keys:
            self.varying_keys = True
        known = set(self.keys)
        self.keys += [k for k in x if k not in known]
        self._keys = tuple(x)

    def _same_keys(self, rows) -> bool:
        """Whether every row has the keys of the last event before them, in that order."""
        keys = self._keys
        return (bool(keys) and set(map(len, rows)) == {len(keys)}
                and list(itertools.chain.from_iterable(rows)) == list(keys) * len(rows))

    def _pack(self):
        """Move the pending events into arrays (features aligned to :attr:`keys`)."""
        rows = self._rows
        if not rows:
            return
        n = len(rows)
        c, t, y, z, zd = np.array(self._flat, dtype=float).reshape(n, self.FIELDS).T
        if self.kind != "squared":  # a classifier learns on bool(label)
            y = (y != 0).astype(float)
        if not self._same_keys(rows):
            for row in rows:
                if tuple(row) != self._keys:
                    self._see_keys(row)
        keys = self.keys
        if self.varying_keys:
            X = np.array([[row.get(k, 0.0) for k in keys] for row in rows], dtype=float)
        else:  # every row's keys were checked to be `keys`, in this order
            X = np.fromiter(itertools.chain.from_iterable(row.values() for row in rows), float,
                            count=n * len(keys)).reshape(n, len(keys))
        chunk = {"c": c.astype(np.int64), "t": t.astype(np.int64), "y": y, "z": z, "zd": zd,
                 "w": np.ones(n), "X": X}
        if self.clipped_at is None:
            over = np.flatnonzero(np.abs(river_gradient(self.kind, self._loss_params, z, y)) > self.clip)
            if len(over):
                self.clipped_at = int(t[over[0]])
        if self._extra is not None:
            W = np.zeros_like(X)
            index = {k: i for i, k in enumerate(keys)}
            for r, (row, weights) in enumerate(zip(rows, self._extra, strict=True)):
                W[r, [index[k] for k in row]] = weights
            chunk["W"] = W
            self._extra = []
        self.store.append(chunk)
        self._flat, self._rows = [], []

    # -- results -------------------------------------------------------------------------

    def finish(self) -> dict:
        """The records: the learning events (:class:`Events`) and what is known of the run
        (learning rates, loss, weight snapshots, the events before each marked decision)."""
        self._pack()
        est = self.estimator
        d = len(self.keys)
        store = self.store
        params = self._loss_params
        store.d, store.derive_with = d, {"kind": self.kind, "params": params, "l2": self.l2}

        def vector(weights: dict) -> np.ndarray:
            return np.array([weights.get(k, 0.0) for k in self.keys], dtype=float)

        return {
            "events": store, "n": len(store), "events_before": dict(self.events_before),
            "keys": list(self.keys), "kind": self.kind, "loss_params": params,
            "eta_w": self.eta_w, "eta_b": self.eta_b, "l2": self.l2,
            "clipped_at": self.clipped_at,
            "varying_keys": self.varying_keys,
            "initial": (np.zeros(d), self.intercept_init),
            "snapshots": {t: (vector(w), b) for t, (w, b) in self.snapshots.items()},
            "final": (vector(est._weights.to_dict()), float(est.intercept)),
        }


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


class Data:
    """The learning events (X, y) a comparator is fitted on: one chunk held in memory, or
    a callable that yields the chunks again on every pass (a long run's events, read back
    from disk). ``Data(X, y)`` wraps arrays."""

    def __init__(self, X=None, y=None, *, chunks=None, n: int | None = None, d: int | None = None):
        self.single = None if X is None else (np.asarray(X, float), np.asarray(y, float))
        self._chunks = chunks
        self.n = len(self.single[1]) if self.single is not None else n
        self.d = self.single[0].shape[1] if self.single is not None else d

    def chunks(self):
        if self.single is not None:
            yield self.single
        else:
            yield from self._chunks()

    def scale(self) -> np.ndarray:
        """sqrt(mean x_i^2) per feature (1 where it is 0, or with no events)."""
        if self.single is not None:
            X = self.single[0]
            scale = np.sqrt(np.mean(X ** 2, axis=0)) if len(X) else np.ones(X.shape[1])
        else:
            total = sum(np.sum(X ** 2, axis=0) for X, _ in self.chunks())
            scale = np.sqrt(total / self.n) if self.n else np.ones(self.d)
        return np.where(scale > 0, scale, 1.0)


def _objective(kind, params, data: Data, scale, free, fixed_b):
    """F(u) = sum_k loss(u_w.x_k + u_b, y_k) with its gradient and Hessian, over the free
    coordinates (the intercept is fixed when its learning rate is 0), in the coordinates
    x / scale. One exponential per event and evaluation: the log loss, its derivative and
    its curvature all come from e = exp(-|s z|). With the events in one chunk they are
    prepared once and the curvature is kept for the Hessian at the same point; otherwise
    every evaluation is a pass over the chunks."""

    def unpack(v):
        return (v[:-1], v[-1]) if free else (v, fixed_b)

    def prepared(X, y):
        X = X / scale
        A = np.hstack([X, np.ones((len(X), 1))]) if free else X
        return X, A, 2 * y - 1, (_log_weights(y, params) if kind == "log" else None), y

    kept = prepared(*data.single) if data.single is not None else None

    def parts():
        if kept is not None:
            yield kept
        else:
            for X, y in data.chunks():
                yield prepared(X, y)

    def evaluate(part, v):
        X, A, s, weights, y = part
        w, b = unpack(v)
        z = X @ w + b
        if kind == "log":
            m = s * z
            e = np.exp(-np.abs(m))
            value = float(weights @ (np.log1p(e) + np.maximum(-m, 0.0)))
            sig = np.where(m >= 0, e, 1.0) / (1.0 + e)   # sigmoid(-m): the chance of a mistake
            dz = -s * weights * sig
            curvature = weights * e / (1.0 + e) ** 2
        else:  # squared
            value = float(np.sum((z - y) ** 2))
            dz = 2 * (z - y)
            curvature = np.full(len(z), 2.0)
        return value, A.T @ dz, curvature

    last = {}

    def f(v):
        value, grad = 0.0, 0.0
        for part in parts():
            part_value, part_grad, curvature = evaluate(part, v)
            value, grad = value + part_value, grad + part_grad
        if kept is not None:
            last["v"], last["curvature"] = np.array(v, copy=True), curvature
        return value, grad

    def hessian(v):
        if kept is not None:
            if last.get("v") is None or not np.array_equal(last["v"], v):
                f(v)
            A = kept[1]
            return (A * last["curvature"][:, None]).T @ A
        total = 0.0
        for part in parts():
            A = part[1]
            total = total + (A * evaluate(part, v)[2][:, None]).T @ A
        return total

    return f, hessian, unpack


def fit_comparator(kind, params, data, l2, start, eta_w=None, eta_b=None, fixed_b=None, y=None):
    """The best fixed linear model u* on learning events ``data`` (a :class:`Data`, or the
    features X with the labels ``y``): argmin sum_k f_k(u).

    ``start`` (w, b) warm-starts the search (it never ends above its start). With
    ``eta_w`` given, it instead minimises sum_k f_k(u) + ||theta_s - u||^2 / (2 eta), the
    u_reg of BOUNDS.md (``start`` is then theta_s). ``fixed_b``: the intercept is not learned
    (intercept_lr = 0) and stays at this value. Returns (w, b, info)."""
    if not isinstance(data, Data):
        data = Data(data, y)
    free = fixed_b is None
    w0, b0 = np.asarray(start[0], float), start[1]
    if kind == "hinge":
        # threshold 0 (Perceptron): every term is >= 0 and is 0 at u = 0.
        if params["threshold"] == 0:
            return np.zeros_like(w0), (0.0 if free else fixed_b), {"method": "exact (u = 0)",
                                                                  "converged": True}
        # A linear programme over every event at once (in memory, however many there are).
        X, y = (np.concatenate(parts) for parts in zip(*data.chunks(), strict=True))
        return _hinge_lp(X, y, params["threshold"], free, fixed_b)
    if kind == "squared" and eta_w is None:
        return _least_squares(data, l2, free, fixed_b)
    # Search in coordinates where every feature has unit scale (v = u * scale), with the exact
    # Hessian (a trust-region Newton method): features here range over orders of magnitude,
    # and quasi-Newton methods stall on such problems long before the gradient is small.
    scale = data.scale()
    f, hessian, unpack = _objective(kind, params, data, scale, free, fixed_b)
    tau, d = data.n, len(scale)
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
    # Converged when the gradient (per unit-scale coordinate) is small next to the size of
    # the sum it is the gradient of; then polished to the minimiser.
    v, steps = result.x, 0
    value, grad = objective(v)
    norm = float(np.max(np.abs(grad))) if len(grad) else 0.0
    converged = norm <= CONVERGED * max(1.0, data.n)
    if converged:
        v, steps = _polish(objective, hess, v)
        value, grad = objective(v)
        norm = float(np.max(np.abs(grad))) if len(grad) else 0.0
    w, b = unpack(v)
    info = {"method": "trust-region Newton (exact Hessian)", "converged": bool(converged),
            "gradient_norm": norm, "iterations": int(result.nit) + steps}
    return w / scale, float(b), info


def _polish(objective, hess, v, most: int = 20):
    """Plain Newton steps from where the trust-region search stopped, while each lowers the
    gradient and does not raise the objective. trust-exact stops when its trust region has
    shrunk, which the machine's rounding decides: the same search ended at a gradient of
    4e-7 on one machine and 1e-14 on another, moving the comparator (and the bound) in its
    eighth digit. Newton converges quadratically near the minimum, so the polished point
    is the minimiser to rounding wherever the search stopped. Only small steps (relative
    SMALL_STEP) from a search that converged: on the flat tails of a log loss that has no
    minimum (separable events, no L2) every step lowers both, and the weights would run
    off. Returns (v, steps taken)."""
    value, grad = objective(v)
    for steps in range(most):
        if not len(grad):
            return v, steps
        try:
            step = np.linalg.solve(hess(v), grad)
        except np.linalg.LinAlgError:
            return v, steps
        if not np.max(np.abs(step)) <= SMALL_STEP * max(1.0, float(np.max(np.abs(v)))):
            return v, steps  # not the last digits: a flat tail, where there is no minimum
        trial = v - step
        trial_value, trial_grad = objective(trial)
        if not (np.max(np.abs(trial_grad)) < np.max(np.abs(grad)) and trial_value <= value):
            return v, steps
        v, value, grad = trial, trial_value, trial_grad
    return v, most


def _least_squares(data: Data, l2, free, fixed_b):
    if data.single is not None:
        X, y = data.single
        A = np.hstack([X, np.ones((len(X), 1))]) if free else X
        target = y if free else y - fixed_b
        if l2:
            penalty = np.diag(np.r_[np.full(X.shape[1], len(y) * l2 / 2), [0.0] * free])
            u = np.linalg.solve(A.T @ A + penalty, A.T @ target)
        else:
            u = np.linalg.lstsq(A, target, rcond=None)[0]
    else:  # the normal equations, summed over the chunks
        gram, moment = 0.0, 0.0
        for X, y in data.chunks():
            A = np.hstack([X, np.ones((len(X), 1))]) if free else X
            gram, moment = gram + A.T @ A, moment + A.T @ (y if free else y - fixed_b)
        penalty = np.diag(np.r_[np.full(data.d, data.n * l2 / 2), [0.0] * free])
        u = np.linalg.lstsq(gram + penalty, moment, rcond=None)[0]
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
    weights after event hi - 1. (In memory: for a long range, :func:`_replayed` walks the
    chunks and keeps only the end.)"""
    rows, intercepts = [], []
    for chunk in records["events"].chunks(lo, hi):
        W, b = _replay_chunk(records, chunk, theta)
        rows.append(W[:-1])
        intercepts.append(b[:-1])
        theta = (W[-1], b[-1])
    return np.vstack([*rows, theta[0][None, :]]), np.concatenate([*intercepts, [theta[1]]])


def _replay_chunk(records, chunk, theta):
    X, lp = chunk["X"], chunk["lp"]
    eta_w, eta_b, l2 = records["eta_w"], records["eta_b"], records["l2"]
    w0, b0 = theta
    b = b0 - eta_b * np.concatenate([[0.0], np.cumsum(lp)])
    if not l2:
        W = w0 - eta_w * np.vstack([np.zeros(len(w0)), np.cumsum(lp[:, None] * X, axis=0)])
        return W, b
    # River's L2 acts on the event's own features alone. With keys that vary, those are the
    # ones its recorded weights W were taken on: an absent feature has W = 0, and a present
    # one whose weight is 0 is not moved by L2 either. (Its value X can be 0 and present.)
    presence = (chunk.get("W", X) != 0) if records["varying_keys"] else None
    W = np.empty((len(lp) + 1, len(w0)))
    w = np.array(w0, dtype=float)
    W[0] = w
    for k in range(len(lp)):
        present = True if presence is None else presence[k]
        w = w - eta_w * (lp[k] * X[k] + l2 * w * present)
        W[k + 1] = w
    return W, b


def _replayed(records, lo, hi, theta):
    """The weights after event hi - 1, replayed from theta before event lo, chunk by chunk."""
    for chunk in records["events"].chunks(lo, hi):
        W, b = _replay_chunk(records, chunk, theta)
        theta = (W[-1], b[-1])
    return theta


# -- the bound per window ------------------------------------------------------------------


def _theta_at(records, decision: int, horizon: int):
    if decision >= horizon:
        return records["final"]
    return records["snapshots"][decision]


def _events_before(records, decision: int, horizon: int) -> int:
    """How many learning events happened before ``decision`` was taken (all of them for the
    horizon)."""
    if decision >= horizon:
        return records["n"]
    return records["events_before"][decision]


def _per_event(records, chunk, u_w, u_b) -> dict:
    """For the chunk's events: f_k(theta_k), f_k(u), the step term and the gradient cut-off
    term of each event, and the squared gradient norms."""
    kind, params = records["kind"], records["loss_params"]
    eta_w, eta_b, l2 = records["eta_w"], records["eta_b"], records["l2"]
    X, y, z, lp = (chunk[name] for name in ("X", "y", "z", "lp"))
    z_u = X @ u_w + u_b
    own = window_loss(kind, params, z, y)
    theirs = window_loss(kind, params, z_u, y)
    if l2:
        own = own + l2 / 2 * chunk["wn2"]
        theirs = theirs + l2 / 2 * float(u_w @ u_w)
        gw2 = chunk["gw2"]
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
    """Regret against u on events lo..hi-1 and the bound's terms (sums over the chunks)."""
    eta_w, eta_b = records["eta_w"], records["eta_b"]
    own = theirs = regret = step = approximation = shift = 0.0
    g_w2 = g_b2 = 0.0
    for chunk in records["events"].chunks(lo, hi):
        each = _per_event(records, chunk, u_w, u_b)
        own += float(np.sum(each["own"]))
        theirs += float(np.sum(each["theirs"]))
        regret += float(np.sum(each["own"] - each["theirs"]))
        step += float(np.sum(each["step"]))
        approximation += float(np.sum(each["approximation"]))
        shift += float(np.sum(chunk["dz"]))
        g_w2 = max(g_w2, float(each["gw2"].max(initial=0.0)))
        g_b2 = max(g_b2, float(each["lp2"].max(initial=0.0)))
    distance = _distance(records, theta_s, theta_e, u_w, u_b)
    tau = hi - lo
    (w_s, b_s) = theta_s
    d_w = float(np.sqrt(np.sum((w_s - u_w) ** 2)))
    d_b = abs(b_s - u_b)
    g_w = float(np.sqrt(g_w2)) if tau else 0.0
    g_b = float(np.sqrt(g_b2)) if tau else 0.0
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
        "decision_shift": shift,
    }


def _data(records, lo, hi) -> Data:
    """The events lo..hi-1 as comparator data: in memory when they fit one chunk."""
    events = records["events"]
    if hi - lo <= events.COMPUTE:
        (chunk,) = events.chunks(lo, hi)
        return Data(chunk["X"], chunk["y"])
    return Data(chunks=lambda: ((c["X"], c["y"]) for c in events.chunks(lo, hi)), n=hi - lo, d=events.d)


def _window(records, lo, hi, theta_s, theta_e, regularised=True):
    """The bound on events lo..hi-1 against u*, and (``regularised``, log loss) against u_reg,
    the u that minimises the bound on the arm's own window loss."""
    kind, params = records["kind"], records["loss_params"]
    data = _data(records, lo, hi)
    fixed_b = None if records["eta_b"] > 0 else theta_s[1]
    u_w, u_b, info = fit_comparator(kind, params, data, records["l2"], theta_e, fixed_b=fixed_b)
    out = _terms(records, lo, hi, theta_s, theta_e, u_w, u_b)
    out["comparator"] = {"weights": dict(zip(map(str, records["keys"]), u_w.tolist(), strict=True)),
                         "intercept": u_b, **info}
    if kind == "log" and regularised:
        r_w, r_b, r_info = fit_comparator(kind, params, data, records["l2"], theta_s,
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
    w, b = _replayed(records, lo, hi, theta_s)
    return float(max(np.max(np.abs(w - theta_e[0]), initial=0.0), abs(b - theta_e[1])))


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
    parts = []
    for start, end in spans:
        parts.append((_events_before(records, start, horizon), _events_before(records, end, horizon),
                      _theta_at(records, start, horizon), _theta_at(records, end, horizon)))
    run_part = (0, records["n"], records["initial"], records["final"])
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
            window["curve"] = _curve(records, *part, window, curves_at[k], horizon)
        out["windows"].append({"shift": k, "start": spans[k][0], "end": spans[k][1], **window})
    return out


def _curve(records, lo, hi, theta_s, theta_e, window, checkpoints, horizon) -> dict:
    """Regret against the window's u* and the bound after each checkpoint decision (from
    cumulative sums over the window's events; the weights at each checkpoint are its
    snapshot)."""
    comparator = window["comparator"]
    u_w = np.array(list(comparator["weights"].values()), dtype=float)
    u_b = comparator["intercept"]
    names = ("own", "theirs", "step", "approximation")
    ends = np.clip([_events_before(records, int(d), horizon) for d in checkpoints], lo, hi) - lo
    at = {name: np.zeros(len(ends)) for name in names}
    carry = dict.fromkeys(names, 0.0)
    done = 0
    for chunk in records["events"].chunks(lo, hi):
        each = _per_event(records, chunk, u_w, u_b)
        n = len(chunk["y"])
        inside = (ends >= done) & (ends <= done + n)
        for name in names:
            # np.cumsum adds in order: continued from the last chunk's total it gives the
            # numbers of one cumulative sum over the window.
            cumulative = np.cumsum(np.r_[carry[name], each[name]])
            at[name][inside] = cumulative[ends[inside] - done]
            carry[name] = float(cumulative[-1])
        done += n
    values = {"step": [int(d) for d in checkpoints], "regret": [], "bound": []}
    for k, decision in enumerate(checkpoints):
        theta = records["snapshots"].get(int(decision), theta_e)
        values["regret"].append(float(at["own"][k] - at["theirs"][k]))
        values["bound"].append(_distance(records, theta_s, theta, u_w, u_b) + float(at["step"][k])
                               + float(at["approximation"][k]))
    return values
