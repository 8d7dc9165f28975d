"""The registry of published weights: digests that agree with the file names, names each loader can build,
and the diagnostics report listing what the cache holds."""

from __future__ import annotations

import dataclasses

import pytest
import torchvision

from xview_engine.install.cuda import NvidiaInfo
from xview_engine.install.report import environment_report, report_text, weights_section
from xview_engine.model.backbones import BACKBONES
from xview_engine.teachers import DEFAULT_ARCH, FAMILIES
from xview_engine.teachers.coco_counts import ALIASES, ARCHS
from xview_engine.teachers.places365 import ARCHS as PLACES_ARCHS
from xview_engine.weights import REGISTRY, cached_path, find, lookup
from xview_engine.weights.registry import WeightFile

FILES = list(REGISTRY.values())


def test_names_files_and_aliases_are_unique():
    names = [n for f in FILES for n in (f.name, *f.aliases)]
    assert len(names) == len(set(names))
    assert len({f.filename for f in FILES}) == len(FILES)


@pytest.mark.parametrize("entry", FILES, ids=lambda f: f.name)
def test_every_entry_is_complete_and_consistent(entry: WeightFile):
    family, arch = entry.name.split(":")
    assert family in FAMILIES and entry.name in entry.used_by and entry.licence and entry.description
    if entry.url.startswith("https://download.pytorch.org/models/"):
        assert entry.hash_prefix and len(entry.hash_prefix) == 8 and entry.sha256.startswith(entry.hash_prefix)
    else:
        assert entry.url.startswith("http://places2.csail.mit.edu/models_places365/") and entry.hash_prefix is None
    assert entry.size is None or entry.size > 2**20
    if family == "places365":
        assert arch in PLACES_ARCHS
    elif family == "coco":
        assert ALIASES.get(arch, arch) in ARCHS
    else:
        assert arch in torchvision.models.list_models(module=torchvision.models)
    if "--backbone " in entry.used_by:
        assert arch in BACKBONES


def test_default_teachers_and_aliases_resolve():
    for family, arch in DEFAULT_ARCH.items():
        assert find(f"{family}:{arch}") is not None
    assert lookup("coco:fasterrcnn_resnet50_fpn") is REGISTRY["coco:fasterrcnn"]


def test_only_the_csail_resnet18_digest_is_unrecorded():
    assert [f.name for f in FILES if f.sha256 is None] == ["places365:resnet18"]
    assert REGISTRY["places365:resnet18"].digest_text == "SHA-256 not published"
    assert REGISTRY["imagenet:vgg16"].digest_matches(REGISTRY["imagenet:vgg16"].sha256)
    assert not REGISTRY["imagenet:vgg16"].digest_matches("397923af" + "0" * 56)  # the full digest, not the prefix


def test_a_digest_that_contradicts_the_file_name_is_refused():
    with pytest.raises(ValueError, match="disagrees with its file name"):
        dataclasses.replace(REGISTRY["imagenet:resnet18"], sha256="0" * 64)
    prefix_only = dataclasses.replace(REGISTRY["imagenet:resnet18"], sha256=None)
    assert prefix_only.digest_matches("f37072fd" + "1" * 56) and not prefix_only.digest_matches("1" * 64)
    assert prefix_only.digest_text == "SHA-256 starting f37072fd"


def test_the_report_lists_what_is_cached(tmp_path, monkeypatch):
    monkeypatch.setenv("XVIEW_HOME", str(tmp_path))
    entry = REGISTRY["imagenet:resnet18"]
    cached_path(entry).parent.mkdir(parents=True)
    cached_path(entry).write_bytes(b"\0" * (3 * 2**20))
    section = weights_section()
    assert section["folder"] == str(tmp_path / "weights") and section["downloads"].startswith("off (XVIEW_OFFLINE")
    assert section["imagenet:resnet18"] == f"cached, 3.0 MiB: {cached_path(entry)}"
    assert "imagenet:resnet18" not in section["not cached"] and "imagenet:vgg16" in section["not cached"]
    text = report_text(environment_report(nvidia=NvidiaInfo(None, None, (), "no nvidia-smi"), with_torch=False))
    assert f"[weights]\n  folder: {tmp_path / 'weights'}\n" in text
    assert f"  imagenet:resnet18: cached, 3.0 MiB: {cached_path(entry)}\n" in text
