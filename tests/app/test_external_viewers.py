"""AppTest: an external dataset's server path is for analysts; viewers see none of it."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from streamlit.testing.v1 import AppTest

from cmot.store.datasets import Store
from cmot.store.external import register_external
from tests.app.test_pages import APP, ok
from tests.unit.test_external import options, survey


def shown(at: AppTest) -> str:
    """Every text the script drew, main area and sidebar, tables included."""
    parts: list[str] = []
    for where in (at.main, at.sidebar):
        for kind in ("markdown", "caption", "error", "info", "warning", "success", "text"):
            parts += [str(e.value) for e in getattr(where, kind)]
        parts += [e.value.to_csv() for e in where.dataframe]
    return "\n".join(parts)


@pytest.fixture
def lake(store: Store, tmp_path: Path) -> Path:
    folder = tmp_path / "hiddenlake"
    folder.mkdir()
    part = pa.Table.from_pandas(survey(600), preserve_index=False)
    pq.write_table(part, folder / "part-0.parquet")
    register_external(store, "lake", f"{folder}/*.parquet", options=options())
    return folder


def visit(page: str) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=180)
    at.run()
    at.sidebar.selectbox(key="dataset").set_value("lake").run()
    return ok(at.switch_page(page).run())


@pytest.mark.parametrize("page", ["pages/overview.py", "pages/data.py"])
def test_a_viewer_sees_no_server_path(
    lake: Path, monkeypatch: pytest.MonkeyPatch, page: str
) -> None:
    monkeypatch.setenv("CMOT_OPEN_ROLE", "viewer")
    text = shown(visit(page))
    assert "hiddenlake" not in text and str(lake.parent) not in text
    assert "Parquet" in text  # what the dataset is, without where it lies


def test_a_viewer_sees_no_path_when_the_files_are_gone(
    lake: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CMOT_OPEN_ROLE", "viewer")
    (lake / "part-0.parquet").unlink()
    at = visit("pages/overview.py")
    text = shown(at)
    assert at.error and "hiddenlake" not in text


@pytest.mark.parametrize("page", ["pages/overview.py", "pages/data.py"])
def test_an_analyst_sees_the_path(lake: Path, page: str) -> None:
    assert "hiddenlake" in shown(visit(page))
