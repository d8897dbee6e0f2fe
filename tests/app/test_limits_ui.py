"""Limits in the app: the size, row and column caps refuse an upload with a clear message, and the
production config keeps Streamlit's own cap, XSRF protection and no usage statistics."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from cmot.ingest.read import DEFAULT_MAX_MB
from cmot.store.demo import DEMO_CSV
from tests.conftest import ROOT
from tests.planted import read_as_text


def _upload(monkeypatch: pytest.MonkeyPatch, **env: str) -> AppTest:
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60).run()  # loads the demo
    for k, v in env.items():  # after the first start: the caps also apply to the demo load
        monkeypatch.setenv(k, v)
    at.switch_page("pages/data.py").run()
    at.file_uploader(key="upload").set_value(
        ("survey.csv", DEMO_CSV.read_bytes(), "text/csv")
    ).run()
    assert not at.exception
    return at


def test_a_file_over_the_size_cap_is_refused_with_a_clear_message(
    store_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    at = _upload(monkeypatch, CMOT_MAX_UPLOAD_MB="0.05")
    errors = " ".join(read_as_text(e.value) for e in at.error)  # escaped Markdown
    assert "over the 0 MB limit" in errors and "CMOT_MAX_UPLOAD_MB" in errors
    assert at.button(key="upload_save").disabled


def test_a_file_over_the_row_cap_is_refused_with_a_clear_message(
    store_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    at = _upload(monkeypatch, CMOT_MAX_ROWS="1000")
    errors = " ".join(read_as_text(e.value) for e in at.error)  # escaped Markdown
    assert "more than 1,000 data rows" in errors and "CMOT_MAX_ROWS" in errors
    assert at.button(key="upload_save").disabled


def test_a_file_over_the_column_cap_is_refused_with_a_clear_message(
    store_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    columns = DEMO_CSV.read_text().split("\n", 1)[0].count(",") + 1
    at = _upload(monkeypatch, CMOT_MAX_COLUMNS=str(columns - 1))
    errors = " ".join(read_as_text(e.value) for e in at.error)  # escaped Markdown
    assert f"{columns} columns" in errors and "CMOT_MAX_COLUMNS" in errors
    assert at.button(key="upload_save").disabled


def test_production_config() -> None:
    config = tomllib.loads((ROOT / ".streamlit" / "config.toml").read_text())
    assert config["server"]["headless"] is True
    assert config["server"]["maxUploadSize"] == DEFAULT_MAX_MB
    assert config["server"]["enableXsrfProtection"] is True
    assert config["browser"]["gatherUsageStats"] is False
    assert config["client"]["showErrorDetails"] == "none"
    assert (
        not (ROOT / ".streamlit" / "secrets.toml").exists()
        or ".streamlit/secrets.toml" in (ROOT / ".gitignore").read_text()
    )


def test_the_uploader_states_the_limit_the_message_names(
    store_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """issue 23: CMOT_MAX_UPLOAD_MB=50 said "over the 52 MB limit" (decimal megabytes) while
    the uploader said 500MB (Streamlit's own setting). Both now say 50."""
    monkeypatch.setenv("CMOT_MAX_UPLOAD_MB", "50")
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60).run()
    at.switch_page("pages/data.py").run()
    assert at.file_uploader(key="upload").proto.max_upload_size_mb == 50
    from cmot.ingest.read import _too_big

    assert "over the 50 MB limit" in str(_too_big(60 * 2**20, 50 * 2**20))
