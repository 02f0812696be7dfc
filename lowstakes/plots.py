"""Figures of a run, drawn from its curves: cumulative regret, the transition windows,
oversight, and the bounds.

They take the run's curves (``lowstakes.load(dir).curves``, a few hundred points per seed
and arm, kept whatever the trace setting) or bound curves (``.bounds``) and the summary
dict, so notebooks can redraw them from any run directory.
"""

from __future__ import annotations

import numpy as np
import seaborn as sns

# Figures are built on matplotlib.figure.Figure, never through pyplot: no backend is chosen
# or changed, so the command needs no display and notebooks keep their inline plots.
from matplotlib.figure import Figure
from scipy import special

from lowstakes.grid import short_names

__all__ = ["regret_figure", "transition_figure", "bounds_figure", "oversight_figure", "save_figures",
           "sweep_figure", "save_sweep_figures"]

LINESTYLES = ["-", "--", ":", "-."]


def _arm_styles(summary):
    learners = list(dict.fromkeys(a["learner"] for a in summary["arms"]))
    objectives = list(dict.fromkeys(a["objective"] for a in summary["arms"]))
    colors = dict(zip(learners, sns.color_palette("colorblind", len(learners)), strict=True))
    styles = {o: LINESTYLES[i % len(LINESTYLES)] for i, o in enumerate(objectives)}
    return colors, styles


def _band(curves: np.ndarray):
    """Mean and 95% t-interval across seeds (rows) at each point."""
    mean = curves.mean(axis=0)
    if len(curves) < 2:
        return mean, mean, mean
    half = special.stdtrit(len(curves) - 1, 0.975) * curves.std(axis=0, ddof=1) / np.sqrt(len(curves))
    return mean, mean - half, mean + half


def _by_arm(curves, name):
    """{(learner, objective): (steps, array (seeds, points))} of one curve of the run's
    ``curves.parquet`` (:attr:`lowstakes.results.RunResult.curves`)."""
    chosen = curves[curves["curve"] == name].sort_values(["learner", "objective", "seed", "step"])
    out = {}
    for (learner, objective), group in chosen.groupby(["learner", "objective"], sort=False):
        seeds = group["seed"].nunique()
        values = group["value"].to_numpy(float).reshape(seeds, -1)
        out[(learner, objective)] = (group["step"].to_numpy()[: values.shape[1]], values)
    return out


def _mark_shifts(ax, summary, shift_widths, offset=0):
    for k, at in enumerate(summary["shifts"]):
        width = shift_widths[k] if shift_widths else 1
        if width > 1:
            ax.axvspan(at - offset, at + width - offset, color="0.85", zorder=0)
        ax.axvline(at - offset, color="0.4", linestyle=":", linewidth=1, zorder=1)


def regret_figure(curves, summary, shift_widths=None):
    """Cumulative regret per arm, mean across seeds with a 95% band; shifts marked."""
    colors, styles = _arm_styles(summary)
    fig = Figure(figsize=(9, 5.2), layout="constrained")
    ax = fig.subplots()
    for (learner, objective), (steps, values) in _by_arm(curves, "regret").items():
        mean, lo, hi = _band(values)
        ax.plot(steps, mean, color=colors[learner], linestyle=styles[objective],
                label=f"{learner} / {objective}", linewidth=1.8)
        ax.fill_between(steps, lo, hi, color=colors[learner], alpha=0.18, linewidth=0)
    _mark_shifts(ax, summary, shift_widths)
    ax.axhline(0, color="0.2", linewidth=0.6)
    n = len(summary["seeds"])
    ax.set(xlabel="decision", ylabel=f"cumulative regret (vs {summary['comparator']})",
           title=f"{summary['scenario']}: cumulative regret, mean of {n} seed{'s' * (n > 1)}"
                 + (" with 95% CI" if n > 1 else "")
                 + ("; dotted lines: shifts" if summary["shifts"] else ""))
    ax.legend(title="learner / objective", frameon=False, loc="upper left")
    return fig


def transition_figure(curves, summary, shift_widths=None):
    """Excess harm (trailing mean) around each shift, per arm; one panel per shift."""
    shifts = summary["shifts"]
    if not shifts:
        fig = Figure(figsize=(6, 2), layout="constrained")
        ax = fig.subplots()
        ax.text(0.5, 0.5, "no shifts in this scenario", ha="center", va="center")
        ax.set_axis_off()
        return fig
    colors, styles = _arm_styles(summary)
    smoothing = summary["windows"]["smoothing"]
    fig = Figure(figsize=(min(5 * len(shifts) + 2, 18), 4.6), layout="constrained")
    axes = fig.subplots(1, len(shifts), sharey=True, squeeze=False)
    for k, (ax, at) in enumerate(zip(axes[0], shifts, strict=True)):
        for (learner, objective), (steps, values) in _by_arm(curves, f"transition_{k}").items():
            mean, lo, hi = _band(values)
            ax.plot(steps - at, mean, color=colors[learner], linestyle=styles[objective],
                    label=f"{learner} / {objective}", linewidth=1.6)
            ax.fill_between(steps - at, lo, hi, color=colors[learner], alpha=0.15, linewidth=0)
        width = shift_widths[k] if shift_widths else 1
        if width > 1:
            ax.axvspan(0, width, color="0.85", zorder=0)
        ax.axvline(0, color="0.4", linestyle=":", linewidth=1)
        ax.axhline(0, color="0.2", linewidth=0.6)
        ax.set(title=f"shift {k} at decision {at}", xlabel="decisions since the shift")
    axes[0][0].set_ylabel(f"excess harm per decision\n(trailing mean over {smoothing})")
    handles, labels = axes[0][0].get_legend_handles_labels()
    fig.legend(handles, labels, title="learner / objective", frameon=False, fontsize=9,
               loc="outside right center")
    fig.suptitle(f"{summary['scenario']}: transition windows (excess harm over {summary['comparator']})")
    return fig


def summary_switches(summary, learner) -> int:
    arm = next(a for a in summary["arms"] if a["learner"] == learner)
    return arm["seeds"][0]["pool"]["switches"]


def _grid(fig, panels: int, columns: int = 3, sharey=False):
    """Axes for ``panels`` panels, at most ``columns`` a row (unused ones hidden)."""
    cols = min(columns, panels)
    rows = -(-panels // cols)
    axes = fig.subplots(rows, cols, squeeze=False, sharey=sharey).ravel()
    for ax in axes[panels:]:
        ax.set_visible(False)
    return axes[:panels]


def _draw_curves(ax, table, series):
    for column, label, color, style in series:
        if table[column].isna().all():
            continue
        pivot = table.pivot(index="seed", columns="step", values=column)
        mean, lo, hi = _band(pivot.to_numpy(float))
        ax.plot(pivot.columns, mean, color=color, linestyle=style, label=label, linewidth=1.8)
        if column != "bound":
            ax.fill_between(pivot.columns, lo, hi, color=color, alpha=0.15, linewidth=0)


def bounds_figure(curves, summary, shift_widths=None):
    """Per arm with a guarantee, its regret against the bound's comparator beside the bound,
    mean across seeds with a 95% band (at most three panels a row).

    Expert arms: cumulative regret on the feedback over the run, the bound, the regret on
    the true harm and the Goodhart lower bound. Linear arms (online gradient descent): in
    each transition window, from its start, the regret on the arm's own feedback against the
    window's best fixed linear model u*, the bound, and the window's true cost so far."""
    arms = list(dict.fromkeys(zip(curves["learner"], curves["objective"], strict=True)))
    cols = min(3, len(arms))
    rows = -(-len(arms) // cols)
    fig = Figure(figsize=(4.8 * cols + 0.6, 3.9 * rows + 1.2), layout="constrained")
    axes = _grid(fig, len(arms))
    palette = sns.color_palette("colorblind", 4)
    for ax, (learner, objective) in zip(axes, arms, strict=True):
        arm = curves[(curves["learner"] == learner) & (curves["objective"] == objective)]
        comparator = arm["bound_comparator"].iloc[0]
        if comparator == "u_star":
            series = (("proxy_regret", "regret on own feedback vs the window's u*", palette[0], "-"),
                      ("bound", "guaranteed bound (distance + step)", "0.1", "--"),
                      ("true_regret", "true cost of the window so far", palette[2], ":"))
            for _, window in arm.groupby("window", sort=True):
                _draw_curves(ax, window, series)
            title = f"{learner} / {objective}\n(OGD, per transition window, from its start)"
        else:
            measured = "tracking_regret" if comparator == "best_switching" else "proxy_regret"
            series = ((measured, "regret on feedback (vs the bound's comparator)", palette[0], "-"),
                      ("bound", "guaranteed bound", "0.1", "--"),
                      ("true_regret", "regret on true harm vs best fixed expert", palette[2], ":"),
                      ("goodhart", "Goodhart lower bound on true regret", palette[1], "-."))
            _draw_curves(ax, arm, series)
            versus = "best fixed expert"
            if comparator == "best_switching":
                versus = f"best sequence, {summary_switches(summary, learner)} switch(es)"
            title = f"{learner} / {objective}\n(feedback regret vs {versus})"
            if arm["bound"].isna().all():
                title = f"{learner} / {objective}\n(vs {versus}; no guaranteed bound applies)"
        _mark_shifts(ax, summary, shift_widths)
        ax.axhline(0, color="0.2", linewidth=0.6)
        ax.set_title(title, fontsize=10)
        ax.set(xlabel="decision", ylabel="cumulative regret")
    legend = {}
    for ax in axes:
        for handle, label in zip(*ax.get_legend_handles_labels(), strict=True):
            legend.setdefault(label, handle)
    # One panel is too narrow for the entries side by side: they go one under another.
    fig.legend(legend.values(), legend.keys(), frameon=False, loc="outside lower center",
               ncol=min(3, len(legend)) if cols > 1 else 1, fontsize=9)
    fig.suptitle(f"{summary['scenario']}: arms against their guaranteed bounds")
    return fig


def oversight_figure(curves, summary, shift_widths=None):
    """Query rate and the overseer's queue over time, per arm (mean across seeds)."""
    colors, styles = _arm_styles(summary)
    smoothing = summary["windows"]["smoothing"]
    fig = Figure(figsize=(9, 6.4), layout="constrained")
    axes = fig.subplots(2, 1, sharex=True)
    for ax, name in zip(axes, ("query_rate", "queue"), strict=True):
        for (learner, objective), (steps, values) in _by_arm(curves, name).items():
            ax.plot(steps, values.mean(axis=0), color=colors[learner], linestyle=styles[objective],
                    label=f"{learner} / {objective}", linewidth=1.6)
    for ax in axes:
        _mark_shifts(ax, summary, shift_widths)
    axes[0].set(ylabel=f"query rate\n(trailing mean over {smoothing})", ylim=(-0.02, 1.02))
    # A queue that falls behind grows into the thousands; short ones must stay visible.
    axes[1].set_yscale("symlog", linthresh=1.0)
    # Keep a queue that stays empty visible above the axis.
    axes[1].set_ylim(bottom=-0.1, top=max(2.0, axes[1].get_ylim()[1]))
    axes[1].set(ylabel="overseer queue at decision\n(trailing mean, symlog)", xlabel="decision")
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, title="learner / objective", frameon=False, loc="outside right center")
    fig.suptitle(f"{summary['scenario']}: labels asked for and the overseer's queue"
                 + ("; dotted lines: shifts" if summary["shifts"] else ""))
    return fig


def save_figures(curves, summary, directory, shift_widths=None, bounds=None) -> list:
    """Draw the figures into ``directory`` and return their paths. ``curves``: the run's
    curves (:attr:`lowstakes.results.RunResult.curves`); ``bounds.png`` only when
    ``bounds``, the arms' bound curves, are given."""
    sns.set_theme(style="whitegrid", context="notebook")
    paths = []
    figures = [("regret", regret_figure, curves), ("transition", transition_figure, curves)]
    if bounds is not None:
        figures.append(("bounds", bounds_figure, bounds))
    if "queries" in summary["arms"][0] and any(
            a["queries"]["mean"] < summary["horizon"] or "utilisation" in a["seeds"][0]
            for a in summary["arms"]):
        figures.append(("oversight", oversight_figure, curves))
    for name, draw, data in figures:
        fig = draw(data, summary, shift_widths)
        path = directory / f"{name}.png"
        fig.savefig(path, dpi=120)
        paths.append(path)
    return paths


# -- sweeps ------------------------------------------------------------------------------

#: What a sweep figure draws, when the rows have it: column -> axis label.
SWEEP_METRICS = {
    "regret": "regret",
    "transition_cost": "transition cost (all windows)",
    "window_0_recovery_censored": "recovery after shift 0 (decisions;\nnever recovered: the rest of the run)",
    "queries": "labels asked",
    "window_0_own_regret": "window 0: regret on own feedback\nand its guaranteed bound (dotted)",
    "window_0_bound_apriori": "window 0: a-priori bound\nD^2/(2 eta) + eta G^2 tau / 2",
}

#: Drawn in the same panel as the metric, dotted, mean across seeds: the bound beside the
#: regret it bounds.
COMPANIONS = {"window_0_own_regret": "window_0_bound"}

NON_NEGATIVE = {"window_0_recovery_censored", "queries"}


def _sweep_metrics(frame) -> dict:
    out = {}
    for column, label in SWEEP_METRICS.items():
        if column in frame and frame[column].nunique(dropna=True) > 1:
            out[column] = label
    return out


def _positions(values):
    """x positions of a swept field's values: the values themselves when they are numbers
    (sorted), else 0, 1, 2... in the order given. Returns ({value: x}, numeric)."""
    numeric = all(isinstance(v, int | float | np.number) and not isinstance(v, bool) for v in values)
    if numeric:
        return {v: v for v in sorted(values)}, True
    return {v: i for i, v in enumerate(values)}, False


def sweep_figure(frame, param: str, name: str = "sweep", max_rows: int = 6):
    """Each metric against the swept field ``param``: mean across seeds, 95% CI band, a line
    per arm. Other swept fields: one row of panels per combination of their values, up to
    ``max_rows``. Beyond that each seed's metric is first averaged over those combinations,
    so the band is still a CI across seeds (not the spread between cells); the title says so."""
    from lowstakes.metrics import aggregate

    column = f"set.{param}"
    others = [c for c in frame.columns if c.startswith("set.") and c != column]
    combos = frame[others].drop_duplicates().to_dict("records") if others else [{}]
    pooled = len(combos) > max_rows
    if pooled:
        combos, others = [{}], []
    chosen = _sweep_metrics(frame)
    short = short_names([c.removeprefix("set.") for c in frame.columns if c.startswith("set.")])
    summary = {"arms": frame[["learner", "objective"]].drop_duplicates().to_dict("records")}
    colors, styles = _arm_styles(summary)
    where, numeric = _positions(frame[column].drop_duplicates().tolist())
    values = list(where)
    fig = Figure(figsize=(4.2 * len(chosen) + 0.5, 3.3 * len(combos) + 1.4), layout="constrained")
    axes = np.atleast_2d(fig.subplots(len(combos), len(chosen), squeeze=False))
    for r, combo in enumerate(combos):
        cell_rows = frame
        for key, value in combo.items():
            cell_rows = cell_rows[cell_rows[key] == value]
        for c, (metric, label) in enumerate(chosen.items()):
            ax = axes[r, c]
            rows = cell_rows
            by = [column, "learner", "objective"]
            companion = COMPANIONS.get(metric)
            if pooled:
                columns = [metric] + ([companion] if companion in rows else [])
                rows = rows.groupby([*by, "seed"], sort=False)[columns].mean().reset_index()
            table = aggregate(rows, metric, by=by)
            if companion in rows:
                bound = aggregate(rows, companion, by=by)
                for (learner, _), arm in bound.groupby(["learner", "objective"], sort=False):
                    arm = arm.assign(x=arm[column].map(where)).sort_values("x")
                    ax.plot(arm["x"], arm["mean"], color=colors[learner], linestyle=":", linewidth=1.6,
                            marker="x", markersize=4)
            for (learner, objective), arm in table.groupby(["learner", "objective"], sort=False):
                arm = arm.assign(x=arm[column].map(where)).sort_values("x")
                ax.plot(arm["x"], arm["mean"], color=colors[learner], linestyle=styles[objective],
                        marker="o", markersize=4, label=f"{learner} / {objective}")
                # Recovery times and label counts cannot be negative; neither can their band.
                lo = arm["lo"].clip(lower=0) if metric in NON_NEGATIVE else arm["lo"]
                ax.fill_between(arm["x"], lo, arm["hi"], color=colors[learner], alpha=0.18, linewidth=0)
            if numeric and min(values) > 0 and max(values) / min(values) >= 20:
                ax.set_xscale("log")
            if not numeric:
                ax.set_xticks(list(where.values()), [str(v) for v in where])
            heading = ", ".join(f"{short[k.removeprefix('set.')]}={v}" for k, v in combo.items())
            ax.set(xlabel=short[param], ylabel=label)
            ax.set_title(heading or None, fontsize=9)
    seeds = frame.groupby([c for c in frame.columns if c.startswith("set.")] + ["learner", "objective"]
                          ).size().min()
    fig.suptitle(f"{name}: metrics against {param}, mean of {seeds} seed(s) with 95% CI"
                 + ("\neach seed averaged over the other swept fields (too many to draw a row each)"
                    if pooled else ""))
    handles, labels = axes[0, 0].get_legend_handles_labels()
    fig.legend(handles, labels, title="learner / objective", loc="outside lower center",
               ncol=min(4, len(labels)), frameon=False)
    return fig


def save_sweep_figures(frame, params, directory, name: str = "sweep") -> list:
    """``<directory>/<param>.png`` for each swept field given more than one value; returns
    the paths (none when the rows have no metric that varies)."""
    if not _sweep_metrics(frame):
        return []
    sns.set_theme(style="whitegrid", context="notebook")
    directory.mkdir(parents=True, exist_ok=True)
    paths = []
    for param in [p for p in params if frame[f"set.{p}"].nunique() > 1]:
        path = directory / f"{param}.png"
        sweep_figure(frame, param, name).savefig(path, dpi=110)
        paths.append(path)
    return paths
