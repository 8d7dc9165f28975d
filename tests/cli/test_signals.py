"""SIGTERM and Ctrl-C stop a CLI run at its next ``check_cancel``, never inside library code.

Real signals sent to this process (pytest runs tests in the main thread); the CLI-as-subprocess
cases (exit 143 / 130, nothing left behind) are in ``tests/test_faults.py``.
"""

from __future__ import annotations

import os
import signal
import threading
import time

import pytest

from xview_engine.cli import main as cli_main
from xview_engine.progress import Terminated, check_cancel, stop_requested


def wait_for_handler() -> None:
    """Python runs a handler at the main thread's next bytecode; give it a few."""
    for _ in range(100):
        time.sleep(0.001)


def test_sigterm_is_raised_by_the_next_check_not_by_the_handler() -> None:
    with cli_main._signals_stop():
        os.kill(os.getpid(), signal.SIGTERM)
        wait_for_handler()  # no exception here: the handler only recorded the request
        assert isinstance(stop_requested(), Terminated)
        with pytest.raises(Terminated):
            check_cancel(None)
        assert stop_requested() is None  # raised once
        check_cancel(None)


def test_ctrl_c_is_a_keyboard_interrupt_at_the_next_check() -> None:
    with cli_main._signals_stop():
        os.kill(os.getpid(), signal.SIGINT)
        wait_for_handler()
        with pytest.raises(KeyboardInterrupt) as caught:
            check_cancel(lambda: False)
    assert not isinstance(caught.value, Terminated)


def test_other_threads_do_not_receive_the_request() -> None:
    raised: list[BaseException] = []

    def worker() -> None:
        try:
            check_cancel(None)
        except BaseException as exc:  # what we test is that nothing is raised here
            raised.append(exc)

    with cli_main._signals_stop():
        os.kill(os.getpid(), signal.SIGTERM)
        wait_for_handler()
        thread = threading.Thread(target=worker)
        thread.start()
        thread.join()
        assert raised == [] and stop_requested() is not None
        with pytest.raises(Terminated):
            check_cancel(None)


def test_work_without_checks_is_stopped_after_the_grace(monkeypatch) -> None:
    monkeypatch.setattr(cli_main, "STOP_GRACE_S", 0.05)
    started = time.monotonic()
    with pytest.raises(Terminated), cli_main._signals_stop():
        os.kill(os.getpid(), signal.SIGTERM)
        while time.monotonic() - started < 5:  # a long call that never checks
            time.sleep(0.001)
    assert time.monotonic() - started < 2


def test_a_second_signal_stops_at_once(monkeypatch) -> None:
    monkeypatch.setattr(cli_main, "STOP_GRACE_S", 60.0)
    started = time.monotonic()
    with pytest.raises(KeyboardInterrupt), cli_main._signals_stop():
        os.kill(os.getpid(), signal.SIGINT)
        wait_for_handler()
        os.kill(os.getpid(), signal.SIGINT)
        while time.monotonic() - started < 5:
            time.sleep(0.001)
    assert time.monotonic() - started < 2


def test_handlers_timer_and_request_are_restored_after_the_run() -> None:
    before = {s: signal.getsignal(s) for s in (signal.SIGTERM, signal.SIGINT, signal.SIGALRM)}
    with cli_main._signals_stop():
        os.kill(os.getpid(), signal.SIGTERM)
        wait_for_handler()
        assert signal.getitimer(signal.ITIMER_REAL)[0] > 0
    assert {s: signal.getsignal(s) for s in before} == before
    assert signal.getitimer(signal.ITIMER_REAL) == (0.0, 0.0)
    assert stop_requested() is None
    check_cancel(None)


def test_without_sigalrm_as_on_windows_a_second_signal_still_stops(monkeypatch) -> None:
    monkeypatch.delattr(signal, "SIGALRM")  # Windows' signal module has neither SIGALRM nor setitimer
    monkeypatch.setattr(signal, "setitimer", None)
    with pytest.raises(Terminated), cli_main._signals_stop():
        os.kill(os.getpid(), signal.SIGTERM)
        wait_for_handler()
        assert isinstance(stop_requested(), Terminated)  # recorded; no timer could be set
        os.kill(os.getpid(), signal.SIGTERM)
        wait_for_handler()
    assert stop_requested() is None
