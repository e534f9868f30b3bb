"""Period reports as text: a table with Japanese labels, tidy CSV, or JSON.

The table pads by display width (a kanji takes two columns in a terminal), so columns line up
under Japanese labels.
"""

from __future__ import annotations

import csv
import io
import json
import unicodedata
from collections.abc import Iterable, Iterator
from typing import Any

from hotline.reports.conference import MODES, SUPERVISION_MODES, TARGET_NAMES, TARGETS
from hotline.reports.definitions import CALLBACK_OUTCOMES, FIGURES, STAGES

Report = dict[str, Any]
SCALARS = ("calls", "connected", "answer_rate", "closed", "serious_cases")


def ja(key: str) -> str:
    return FIGURES[key].ja


def width(text: str) -> int:
    return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text)


def pad(text: str, cols: int, right: bool = False) -> str:
    space = " " * max(cols - width(text), 0)
    return space + text if right else text + space


def num(value: Any) -> str:
    return f"{value:,}" if isinstance(value, int) else f"{value}"


def pct(value: float) -> str:
    return f"{value:.1f}%"


def grid(header: list[str], rows: list[list[str]], indent: str = "  ") -> list[str]:
    cols = [max(width(r[i]) for r in [header, *rows]) for i in range(len(header))]
    out = []
    for r in [header, *rows]:
        cells = [pad(c, cols[i], right=i > 0) for i, c in enumerate(r)]
        out.append(indent + "  ".join(cells).rstrip())
    return out


def title(report: Report) -> str:
    p = report["period"]
    if not p["start"]:
        return f"{p['name']}（{p['id']}） どの期間にも属さない呼出"
    span = f"{p['start']} 〜 {p['end']}（終了時刻を含まない）"
    return f"{p['name']}（{p['id']}） {span}"


def _summary(r: Report) -> list[list[str]]:
    w, u, a = r["wait_seconds"], r["unique_callers"], r["abandoned"]
    rows = [[ja("calls"), num(r["calls"])], [ja("connected"), num(r["connected"])]]
    rows += [[ja("answer_rate"), pct(r["answer_rate"])], [ja("abandoned"), num(a["total"])]]
    rows += [["  " + ja(f"abandoned_{s}"), num(a[s])] for s in STAGES]
    rows += [[ja("closed"), num(r["closed"])], [ja("serious_cases"), num(r["serious_cases"])]]
    rows += [[ja("wait_median"), num(w["median"])], [ja("wait_p90"), num(w["p90"])]]
    rows += [[ja("caller_days"), num(u["caller_days"])]]
    rows += [[ja("caller_days_connected"), num(u["connected"])]]
    rows += [[ja("caller_answer_rate"), pct(u["answer_rate"])]]
    rows += [[ja(f"callbacks_{o}"), num(r["callbacks"][o])] for o in CALLBACK_OUTCOMES]
    return rows + [[label, num(value)] for label, value in _conference(r["conference"])]


def _conference(c: dict[str, Any]) -> list[tuple[str, int]]:
    """The conference calls' figures as (label, count) rows, in the table's order."""
    t, e, s = c["transfers"], c["emergency"], c["supervisions"]
    rows = [(ja("holds"), c["holds"]), (ja("transfers"), t["total"])]
    rows += [("  " + ja(f"transfers_{m}"), t[m]) for m in MODES]
    rows += [(f"  転送先：{TARGET_NAMES[k]}", sum(t["by_target"][k].values())) for k in TARGETS]
    rows += [(ja("three_way"), c["three_way"]["total"])]
    rows += [(ja("emergency_escalations"), e["escalations"])]
    rows += [("  " + ja(f"emergency_{k}"), e[k]) for k in ("connected", "failed")]
    rows += [(ja("supervisions"), s["total"])]
    return rows + [("  " + ja(f"supervisions_{m}"), s[m]) for m in SUPERVISION_MODES]


def _counted(items: list[dict[str, Any]], first: str) -> list[str]:
    header = [first, ja("calls"), ja("connected"), ja("answer_rate")]
    rows = [[i["name"], num(i["calls"]), num(i["connected"]), pct(i["answer_rate"])] for i in items]
    return grid(header, rows)


def _tally(counts: dict[str, int], first: str) -> list[str]:
    if not counts:
        return ["  （記録なし）"]
    return grid([first, "件数"], [[k, num(v)] for k, v in counts.items()])


def table(report: Report) -> str:
    out = [title(report), *grid(["項目", "値"], _summary(report)), ""]
    options = report["options"]
    head = ["選択肢", ja("calls"), ja("connected"), ja("answer_rate"), "放棄", ja("closed")]
    rows = [
        [o["name"], *(num(o[k]) for k in ("calls", "connected")), pct(o["answer_rate"])]
        + [num(o["abandoned"]), num(o["closed"])]
        for o in options
    ]
    out += [ja("options"), *grid(head, rows), ""]
    out += [ja("entries"), *_counted(report["entries"], "番号"), ""]
    days = [{**d, "name": d["date"]} for d in report["days"]]
    out += [ja("days"), *_counted(days, "日付"), ""]
    out += [ja("age_groups"), *_tally(report["age_groups"], "年代"), ""]
    out += [ja("categories"), *_tally(report["categories"], "相談内容")]
    return "\n".join(out) + "\n"


def table_all(reports: list[Report]) -> str:
    """Every period side by side: one column per period."""
    header = ["項目", *(r["period"]["name"] for r in reports)]
    cols = [[row[1] for row in _summary(r)] for r in reports]
    rows = [[label, *(c[i] for c in cols)] for i, label in enumerate(_row_labels(reports))]
    rows += _option_rates(reports)
    return "\n".join(grid(header, rows, indent="")) + "\n"


def _row_labels(reports: list[Report]) -> list[str]:
    return [row[0] for row in _summary(reports[0])] if reports else []


def _option_rates(reports: list[Report]) -> list[list[str]]:
    names: dict[str, str] = {}
    for r in reports:
        names.update({o["id"]: o["name"] for o in r["options"] if o["id"] != "none"})
    rows = []
    for oid, name in names.items():
        cells = []
        for r in reports:
            o = next((o for o in r["options"] if o["id"] == oid), None)
            cells.append(pct(o["answer_rate"]) if o and o["calls"] else "-")
        rows.append([f"{ja('answer_rate')}：{name}", *cells])
    return rows


# -- CSV: one figure per line, so every period and section fits one shape ---------------------
CSV_HEADER = ["period", "section", "item", "item_name", "figure", "figure_ja", "value"]


def _tidy(r: Report) -> Iterator[list[Any]]:
    pid = r["period"]["id"]
    for key in SCALARS:
        yield [pid, "total", "", "", key, ja(key), r[key]]
    for stage in ("total", *STAGES):
        key = "abandoned" if stage == "total" else f"abandoned_{stage}"
        yield [pid, "total", "", "", key, ja(key), r["abandoned"][stage]]
    for key, value in (("wait_median", "median"), ("wait_p90", "p90")):
        yield [pid, "total", "", "", key, ja(key), r["wait_seconds"][value]]
    u = r["unique_callers"]
    for key, value in (("caller_days", "caller_days"), ("caller_days_connected", "connected")):
        yield [pid, "total", "", "", key, ja(key), u[value]]
    yield [pid, "total", "", "", "caller_answer_rate", ja("caller_answer_rate"), u["answer_rate"]]
    for outcome in CALLBACK_OUTCOMES:
        key = f"callbacks_{outcome}"
        yield [pid, "total", "", "", key, ja(key), r["callbacks"][outcome]]
    yield from _tidy_conference(pid, r["conference"])
    for section, items in (("option", r["options"]), ("entry", r["entries"])):
        for i in items:
            for key in ("calls", "connected", "answer_rate"):
                yield [pid, section, i["id"], i["name"], key, ja(key), i[key]]
    for day in r["days"]:
        for key in ("calls", "connected", "answer_rate"):
            yield [pid, "day", day["date"], day["date"], key, ja(key), day[key]]
    for section, key in (("age_group", "age_groups"), ("category", "categories")):
        for name, n in r[key].items():
            yield [pid, section, name, name, "records", "件数", n]


def _tidy_conference(pid: str, c: dict[str, Any]) -> Iterator[list[Any]]:
    t, e, s = c["transfers"], c["emergency"], c["supervisions"]
    totals = {"holds": c["holds"], "transfers": t["total"], "three_way": c["three_way"]["total"]}
    totals |= {f"transfers_{m}": t[m] for m in MODES}
    totals |= {f"emergency_{k}": e[k] for k in ("escalations", "connected", "failed")}
    totals |= {"supervisions": s["total"]}
    totals |= {f"supervisions_{m}": s[m] for m in SUPERVISION_MODES}
    for key, value in totals.items():
        yield [pid, "total", "", "", key, ja(key), value]
    for k in TARGETS:
        for m in MODES:
            key = f"transfers_{m}"
            yield [pid, "transfer_target", k, TARGET_NAMES[k], key, ja(key), t["by_target"][k][m]]
        n = c["three_way"]["by_target"][k]
        yield [pid, "three_way_target", k, TARGET_NAMES[k], "three_way", ja("three_way"), n]


def to_csv(reports: Iterable[Report]) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(CSV_HEADER)
    for r in reports:
        writer.writerows(_tidy(r))
    return buf.getvalue()


def to_json(data: Report | list[Report]) -> str:
    return json.dumps(data, ensure_ascii=False, indent=2) + "\n"
