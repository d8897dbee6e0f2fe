"""Issue 23: a dataset whose column of times of day (6:00:00, 8:30 AM, a marker N) was
taken for the date broke every page (the sidebar's date range cast it). Saved with the
defaults, by the app or the command line, every page runs; mapped as the date by a spec, the
pages run and the sidebar says the date filter is not available, naming the column."""

from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from cmot.cli.main import main
from cmot.ingest.pipeline import detect_roles
from cmot.results.moments import clear_cache
from cmot.spec import save_spec
from cmot.store.datasets import Store
from cmot.store.intake import ingest
from tests.app.panels import open_panels
from tests.app.test_pages import APP, ok
from tests.unit.test_dates_unreadable import times_csv


def _pages_run(name: str) -> None:
    """Every page of the app on dataset `name` without an exception (the AppTest helpers)."""
    clear_cache()  # the engine caches per dataset id, and every test's store starts at 1
    at = AppTest.from_file(APP, default_timeout=120)
    at.query_params["dataset"] = name
    ok(at.run())
    for page in ("journey", "moments", "compare", "actions", "segments", "trends", "data"):
        ok(at.switch_page(f"pages/{page}.py").run())


def test_times_saved_with_the_defaults_render_every_page(store: Store) -> None:
    info, _ = ingest(store, times_csv(), "times", source_name="times.csv")
    assert info.spec.date_column is None
    _pages_run("times")


def test_times_ingested_by_the_command_line_render_every_page(tmp_path: Path, store: Store) -> None:
    path = tmp_path / "times.csv"
    path.write_bytes(times_csv())
    assert main(["ingest", str(path), "--name", "times"]) == 0
    _pages_run("times")


@pytest.mark.parametrize("column", ["time", "visit time"])
def test_times_mapped_as_the_date_say_the_filter_is_not_available(
    tmp_path: Path, store: Store, column: str
) -> None:
    """A spec may name any column the date: the pages run, and the sidebar says why the date
    filter is missing, with the column's name and the fix."""
    path = tmp_path / "times.csv"
    path.write_bytes(times_csv(column=column))
    spec = detect_roles(path).require_spec().with_changes(date_column=column)
    save_spec(spec, tmp_path / "spec.toml")
    args = ["ingest", str(path), "--name", "times", "--spec", str(tmp_path / "spec.toml")]
    assert main(args) == 0
    assert store.get_dataset("times").spec.date_column == column
    _pages_run("times")
    clear_cache()
    at = AppTest.from_file(APP, default_timeout=120)
    at.query_params["dataset"] = "times"
    ok(at.run())
    ok(open_panels(at))  # it says so in the Filters, where the date filter would be
    said = " ".join(str(c.value) for c in at.sidebar.caption)
    assert column in said and "no dates" in said, said
