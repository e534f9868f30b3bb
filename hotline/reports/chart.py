"""A period report as a PNG: answer rate per option, and calls and connected per day.

Labels are Japanese by default (応答率, 呼出件数, 接続完了, option names as in the menu), set in
IPAexGothic, which the `matplotlib-fontja` package ships: `pip install` alone draws them right
on any machine, whatever fonts it has. `lang="en"` draws English labels and option ids.
Both are the `charts` extra (`pip install -e '.[charts]'`, about 170 MB), which the service's
own environment (`scripts/serve`, the image) does not need: without it, asking for a chart
raises `NotInstalled` with one line saying how to add it (501 over HTTP), and the console's
report page shows that line instead of the image.
matplotlib is imported on first use (it is slow to import) and used through its object API
with the Agg canvas, and the font is given to each text, so no pyplot state is shared between
requests.
"""

from __future__ import annotations

import functools
import io
from typing import TYPE_CHECKING, Any

from hotline.errors import NotInstalled
from hotline.reports.definitions import FIGURES, NONE

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure
    from matplotlib.font_manager import FontProperties

LANGS = ("ja", "en")
WORDS = ("answer_rate", "calls", "connected", "options", "days")
# An option (or a period) without calls has no rate: drawn as no bar and a dash, never 0.0%,
# which would say every caller was lost.
NO_DATA = "–"
NO_CALLS = {"ja": "呼出なし", "en": "no calls"}
INSIDE_FROM = 80.0  # a rate from here on is labelled inside its bar, so the label never
# runs past the panel's right edge (100.0% would)
MISSING = (
    "charts are not installed: add the charts extra (matplotlib and its Japanese font) with "
    "`.venv/bin/pip install -e '.[charts]'` (scripts/test's environment has it)"
)


def available() -> bool:
    """Are matplotlib and its Japanese font installed (the `charts` extra)?"""
    try:
        import matplotlib  # noqa: F401
        import matplotlib_fontja  # noqa: F401
    except ImportError:
        return False
    return True


def require() -> None:
    """Raise `NotInstalled` (one line: how to add the charts extra) when it is missing."""
    if not available():
        raise NotInstalled(MISSING)


@functools.cache
def japanese_font() -> FontProperties:
    """IPAexGothic from matplotlib-fontja (Japanese and Latin glyphs in one font)."""
    # Importing matplotlib_fontja also makes IPAexGothic matplotlib's default family; the
    # charts are the only matplotlib users here, and each text gets the font explicitly.
    from matplotlib.font_manager import FontProperties
    from matplotlib_fontja import get_font_ttf_path

    return FontProperties(fname=get_font_ttf_path())


def words(lang: str) -> dict[str, str]:
    """The chart's words in `lang` ("ja" or "en"), from the one list of figure names."""
    if lang not in LANGS:
        raise ValueError(f"unknown chart language {lang!r}; one of {', '.join(LANGS)}")
    return {k: FIGURES[k].ja if lang == "ja" else FIGURES[k].en for k in WORDS}


def figure(report: dict[str, Any], lang: str = "ja") -> Figure:
    """The chart as a matplotlib Figure (not yet drawn)."""
    require()
    from matplotlib.figure import Figure

    w = words(lang)
    font = {"fontproperties": japanese_font()} if lang == "ja" else {}
    fig = Figure(figsize=(10, 8), dpi=100, layout="constrained")
    _options_panel(fig.add_subplot(2, 1, 1), report, w, font, lang)
    _days_panel(fig.add_subplot(2, 1, 2), report, w, font, lang)
    p = report["period"]
    name = p["name"] if lang == "ja" else p["id"]
    rate = f"{report['answer_rate']:.1f}%" if report["calls"] else f"{NO_DATA} ({NO_CALLS[lang]})"
    fig.suptitle(f"{name}: {w['answer_rate']} {rate}", **font)
    return fig


def png(report: dict[str, Any], lang: str = "ja") -> bytes:
    """The chart as PNG bytes."""
    buf = io.BytesIO()
    figure(report, lang).savefig(buf, format="png")
    return buf.getvalue()


def _options_panel(
    ax: Axes, report: dict[str, Any], w: dict[str, str], font: dict[str, Any], lang: str
) -> None:
    options = [o for o in report["options"] if o["id"] != NONE][::-1]
    names = [o["name"] if lang == "ja" else o["id"] for o in options]
    rates = [o["answer_rate"] if o["calls"] else 0.0 for o in options]
    ax.barh(names, rates, color="#4c72b0")
    for y, (o, rate) in enumerate(zip(options, rates, strict=True)):
        if not o["calls"]:
            ax.text(1, y, f"{NO_DATA} ({NO_CALLS[lang]})", va="center", color="#606060", **font)
        elif rate >= INSIDE_FROM:
            ax.text(rate - 1, y, f"{rate:.1f}%", va="center", ha="right", color="white")
        else:
            ax.text(rate + 1, y, f"{rate:.1f}%", va="center", ha="left")
    ax.set_xlim(0, 100)
    ax.set_xlabel(f"{w['answer_rate']} (%)", **font)
    ax.set_title(f"{w['answer_rate']} / {w['options']}", **font)
    for label in ax.get_yticklabels():
        label.set(**font)


def _days_panel(
    ax: Axes, report: dict[str, Any], w: dict[str, str], font: dict[str, Any], lang: str
) -> None:
    from matplotlib.ticker import MaxNLocator

    days = report["days"]
    x = list(range(len(days)))
    calls = [d["calls"] for d in days]
    ax.bar(x, calls, color="#c0c0c0", label=w["calls"])
    ax.bar(x, [d["connected"] for d in days], color="#55a868", label=w["connected"])
    step = max(len(days) // 10, 1)
    ax.set_xticks(x[::step], [d["date"][5:] for d in days][::step])
    # Counts: whole numbers from 0, and an empty period's axis 0 to 1, not -0.04 to 0.04.
    ax.set_ylim(0, max(max(calls, default=0) * 1.05, 1))
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    if not any(calls):
        ax.text(0.5, 0.5, NO_CALLS[lang], transform=ax.transAxes, ha="center", va="center",
                color="#606060", **font)  # fmt: skip
    ax.set_title(f"{w['calls']} / {w['connected']} ({w['days']})", **font)
    # Beside the panel, not over its bars.
    ax.legend(
        prop=font.get("fontproperties"), loc="upper left", bbox_to_anchor=(1.0, 1.0),
        frameon=False,
    )  # fmt: skip
