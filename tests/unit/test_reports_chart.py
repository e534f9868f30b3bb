"""The period chart: Japanese labels by default, drawn with real glyphs on any machine."""

from __future__ import annotations

import os
import warnings
from pathlib import Path
from typing import Any

import pytest
from matplotlib import font_manager
from matplotlib.figure import Figure
from matplotlib.ft2font import FT2Font

from hotline.config import HotlineConfig
from hotline.reports import chart, queries, report

PNG = b"\x89PNG\r\n\x1a\n"


def period_5(cfg: HotlineConfig) -> dict[str, Any]:
    """第5期 with a few calls: loneliness 3 of 4 connected, women 1 of 2, on two days."""

    def group(option: str, day: str, calls: int, connected: int) -> dict[str, Any]:
        counts = dict.fromkeys((*queries.COUNTS, *queries.ANON, *queries.CALLBACKS), 0)
        counts.update(calls=calls, connected=connected)
        return {"option": option, "entry": "9999", "day": day, **counts}

    groups = [
        group("loneliness", "2023-12-22", 3, 2),
        group("loneliness", "2023-12-23", 1, 1),
        group("women", "2023-12-23", 2, 1),
    ]
    info = report.find(cfg, "period_5")
    return report.assemble(
        cfg, info, groups=groups, callers=(6, 4), waits=[], serious=0, ages={}, kinds={}
    )


def texts(fig: Figure) -> list[tuple[str, Any]]:
    """Every text of the chart that has words (not only digits), with its font."""
    found = list(fig.texts)  # the title
    for ax in fig.axes:
        found += [ax.title, ax.xaxis.label, *ax.get_yticklabels()]
        legend = ax.get_legend()
        if legend is not None:
            found += legend.get_texts()
    return [(t.get_text(), t.get_fontproperties()) for t in found if t.get_text()]


def render(data: dict[str, Any], lang: str, name: str) -> bytes:
    """The PNG, failing on any missing glyph (matplotlib warns, then draws a box)."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        png = chart.png(data, lang)
    # HOTLINE_CHARTS=/some/dir keeps the PNGs to look at.
    keep = os.environ.get("HOTLINE_CHARTS")
    if keep:
        Path(keep).mkdir(parents=True, exist_ok=True)
        (Path(keep) / name).write_bytes(png)
    return png


def test_the_chart_is_labelled_in_japanese_by_default(cfg: HotlineConfig) -> None:
    data = period_5(cfg)
    labelled = dict(texts(chart.figure(data)))
    joined = " ".join(labelled)
    assert "第5期: 応答率 66.7%" in labelled
    for word in ("応答率", "呼出件数", "接続完了", "選択肢別", "日別"):
        assert word in joined
    # Options as the menu names them, from the top in the report's order.
    names = [o["name"] for o in data["options"] if o["id"] != "none"]
    assert "孤独・孤立でお悩みの方" in names and "女性の悩み" in names
    ticks = [t.get_text() for t in chart.figure(data).axes[0].get_yticklabels()]
    assert ticks[::-1] == names
    assert render(data, "ja", "period_5_ja.png").startswith(PNG)


def test_every_japanese_character_has_a_glyph_in_the_chart_font(cfg: HotlineConfig) -> None:
    for text, props in texts(chart.figure(period_5(cfg))):
        path = props.get_file() or font_manager.findfont(props)
        font = FT2Font(path)
        missing = [c for c in text if not c.isspace() and font.get_char_index(ord(c)) == 0]
        assert not missing, f"{text!r}: no glyph for {missing} in {path}"


def test_english_labels_and_option_ids_on_request(cfg: HotlineConfig) -> None:
    data = period_5(cfg)
    labelled = dict(texts(chart.figure(data, "en")))
    assert "period_5: answer rate 66.7%" in labelled
    assert {"loneliness", "women", "calls", "connected"} <= set(labelled)
    assert not [t for t in labelled if any(ord(c) > 0x2FFF for c in t)], labelled
    assert render(data, "en", "period_5_en.png").startswith(PNG)


def test_an_unknown_language_is_refused(cfg: HotlineConfig) -> None:
    with pytest.raises(ValueError, match="one of ja, en"):
        chart.png(period_5(cfg), "fr")


def empty(data: dict[str, Any]) -> dict[str, Any]:
    """The same period without a call."""
    for o in data["options"]:
        o.update(calls=0, connected=0, answer_rate=0.0)
    for d in data["days"]:
        d.update(calls=0, connected=0, answer_rate=0.0)
    data.update(calls=0, connected=0, answer_rate=0.0)
    return data


def drawn(data: dict[str, Any], lang: str = "ja") -> tuple[Figure, Any]:
    """The figure laid out and drawn, and its renderer (for the texts' extents)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    fig = chart.figure(data, lang)
    renderer = FigureCanvasAgg(fig).get_renderer()
    fig.draw(renderer)
    return fig, renderer


def test_an_empty_periods_counts_start_at_zero_and_say_no_calls(cfg: HotlineConfig) -> None:
    fig, _ = drawn(empty(period_5(cfg)))
    days = fig.axes[1]
    bottom, top = days.get_ylim()
    assert bottom == 0 and top >= 1  # not -0.04 to 0.04
    assert all(float(t) == int(t) for t in days.get_yticks() if bottom <= t <= top)
    assert "呼出なし" in [t.get_text() for t in days.texts]
    assert fig.texts[0].get_text() == "第5期: 応答率 – (呼出なし)"


def test_an_option_without_calls_is_a_dash_not_zero_percent(cfg: HotlineConfig) -> None:
    data = period_5(cfg)
    fig, _ = drawn(data)
    options = fig.axes[0]
    labels = sorted(options.texts, key=lambda t: t.get_position()[1])  # bottom up, as ticks
    names = [t.get_text() for t in options.get_yticklabels()]
    shown = dict(zip(names, [t.get_text() for t in labels], strict=True))
    assert shown["孤独・孤立でお悩みの方"] == "75.0%" and shown["女性の悩み"] == "50.0%"
    assert shown["18歳以下の方"] == "– (呼出なし)"  # no calls: no rate
    assert "0.0%" not in shown.values()
    lost = [o for o in data["options"] if o["id"] == "women"][0]
    lost.update(connected=0, answer_rate=0.0)  # calls, none connected: a real 0.0%
    fig, _ = drawn(data)
    assert "0.0%" in [t.get_text() for t in fig.axes[0].texts]


@pytest.mark.parametrize("lang", ["ja", "en"])
def test_every_text_is_inside_the_image_and_the_legend_covers_no_bar(
    cfg: HotlineConfig, lang: str
) -> None:
    data = period_5(cfg)
    data["options"][0].update(calls=3, connected=3, answer_rate=100.0)  # the widest label
    fig, renderer = drawn(data, lang)
    image = fig.bbox
    for ax in fig.axes:
        for t in [*ax.texts, *ax.get_yticklabels(), *ax.get_xticklabels(), ax.title]:
            box = t.get_window_extent(renderer)
            inside = image.x0 <= box.x0 and box.x1 <= image.x1 and image.y0 <= box.y0
            assert inside and box.y1 <= image.y1, f"{t.get_text()!r} leaves the image: {box}"
        legend = ax.get_legend()
        if legend is None:
            continue
        area = legend.get_window_extent(renderer)
        covered = [p for p in ax.patches if p.get_window_extent(renderer).overlaps(area)]
        covered += [t for t in ax.texts if t.get_window_extent(renderer).overlaps(area)]
        assert covered == [], "the legend covers a bar or a bar's label"
