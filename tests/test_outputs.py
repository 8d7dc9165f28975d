"""Atomic outputs and the terminal progress bar."""

from __future__ import annotations

import io
import os
import stat

import pytest

from xview_engine.errors import Cancelled, OutputError
from xview_engine.outputs import atomic_output, check_outputs_free
from xview_engine.progress import TerminalProgress, check_cancel


def test_atomic_output_renames_only_on_success(tmp_path) -> None:
    target = tmp_path / "out.tif"
    with atomic_output(target) as tmp:
        assert tmp.parent == tmp_path and tmp != target
        tmp.write_bytes(b"complete")
        assert not target.exists()
    assert target.read_bytes() == b"complete"
    mode = stat.S_IMODE(os.stat(target).st_mode)
    assert mode & stat.S_IRGRP, "outputs must not keep mkstemp's private 0600 mode"
    with pytest.raises(RuntimeError), atomic_output(tmp_path / "failed.tif") as tmp:
        tmp.write_bytes(b"half")
        raise RuntimeError("boom")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.tif"]


def test_check_outputs_free(tmp_path) -> None:
    existing = tmp_path / "a.tif"
    existing.write_bytes(b"x")
    check_outputs_free([tmp_path / "b.tif"], overwrite=False)
    check_outputs_free([existing], overwrite=True)
    with pytest.raises(OutputError, match="already exists; pass --overwrite"):
        check_outputs_free([existing], overwrite=False)
    with pytest.raises(OutputError, match="does not exist; create it"):
        check_outputs_free([tmp_path / "missing" / "c.tif"], overwrite=False)


class FakeTerminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_bar_draws_on_terminals_only() -> None:
    stream = FakeTerminal()
    bar = TerminalProgress("map", stream=stream, min_interval=0.0)
    bar(5, 10)
    bar(10, 10)
    text = stream.getvalue()
    assert "5/10 tiles" in text and "10/10 tiles" in text and text.endswith("\n")
    quiet = io.StringIO()
    TerminalProgress("map", stream=quiet)(10, 10)
    assert quiet.getvalue() == ""


def test_check_cancel() -> None:
    check_cancel(None)
    check_cancel(lambda: False)
    with pytest.raises(Cancelled, match="no output was written"):
        check_cancel(lambda: True)
