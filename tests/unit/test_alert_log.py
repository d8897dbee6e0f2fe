"""Alerts kept in the store and told (issue 26, item 4): raised once by the version that found
them, printed by `alerts` (exit 1 when new), the respondents behind one, acknowledged."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import pytest

from cmot.cli.main import main
from cmot.feedback.alert_log import acknowledge, list_alerts, refresh, respondents
from cmot.feedback.alerts import WatchSettings
from cmot.feedback.feed import Slip, feed_csv, feed_spec
from cmot.ingest.options import IngestOptions
from cmot.store.append import append_batch
from cmot.store.datasets import Store
from cmot.store.intake import ingest


def slipping_store(store_dir: Path, weeks: int = 6) -> Store:
    """The demo feed with Pricing clarity slipping for private clients from week 5."""
    store = Store(store_dir)
    slip = Slip(week=5)
    ingest(store, feed_csv(1, 600, 101, slip), "feed", IngestOptions(spec=feed_spec()), "w1.csv")
    for w in range(2, weeks + 1):
        append_batch(store, "feed", feed_csv(w, 600, 101, slip), f"w{w}.csv")
    return store


def test_alerts_are_raised_once_and_acknowledged(store_dir: Path) -> None:
    store = slipping_store(store_dir)
    first = refresh(store, "feed")
    assert not first.new.empty
    top = first.new.iloc[0]
    assert (top.segment, top.touchpoint) == ("Private clients", "Pricing clarity")
    assert top.dataset_id == store.get_dataset("feed").id
    assert refresh(store, "feed").new.empty  # the same alerts are not raised twice
    people = respondents(store, first, top)
    assert not people.empty and (people["Pricing clarity"] <= 2).all()
    assert people["respondent"].str.startswith(f"W{int(top.position) + 1:03d}-").all()
    acknowledge(store, int(top.id), "ana")
    kept = list_alerts(store, "feed").set_index("id")
    assert kept.loc[int(top.id), "acknowledged_by"] == "ana"


def test_alerts_command_exits_one_when_new(
    store_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    slipping_store(store_dir)
    assert main(["alerts", "feed"]) == 1
    out = capsys.readouterr().out
    assert "Pricing clarity is slipping for Private clients" in out
    assert main(["alerts", "feed"]) == 0
    assert "No new alert" in capsys.readouterr().out
    assert main(["alerts", "feed", "--since", "2000-01-01"]) == 1


def test_by_week_the_respondents_are_that_weeks(store_dir: Path) -> None:
    store = slipping_store(store_dir)
    watched = refresh(store, "feed", WatchSettings(period="week"))
    hits = watched.new[watched.new.touchpoint == "Pricing clarity"]
    assert not hits.empty
    top = hits.iloc[0]
    assert top.period in ("week of 2026-02-02", "week of 2026-02-09")  # weeks 5 and 6
    week = 5 if top.period.endswith("02") else 6
    people = respondents(store, watched, top)
    assert not people.empty and people["respondent"].str.startswith(f"W{week:03d}-").all()


def test_deleting_the_dataset_forgets_its_alerts(store_dir: Path) -> None:
    store = slipping_store(store_dir, weeks=6)
    refresh(store, "feed")
    assert not list_alerts(store, "feed").empty
    store.delete_dataset("feed")
    assert list_alerts(store, "feed").empty


def test_new_alerts_are_posted_to_a_loopback_webhook(
    store_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    got: list[dict[str, object]] = []

    class Receiver(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            size = int(self.headers["Content-Length"])
            got.append(json.loads(self.rfile.read(size)))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = HTTPServer(("127.0.0.1", 0), Receiver)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        slipping_store(store_dir)
        url = f"http://127.0.0.1:{server.server_port}/hook"
        assert main(["alerts", "feed", "--webhook", url]) == 1
        assert "Posted" in capsys.readouterr().out
        [body] = got
        assert str(body["text"]).startswith("cmot: ")
        assert "Pricing clarity is slipping for Private clients" in str(body["text"])
        assert body["dataset"] == "feed" and body["alerts"]
        # A receiver that is gone: said, exit 2, and how to send them again.
        server.shutdown()
        server.server_close()
        assert main(["alerts", "feed", "--since", "2000-01-01", "--webhook", url]) == 2
        assert "--since" in capsys.readouterr().err
    finally:
        server.server_close()
    assert main(["alerts", "feed", "--webhook", "ftp://x"]) == 2
