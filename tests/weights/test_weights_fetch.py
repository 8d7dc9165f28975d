"""Published weights on demand, against a loopback server: download, resume, refusal, timeouts, offline, reuse."""

from __future__ import annotations

import hashlib
import os
import time
import warnings

import pytest
from weights_fixtures import closed_port_url, loopback, online, registered, silent_server  # noqa: F401

from xview_engine.cli.main import main
from xview_engine.errors import Cancelled, WeightsError, XviewWarning
from xview_engine.weights import cache_state, cached_path, fetch, weight_file, weights_dir, weights_path
from xview_engine.weights.store import partial_path

DATA = os.urandom(700_000)  # a few chunks of the downloader, several pieces of the server


@pytest.fixture(autouse=True)
def _own_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("XVIEW_HOME", str(tmp_path / "home"))


def test_download_then_reuse_without_network(loopback, online, monkeypatch):  # noqa: F811
    entry = registered(monkeypatch, "imagenet:resnet18", DATA, loopback)
    calls: list[tuple[int, int]] = []
    path = fetch("imagenet:resnet18", progress=lambda done, total: calls.append((done, total)))
    assert path == weights_dir() / entry.filename and path.read_bytes() == DATA
    assert calls[-1] == (len(DATA), len(DATA)) and all(t == len(DATA) for _, t in calls) and len(calls) >= 3
    assert not partial_path(entry).exists() and cache_state(entry).state == "cached"
    assert (path.parent / (path.name + ".verified")).is_file()
    assert loopback.requests == [(entry.filename, None)]
    loopback.close()  # no server any more, and downloads off: the cached file is what a spec gets
    monkeypatch.setenv("XVIEW_OFFLINE", "1")
    assert weights_path("imagenet:resnet18") == path == weight_file("imagenet:resnet18")
    assert main(["weights", "path", "imagenet:resnet18"]) == 0


def test_digest_mismatch_is_refused_and_removed(loopback, online, monkeypatch, capsys):  # noqa: F811
    entry = registered(monkeypatch, "imagenet:resnet34", DATA, loopback, digest="0" * 64)
    with pytest.raises(WeightsError, match=f"downloaded from {entry.url} is not the published imagenet:resnet34: "
                                           f"its SHA-256 is {hashlib.sha256(DATA).hexdigest()}.*removed, never loaded"):
        fetch("imagenet:resnet34")
    assert not cached_path(entry).exists() and not partial_path(entry).exists()
    assert main(["weights", "fetch", "imagenet:resnet34"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("xview: error: ") and len(err.strip().splitlines()) == 1


def test_a_file_placed_by_hand_is_checked_before_use(online, monkeypatch):  # noqa: F811
    entry = registered(monkeypatch, "places365:resnet50", DATA, url=closed_port_url())
    path = cached_path(entry)
    path.parent.mkdir(parents=True)
    path.write_bytes(DATA)  # fetched on another machine and placed where the error said
    assert weights_path("places365:resnet50") == path
    time.sleep(0.01)
    path.write_bytes(DATA[:-1] + b"!")  # changed after its check: hashed again, refused, removed
    with pytest.raises(WeightsError, match=rf"{path} is not the published places365:resnet50.*removed"):
        weights_path("places365:resnet50")
    assert not path.exists()


def test_interrupted_download_resumes_with_a_range_request(loopback, online, monkeypatch):  # noqa: F811
    entry = registered(monkeypatch, "coco:fasterrcnn", DATA, loopback)
    loopback.cut_after = 300_000
    with pytest.raises(WeightsError, match=r"closed the connection after 300,000 of 700,000 bytes.*resumes"):
        fetch("coco:fasterrcnn")
    assert partial_path(entry).stat().st_size == 300_000 and not cached_path(entry).exists()
    assert cache_state(entry).state == "partial"
    path = fetch("coco:fasterrcnn")
    assert path.read_bytes() == DATA
    assert loopback.requests == [(entry.filename, None), (entry.filename, "bytes=300000-")]


def test_a_server_that_ignores_ranges_starts_again(loopback, online, monkeypatch):  # noqa: F811
    entry = registered(monkeypatch, "imagenet:resnet18", DATA, loopback)
    partial = partial_path(entry)
    partial.parent.mkdir(parents=True)
    partial.write_bytes(b"stale bytes of another attempt")
    loopback.ranges = False
    assert fetch("imagenet:resnet18").read_bytes() == DATA


def test_a_server_that_answers_another_range_loses_the_part(loopback, online, monkeypatch):  # noqa: F811
    entry = registered(monkeypatch, "imagenet:resnet18", DATA, loopback)
    partial = partial_path(entry)
    partial.parent.mkdir(parents=True)
    partial.write_bytes(DATA[:1000])
    loopback.range_shift = 10
    with pytest.raises(WeightsError, match="answered a range from byte 1010, not the 1,000 asked for.*starts again"):
        fetch("imagenet:resnet18")
    assert not partial.exists()
    loopback.range_shift = 0
    assert fetch("imagenet:resnet18").read_bytes() == DATA


def test_a_read_only_cache_is_hashed_at_each_use(online, monkeypatch):  # noqa: F811
    from xview_engine.weights import store

    entry = registered(monkeypatch, "imagenet:resnet50", DATA, url=closed_port_url())
    path = cached_path(entry)
    path.parent.mkdir(parents=True)
    path.write_bytes(DATA)  # filled by an administrator; no stamp can be written beside it

    def read_only(target):
        raise PermissionError(13, "Permission denied", str(target))

    monkeypatch.setattr(store, "atomic_output", read_only)
    hashed: list = []
    real = store.file_sha256
    monkeypatch.setattr(store, "file_sha256", lambda p, cancel=None: hashed.append(p) or real(p, cancel))
    assert weights_path("imagenet:resnet50") == weights_path("imagenet:resnet50") == path
    assert hashed == [path, path] and not (path.parent / (path.name + ".verified")).exists()


def test_a_server_that_never_answers_times_out(online, monkeypatch, capsys):  # noqa: F811
    with silent_server() as url:
        entry = registered(monkeypatch, "imagenet:vgg16", DATA, url=url)
        start = time.perf_counter()
        with pytest.raises(WeightsError, match=r"127\.0\.0\.1:\d+ did not answer within 0\.5 s.*"
                                               rf"download {entry.url} .*place it at {cached_path(entry)}"):
            fetch("imagenet:vgg16", timeout=0.5)
        assert time.perf_counter() - start < 5
        assert main(["weights", "fetch", "imagenet:vgg16", "--timeout", "0.5"]) == 2
    err = capsys.readouterr().err
    assert "did not answer within 0.5 s" in err and len(err.strip().splitlines()) == 1


def test_offline_says_what_to_download_and_where(online, monkeypatch):  # noqa: F811
    entry = registered(monkeypatch, "imagenet:resnet50", DATA, url=closed_port_url())
    where = rf"download {entry.url} \(SHA-256 {entry.sha256}, 0\.7 MiB\) and place it at {cached_path(entry)}"
    with pytest.raises(WeightsError, match=rf"cannot reach 127\.0\.0\.1:\d+ .*{where}"):
        weights_path("imagenet:resnet50")
    monkeypatch.setenv("XVIEW_OFFLINE", "1")
    with pytest.raises(WeightsError, match=rf"XVIEW_OFFLINE is set.*{where}"):
        fetch("imagenet:resnet50")


def test_the_real_entries_offline_name_the_real_url(capsys):
    assert main(["weights", "path", "places365:resnet50"]) == 2
    err = capsys.readouterr().err
    assert "http://places2.csail.mit.edu/models_places365/resnet50_places365.pth.tar" in err
    assert "46529c86902bd0cfb0ea562a30b2850c28d2620d96282b3db9c318e1d774f6c5" in err
    assert str(weights_dir() / "resnet50_places365.pth.tar") in err
    assert main(["weights", "fetch", "imagenet:resnet18"]) == 2  # XVIEW_OFFLINE (tests/conftest.py)
    assert "XVIEW_OFFLINE is set" in capsys.readouterr().err


def test_cancel_keeps_the_part_for_the_next_fetch(loopback, online, monkeypatch):  # noqa: F811
    entry = registered(monkeypatch, "imagenet:resnet101", DATA, loopback)
    loopback.trickle_s = 0.02
    calls: list[int] = []
    with pytest.raises(Cancelled, match="cancelled.*resumes"):
        fetch("imagenet:resnet101", progress=lambda done, total: calls.append(done), cancel=lambda: bool(calls))
    kept = partial_path(entry).stat().st_size
    assert 0 < kept < len(DATA) and not cached_path(entry).exists()
    loopback.trickle_s = 0.0
    assert fetch("imagenet:resnet101").read_bytes() == DATA
    assert loopback.requests[-1] == (entry.filename, f"bytes={kept}-")


def test_unknown_digest_is_recorded_with_a_warning(loopback, online, monkeypatch):  # noqa: F811
    registered(monkeypatch, "places365:resnet18", DATA, loopback, digest=None)
    with pytest.warns(XviewWarning, match=f"no published SHA-256.*its SHA-256 is {hashlib.sha256(DATA).hexdigest()}"):
        path = fetch("places365:resnet18")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the stamp: checked once, not warned about on every use
        assert weights_path("places365:resnet18") == path


def test_names_and_paths_as_weights_arguments(tmp_path):
    own = tmp_path / "mine.pth"
    own.write_bytes(b"x")
    assert weight_file(str(own)) == own
    with pytest.raises(WeightsError, match="no published weights are called 'imagenet:resnet5'.*imagenet:resnet50"):
        weight_file("imagenet:resnet5")


def test_list_shows_states_and_users(loopback, online, monkeypatch, capsys):  # noqa: F811
    registered(monkeypatch, "imagenet:resnet18", DATA, loopback)
    fetch("imagenet:resnet18")
    assert main(["weights", "list"]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"weights folder: {weights_dir()}\n")
    line = next(row for row in out.splitlines() if row.startswith("imagenet:resnet18 "))
    assert " cached " in line and "0.7 MiB" in line
    assert "train twin --branch vgg16 --backbone-weights imagenet:vgg16" in out
    assert next(row for row in out.splitlines() if row.startswith("imagenet:vgg16 ")).split()[1] == "-"
