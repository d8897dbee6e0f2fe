"""A few page runs at a time in a process (cmot.ui.runs): the rest wait their turn, set-up
pages queue apart, a slot is always given back, and app.py holds one around every page."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from cmot.ui import runs
from cmot.ui.runs import RunSlots

APP = str(Path(__file__).resolve().parents[2] / "app.py")


def _enter(
    slots: RunSlots, url_path: str, inside: threading.Event, leave: threading.Event
) -> threading.Thread:
    def work() -> None:
        with slots.slot(url_path):
            inside.set()
            leave.wait(30)

    t = threading.Thread(target=work, daemon=True)
    t.start()
    return t


def test_a_third_results_run_waits_until_one_of_two_ends() -> None:
    slots = RunSlots(results=2)
    leave = [threading.Event() for _ in range(3)]
    inside = [threading.Event() for _ in range(3)]
    threads = [
        _enter(slots, "", inside[0], leave[0]),
        _enter(slots, "moments", inside[1], leave[1]),
    ]
    assert inside[0].wait(10) and inside[1].wait(10)
    threads.append(_enter(slots, "compare", inside[2], leave[2]))
    assert not inside[2].wait(0.3)  # waits: both slots held
    assert slots.held() == {"results": 2, "setup": 0}
    leave[0].set()
    assert inside[2].wait(10)  # the first run's end lets it in
    for e in leave:
        e.set()
    for t in threads:
        t.join(10)
    assert slots.held() == {"results": 0, "setup": 0}


def test_set_up_pages_queue_apart_from_the_results_pages() -> None:
    slots = RunSlots(results=1, setup=1)
    leave, inside = threading.Event(), [threading.Event() for _ in range(3)]
    threads = [_enter(slots, "overview", inside[0], leave)]
    assert inside[0].wait(10)
    threads.append(_enter(slots, "data", inside[1], leave))
    assert inside[1].wait(10)  # the results slot is taken, the set-up one is not
    threads.append(_enter(slots, "segments", inside[2], leave))
    assert not inside[2].wait(0.3)  # the one set-up slot is the Data page's
    leave.set()
    assert inside[2].wait(10)
    for t in threads:
        t.join(10)


def test_a_run_that_fails_gives_its_slot_back() -> None:
    slots = RunSlots(results=1)
    with pytest.raises(RuntimeError), slots.slot("overview"):
        raise RuntimeError("the page failed")
    with slots.slot("overview"):  # would wait forever if the slot were lost
        assert slots.held()["results"] == 1


def test_no_limit_with_zero(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(runs.ENV_RUNS, "0")
    slots = RunSlots.from_env()
    with slots.slot(""), slots.slot(""), slots.slot(""), slots.slot("data"), slots.slot("data"):
        assert slots.held() == {"results": 3, "setup": 2}


class _Recording(RunSlots):
    def __init__(self) -> None:
        super().__init__()
        self.entered: list[str] = []

    @contextmanager
    def slot(self, url_path: str) -> Iterator[None]:
        self.entered.append(url_path)
        with super().slot(url_path):
            assert self.held() != {"results": 0, "setup": 0}
            yield


@pytest.mark.usefixtures("store_dir")
def test_app_holds_a_slot_of_the_page_it_runs(monkeypatch: pytest.MonkeyPatch) -> None:
    recording = _Recording()
    monkeypatch.setattr(runs, "SLOTS", recording)
    at = AppTest.from_file(APP, default_timeout=120).run()
    assert not at.exception, [e.message for e in at.exception]
    at.switch_page("pages/data.py").run()
    assert not at.exception, [e.message for e in at.exception]
    assert recording.entered == ["", "data"]
    assert recording.held() == {"results": 0, "setup": 0}
