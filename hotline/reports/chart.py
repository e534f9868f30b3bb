"""A period report as a PNG: answer rate per option, and calls and connected per day.

Japanese labels need a font with Japanese glyphs (e.g. Debian's fonts-noto-cjk). Without one
the chart still renders, with option ids and English labels instead of boxes for missing
glyphs. matplotlib is imported on first use (it is slow to import) and used through its
object API with the Agg canvas, so no global pyplot state is shared between requests.
"""

from __future__ import annotations

import functools
import io
from typing import Any

from hotline.reports.definitions import FIGURES

# Families with Japanese glyphs, best first; matplotlib lists installed fonts by family name.
CJK_FAMILIES = (
    "Noto Sans CJK JP",
    "Noto Sans JP",
    "IPAexGothic",
    "IPAGothic",
    "TakaoGothic",
    "VL Gothic",
    "Source Han Sans JP",
    "Noto Serif CJK JP",
)


@functools.cache
def cjk_font() -> str | None:
    """The first installed family with Japanese glyphs, or None."""
    from matplotlib import font_manager

    installed = {f.name for f in font_manager.fontManager.ttflist}
    return next((f for f in CJK_FAMILIES if f in installed), None)


def _words(japanese: bool) -> dict[str, str]:
    keys = ("answer_rate", "calls", "connected", "options", "days")
    return {k: FIGURES[k].ja if japanese else FIGURES[k].en for k in keys}


def png(report: dict[str, Any], font: str | None = "auto") -> bytes:
    """The chart as PNG bytes; font None forces the English fallback."""
    from matplotlib.figure import Figure

    family = cjk_font() if font == "auto" else font
    words = _words(family is not None)
    fig = Figure(figsize=(10, 8), dpi=100, layout="constrained")
    props = {"family": [family, "DejaVu Sans"]} if family else {}
    _options_panel(fig.add_subplot(2, 1, 1), report, words, props, family is not None)
    _days_panel(fig.add_subplot(2, 1, 2), report, words, props)
    p = report["period"]
    name = p["name"] if family else p["id"]
    fig.suptitle(f"{name}: {words['answer_rate']} {report['answer_rate']:.1f}%", **props)
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return buf.getvalue()


def _options_panel(ax, report, words, props, japanese: bool) -> None:  # type: ignore[no-untyped-def]
    options = [o for o in report["options"] if o["id"] != "none"]
    names = [o["name"] if japanese else o["id"] for o in options][::-1]
    rates = [o["answer_rate"] for o in options][::-1]
    bars = ax.barh(names, rates, color="#4c72b0")
    ax.bar_label(bars, labels=[f"{r:.1f}%" for r in rates], padding=3)
    ax.set_xlim(0, 110)
    ax.set_xlabel(f"{words['answer_rate']} (%)", **props)
    ax.set_title(f"{words['answer_rate']} / {words['options']}", **props)
    for label in ax.get_yticklabels():
        label.set(**props)


def _days_panel(ax, report, words, props) -> None:  # type: ignore[no-untyped-def]
    days = report["days"]
    x = list(range(len(days)))
    ax.bar(x, [d["calls"] for d in days], color="#c0c0c0", label=words["calls"])
    ax.bar(x, [d["connected"] for d in days], color="#55a868", label=words["connected"])
    step = max(len(days) // 10, 1)
    ax.set_xticks(x[::step], [d["date"][5:] for d in days][::step])
    ax.set_title(f"{words['calls']} / {words['connected']} ({words['days']})", **props)
    ax.legend(prop=props or None)
