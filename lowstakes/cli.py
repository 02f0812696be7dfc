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
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from lowstakes.errors import HarmBoundError, LowstakesError
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
    sweep = commands.add_parser("sweep", help="run a grid of scenario variants, every seed; resumable")
    sweep.add_argument("scenario", type=Path, help="a scenario YAML file")
    sweep.add_argument("--set", dest="assignments", action="append", required=True, metavar="PATH=V1,V2",
                       help="a field and its values, e.g. stream.shifts.0.at=2000,6000 (repeatable)")
    sweep.add_argument("--out", type=Path, help="sweep directory (default sweeps/<name>)")
    sweep.add_argument("--workers", type=_positive, default=1, help="processes (default 1)")
    validate = commands.add_parser("validate", help="check scenario files without running them")
    validate.add_argument("scenarios", type=Path, nargs="+", metavar="FILE")
    commands.add_parser("list", help="what a scenario can name: sources, feedback, learners, ...")
    commands.add_parser("schema", help="print the JSON Schema of the scenario format (for editors)")
    return parser


def _sweep(args, console: Console) -> int:
    from lowstakes import metrics
    from lowstakes.sweep import parse_assignment, sweep

    grid = dict(parse_assignment(text) for text in args.assignments)
    scenario = load_scenario(args.scenario)
    out = args.out or Path("sweeps") / scenario.name
    result = sweep(args.scenario, grid, out, workers=args.workers)
    frame = __import__("pandas").read_parquet(out / "sweep.parquet")
    table = Table(title=f"sweep of {scenario.name}: regret (mean ± half-width of the 95% CI)")
    keys = [f"set.{p}" for p in grid] + ["learner", "objective"]
    for key in keys:
        table.add_column(key.removeprefix("set."))
    table.add_column("regret", justify="right")
    table.add_column("runs", justify="right")
    for values, group in frame.groupby(keys, sort=False):
        ci = metrics.mean_ci(group["regret"].to_numpy())
        table.add_row(*map(str, values), _pm(ci["mean"], ci["ci95"]), str(len(group)))
    console.print(table)
    console.print(f"{result['tasks']} tasks, {result['skipped']} already done (skipped), "
                  f"{len(result['failed'])} failed; sweep directory: {out}", highlight=False)
    for failure in result["failed"]:
        _error(f"cell {failure['cell']} seed {failure['seed']}: {failure['error']}")
    return 1 if result["failed"] else 0


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
            table.add_row(entry["name"], ", ".join(entry["params"]), entry["about"])
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
    if interval[0] is None:
        return f"{mean:,.1f}"
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
    table = Table(title=f"{summary['scenario']}: {summary['horizon']:,} decisions x {n} seed(s), "
                        f"B = {summary['harm_bound']}, regret vs {summary['comparator']}",
                  caption="\n".join(caption) or None, caption_justify="left")
    table.add_column("arm (learner / objective)")
    table.add_column("regret", justify="right")
    table.add_column("per decision", justify="right")
    asks = any(a["queries"]["mean"] < summary["horizon"] for a in summary["arms"])
    if asks:
        table.add_column("labels asked", justify="right")
    for k, at in enumerate(summary["shifts"]):
        table.add_column(f"shift {k} @{at}\nwindow cost", justify="right")
        table.add_column(f"shift {k}\nrecovery", justify="right")
    for arm in summary["arms"]:
        row = [f"{arm['learner']} / {arm['objective']}", _pm(arm["regret"], arm["regret_ci95"]),
               f"{arm['regret_per_decision']:.4f}"]
        if asks:
            row.append(_pm(arm["queries"]["mean"], arm["queries"]["ci95"]))
        for window in arm["windows"]:
            row.append(_pm(window["cost"], window["cost_ci95"]))
            median = window["recovery_median"]
            row.append("never" if median is None
                       else f"{median:,.0f} ({window['recovered']}/{n})")
        table.add_row(*row)
    return table


def audit_lines(summary: dict) -> str:
    """The low-stakes audit in plain words."""
    run = summary["audit"]
    verdict = "LOW-STAKES" if run["low_stakes"] else "NOT LOW-STAKES"
    lines = [f"low-stakes audit: {verdict} (rule: {run['rule']}); B = {summary['harm_bound']}, "
             f"largest harm seen {run['max_harm']:g}, worst 1% share up to {run['worst_1pct_share_max']:.0%}"]
    for arm in summary["arms"]:
        a = arm["audit"]
        line = (f"  {arm['learner']} / {arm['objective']}: worst 1% of decisions cause "
                f"{a['worst_1pct_share']:.0%} of the harm")
        if "catastrophes" in a:
            c = a["catastrophes"]
            line += (f"; {c['seen']} catastrophe(s) (harm > {c['threshold']:g}) in {c['decisions']:,} "
                     f"decisions: chance of at least one in the next {c['forecast_decisions']:,} = "
                     f"{c['chance_in_forecast']:.1%} (semi-informative prior, p0 = {c['p0']:g})")
        lines.append(line)
    return "\n".join(lines)


def pool_table(summary: dict) -> Table | None:
    """Expert arms: regret against the experts on the feedback (what theorems bound) and on
    the true harm, and each guaranteed bound with the seeds in which it held."""
    arms = [a for a in summary["arms"] if "pool" in a]
    if not arms:
        return None
    table = Table(title="expert arms: regret against the experts, and the bounds",
                  caption="proxy = on the arm's feedback; true = on the harm; "
                          "tracking = against the best expert sequence with m switches",
                  caption_justify="left")
    for column in ("arm", "algorithm", "proxy regret", "tracking regret", "true regret"):
        table.add_column(column, justify="left" if column in ("arm", "algorithm") else "right")
    table.add_column("bounds (value: held in seeds)")
    for arm in arms:
        pool = arm["pool"]
        held = "\n".join(
            f"{b['name']} vs {b['comparator']}: {b['value']:,.1f}: {b['held']}/{b['seeds']}"
            for b in pool["bounds"]) or "none applies"
        goodhart = [s["pool"]["goodhart"] for s in arm["seeds"] if s["pool"].get("goodhart")]
        if goodhart:
            above = sum(g["above"] for g in goodhart)
            held += (f"\nGoodhart line on true regret: {np.mean([g['value'] for g in goodhart]):,.1f}: "
                     f"true regret above it in {above}/{len(goodhart)}")
        table.add_row(f"{arm['learner']} / {arm['objective']}", pool["algorithm"],
                      _pm(pool["proxy_regret"]["mean"], pool["proxy_regret"]["ci95"]),
                      _pm(pool["tracking_regret"]["mean"], pool["tracking_regret"]["ci95"]),
                      _pm(pool["true_regret"]["mean"], pool["true_regret"]["ci95"]), held)
    return table


def _run(args, console: Console, errors: Console) -> int:
    from lowstakes.runner import run

    scenario = load_scenario(args.scenario).with_overrides(seeds=args.seeds, horizon=args.horizon)
    total = scenario.horizon * scenario.seeds
    with Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                  TextColumn("decisions"), TimeRemainingColumn(), console=errors,
                  disable=not errors.is_terminal, transient=True) as bar:
        task = bar.add_task(scenario.name, total=total)
        result = run(scenario, out=args.out, workers=args.workers,
                     progress=lambda n: bar.advance(task, n))
    console.print(summary_table(result.summary))
    console.print(audit_lines(result.summary), highlight=False, markup=False, soft_wrap=True)
    pools = pool_table(result.summary)
    if pools is not None:
        console.print(pools)
    console.print(f"run directory: {result.path}")
    return 0


def main(argv=None) -> int:
    args = _parser().parse_args(argv)
    # Piped output (logs, CI) gets a width that fits the table instead of rich's default 80.
    console = Console(width=None if sys.stdout.isatty() else 140)
    errors = Console(stderr=True)
    try:
        if args.command == "run":
            return _run(args, console, errors)
        if args.command == "sweep":
            return _sweep(args, console)
        if args.command == "validate":
            return _validate(args, console, errors)
        if args.command == "list":
            return _list(console)
        if args.command == "schema":
            return _schema()
    except HarmBoundError as exc:
        _error(exc)
        return 1
    except (LowstakesError, FileExistsError) as exc:
        _error(exc)
        return 2
    except KeyboardInterrupt:
        _error("interrupted: the partial run directory is marked INCOMPLETE")
        return 130
    except BrokenPipeError:  # the reader went away (e.g. `lowstakes schema | head`)
        sys.stderr.close()
        return 0
    return 2


if __name__ == "__main__":
    sys.exit(main())
