"""Mean over seeds and its 95% interval, laid out like the paper's Table 2 (pure functions, no I/O)."""

from __future__ import annotations

from typing import Any

from pretrain.diagnosis.backgrounds import TITLES, VARIANTS
from pretrain.utils.stats import mean_interval, mean_std

from .settings import TABLE2, Panel

# result key -> row name; "localization" (embedded set only): % of class-gradient energy on the object.
METRICS = {"linear_top1": "linear top-1", "knn_top1": "kNN top-1", "localization": "localization score"}
# The backgrounds benchmark (embedded set only): % top-1 on each variant, BG-Gap (points), challenge accuracy (%).
BACKGROUND_METRICS = {
    **{f"bg_{v}": TITLES[v] for v in VARIANTS},
    "bg_gap": "BG-Gap",
    "bg_challenge": "challenge",
}


def background_metrics(scored: dict[str, Any]) -> dict[str, float]:
    """A model's backgrounds benchmark result (:func:`pretrain.diagnosis.background_benchmark.evaluate`) as the
    flat keys of :data:`BACKGROUND_METRICS`."""
    return {
        **{f"bg_{v}": scored["accuracy"][v] for v in VARIANTS},
        "bg_gap": scored["bg_gap"],
        "bg_challenge": scored["challenge"]["accuracy"],
    }


def aggregate(runs: dict[str, list[dict[str, Any]]]) -> dict[str, dict[str, Any]]:
    """setting -> {metric: {"mean", "std", "low", "high", "values"}, "seeds": n} from each run's final metrics.

    ``low``/``high``: the 95% t interval of the mean (the mean itself for one seed)."""
    out: dict[str, dict[str, Any]] = {}
    for setting, results in runs.items():
        if not results:
            continue
        entry: dict[str, Any] = {"seeds": len(results)}
        for key in (*METRICS, *BACKGROUND_METRICS):
            values = [r[key] for r in results if key in r]
            if values:
                mean, std = mean_std(values)
                _, low, high = mean_interval(values)
                entry[key] = {"mean": mean, "std": std, "low": low, "high": high, "values": values}
        out[setting] = entry
    return out


def _cell(entry: dict[str, Any] | None, key: str) -> str:
    if entry is None or key not in entry:
        return "-"
    m = entry[key]
    return f"{m['mean']:.1f}" if len(m["values"]) == 1 else f"{m['mean']:.1f} ± {m['high'] - m['mean']:.1f}"


def format_panel(panel: Panel, summary: dict[str, dict[str, Any]]) -> str:
    """One panel as a markdown table: a column per setting, a row per metric, the paper's row last.

    A cell is the mean over seeds ± the half-width of its 95% t interval (no interval for one seed)."""
    header = ["", *(c.label for c in panel.columns)]
    rows = [
        [f"{name} here", *(_cell(summary.get(c.setting), key) for c in panel.columns)]
        for key, name in METRICS.items()
        if key != "localization" or any(key in summary.get(c.setting, {}) for c in panel.columns)
    ]
    rows.append(["paper (ImageNet linear)", *(f"{c.paper:.1f}" for c in panel.columns)])
    lines = [f"**{panel.title}**", "", "| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines)


def format_tables(summary: dict[str, dict[str, Any]], panels: tuple[Panel, ...] = TABLE2) -> str:
    """All panels, blank-line separated; a setting without runs shows "-"."""
    return "\n\n".join(format_panel(p, summary) for p in panels)


def format_backgrounds(summary: dict[str, dict[str, Any]], settings: list[str]) -> str:
    """The backgrounds benchmark as a markdown table, a row per setting with runs scored on it, a column per
    :data:`BACKGROUND_METRICS` (mean over seeds ± half its 95% t interval); "" where no run was scored."""
    rows = [s for s in settings if "bg_gap" in summary.get(s, {})]
    if not rows:
        return ""
    head = ["setting", "seeds", *BACKGROUND_METRICS.values()]
    lines = ["| " + " | ".join(head) + " |", "|---" * len(head) + "|"]
    for s in rows:
        cells = [_cell(summary[s], key) for key in BACKGROUND_METRICS]
        lines.append(f"| {s} | {len(summary[s]['bg_gap']['values'])} | " + " | ".join(cells) + " |")
    return "\n".join(lines)
