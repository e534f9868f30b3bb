"""The service without the charts extra (`scripts/serve`'s environment, no matplotlib): the
report pages work, and where a chart was asked for, one line says how to add it; never a 500.

matplotlib's Japanese font package is made unimportable for the test (`sys.modules[name] =
None` is how Python marks a module that cannot be imported), as it is where it is not installed.
"""

from __future__ import annotations

import sys

import pytest

from hotline.auth.models import Role
from hotline.reports.chart import MISSING
from tests.conftest import Clock
from tests.service.test_console import connected_call, login, make_user
from tests.service.test_lines_api import bearer, make_key


@pytest.fixture
def no_charts(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "matplotlib_fontja", None)


@pytest.mark.usefixtures("no_charts")
async def test_the_report_page_says_how_to_add_charts(client, app, clock: Clock) -> None:
    await make_user(app, "ito", "sisc", Role.OPERATOR)
    await connected_call(app, "inochi", clock)
    await login(client, "ito")
    page = await client.get("/console/reports/period_5")
    assert page.status_code == 200
    assert "グラフは表示できません" in page.text
    assert "pip install -e &#39;.[charts]&#39;" in page.text  # the one line, escaped
    assert "/console/reports/period_5/chart.png" not in page.text  # no broken image
    chart = await client.get("/console/reports/period_5/chart.png")
    assert chart.status_code == 501 and chart.json()["detail"] == MISSING


@pytest.mark.usefixtures("no_charts")
async def test_the_chart_api_answers_501_naming_the_extra(client, app) -> None:
    key = await make_key(app, "sisc", Role.COORDINATOR)
    resp = await client.get("/api/reports/periods/period_5/chart.png", headers=bearer(key))
    assert resp.status_code == 501
    assert "[charts]" in resp.json()["detail"]
    # The figures themselves need no chart.
    figures = await client.get("/api/reports/periods/period_5", headers=bearer(key))
    assert figures.status_code == 200
