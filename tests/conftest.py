"""Tests mirror the engine's packages (raster/, model/, mapping/, localization/, ...) and the plugin
(plugin/). This file sits in tests/ so that pytest puts tests/ on sys.path: the shared fixture
modules (``mapping_fixtures``, ``localize_fixtures``) import from every folder."""

import os

import pytest


@pytest.fixture(autouse=True, scope="session")
def _xview_home(tmp_path_factory):
    """Keep the ONNX export cache (and anything else under XVIEW_HOME) out of the home folder.

    Set in os.environ, so the CLI subprocesses the tests start inherit it too.
    """
    old = os.environ.get("XVIEW_HOME")
    os.environ["XVIEW_HOME"] = str(tmp_path_factory.mktemp("xview-home"))
    yield
    if old is None:
        os.environ.pop("XVIEW_HOME", None)
    else:
        os.environ["XVIEW_HOME"] = old
