"""The Alerts page and the Overview's Alerts section (issue 26): each alert in a sentence,
its chart, the respondents behind it, acknowledged by an analyst."""

from __future__ import annotations

from pathlib import Path

from streamlit.testing.v1 import AppTest

from cmot.feedback.alert_log import list_alerts
from cmot.store.datasets import Store
from tests.app.test_pages import APP, charts, ok
from tests.unit.test_alert_log import slipping_store


def _open(store_dir: Path, page: str | None = None) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=180)
    at.query_params["dataset"] = "feed"
    at.run()
    if page:
        at.switch_page(page).run()
    return ok(at)


def test_overview_says_the_open_alerts(store_dir: Path) -> None:
    slipping_store(store_dir)
    at = _open(store_dir)
    assert "Alerts" in [h.value for h in at.subheader]
    said = [str(w.value) for w in at.warning]
    assert any("Pricing clarity is slipping for Private clients" in w for w in said), said


def test_alerts_page_shows_chart_respondents_and_acknowledges(store_dir: Path) -> None:
    slipping_store(store_dir)
    at = _open(store_dir, "pages/alerts.py")
    assert at.title[0].value == "Alerts" and at.caption
    heads = [e.label for e in at.expander]
    assert any("Pricing clarity is slipping for Private clients" in h for h in heads), heads
    spec = charts(at)[0]
    assert "Pricing clarity: Private clients" in str(spec.get("title"))
    people = at.dataframe[0].value
    assert not people.empty and (people["Pricing clarity"] <= 2).all()
    assert "Comment" in people.columns
    first = list_alerts(Store(store_dir), "feed").iloc[0]
    ok(at.button(key=f"alert_ack_{first.id}").click().run())
    again = list_alerts(Store(store_dir), "feed").set_index("id")
    assert isinstance(again.loc[first.id, "acknowledged_at"], str)
    assert any(e.label.startswith("✓ ") for e in at.expander)


def test_a_dataset_of_one_batch_says_so(store_dir: Path) -> None:
    at = AppTest.from_file(APP, default_timeout=180)
    at.run()
    ok(at.switch_page("pages/alerts.py").run())
    assert any("One batch so far" in str(i.value) for i in at.info)


def test_the_demo_feed_opens_from_the_page(store_dir: Path) -> None:
    at = AppTest.from_file(APP, default_timeout=180)
    at.run()
    at.switch_page("pages/alerts.py").run()
    ok(at.button(key="demo_feed").click().run())
    info = Store(store_dir).get_dataset("demo-feed")
    assert len(info.files) == 8 and info.rows_kept == 8 * 600
    ok(at.run())
    heads = [e.label for e in at.expander]
    assert any("Pricing clarity is slipping for Private clients" in h for h in heads), heads
