"""``latest.png``: the ratios per workload as bars (matplotlib)."""

from __future__ import annotations

from typing import Any

from bench.targets import IN_TREE_GOALS

INSTALL_HINT = "pip install -e .[bench]"


def available() -> str | None:
    """None when matplotlib can be imported, else what to do about it."""
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        return "matplotlib is not installed: %s" % INSTALL_HINT
    return None


def _label(r: dict[str, Any], key: str) -> str:
    v = r.get(key)
    if v is not None:
        return "%.2f" % v
    if key == "ratio_in_tree" and r.get("in_tree") and \
            r["in_tree"].get("status") == "FAILED":
        return "in-tree FAILED"
    return "n/a"


def _value(r: dict[str, Any], key: str) -> float:
    pair = r.get(key.replace("ratio_", "paired_"))
    v = pair["median"] if pair else r.get(key)
    return 0.0 if v is None or v == float("inf") else float(v)


def chart(summary: dict[str, Any], path: str, title: str) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = summary["rows"]
    n = len(rows)
    fig, ax = plt.subplots(figsize=(10, 0.55 * n + 1.8))
    ys = range(n)
    h = 0.38
    for offset, key, name, color in (
            (-h / 2, "ratio_in_tree", "ours / in-tree", "#2b7bba"),
            (h / 2, "ratio_floor", "ours / physical floor", "#f28e2b")):
        bars = ax.barh([y + offset for y in ys],
                       [_value(r, key) for r in rows], height=h,
                       color=color, label=name)
        for bar, r in zip(bars, rows, strict=True):
            shown = _label(r, key)
            if r.get(key.replace("ratio_", "paired_")):
                shown = "%.2f" % _value(r, key)
            ax.text(bar.get_width() + 0.03, bar.get_y()
                    + bar.get_height() / 2, shown, va="center", fontsize=8)
    marks = [(IN_TREE_GOALS[r["workload"]], y - h / 2)
             for y, r in zip(ys, rows, strict=True)
             if r["workload"] in IN_TREE_GOALS]
    if marks:
        ax.scatter([m[0] for m in marks], [m[1] for m in marks],
                   marker="D", s=22, color="black", zorder=3,
                   label="target, ours / in-tree")
    ax.axvline(1.0, color="black", linewidth=0.8)
    ax.set_yticks(list(ys))
    ax.set_yticklabels([r["label"] for r in rows], fontsize=9)
    ax.invert_yaxis()
    ax.set_xlabel("throughput ratio, paired per round, median; higher is "
                  "better (the 1 MiB row: 1/latency)", fontsize=8)
    ax.set_title(title, fontsize=10)
    ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110, format="png")
    plt.close(fig)
