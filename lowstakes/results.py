"""Run results: per-seed metrics, the summary, the trace, and the run directory on disk.

A run directory holds ``scenario.yaml`` (resolved), ``summary.json``, ``trace.parquet``
(a directory with one file per seed; absent with ``trace: summary``), ``curves.parquet``
(the figures' curves), ``bounds.parquet`` (bound curves, when an arm has any) and
``figures/``. It is written so that an interrupted run is never mistaken for a
complete one: an ``INCOMPLETE`` marker is written first and removed last, and
``summary.json`` appears (atomically) only once everything else is on disk.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
import os
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from lowstakes import audit, guarantees, metrics, regret
from lowstakes.errors import IncompleteRunError, RunDirectoryError
from lowstakes.seedmetrics import CURVES_SCHEMA, SeedMetrics, block_arrays

__all__ = ["RunResult", "arm_arrays", "seed_metrics", "summarize", "trace_tables", "load",
           "RunWriter", "SeedTrace"]

INCOMPLETE = "INCOMPLETE"

COMPARATOR_TEXT = {
    "oracle": "the Bayes-optimal action under the known concept and label noise (synthetic sources)",
    "hindsight": "the least-cost action given the realised truth (a clairvoyant)",
    "best_constant": "the best single action in hindsight, per seed",
}


def arm_arrays(run, scenario, j: int) -> dict[str, np.ndarray]:
    """Per-decision harm, comparator harm and feedback loss of arm ``j`` of a whole seed
    (a :class:`~lowstakes.simulation.SeedRun`); checks every harm (see
    :func:`lowstakes.seedmetrics.block_arrays`)."""
    return block_arrays(run, scenario, j)


def seed_metrics(run, scenario) -> list[dict]:
    """One dict per arm of a whole seed held in memory (a :class:`SeedRun`): its totals and
    transition windows (and, for expert arms, regret against the experts and the bounds
    that apply). The same as a run computes block by block (:class:`SeedMetrics`)."""
    accumulator = SeedMetrics(scenario, run.seed, run.arms)
    accumulator.add(run)
    return accumulator.finish(run)


def bound_table(accumulator, info) -> pa.Table | None:
    """Regret and bound curves of this seed's expert arms and linear arms (None when it has
    neither). Expert rows have ``window`` -1 (the whole run); a linear arm has rows per
    transition window: its regret on its feedback against the window's u* (``proxy_regret``),
    the bound, and the window's true cost so far (``true_regret``), from the window's start.
    ``accumulator``: the seed's :class:`SeedMetrics`, after :meth:`~SeedMetrics.finish`
    (which computes the linear arms' curves); ``info``: the seed's SeedInfo."""
    frames = []
    for j, pool in info.pools.items():
        learner, objective = info.arms[j]
        curves = regret.pool_curves(pool, accumulator.per_arm[j].delayed)
        frames.append(_curve_table(info.seed, learner, objective, -1, curves))
    for j, windows in accumulator.guarantee_curves.items():
        learner, objective = info.arms[j]
        for curve in windows:
            n = len(curve["step"])
            frames.append(_curve_table(info.seed, learner, objective, curve["window"], {
                "step": curve["step"], "proxy_regret": curve["regret"], "tracking_regret": np.full(n, np.nan),
                "true_regret": curve.get("true_cost", np.full(n, np.nan)), "bound": curve["bound"],
                "goodhart": np.full(n, np.nan), "bound_comparator": ["u_star"] * n}))
    return pa.concat_tables(frames) if frames else None


BOUNDS_SCHEMA = pa.schema([
    ("seed", pa.int32()), ("learner", pa.string()), ("objective", pa.string()), ("window", pa.int16()),
    ("step", pa.int64()), ("proxy_regret", pa.float64()), ("tracking_regret", pa.float64()),
    ("true_regret", pa.float64()), ("bound", pa.float64()), ("goodhart", pa.float64()),
    ("bound_comparator", pa.string()),
])


def _curve_table(seed, learner, objective, window, curves) -> pa.Table:
    n = len(curves["step"])
    columns = {"seed": np.full(n, seed, np.int32), "learner": [learner] * n, "objective": [objective] * n,
               "window": np.full(n, window, np.int16), **curves}
    return pa.table({f.name: pa.array(np.asarray(columns[f.name]) if f.type != pa.string()
                                      else list(columns[f.name]), type=f.type) for f in BOUNDS_SCHEMA},
                    schema=BOUNDS_SCHEMA)


def _pool_summary(seeds: list[dict]) -> dict:
    pools = [s["pool"] for s in seeds]
    held: dict = {}
    for pool in pools:
        for b in pool["bounds"]:
            entry = held.setdefault((b["name"], b["comparator"]),
                                    {"name": b["name"], "kind": b["kind"], "comparator": b["comparator"],
                                     "source": b["source"], "held": 0, "seeds": 0, "values": [],
                                     "measured": []})
            entry["held"] += b["holds"]
            entry["seeds"] += 1
            entry["values"].append(b["value"])
            entry["measured"].append(b["measured"])
    bounds_out = [{**{k: v for k, v in e.items() if k not in ("values", "measured")},
                   "value": float(np.mean(e["values"])), "measured": metrics.mean_ci(e["measured"])}
                  for e in held.values()]
    return {
        "algorithm": pools[0]["algorithm"],
        "experts": pools[0]["experts"],
        "proxy_regret": metrics.mean_ci([p["proxy_regret"]["best_fixed"] for p in pools]),
        "tracking_regret": metrics.mean_ci([p["proxy_regret"]["best_switching"] for p in pools]),
        "true_regret": metrics.mean_ci([p["true_regret"]["best_fixed"] for p in pools]),
        "true_tracking_regret": metrics.mean_ci([p["true_regret"]["best_switching"] for p in pools]),
        # The harm of the actions the arm took (not the mixture's expected harm) minus the
        # best fixed expert's: what an act: sample arm realised, and what act: mixture did.
        "realised_true_regret": metrics.mean_ci([s["harm"] - (s["pool"]["mixture_harm"]
                                                              - s["pool"]["true_regret"]["best_fixed"])
                                                 for s in seeds]),
        "switches": pools[0]["switches"],
        "bounds": bounds_out,
    }


def _deception_summary(seeds: list[dict]) -> dict:
    """Across seeds: each deception count's mean and CI; the query probability at the
    defections, pooled over the seeds where there were any."""
    out = {}
    for name in ("defections", "deceptive_actions", "deceptive_harm", "asked_at_defections"):
        out[name] = metrics.mean_ci([s["deception"][name] for s in seeds])
    out["algorithm"] = seeds[0]["deception"]["algorithm"]
    for name in ("query_probability_at_defections", "query_probability_at_first_defection"):
        given = [s["deception"][name] for s in seeds if s["deception"][name] is not None]
        out[name] = float(np.mean(given)) if given else None
    return out


def paired_differences(scenario, arm_summaries: list[dict]) -> list[dict]:
    """Differences between arms on the same seeds: each objective against the first one, per
    learner, and each learner against the first one, per objective; for regret and each
    window's cost, the mean difference and the 95% t-interval of the per-seed differences.

    Every arm of a run-seed sees the same contexts, truths, noise, arrival times and delays
    (and, for one learner, the same model seeds): the seed-to-seed variation they share
    cancels in a per-seed difference, so its interval is much narrower than the two arms'
    own intervals, and valid (the seeds are independent, the differences are paired).
    """
    by_arm = {(a["learner"], a["objective"]): a for a in arm_summaries}
    objectives, learners = list(scenario.objectives), list(scenario.learners)
    pairs = [((learner, other), (learner, objectives[0]), "objective")
             for learner in learners for other in objectives[1:]]
    pairs += [((other, objective), (learners[0], objective), "learner")
              for objective in objectives for other in learners[1:]]
    out = []
    for a, b, varies in pairs:
        first, second = by_arm[a]["seeds"], by_arm[b]["seeds"]

        def differences(get, first=first, second=second):
            return metrics.mean_ci([get(x) - get(y) for x, y in zip(first, second, strict=True)])

        entry = {"arm": list(a), "minus": list(b), "varies": varies,
                 "regret": differences(lambda s: s["regret"]),
                 "windows": [{"shift": k, **differences(lambda s, k=k: s["windows"][k]["cost"])}
                             for k in range(len(scenario.stream.shifts))]}
        out.append(entry)
    return out


def _window_summary(per_seed: list[dict], k: int) -> dict:
    windows = [s["windows"][k] for s in per_seed]
    recovered = [w["recovery"] for w in windows if w["recovery"] is not None]
    cost = metrics.mean_ci([w["cost"] for w in windows])
    return {
        "shift": k,
        "start": windows[0]["start"],
        "end": windows[0]["end"],
        "cost": cost["mean"],
        "cost_ci95": cost["ci95"],
        "recovered": len(recovered),
        "recovery_median": float(np.median(recovered)) if recovered else None,
        "queries": float(np.mean([w["queries"] for w in windows])),
        "queries_before": float(np.mean([w["queries_before"] for w in windows])),
        "baseline": float(np.mean([w["baseline"] for w in windows])),
        "raised": sum(w["raised"] for w in windows),
    }


def expected_verdict(mean: float, interval, bound: float) -> str:
    """An in-expectation bound against the seeds' mean regret and its 95% interval: ``held``
    (the mean is at most the bound), ``exceeded`` (the whole interval is above it: with a
    true mean on the bound, a false alarm at most 2.5% of the time), else ``unclear``.

    >>> expected_verdict(10.0, [8.0, 12.0], 11.0), expected_verdict(13.0, [12.0, 14.0], 11.0)
    ('held', 'exceeded')
    """
    if mean <= bound:
        return "held"
    return "exceeded" if interval[0] is not None and interval[0] > bound else "unclear"


def _bandit_summary(seeds: list[dict]) -> dict:
    """A K-action arm across seeds: its regret on its own feedback against the best action and
    action sequence (means, 95% CIs), and each in-expectation bound with its verdict."""
    entries = [s["bandit"] for s in seeds]
    first = entries[0]
    out = {"algorithm": first["algorithm"], "actions": first["actions"], "switches": first["switches"],
           "regret_best_fixed": metrics.mean_ci([e["regret"]["best_fixed"] for e in entries]),
           "regret_best_switching": metrics.mean_ci([e["regret"]["best_switching"] for e in entries]),
           "bounds": []}
    if "best_expert" in first["regret"]:
        out["regret_best_expert"] = metrics.mean_ci([e["regret"]["best_expert"] for e in entries])
    if "reason" in first:
        out["reason"] = first["reason"]
    for i, bound in enumerate(first["bounds"]):
        measured = metrics.mean_ci([e["bounds"][i]["measured"] for e in entries])
        value = float(np.mean([e["bounds"][i]["value"] for e in entries]))
        out["bounds"].append({"name": bound["name"], "kind": bound["kind"], "source": bound["source"],
                              "comparator": bound["comparator"], "value": value, "measured": measured,
                              "verdict": expected_verdict(measured["mean"], measured["ci95"], value)})
    return out


def _exploration_summary(seeds: list[dict]) -> dict:
    """Decisions where the arm explored (did not take its own greedy choice) and the harm
    they did, as means and 95% CIs over seeds, with that harm's share of the arm's harm."""
    harm = metrics.mean_ci([s["exploration"]["harm"] for s in seeds])
    decisions = metrics.mean_ci([s["exploration"]["decisions"] for s in seeds])
    total = sum(s["harm"] for s in seeds)
    return {"harm": harm["mean"], "harm_ci95": harm["ci95"], "decisions": decisions["mean"],
            "decisions_ci95": decisions["ci95"],
            "share_of_harm": sum(s["exploration"]["harm"] for s in seeds) / total if total > 0 else None}


def summarize(scenario, arms: list[tuple[str, str]], per_seed: list[list[dict]], elapsed: float) -> dict:
    """The run's summary: per arm, means and 95% CIs across seeds, and every seed's metrics."""
    arm_summaries = []
    for j, (learner, objective) in enumerate(arms):
        seeds = [seed_list[j] for seed_list in per_seed]
        regret = metrics.mean_ci([s["regret"] for s in seeds])
        harm = metrics.mean_ci([s["harm"] for s in seeds])
        arm_summaries.append({
            "learner": learner,
            "objective": objective,
            "feedback": scenario.objectives[objective].feedback,
            "regret": regret["mean"],
            "regret_ci95": regret["ci95"],
            "harm": harm["mean"],
            "harm_ci95": harm["ci95"],
            "regret_per_decision": regret["mean"] / scenario.horizon,
            "queries": metrics.mean_ci([s["queries"] for s in seeds]),
            "windows": [_window_summary(seeds, k) for k in range(len(scenario.stream.shifts))],
            **({"pool": _pool_summary(seeds)} if "pool" in seeds[0] else {}),
            "guarantee": guarantees.summarize_guarantee(seeds),
            **({"deception": _deception_summary(seeds)} if "deception" in seeds[0] else {}),
            **({"exploration": _exploration_summary(seeds)} if "exploration" in seeds[0] else {}),
            **({"bandit": _bandit_summary(seeds)} if "bandit" in seeds[0] else {}),
            "audit": audit.arm_audit(seeds, scenario.harm.bound, scenario.audit, scenario.horizon),
            "seeds": seeds,
        })
    return {
        "scenario": scenario.name,
        "description": scenario.description,
        "horizon": scenario.horizon,
        "harm_bound": scenario.harm.bound,
        "master_seed": scenario.seed,
        "seeds": list(range(scenario.seeds)),
        "shifts": [s.at for s in scenario.stream.shifts],
        "comparator": scenario.comparator,
        "comparator_description": COMPARATOR_TEXT[scenario.comparator],
        "windows": scenario.windows.model_dump(),
        "audit": audit.run_audit([a["audit"] for a in arm_summaries], scenario.audit),
        "paired": paired_differences(scenario, arm_summaries),
        "arms": arm_summaries,
        "elapsed_seconds": round(elapsed, 3),
        "finished": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
    }


def trace_tables(record, scenario, arrays=None):
    """The trace of one block (or a whole seed) of decisions, one table per arm (one row per
    decision): ``(j, table)`` pairs. ``arrays``: each arm's :func:`block_arrays`, when
    already computed.

    Learner and objective names are dictionary-encoded (categoricals in pandas).
    """
    n = len(record.time)
    for j, (learner, objective) in enumerate(record.arms):
        a = arrays[j] if arrays is not None else block_arrays(record, scenario, j)
        consensus = record.records.get(j) if "query_prob" in record.records.get(j, {}) else None
        columns = {
            "seed": np.full(n, record.seed, np.int32),
            "learner": _constant_text(learner, n),
            "objective": _constant_text(objective, n),
            "step": np.arange(record.start, record.start + n, dtype=np.int32),
            "time": record.time,
            "segment": record.segment,
            "truth": record.y,
            "action": record.actions[j],
            "comparator_action": record.comparator,
            "harm": a["harm"],
            "comparator_harm": a["comparator_harm"],
            "feedback": record.feedback[objective],
            "feedback_loss": a["feedback_loss"],
            "feedback_time": record.feedback_time[j],
            "requested": record.requested[j],
            "wait": record.wait[j],
            "queue": record.queue[j],
            "query_probability": consensus["query_prob"] if consensus is not None else np.full(n, np.nan),
        }
        yield j, pa.Table.from_arrays(
            [columns[f.name] if isinstance(columns[f.name], pa.Array)
             else pa.array(columns[f.name], type=f.type) for f in TRACE_SCHEMA],
            schema=TRACE_SCHEMA)


class SeedTrace:
    """One seed's trace file in the run's trace directory, written as the blocks settle:
    each arm's rows are gathered into row groups of :attr:`ROWS` decisions (rows in decision
    order within each arm). Not a row group per block: a Parquet writer keeps every row
    group's description until it closes (about 16 KiB each here), which at a block per row
    group would grow with the horizon (300 MiB for 10^7 decisions x 4 arms)."""

    ROWS = 1 << 17

    def __init__(self, directory: Path, seed: int):
        directory.mkdir(parents=True, exist_ok=True)
        self.path = directory / f"seed-{seed:05d}.parquet"
        self.writer = pq.ParquetWriter(self.path, TRACE_SCHEMA, compression="zstd")
        self.pending: dict[int, list[pa.Table]] = {}

    def add(self, record, scenario, arrays=None) -> None:
        for j, table in trace_tables(record, scenario, arrays):
            tables = self.pending.setdefault(j, [])
            tables.append(table)
            if sum(len(t) for t in tables) >= self.ROWS:
                self._write(j)

    def _write(self, j: int) -> None:
        tables = self.pending.pop(j, [])
        if tables:
            table = pa.concat_tables(tables)
            self.writer.write_table(table, row_group_size=len(table))  # one row group

    def close(self) -> None:
        for j in sorted(self.pending):
            self._write(j)
        self.writer.close()


def _constant_text(value: str, n: int) -> pa.DictionaryArray:
    return pa.DictionaryArray.from_arrays(pa.array(np.zeros(n, np.int16)), pa.array([value]))


TRACE_SCHEMA = pa.schema([
    ("seed", pa.int32()),
    ("learner", pa.dictionary(pa.int16(), pa.string())),
    ("objective", pa.dictionary(pa.int16(), pa.string())),
    ("step", pa.int32()), ("time", pa.float64()), ("segment", pa.int8()),
    # Classes (0/1) or, for regression sources, real values.
    ("truth", pa.float32()), ("action", pa.float32()), ("comparator_action", pa.float32()),
    ("harm", pa.float32()), ("comparator_harm", pa.float32()),
    ("feedback", pa.float32()), ("feedback_loss", pa.float32()), ("feedback_time", pa.float64()),
    ("requested", pa.bool_()), ("wait", pa.float32()), ("queue", pa.int32()),
    ("query_probability", pa.float32()),
])


def _atomic_write(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".partial")
    tmp.write_text(text)
    os.replace(tmp, path)


class RunWriter:
    """Writes a run directory piece by piece; only :meth:`finish` makes it look complete."""

    def __init__(self, path, scenario):
        self.path = Path(path)
        try:
            if self.path.exists() and any(self.path.iterdir()):
                raise FileExistsError(f"{self.path} already exists and is not empty; choose another --out")
            self.path.mkdir(parents=True, exist_ok=True)
            # The marker is created exclusively: of two runs racing for one --out, one wins.
            with open(self.path / INCOMPLETE, "x") as marker:
                marker.write("This run has not finished (or was interrupted): its files may be partial.\n")
            (self.path / "figures").mkdir(exist_ok=True)
            _atomic_write(self.path / "scenario.yaml", scenario.to_yaml())
        except FileExistsError:
            raise FileExistsError(f"{self.path} already exists and is not empty (another run may be "
                                  "writing to it); choose another --out") from None
        except OSError as exc:
            raise RunDirectoryError(f"cannot create the run directory {self.path}: {exc.strerror}") from None
        #: With ``trace: full``: where the seeds write their trace files while the run goes.
        self.trace_dir = self.path / "trace.parquet.partial" if scenario.trace == "full" else None
        self._bounds = None
        self._curves = pq.ParquetWriter(self.path / "curves.parquet.partial", CURVES_SCHEMA)

    def add_curves(self, table: pa.Table) -> None:
        self._curves.write_table(table)

    def add_bounds(self, table: pa.Table) -> None:
        if self._bounds is None:
            self._bounds_tmp = self.path / "bounds.parquet.partial"
            self._bounds = pq.ParquetWriter(self._bounds_tmp, table.schema)
        self._bounds.write_table(table)

    def close_trace(self) -> None:
        """Every seed is done: the trace directory, curves and bounds take their names."""
        if self._bounds is not None:
            self._bounds.close()
            os.replace(self._bounds_tmp, self.path / "bounds.parquet")
        self._curves.close()
        os.replace(self.path / "curves.parquet.partial", self.path / "curves.parquet")
        if self.trace_dir is not None:
            os.replace(self.trace_dir, self.path / "trace.parquet")

    def write_summary(self, summary: dict) -> None:
        """summary.json, atomically. It cannot fail on a value: a number that is not finite is
        written as null (JSON has no infinity), and numpy scalars as Python numbers."""
        _atomic_write(self.path / "summary.json", json.dumps(_finite(summary), indent=2, allow_nan=False,
                                                             default=_json_default))

    def finish(self, summary: dict) -> None:
        self.write_summary(summary)
        (self.path / INCOMPLETE).unlink()

    def fail(self, summary: dict | None, what: str) -> None:
        """Something failed after the simulation: keep what was written (and the summary, if
        there is one), and say in the INCOMPLETE marker what is missing."""
        if summary is not None:
            self.write_summary(summary)
        (self.path / INCOMPLETE).write_text(f"This run finished its simulation but {what}; the trace"
                                            + (" and summary are" if summary is not None else " is")
                                            + " complete, the rest may be missing.\n")


def _finite(value):
    """A copy of a summary with every non-finite float replaced by None."""
    if isinstance(value, float | np.floating):
        return float(value) if np.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    return value


def _json_default(value):
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"cannot write {type(value).__name__} to JSON")


class RunResult:
    """A finished run: its directory, summary (dict) and trace (pandas DataFrame).

    The trace is read from ``trace.parquet`` on first use, so a long run's result costs
    no memory until someone looks at its decisions.
    """

    def __init__(self, path: Path, summary: dict, columns=None):
        self.path = path
        self.summary = summary
        self._columns = columns

    @functools.cached_property
    def trace(self) -> pd.DataFrame:
        """Every decision of every arm and seed (``trace.parquet``, a directory with a file
        per seed). A run with ``trace: summary`` has none: use :attr:`curves`."""
        path = self.path / "trace.parquet"
        if not path.exists():
            raise FileNotFoundError(f"{self.path} has no trace: it was run with trace: summary, which keeps "
                                    "only the summary and the curves (RunResult.curves)")
        return pq.read_table(path, columns=self._columns).to_pandas()

    @functools.cached_property
    def curves(self) -> pd.DataFrame:
        """The figures' curves per seed and arm at a few hundred decisions (``curves.parquet``):
        ``curve`` is ``regret`` (cumulative), ``transition_K`` (trailing excess harm around
        shift K), ``query_rate`` or ``queue`` (trailing means)."""
        return pd.read_parquet(self.path / "curves.parquet")

    @functools.cached_property
    def bounds(self) -> pd.DataFrame | None:
        """Regret and bound curves of the expert arms (``bounds.parquet``), or None."""
        path = self.path / "bounds.parquet"
        return pd.read_parquet(path) if path.exists() else None

    def arms(self) -> pd.DataFrame:
        """One row per arm with the headline numbers of the summary."""
        return pd.DataFrame([
            {k: v for k, v in arm.items() if k not in ("seeds", "windows")}
            for arm in self.summary["arms"]
        ])

    def __repr__(self) -> str:
        return f"RunResult({str(self.path)!r}, scenario={self.summary['scenario']!r})"


def load(run_dir, columns=None, *, partial: bool = False) -> RunResult:
    """Load a finished run directory; ``columns`` picks trace columns (default: all).

    Raises :class:`~lowstakes.errors.IncompleteRunError` for an interrupted run; with
    ``partial``, a run whose simulation finished but whose end failed (figures) loads.
    """
    path = Path(run_dir)
    if partial and (path / "summary.json").exists():
        return RunResult(path, json.loads((path / "summary.json").read_text()), columns)
    if (path / INCOMPLETE).exists() or not (path / "summary.json").exists():
        raise IncompleteRunError(
            f"{path} is not a complete run directory (no summary.json, or an INCOMPLETE marker: "
            "the run was interrupted or is still going)")
    return RunResult(path, json.loads((path / "summary.json").read_text()), columns)
