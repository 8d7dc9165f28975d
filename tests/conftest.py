"""Tests mirror the engine's packages (raster/, model/, mapping/, localization/, ...) and the plugin
(plugin/). This file sits in tests/ so that pytest puts tests/ on sys.path: the shared fixture
modules (``mapping_fixtures``, ``localize_fixtures``) import from every folder."""

import os

import pytest


@pytest.fixture(autouse=True, scope="session")
def _xview_home(tmp_path_factory):
    """Keep the ONNX export cache and the weights cache (all under XVIEW_HOME) out of the home folder, and
    downloads of published weights off (XVIEW_OFFLINE): no test reaches the internet. The download tests
    turn downloads on for themselves, against a loopback server.

    Set in os.environ, so the CLI subprocesses the tests start inherit it too.
    """
    names = ("XVIEW_HOME", "XVIEW_OFFLINE")
    old = {name: os.environ.get(name) for name in names}
    os.environ["XVIEW_HOME"] = str(tmp_path_factory.mktemp("xview-home"))
    os.environ["XVIEW_OFFLINE"] = "1"
    yield
    for name, value in old.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value


@pytest.fixture(autouse=True)
def _torch_threads_restored():
    """The torch runtime sets torch's process-wide thread count (1 for a light model on two cores): every
    test starts with the count the process had, as a CLI subprocess would."""
    import sys

    torch = sys.modules.get("torch")  # only where a test already imported it: no torch import for the others
    before = torch.get_num_threads() if torch is not None else None
    yield
    torch = sys.modules.get("torch")
    if torch is not None and before is not None and torch.get_num_threads() != before:
        torch.set_num_threads(before)
