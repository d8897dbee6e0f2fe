"""In a real browser: the Compare page on the Kansas City survey by council district with
partial pooling across segments (issue 24). Alone no district has a result (about 170
respondents each, 23 touchpoints need 230); pooled, the two districts compared have one
for every touchpoint but the two whose top box is thin in the whole survey (q3_03, q3_11).
The differences table is read as a person gets it, from its CSV download."""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest

from tests.app.kc import KC_STAGES, ingest_kc, kc_csv, kc_labels
from tests.e2e.conftest import SHOTS, Server, start_server, wait_for_run
from tests.e2e.test_dashboard_browser import charts_drawn, no_errors

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def kc_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    from cmot.store.datasets import Store
    from cmot.store.demo import ensure_demo
    from cmot.store.directory import close_all

    kc_csv()  # skips, saying where it looked, when the survey is absent
    d = tmp_path_factory.mktemp("kc-pool")
    store = Store(d / "store")
    ensure_demo(store)
    ingest_kc(store, "kc23", {k: KC_STAGES[k] for k in ("City services", "Police")})
    close_all()
    srv = start_server(d / "store", d / "server.log")
    yield srv
    srv.process.terminate()
    srv.process.wait(timeout=20)


def _differences(page: object, path: Path) -> pd.DataFrame:
    """The Compare page's differences table, downloaded as its CSV (the title row skipped)."""
    button = page.locator(".st-key-differences_table_csv button")  # type: ignore[attr-defined]
    with page.expect_download(timeout=90_000) as dl:  # type: ignore[attr-defined]
        button.click()
    dl.value.save_as(path)
    return pd.read_csv(io.BytesIO(path.read_bytes()), skiprows=1, encoding="utf-8-sig")


def _insufficient(rows: pd.DataFrame) -> pd.Series:
    return rows.astype(str).apply(lambda c: c.str.contains("insufficient", case=False)).any(axis=1)


@pytest.mark.parametrize("pool", ["partial", "none"])
def test_compare_on_kansas_city_pooled_has_results_where_alone_has_none(
    kc_server: Server, page: object, tmp_path: Path, pool: str
) -> None:
    page.goto(f"{kc_server.url}/compare?dataset=kc23&seg=counci&pool={pool}")  # type: ignore[attr-defined]
    wait_for_run(page)
    # The page is drawn once its last table's download is: pooling the districts on a busy
    # machine takes a while, and until then the page shows its spinner, not its charts.
    csv = page.locator(".st-key-differences_table_csv button")  # type: ignore[attr-defined]
    csv.wait_for(timeout=300_000)
    wait_for_run(page)
    charts_drawn(page)
    no_errors(page)
    body = page.inner_text("body")  # type: ignore[attr-defined]
    words = {"partial": "partial pooling across segments", "none": "each segment alone"}
    assert words[pool] in body, body[:2000]
    # The viewport, not shot()'s full page: resizing the window to the page's height makes
    # the app lay out (and run) again, and the picture would catch that run's spinner.
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"pooling-compare-kc-{pool}.png"))  # type: ignore[attr-defined]
    rows = _differences(page, tmp_path / f"differences-{pool}.csv")
    page.screenshot(path=str(SHOTS / f"pooling-compare-kc-{pool}-table.png"))  # type: ignore[attr-defined]
    short = _insufficient(rows)
    assert len(rows) == 2 * 23  # penalty and reward of every touchpoint
    if pool == "none":
        assert short.all()  # no district has enough respondents alone
        return
    labels = kc_labels()
    thin = [labels.get(c, c)[:20] for c in ("q3_03", "q3_11")]  # a long label may be cut
    named = set(rows[short][rows.columns[0]].astype(str))
    # Pooled: 'insufficient' only on the two touchpoints thin in the whole survey, a result
    # on every other row.
    assert len(named) == 2 and all(any(n.startswith(t) for t in thin) for n in named), named
    assert (~short).sum() == 2 * 21
    assert "own data" in body  # each district's share of its own data, beside the picker
