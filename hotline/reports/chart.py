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
    _days_panel(fig.add_subplot(2, 1, 2), report, w, font)
    p = report["period"]
    name = p["name"] if lang == "ja" else p["id"]
    fig.suptitle(f"{name}: {w['answer_rate']} {report['answer_rate']:.1f}%", **font)
    return fig


def png(report: dict[str, Any], lang: str = "ja") -> bytes:
    """The chart as PNG bytes."""
    buf = io.BytesIO()
    figure(report, lang).savefig(buf, format="png")
    return buf.getvalue()


def _options_panel(
    ax: Axes, report: dict[str, Any], w: dict[str, str], font: dict[str, Any], lang: str
) -> None:
    options = [o for o in report["options"] if o["id"] != NONE]
    names = [o["name"] if lang == "ja" else o["id"] for o in options][::-1]
    rates = [o["answer_rate"] for o in options][::-1]
    bars = ax.barh(names, rates, color="#4c72b0")
    ax.bar_label(bars, labels=[f"{r:.1f}%" for r in rates], padding=3)
    ax.set_xlim(0, 110)
    ax.set_xlabel(f"{w['answer_rate']} (%)", **font)
    ax.set_title(f"{w['answer_rate']} / {w['options']}", **font)
    for label in ax.get_yticklabels():
        label.set(**font)


def _days_panel(ax: Axes, report: dict[str, Any], w: dict[str, str], font: dict[str, Any]) -> None:
    days = report["days"]
    x = list(range(len(days)))
    ax.bar(x, [d["calls"] for d in days], color="#c0c0c0", label=w["calls"])
    ax.bar(x, [d["connected"] for d in days], color="#55a868", label=w["connected"])
    step = max(len(days) // 10, 1)
    ax.set_xticks(x[::step], [d["date"][5:] for d in days][::step])
    ax.set_title(f"{w['calls']} / {w['connected']} ({w['days']})", **font)
    ax.legend(prop=font.get("fontproperties"))
