"""A simulation run as a PNG: answer rate per option under each policy, callers waiting.

Drawn as the period reports' charts are (hotline.reports.chart): matplotlib's object API on
the Agg canvas, Japanese labels in IPAexGothic by default, `lang="en"` for English and
option ids.
"""

from __future__ import annotations

import io
from typing import TYPE_CHECKING, Any

from hotline.reports.chart import LANGS, japanese_font, require
from hotline.simulate.model import NO_OPTION

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

WORDS = {
    "ja": {
        "rate": "応答率",
        "waiting": "待っている相談者",
        "hours": "経過時間 (時間)",
        "title": "シミュレーション",
        "pooled": "プール型 (本ルーター)",
        "silos": "選択肢別 (試行の方式)",
        "bound": "上限 (全回線が全相談)",
        "published": "試行の公表値 (合わせた目標)",
    },
    "en": {
        "rate": "answer rate",
        "waiting": "callers waiting",
        "hours": "hours from the start",
        "title": "simulation",
        "pooled": "pooled (this router)",
        "silos": "silos (as the trials ran)",
        "bound": "bound (any line, any caller)",
        "published": "published (the fit's target)",
    },
}
COLOURS = {"pooled": "#4c72b0", "silos": "#dd8452", "bound": "#55a868"}


def png(doc: dict[str, Any], names: dict[str, str], lang: str = "ja") -> bytes:
    """The chart of a run document (see hotline.simulate.cli); `names`: option id -> name."""
    buf = io.BytesIO()
    figure(doc, names, lang).savefig(buf, format="png")
    return buf.getvalue()


def figure(doc: dict[str, Any], names: dict[str, str], lang: str = "ja") -> Figure:
    """The chart as a matplotlib Figure (not yet drawn)."""
    require()
    from matplotlib.figure import Figure

    if lang not in LANGS:
        raise ValueError(f"unknown chart language {lang!r}; one of {', '.join(LANGS)}")
    w = WORDS[lang]
    font = {"fontproperties": japanese_font()} if lang == "ja" else {}
    fig = Figure(figsize=(10, 8), dpi=100, layout="constrained")
    rates = fig.add_subplot(2, 1, 1)
    _rates(rates, doc["runs"], names if lang == "ja" else {}, w, font)
    if "fit" in doc:  # `--fit`: the published rates it was fitted to, beside what it gives
        _targets(rates, doc["runs"], doc["fit"]["targets"], w, font)
    _waiting(fig.add_subplot(2, 1, 2), doc["runs"], doc.get("samples", {}), w, font)
    period = doc.get("period_name") if lang == "ja" else doc.get("period")
    fig.suptitle(f"{w['title']}: {period or ''}", **font)
    return fig


def _rates(
    ax: Axes,
    runs: list[dict[str, Any]],
    names: dict[str, str],
    w: dict[str, str],
    font: dict[str, Any],
) -> None:
    options = [o for o in runs[0]["options"] if o != NO_OPTION][::-1]
    height = 0.8 / len(runs)
    for i, run in enumerate(runs):
        ys = [k + i * height for k in range(len(options))]
        rates = [run["options"].get(o, {}).get("answer_rate", 0.0) for o in options]
        bars = ax.barh(
            ys,
            rates,
            height=height,
            label=w.get(run["policy"], run["policy"]),
            color=COLOURS.get(run["policy"]),
        )
        ax.bar_label(bars, labels=[f"{r:.1f}%" for r in rates], padding=2, fontsize=8)
    ax.set_yticks(
        [k + height * (len(runs) - 1) / 2 for k in range(len(options))],
        [names.get(o, o) for o in options],
    )
    for label in ax.get_yticklabels():
        label.set(**font)
    ax.set_xlim(0, 110)
    ax.set_xlabel(f"{w['rate']} (%)", **font)
    ax.legend(prop=font.get("fontproperties"), loc="best")


def _targets(
    ax: Axes,
    runs: list[dict[str, Any]],
    targets: dict[str, float],
    w: dict[str, str],
    font: dict[str, Any],
) -> None:
    """A black mark at each option's published rate, across the option's bars."""
    options = [o for o in runs[0]["options"] if o != NO_OPTION][::-1]
    height = 0.8 / len(runs)
    middle = height * (len(runs) - 1) / 2
    shown = [(targets[o], k + middle) for k, o in enumerate(options) if o in targets]
    ax.scatter(
        [x for x, _ in shown], [y for _, y in shown], marker="|", s=900, linewidths=2,
        color="black", label=w["published"], zorder=3,
    )  # fmt: skip
    ax.legend(prop=font.get("fontproperties"), loc="best")


def _waiting(
    ax: Axes,
    runs: list[dict[str, Any]],
    samples: dict[str, list[tuple[float, int]]],
    w: dict[str, str],
    font: dict[str, Any],
) -> None:
    for run in runs:
        hours: dict[int, list[int]] = {}
        for t, n in samples.get(run["policy"], []):
            hours.setdefault(int(t // 3600), []).append(n)  # the mean of each hour
        ax.plot(
            list(hours),
            [sum(v) / len(v) for v in hours.values()],
            label=w.get(run["policy"], run["policy"]),
            color=COLOURS.get(run["policy"]),
            linewidth=0.8,
        )
    ax.set_xlabel(w["hours"], **font)
    ax.set_ylabel(w["waiting"], **font)
    ax.legend(prop=font.get("fontproperties"), loc="upper right")
