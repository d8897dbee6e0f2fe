"""In a real browser (issue 26): a batch of new responses uploaded on the Data page to a stored
dataset, the alert it raises on the Overview, opened on the Alerts page and acknowledged."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import expect

from cmot.feedback.feed import Slip, feed_csv, feed_spec
from cmot.ingest.options import IngestOptions
from cmot.store.append import append_batch
from cmot.store.datasets import Store
from cmot.store.directory import close_all
from cmot.store.intake import ingest
from tests.e2e.conftest import Server, shot, start_server, wait_for_run
from tests.e2e.test_dashboard_browser import open_page

pytestmark = pytest.mark.e2e

SLIP = Slip(week=5)
SENTENCE = "Pricing clarity is slipping for Private clients"


@pytest.fixture
def feed_server(tmp_path: Path) -> Iterator[Server]:
    """A server on a store holding weeks 1-5 of the demo feed (the slip starts in week 5)."""
    store = Store(tmp_path / "store")
    opts = IngestOptions(spec=feed_spec())
    ingest(store, feed_csv(1, 600, 101, SLIP), "feed", opts, "week01.csv")
    for w in range(2, 6):
        append_batch(store, "feed", feed_csv(w, 600, 101, SLIP), f"week{w:02d}.csv")
    close_all()
    log = tmp_path / "server.log"
    srv = start_server(tmp_path / "store", log)
    yield srv
    srv.process.terminate()
    srv.process.wait(timeout=30)
    text = log.read_text(errors="replace")
    assert "Traceback" not in text, text[-3000:]


def test_upload_a_batch_see_the_alert_and_acknowledge_it(
    feed_server: Server, page: object, tmp_path: Path
) -> None:
    pg: object = page
    batch = tmp_path / "week06.csv"
    batch.write_bytes(feed_csv(6, 600, 101, SLIP))
    pg.goto(feed_server.url + "/data?dataset=feed")  # type: ignore[attr-defined]
    pg.get_by_text("Stored datasets").wait_for()  # type: ignore[attr-defined]
    wait_for_run(pg)
    box = pg.get_by_test_id("stExpander").filter(  # type: ignore[attr-defined]
        has_text="Add a batch of new responses to a dataset"
    )
    box.get_by_text("Add a batch of new responses to a dataset").click()  # opens: no run
    # The sidebar's dataset (feed, from the link) is the one proposed.
    expect(box.get_by_label("Dataset to add to", exact=True)).to_have_value("feed")
    box.get_by_test_id("stFileUploaderDropzoneInput").set_input_files(str(batch))
    box.get_by_text("a batch for feed", exact=False).wait_for(timeout=120_000)
    wait_for_run(pg)
    wait_for_run(pg, box.get_by_role("button", name="Add batch").click, timeout_ms=120_000)
    expect(pg.get_by_text("Added 600 respondents from week06.csv")).to_be_visible()  # type: ignore[attr-defined]
    assert Store(feed_server.db).get_dataset("feed").version == 6

    open_page(pg, "Overview")
    expect(pg.get_by_text(SENTENCE).first).to_be_visible(timeout=120_000)  # type: ignore[attr-defined]
    shot(pg, "alerts_overview")
    open_page(pg, "Alerts")
    alert = pg.get_by_test_id("stExpander").filter(has_text=SENTENCE).first  # type: ignore[attr-defined]
    expect(alert.get_by_test_id("stVegaLiteChart")).to_be_visible()
    expect(alert.get_by_test_id("stDataFrame")).to_be_visible()
    shot(pg, "alerts_page")
    wait_for_run(pg, alert.get_by_role("button", name="Acknowledge").click)
    done = pg.get_by_test_id("stExpander").filter(has_text="✓ " + SENTENCE).first  # type: ignore[attr-defined]
    expect(done).to_be_visible()  # acknowledged: marked, and folded away
    shot(pg, "alerts_acknowledged")
