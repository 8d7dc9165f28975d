"""Helpers for the cluster tests: one real Dask LocalCluster (2 worker processes, 1 thread each) per test
module, inputs small enough to keep its wall time short, and the comparisons a cluster run must pass."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import pytest
from mapping_fixtures import random_rgb, read_band_stack, tiny_model


@pytest.fixture(scope="module")
def cluster_address():
    """The scheduler address of a LocalCluster of 2 worker processes of 1 thread each, shared by a module."""
    distributed = pytest.importorskip("distributed")
    from xview_engine.mapping.cluster.client import environ_kept

    with environ_kept(), distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                                  dashboard_address=None, silence_logs=logging.ERROR) as cluster:
        yield cluster.scheduler_address


@pytest.fixture(scope="module")
def cluster_inputs(tmp_path_factory):
    """A 200 x 160 px random RGB raster at 10 m (19 x 24 tiles of 16 px) and a tiny two-head model."""
    folder = tmp_path_factory.mktemp("cluster-inputs")
    random_rgb(folder / "rgb.tif", width=200, height=160)
    return folder / "rgb.tif", tiny_model(folder / "m.safetensors", gsd_m=10.0)


@pytest.fixture(scope="module")
def big_inputs(tmp_path_factory):
    """A 600 x 600 px raster (74 x 74 tiles): enough blocks for a kill to land mid-run."""
    folder = tmp_path_factory.mktemp("cluster-big")
    random_rgb(folder / "big.tif", width=600, height=600, seed=3)
    return folder / "big.tif", tiny_model(folder / "m.safetensors", gsd_m=10.0, seed=1)


def same_products(single: Path, cluster: Path, same_command: bool = True) -> None:
    """Every product file byte-identical; products.json equal but for what says how the run was made.

    ``same_command=False`` (runs from two different command lines, which each GeoTIFF records in its
    ``xview_command`` tag): pixels, profile, band descriptions and the other tags exactly equal instead.
    """
    names = sorted(p.name for p in single.iterdir())
    assert names == sorted(p.name for p in cluster.iterdir())
    for name in names:
        if name.endswith(".tif") and not same_command:
            _same_raster(single / name, cluster / name)
        elif name != "products.json":
            assert (single / name).read_bytes() == (cluster / name).read_bytes(), name
    a, b = (json.loads((folder / "products.json").read_text()) for folder in (single, cluster))
    for meta in (a, b):
        meta.pop("params"), meta.pop("command"), meta["model"].pop("runtime"), meta.pop("cluster", None)
    assert a == b


def _same_raster(a: Path, b: Path) -> None:
    (pixels_a, info_a), (pixels_b, info_b) = read_band_stack(a), read_band_stack(b)
    np.testing.assert_array_equal(pixels_a, pixels_b, err_msg=a.name)
    for info in (info_a, info_b):
        info["tags"].pop("xview_command", None)
    assert info_a == info_b, a.name


def same_index(single: Path, cluster: Path) -> None:
    """Every array of two index folders equal, and index.json but for the runtime and command."""
    names = sorted(p.name for p in single.iterdir())
    assert names == sorted(p.name for p in cluster.iterdir())
    for name in names:
        if name.endswith(".npy"):
            np.testing.assert_array_equal(np.load(single / name), np.load(cluster / name), err_msg=name)
    a, b = (json.loads((folder / "index.json").read_text()) for folder in (single, cluster))
    for header in (a, b):
        header["model"].pop("runtime")
        header.pop("command", None)
    assert a == b
