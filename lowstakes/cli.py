"""The ``lowstakes`` command.

Exit status: 0 on success; 2 for bad input (an invalid scenario, an existing output
directory, a bad option), with one message and no traceback; 1 when a run breaks its
own premises (a harm outside [0, B]); 130 when interrupted.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    TextColumn,
    TimeRemainingColumn,
)
from rich.table import Table
from rich.text import Text

from lowstakes import resources
from lowstakes.errors import HarmBoundError, LateFailure, LowstakesError
from lowstakes.grid import short_names
from lowstakes.scenario import load_scenario

__all__ = ["main"]


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="lowstakes", description=__doc__.split("\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("run", help="run a scenario and write a run directory")
    run.add_argument("scenario", type=Path, help="a scenario YAML file")
    run.add_argument("--out", type=Path, help="run directory (default runs/<name>/<timestamp>)")
    run.add_argument("--seeds", type=_positive, help="number of seeds (overrides the scenario)")
    run.add_argument("--horizon", type=_positive,
                     help="decisions per seed; shifts and windows scale in proportion")
    run.add_argument("--workers", type=_positive, default=1, help="processes (default 1)")
    run.add_argument("--trace", choices=["full", "summary"],
                     help="full: keep every decision in trace.parquet; summary: only the summary and the "
                          "figures' curves (overrides the scenario's trace:)")
    sweep = commands.add_parser(
        "sweep", help="run a grid of scenario variants for every seed, locally or on Dask; resumable")
    sweep.add_argument("scenario", type=Path, help="a scenario YAML file (its sweep: block is the grid)")
    sweep.add_argument("--set", dest="assignments", action="append", default=[], metavar="PATH=V1,V2",
                       help="a field and its values, e.g. stream.shifts.0.at=2000,6000 (repeatable; "
                            "adds to the file's sweep: block or replaces a path it names)")
    sweep.add_argument("--out", type=Path, help="sweep directory (default sweeps/<name>); "
                                                "the same directory again resumes")
    sweep.add_argument("--seeds", type=_positive, help="number of seeds (overrides the scenario)")
    sweep.add_argument("--horizon", type=_positive,
                       help="decisions per seed; shifts and windows scale in proportion")
    where = sweep.add_mutually_exclusive_group()
    where.add_argument("--workers", type=_positive,
                       help="worker processes of a local Dask cluster (default: the cores; 1: no Dask)")
    where.add_argument("--scheduler", metavar="ADDRESS",
                       help="send the tasks to a running Dask scheduler, e.g. tcp://10.0.0.5:8786")
    validate = commands.add_parser("validate", help="check scenario files without running them")
    validate.add_argument("scenarios", type=Path, nargs="+", metavar="FILE")
    commands.add_parser("list", help="what a scenario can name: sources, feedback, learners, ...")
    commands.add_parser("schema", help="print the JSON Schema of the scenario format (for editors)")
    return parser


def _sweep(args, console: Console, errors: Console) -> int:
    from lowstakes.grid import parse_assignment
    from lowstakes.sweeps import sweep

    grid = {}
    for text in args.assignments:
        path, values = parse_assignment(text)
        if path in grid:
            raise LowstakesError(f"--set {path} is given twice; give all its values in one --set")
        grid[path] = values
    scenario = load_scenario(args.scenario)
    with Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                  TextColumn("tasks"), TimeRemainingColumn(), console=errors,
                  disable=not errors.is_terminal, transient=True) as bar:
        task = bar.add_task(f"sweep {scenario.name}", total=None)

        def start(todo, skipped):
            bar.update(task, total=todo)
            if skipped:
                errors.print(f"{skipped} task(s) already done in this sweep directory: skipped",
                             highlight=False)

        result = sweep(args.scenario, grid, args.out, seeds=args.seeds, horizon=args.horizon,
                       workers=args.workers, scheduler=args.scheduler, on_start=start,
                       progress=lambda n: bar.advance(task, n))
    if len(frame := result.load()):
        console.print(sweep_table(frame, scenario.name))
        for field in [c.removeprefix("set.") for c in frame.columns if c.startswith("set.")][:2]:
            paired = sweep_paired_table(frame, field)
            if paired is not None:
                console.print(paired)
    console.print(f"{result.tasks} task(s): {result.ran} run now, {result.skipped} already done "
                  f"(skipped), {len(result.failed)} failed"
                  + (f", {result.lost} not run (cluster lost)" if result.lost else ""), highlight=False)
    for path in result.figures:
        console.print(f"figure: {path}", highlight=False)
    console.print(f"sweep directory: {result.path}", highlight=False)
    for failure in result.failed:
        cell = ", ".join(f"{k}={v!r}" for k, v in failure["cell"].items()) or "the scenario"
        _error(f"{cell}, seed {failure['seed']}: {failure['error']}")
    if result.failed:
        _error(f"{len(result.failed)} task(s) failed (tracebacks in {result.path / 'failures.json'}); "
               "the others are saved: run the same command again to retry only what is missing")
    if result.lost:
        _error(f"{result.lost_reason}: {result.lost} task(s) not run; the finished ones are saved: "
               "run the same command again (with a reachable --scheduler, or none) to run only "
               "what is missing")
    return 0 if result.complete else 1


def sweep_paired_table(frame, field: str) -> Table | None:
    """Along one swept field: each cell minus the cell with the field at its first value, on the
    same seeds (regret and transition cost), with the paired 95% interval."""
    from lowstakes.metrics import aggregate

    column = f"set.{field}"
    metrics = [m for m in ("regret", "transition_cost") if f"delta.{field}.{m}" in frame]
    if not metrics or frame[column].nunique() < 2:
        return None
    first = frame[column].iloc[0]
    rows = frame[frame[column] != first]
    keys = [c for c in frame.columns if c.startswith("set.")] + ["learner", "objective"]
    table = Table(title=f"paired differences along {field}: each value minus {field} = {first}, same seeds",
                  caption="± half-width of the 95% t-interval of the per-seed differences (the cells share "
                          "their seeds' randomness, so these are paired)", caption_justify="left")
    short = short_names([k.removeprefix("set.") for k in keys if k.startswith("set.")])
    for key in keys:
        table.add_column(short.get(key.removeprefix("set."), key), no_wrap=True)
    for metric in metrics:
        table.add_column(f"Δ {metric.replace('_', ' ')}", justify="right", no_wrap=True)
    aggregates = [aggregate(rows, f"delta.{field}.{m}", keys) for m in metrics]
    for i in range(len(aggregates[0])):
        values = [str(aggregates[0].iloc[i][k]) for k in keys]
        cells = []
        for agg in aggregates:
            mean, lo, hi = agg.iloc[i][["mean", "lo", "hi"]]
            cells.append(_pm(mean, [None, None] if np.isnan(lo) else [lo, hi]))
        table.add_row(*values, *cells)
    return table


def _held_columns(frame) -> dict:
    """``window_bounds_held``: per row, in how many transition windows the arm's guarantee held
    (rows without a guarantee: NaN)."""
    held = [c for c in frame.columns if c.endswith("_bound_held") and c.startswith("window_")]
    if not held:
        return {}
    return {"window_bounds_held": frame[held].astype(float).sum(axis=1, min_count=1)}


def sweep_table(frame, name: str) -> Table:
    """Per cell and arm: regret, transition cost and recovery, labels asked, the audit and the
    bounds, each as mean ± half-width of the 95% CI across seeds."""
    from lowstakes.metrics import aggregate

    keys = [c for c in frame.columns if c.startswith("set.")] + ["learner", "objective"]
    seeds = frame.groupby(keys, sort=False).size()
    table = Table(title=f"sweep of {name}: mean ± half-width of the 95% CI across seeds",
                  caption="recovered: windows recovered / all; low-stakes and bounds held: seeds / all",
                  caption_justify="left")
    short = short_names([k.removeprefix("set.") for k in keys if k.startswith("set.")])
    renamed = [f"{name} = {path}" for path, name in short.items() if name != path]
    if renamed:
        table.caption += "\n" + "; ".join(renamed)
    for key in keys:
        table.add_column(short.get(key.removeprefix("set."), key), no_wrap=True)
    columns = {"regret": "regret"}
    if "transition_cost" in frame:
        columns["transition_cost"] = "transition cost"
    windows = sorted(c for c in frame.columns if c.startswith("window_") and c.endswith("_cost"))
    if 1 < len(windows) <= 4:  # each window's cost rather than only their sum
        del columns["transition_cost"]
        for column in windows:
            columns[column] = f"window {column.split('_')[1]}\ncost"
    if "window_0_own_regret" in frame:  # the guarantee of the first window, beside its cost
        columns["window_0_own_regret"] = "window 0:\nown regret"
        columns["window_0_bound"] = "window 0:\nbound"
    if frame["queries"].nunique() > 1:
        columns["queries"] = "labels asked"
    for label in columns.values():
        table.add_column(label, justify="right", no_wrap=True)
    frame = frame.assign(**_held_columns(frame))
    counts = {"recovered": "recovered", "low_stakes": "low-stakes", "bound_held": "bounds held",
              "window_bounds_held": "window bounds held"}
    counts = {c: label for c, label in counts.items() if c in frame}
    for label in counts.values():
        table.add_column(label, justify="right")
    table.add_column("seeds", justify="right")
    shifts = frame.columns.str.fullmatch(r"window_\d+_cost").sum()
    aggregates = [aggregate(frame, column, keys) for column in columns]
    # aggregate() groups the same way, so its i-th row is this loop's i-th group.
    for i, (values, group) in enumerate(frame.groupby(keys, sort=False, dropna=False)):
        row = [str(v) for v in values]
        for column, agg in zip(columns, aggregates, strict=True):
            mean, lo, hi = agg.iloc[i][["mean", "lo", "hi"]]
            # A bound is a value computed per seed, not an estimate: its mean alone.
            plain = column == "window_0_bound" or np.isnan(lo)
            row.append(_pm(mean, [None, None] if plain else [lo, hi]))
        for column in counts:
            data = group[column].dropna()
            whole = len(data) * (shifts if column in ("recovered", "window_bounds_held") else 1)
            row.append(f"{int(data.sum())}/{whole}" if len(data) else "")
        row.append(str(seeds.iloc[i]))
        table.add_row(*row)
    return table


def _error(message) -> None:
    # Plain text, never wrapped: each problem stays on one line that names file and field.
    print(f"error: {message}", file=sys.stderr)


def _validate(args, console: Console, errors: Console) -> int:
    failed = 0
    for path in args.scenarios:
        try:
            scenario = load_scenario(path)
        except LowstakesError as exc:
            failed += 1
            _error(exc)
        else:
            try:  # one seed at a time: does it fit this machine at all?
                resources.check(scenario, workers=1, trace=False)
            except LowstakesError as exc:
                failed += 1
                _error(f"{path}: {exc}")
                continue
            arms = len(scenario.learners) * len(scenario.objectives)
            console.print(f"ok: {path} ({scenario.name}: {scenario.horizon:,} decisions x "
                          f"{scenario.seeds} seed(s), {arms} arm(s))", highlight=False, markup=False)
    return 2 if failed else 0


def _list(console: Console) -> int:
    from lowstakes.catalogue import catalogue, river_classifiers

    for kind, entries in catalogue().items():
        table = Table(title=kind, title_justify="left", show_header=False, box=None, pad_edge=False)
        table.add_column(style="bold")
        table.add_column()
        table.add_column()
        for entry in entries:
            # Text, not markup: "[low, high]" is not a style tag.
            table.add_row(Text(entry["name"]), Text("\n".join(entry["params"])), Text(entry["about"]))
        console.print(table)
        console.print()
    names = river_classifiers()
    console.print(f"River classifiers ({len(names)}), as learners' or experts' model: "
                  + ", ".join(names), highlight=False)
    console.print("\nAny of sources, feedback, expert rules and learners' models also takes "
                  "'module:attribute' naming your own code.")
    return 0


def _schema() -> int:
    import json

    from lowstakes.scenario import Scenario

    print(json.dumps(Scenario.model_json_schema(), indent=2))
    return 0


def _pm(mean, interval) -> str:
    """mean ± half-width of its interval; a value that did not vary (a count, say) alone, and
    as a whole number when it is one."""
    if interval[0] is None or interval[1] - interval[0] == 0:
        return f"{mean:,.0f}" if float(mean).is_integer() else f"{mean:,.1f}"
    return f"{mean:,.1f} ± {(interval[1] - interval[0]) / 2:,.1f}"


def summary_table(summary: dict) -> Table:
    """The end-of-run table: regret and, per shift, transition cost and recovery."""
    n = len(summary["seeds"])
    caption = ["± half-width of the 95% CI across seeds"] if n > 1 else []
    if summary["shifts"]:
        w = summary["windows"]
        caption.append(f"recovery: median decisions until the trailing mean excess harm over "
                       f"{w['smoothing']} stays within {w['tolerance']} x B of its pre-shift level "
                       "(recovered seeds / all)")
        if any(w.get("raised") for a in summary["arms"] for w in a["windows"]):
            caption.append("†: the excess harm before this shift was already above the tolerance in some "
                           "seed (a return to an old concept after a transition, say): cost and recovery are "
                           "measured from that raised level")
        if any(a["queries"]["mean"] < summary["horizon"] for a in summary["arms"]):
            caption.append("labels before / after: asked in the window after the shift, and in as many "
                           "decisions before it (means over seeds)")
    explores = any("exploration" in a for a in summary["arms"])
    if explores:
        caption.append("exploration harm: the harm of the decisions where the arm did not take its own "
                       "greedy choice (its share of the arm's harm); '-': the arm does not explore")
    table = Table(title=f"{summary['scenario']}: {summary['horizon']:,} decisions x {n} seed(s), "
                        f"B = {summary['harm_bound']}, regret vs {summary['comparator']}",
                  caption="\n".join(caption) or None, caption_justify="left")
    # Cells never wrap (a number broken over two lines reads as two numbers).
    table.add_column("arm (learner / objective)" if len(summary["shifts"]) < 3 else "arm", no_wrap=True)
    table.add_column("regret", justify="right", no_wrap=True)
    table.add_column("per decision", justify="right", no_wrap=True)
    asks = any(a["queries"]["mean"] < summary["horizon"] for a in summary["arms"])
    if asks:
        table.add_column("labels asked", justify="right", no_wrap=True)
    if explores:
        table.add_column("exploration\nharm", justify="right", no_wrap=True)
    for k, at in enumerate(summary["shifts"]):
        table.add_column(f"shift {k} @{at}\nwindow cost", justify="right", no_wrap=True)
        table.add_column(f"shift {k}\nrecovery", justify="right", no_wrap=True)
        if asks:
            table.add_column(f"shift {k}: labels\nbefore / after", justify="right")
    for arm in summary["arms"]:
        row = [f"{arm['learner']} / {arm['objective']}", _pm(arm["regret"], arm["regret_ci95"]),
               f"{arm['regret_per_decision']:.4f}"]
        if asks:
            row.append(_pm(arm["queries"]["mean"], arm["queries"]["ci95"]))
        if explores:
            e = arm.get("exploration")
            share = "" if e is None or e["share_of_harm"] is None else f" ({e['share_of_harm']:.0%})"
            row.append("-" if e is None else _pm(e["harm"], e["harm_ci95"]) + share)
        for window in arm["windows"]:
            row.append(_pm(window["cost"], window["cost_ci95"]))
            median = window["recovery_median"]
            mark = "†" if window.get("raised") else ""
            row.append(("never" if median is None else f"{median:,.0f} ({window['recovered']}/{n})") + mark)
            if asks:
                row.append(f"{window['queries_before']:,.1f} / {window['queries']:,.1f}")
        table.add_row(*row)
    return table


def paired_table(summary: dict) -> Table | None:
    """Differences between arms on the same seeds, with their paired 95% intervals."""
    pairs = summary.get("paired") or []
    if len(summary["seeds"]) < 2 or not pairs:
        return None
    table = Table(title="paired differences on the same seeds (common random numbers)",
                  caption="each row: the first arm minus the second, seed by seed; ± half-width of the 95% "
                          "t-interval of those differences. Both arms of a seed saw the same stream, noise "
                          "and delays, so what they share cancels: a difference can be clear here while "
                          "the arms' own intervals in the first table overlap.",
                  caption_justify="left")
    table.add_column("difference")
    table.add_column("regret", justify="right", no_wrap=True)
    for k, at in enumerate(summary["shifts"]):
        table.add_column(f"shift {k} @{at}\nwindow cost", justify="right", no_wrap=True)
    for pair in pairs:
        name = f"{' / '.join(pair['arm'])} − {' / '.join(pair['minus'])}"
        table.add_row(name, _pm(pair["regret"]["mean"], pair["regret"]["ci95"]),
                      *[_pm(w["mean"], w["ci95"]) for w in pair["windows"]])
    return table


def audit_table(summary: dict) -> tuple[Table, list[str]]:
    """The low-stakes audit: per arm, per decision (largest harm, B next to the harm done),
    concentration among the harmful decisions, and the largest burst within the arm's
    reaction time; the verdict and its rule. Returns the table and the catastrophe-forecast
    lines."""
    run = summary["audit"]
    bound = summary["harm_bound"]
    verdict = "LOW-STAKES" if run["low_stakes"] else "NOT LOW-STAKES"
    table = Table(title=f"low-stakes audit: {verdict} (B = {bound:g})",
                  caption=f"rule: {run['rule']}. / typical: the largest harm over the most the median "
                          "decision can do (its stakes times its worst cost). top 1%: the share of the "
                          "harm caused by the worst 1% of the decisions that did any harm (1% when all "
                          "harms are equal). burst: the most harm in k consecutive decisions, k the arm's "
                          "reaction time (the worst seed's), against k x B, against the arm's harm and "
                          "against an average k decisions (x avg); the first k decisions (a cold start) are "
                          "not searched. B / harm, B / transition: means over seeds, for scale.",
                  caption_justify="left")
    for column in ("arm", "max harm", "/ typical", "B / harm", "B / transition", "top 1%", "k", "burst",
                   "/ kB", "/ harm", "x avg", "low-stakes"):
        table.add_column(column, justify="left" if column == "arm" else "right", no_wrap=True)
    lines = []
    for arm in summary["arms"]:
        a = arm["audit"]
        burst = a["burst"]

        def ratio(value):
            return "" if value is None else f"{value:.2%}"

        outlier = a.get("outlier_ratio_max")
        table.add_row(f"{arm['learner']} / {arm['objective']}", f"{a['max_harm']:,g}",
                      "" if outlier is None else f"{outlier:,.1f}",
                      ratio(a["bound_over_harm"]), ratio(a["bound_over_transition_cost"]),
                      f"{a['top_share_max']:.0%}", f"{burst['k']:,}", f"{burst['harm']:,.1f}",
                      f"{burst['density']:.0%}", f"{burst['share']:.1%}", f"{burst['contrast']:,.1f}",
                      "yes" if a["low_stakes"] else _why_not(a))
        if "catastrophes" in a:
            c = a["catastrophes"]
            lines.append(f"{arm['learner']} / {arm['objective']}: {c['seen']} catastrophe(s) (harm > "
                         f"{c['threshold']:g}) in {c['decisions']:,} decisions: chance of at least one in "
                         f"the next {c['forecast_decisions']:,} = {c['chance_in_forecast']:.1%} "
                         f"(semi-informative prior, p0 = {c['p0']:g})")
    return table, lines


def _why_not(arm_audit: dict) -> str:
    reasons = []
    if arm_audit["outlier"]:
        reasons.append(f"outlier {arm_audit['outlier']}/{arm_audit['seeds']}")
    if arm_audit["concentrated"]:
        reasons.append(f"concentrated {arm_audit['concentrated']}/{arm_audit['seeds']}")
    if arm_audit["bursty"]:
        reasons.append(f"burst {arm_audit['bursty']}/{arm_audit['seeds']}")
    return "NO: " + ", ".join(reasons)


def guarantee_table(summary: dict) -> tuple[Table, list[str]]:
    """Per arm and transition window (and the whole run for linear arms): the true cost
    beside the arm's regret on its own feedback and the guaranteed bound on that regret.
    Returns the table and the lines that say why the other arms carry none."""
    n = len(summary["seeds"])
    table = Table(title="transition windows against guaranteed bounds",
                  caption="cost: excess true harm over the comparator (units of harm). regret: on the arm's "
                          "own feedback (its surrogate loss) against the bound's comparator; bound = "
                          "distance + step (data-dependent); a priori: D^2/(2 eta) + eta G^2 tau / 2; "
                          "|dz|: sum over the window of |margin at decision - margin at learning| (how far "
                          "delays and a learning scaler move the decision-time surrogate). *: in some "
                          "seeds the window's labels are separable, so no finite u* exists; the bound holds "
                          "for the u found, which is not the best",
                  caption_justify="left")
    columns = ("arm", "window", "cost", "regret", "bound", "held", "distance", "step", "a priori", "|dz|")
    for column in columns:
        table.add_column(column, justify="left" if column in ("arm", "window") else "right")
    reasons: dict[str, list[str]] = {}
    for arm in summary["arms"]:
        name = f"{arm['learner']} / {arm['objective']}"
        g = arm.get("guarantee")
        if g is None:
            continue
        if not g["applies"]:
            reasons.setdefault(g["reason"], []).append(name)
            continue
        rows = [(f"shift {w['shift']}", w) for w in g["windows"]]
        if g.get("run"):
            rows.append(("whole run", g["run"]))
        for label, w in rows:
            def term(key, w=w):
                return f"{w[key]:,.1f}" if key in w else ""
            cost = _pm(w["cost"], w["cost_ci95"]) if "cost" in w else _pm(arm["regret"], arm["regret_ci95"])
            regret = _pm(w["regret"], w["regret_ci95"]) + ("*" if w.get("comparator_unconverged") else "")
            table.add_row(name, label, cost, regret, f"{w['bound']:,.1f}",
                          f"{w['held']}/{w['seeds']}", term("distance"), term("step"), term("apriori"),
                          term("decision_shift"))
            name = ""
        if g["name"] == "fixed_share_window":
            reasons.setdefault("", [])
    lines = [f"no guarantee for {', '.join(arms)}: {reason}" for reason, arms in reasons.items() if reason]
    if any(arm.get("guarantee", {}).get("applies") for arm in summary["arms"]):
        kinds = {arm["guarantee"]["name"]: arm["guarantee"]["comparator"] for arm in summary["arms"]
                 if arm.get("guarantee", {}).get("applies")}
        lines = [f"{name}: regret against {comparator}" for name, comparator in kinds.items()] + lines
    del n
    return table, lines


def deception_table(summary: dict) -> Table | None:
    """Imitation arms whose pools hold deceptive experts: at the decisions where one of them
    defected, how often each arm took the defecting action, the harm of it, and how likely it
    was to ask; beside regret and the labels it asked for over the run."""
    arms = [a for a in summary["arms"] if "deception" in a]
    if not arms:
        return None
    table = Table(title="deceptive experts: what each imitator did where one of its models defected",
                  caption="defections: decisions where a deceptive expert of the pool took its own action "
                          "(the same in every arm of a seed); deceptive: the arm took that action there; "
                          "harm: the harm of those actions; asked: labels asked at those decisions; P(ask): "
                          "the mean query probability there (1st: at the first defection); labels: asked "
                          "over the run (an imitator without queries learns from every label). Means over "
                          "seeds.",
                  caption_justify="left")
    for column in ("arm", "algorithm", "defections", "deceptive", "harm", "asked", "P(ask)", "P(ask) 1st",
                   "labels", "regret"):
        table.add_column(column, justify="left" if column in ("arm", "algorithm") else "right", no_wrap=True)
    algorithms = {a["learner"]: a["seeds"][0]["deception"]["algorithm"] for a in arms}
    for arm in arms:
        d = arm["deception"]

        def probability(value):
            return "" if value is None else f"{value:.2f}"

        table.add_row(f"{arm['learner']} / {arm['objective']}", algorithms[arm["learner"]] or "",
                      f"{d['defections']['mean']:,.1f}", _pm(d["deceptive_actions"]["mean"],
                                                             d["deceptive_actions"]["ci95"]),
                      f"{d['deceptive_harm']['mean']:,.1f}", f"{d['asked_at_defections']['mean']:,.1f}",
                      probability(d["query_probability_at_defections"]),
                      probability(d["query_probability_at_first_defection"]),
                      f"{arm['queries']['mean']:,.0f}", _pm(arm["regret"], arm["regret_ci95"]))
    return table


def pool_table(summary: dict) -> tuple[Table, list[str]] | None:
    """Expert arms: regret against the experts on the feedback (what the theorems bound) and
    on the true harm, each against the best fixed expert and the best expert sequence; and,
    as lines under the table, each guaranteed bound with the seeds in which it held."""
    arms = [a for a in summary["arms"] if "pool" in a]
    if not arms:
        return None
    m = arms[0]["pool"].get("switches", 1)
    table = Table(title="expert arms: regret against the experts",
                  caption="feedback = on the arm's feedback (what the bounds speak of); true = on the harm. "
                          "vs fixed: against the best single expert in hindsight; vs m-switch: against the "
                          "best expert sequence with at most m switches (m = the arm's switches, "
                          f"{m} here). mixture: of p . l, the weights' expected loss, which the bounds speak "
                          "of; taken: of the actions the arm took (act: mixture acts by least cost under the "
                          "mixture, act: sample follows one expert drawn from the weights)",
                  caption_justify="left")
    for column in ("arm", "algorithm", "feedback\nvs fixed", "feedback\nvs m-switch",
                   "true, mixture\nvs fixed", "true, mixture\nvs m-switch", "true, taken\nvs fixed"):
        table.add_column(column, justify="left" if column in ("arm", "algorithm") else "right", no_wrap=True)
    lines = []
    for arm in arms:
        pool = arm["pool"]
        name = f"{arm['learner']} / {arm['objective']}"
        realised = pool.get("realised_true_regret", pool["true_regret"])
        tracking = pool.get("true_tracking_regret", pool["true_regret"])
        table.add_row(name, pool["algorithm"],
                      _pm(pool["proxy_regret"]["mean"], pool["proxy_regret"]["ci95"]),
                      _pm(pool["tracking_regret"]["mean"], pool["tracking_regret"]["ci95"]),
                      _pm(pool["true_regret"]["mean"], pool["true_regret"]["ci95"]),
                      _pm(tracking["mean"], tracking["ci95"]),
                      _pm(realised["mean"], realised["ci95"]))
        held = [f"{b['name']} (vs {b['comparator']}) {b['value']:,.1f}, held {b['held']}/{b['seeds']}"
                for b in pool["bounds"]] or ["no bound applies"]
        goodhart = [s["pool"]["goodhart"] for s in arm["seeds"]]
        given = [g for g in goodhart if g.get("value") is not None]
        if given:
            held.append(f"goodhart_lower {np.mean([g['value'] for g in given]):,.1f} (true regret above it: "
                        f"{sum(g['holds'] for g in given)}/{len(given)})")
        else:
            held.append("no Goodhart bound: " + "; ".join(dict.fromkeys(g["reason"] for g in goodhart)))
        lines.append(f"{name}: " + "; ".join(held))
    return table, lines


def bandit_table(summary: dict) -> Table | None:
    """Arms choosing among K actions: regret on their own feedback against the best action, the
    best action sequence and (exp4) the best expert, and each in-expectation bound held
    against the seeds' mean."""
    arms = [a for a in summary["arms"] if "bandit" in a]
    if not arms:
        return None
    m = arms[0]["bandit"]["switches"]
    experts = any("regret_best_expert" in a["bandit"] for a in arms)
    table = Table(title="K-action arms: regret on their own feedback, and the bounds in expectation",
                  caption="vs best action: against the best single action in hindsight; vs m-switch: against "
                          f"the best action sequence with at most m = {m} switch(es) (the run's shifts)"
                          + ("; vs best expert: against exp4's best expert" if experts else "")
                          + ". An expected (E) bound speaks of the mean over runs: held when the seeds' mean "
                          "is at most the bound, exceeded when the whole 95% interval is above it, else "
                          "unclear",
                  caption_justify="left")
    columns = ["arm", "learner", "vs best action", "vs m-switch"] + (["vs best expert"] if experts else [])
    for column in columns + ["E bounds"]:
        table.add_column(column, justify="left" if column in ("arm", "learner", "E bounds") else "right",
                         no_wrap=column != "E bounds")
    for arm in arms:
        b = arm["bandit"]
        cells = [_pm(b["regret_best_fixed"]["mean"], b["regret_best_fixed"]["ci95"]),
                 _pm(b["regret_best_switching"]["mean"], b["regret_best_switching"]["ci95"])]
        if experts:
            e = b.get("regret_best_expert")
            cells.append("-" if e is None else _pm(e["mean"], e["ci95"]))
        bounds = "; ".join(f"{bound['name']} vs {bound['comparator']}: {bound['value']:,.1f}, "
                           f"{bound['verdict']}" for bound in b["bounds"]) or "none"
        table.add_row(f"{arm['learner']} / {arm['objective']}", b["algorithm"], *cells, bounds)
    return table


class _Rate(ProgressColumn):
    """Decisions per second of a seed's bar."""

    def render(self, task) -> Text:
        speed = task.speed
        return Text("" if speed is None else f"{speed:,.0f}/s", style="progress.data.speed")


def _run(args, console: Console, errors: Console) -> int:
    from lowstakes.runner import run

    scenario = load_scenario(args.scenario).with_overrides(seeds=args.seeds, horizon=args.horizon,
                                                           trace=args.trace)
    if scenario.sweep:
        errors.print(f"note: {args.scenario} has a sweep: block; `lowstakes run` runs the values written "
                     f"above it (`lowstakes sweep {args.scenario}` runs the grid)", highlight=False,
                     markup=False)
    # One bar per seed (decisions, decisions per second, time left), so a long run shows
    # where each seed is; seeds running in parallel workers advance side by side.
    with Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                  TextColumn("decisions"), _Rate(), TimeRemainingColumn(), console=errors,
                  disable=not errors.is_terminal, transient=True) as bar:
        tasks = [bar.add_task(f"{scenario.name} seed {seed}", total=scenario.horizon, start=False)
                 for seed in range(scenario.seeds)]

        def advance(seed, n):
            bar.start_task(tasks[seed])
            bar.advance(tasks[seed], n)

        result = run(scenario, out=args.out, workers=args.workers, progress=advance)
    console.print(summary_table(result.summary))
    paired = paired_table(result.summary)
    if paired is not None:
        console.print(paired)
    audit, forecasts = audit_table(result.summary)
    console.print(audit)
    for line in forecasts:
        console.print(line, highlight=False, markup=False, soft_wrap=True)
    guarantees, lines = guarantee_table(result.summary)
    if guarantees.row_count:
        console.print(guarantees)
    for line in lines:
        console.print(line, highlight=False, markup=False, soft_wrap=True)
    pools = pool_table(result.summary)
    if pools is not None:
        console.print(pools[0])
        for line in pools[1]:
            console.print(line, highlight=False, markup=False, soft_wrap=True)
    deceived = deception_table(result.summary)
    if deceived is not None:
        console.print(deceived)
    bandits = bandit_table(result.summary)
    if bandits is not None:
        console.print(bandits)
    console.print(f"run directory: {result.path}")
    return 0


def main(argv=None) -> int:
    args = _parser().parse_args(argv)
    # Piped output (logs, CI) gets a width that fits the table instead of rich's default 80.
    console = Console(width=None if sys.stdout.isatty() else 200)
    errors = Console(stderr=True)
    try:
        if args.command == "run":
            return _run(args, console, errors)
        if args.command == "sweep":
            return _sweep(args, console, errors)
        if args.command == "validate":
            return _validate(args, console, errors)
        if args.command == "list":
            return _list(console)
        if args.command == "schema":
            return _schema()
    except (HarmBoundError, LateFailure) as exc:
        _error(exc)
        return 1
    except (LowstakesError, FileExistsError) as exc:
        _error(exc)
        return 2
    except KeyboardInterrupt:
        _error("interrupted: finished tasks are saved; run the same command again to resume"
               if args.command == "sweep" else "interrupted: the partial run directory is marked INCOMPLETE")
        return 130
    except BrokenPipeError:  # the reader went away (e.g. `lowstakes schema | head`)
        sys.stderr.close()
        return 0
    except Exception as exc:  # noqa: BLE001 - the last resort: one line, the traceback in a file
        import tempfile
        import traceback

        with tempfile.NamedTemporaryFile("w", prefix="lowstakes-error-", suffix=".txt", delete=False) as log:
            traceback.print_exc(file=log)
        _error(f"unexpected {type(exc).__name__}: {exc}. This is a bug in lowstakes or in code the scenario "
               f"names (module:attribute); the traceback is in {log.name}")
        return 1
    return 2


if __name__ == "__main__":
    sys.exit(main())
