"""The Data page's "Add a batch of new responses" (issue 26): the report before adding, the
batch added as a new version, a refusal said in words with nothing stored."""

from __future__ import annotations

from pathlib import Path

from streamlit.testing.v1 import AppTest

from cmot.feedback.feed import feed_csv
from cmot.store.datasets import Store
from tests.app.test_pages import APP, ok


def _data_page(store_dir: Path) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=120)
    at.run()
    return ok(at.switch_page("pages/data.py").run())


def test_a_batch_is_checked_then_added_to_the_demo(store_dir: Path) -> None:
    at = _data_page(store_dir)
    at.selectbox(key="append_dataset").set_value("demo").run()
    batch = feed_csv(2, 60, 5)
    ok(at.file_uploader(key="append_file").set_value(("week02.csv", batch, "text/csv")).run())
    shown = "\n".join(c.value for c in at.code)
    assert "rows kept:        60" in shown and "a batch for demo" in shown
    assert Store(store_dir).get_dataset("demo").version == 1  # the check stored nothing
    ok(at.button(key="append_go").click().run())
    info = Store(store_dir).get_dataset("demo")
    assert info.version == 2 and len(info.files) == 2
    assert any("Added 60 respondents" in str(s.value) for s in at.success)


def test_the_same_batch_twice_is_refused_in_words(store_dir: Path) -> None:
    at = _data_page(store_dir)
    at.selectbox(key="append_dataset").set_value("demo").run()
    batch = feed_csv(3, 30, 5)
    at.file_uploader(key="append_file").set_value(("week03.csv", batch, "text/csv")).run()
    ok(at.button(key="append_go").click().run())
    at.file_uploader(key="append_file").set_value(("again.csv", batch, "text/csv")).run()
    ok(at)
    assert any("already in 'demo'" in str(e.value) for e in at.error)
    assert Store(store_dir).get_dataset("demo").version == 2
