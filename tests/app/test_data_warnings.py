"""The engine's guardrails are said on the result pages, where the numbers are."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from cmot.ingest.options import IngestOptions
from cmot.results.moments import clear_cache
from cmot.store.datasets import Store
from cmot.store.demo import ensure_demo
from cmot.store.intake import ingest
from tests.app.test_pages import APP, ok


def _survey(n: int = 400, seed: int = 3) -> bytes:
    """Three touchpoints rated 1-5, one of which everybody rated 3, a yes/no outcome."""
    rng = np.random.default_rng(seed)
    lines = ["rid,wait,staff,signs,region,renewed"]
    for i in range(n):
        a, b = rng.integers(1, 6, 2)
        y = "yes" if a + b + rng.normal(0, 1.5) > 6 else "no"
        lines.append(f"{i + 1},{a},{b},3,{'NS'[i % 2]},{y}")
    return ("\n".join(lines) + "\n").encode()


@pytest.fixture
def app(store_dir: Path) -> AppTest:
    clear_cache()  # the engine caches per dataset id, and every test's store starts at 1
    store = Store(store_dir)
    ensure_demo(store)
    opts = IngestOptions(outcome="renewed", touchpoints=("wait", "staff", "signs"))
    ingest(store, _survey(), "flat", opts, source_name="flat.csv")
    at = AppTest.from_file(APP, default_timeout=120)
    at.query_params["dataset"] = "flat"
    at.query_params["seg"] = "region"
    return ok(at.run())


@pytest.mark.parametrize("page", ["overview", "journey", "moments", "compare", "actions"])
def test_a_touchpoint_with_one_value_is_said_on_every_result_page(app: AppTest, page: str) -> None:
    ok(app.switch_page(f"pages/{page}.py").run())
    said = [str(w.value) for w in app.warning] + [
        str(m.value) for e in app.expander for m in e.markdown
    ]
    assert any("gave 3" in s and "one value" in s for s in said), said


def test_no_warning_where_the_data_supports_every_number(store_dir: Path) -> None:
    clear_cache()
    store = Store(store_dir)
    ensure_demo(store)
    at = ok(AppTest.from_file(APP, default_timeout=120).run())
    ok(at.switch_page("pages/overview.py").run())
    assert not [w for w in at.warning if "one value" in str(w.value)]
