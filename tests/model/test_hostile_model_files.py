"""Hostile model files: every damaged header or manifest is one clean ModelFileError, never a build.

Each class of damage (the safetensors header's framing, JSON, entries and byte layout; the manifest's
types, bounds and agreement with the tensor shapes) has an explicit case naming its message; a seeded
generator then throws a few hundred mutated files at the reader, and two cases go through the CLI.
Sizes that would allocate hundreds of GB if built for real (tiny_cnn width 1024, depth 8) must be
refused from the header alone: a regression here would crash the test, not pass it.
"""

from __future__ import annotations

import json
import random
import struct
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pytest
import torch
from mapping_fixtures import tiny_model
from test_faults import assert_one_line_error, finish, inputs, xview  # noqa: F401  (fixture)

from xview_engine.errors import ManifestError, ModelFileError
from xview_engine.model.file import MANIFEST_KEY, build_network, load_model, read_manifest, save_model
from xview_engine.model.manifest import BackboneSpec, HeadSpec, InputSpec, Manifest

Header = dict[str, Any]


def split(path: Path) -> tuple[Header, bytes]:
    raw = path.read_bytes()
    (n,) = struct.unpack("<Q", raw[:8])
    return json.loads(raw[8 : 8 + n]), raw[8 + n :]


def write(path: Path, header: Header | bytes, data: bytes) -> Path:
    text = header if isinstance(header, bytes) else json.dumps(header).encode()
    path.write_bytes(struct.pack("<Q", len(text)) + text + data)
    return path


def edit_header(path: Path, edit: Callable[[Header], Any]) -> Path:
    header, data = split(path)
    edit(header)
    return write(path, header, data)


def edit_manifest(path: Path, edit: Callable[[dict[str, Any]], Any]) -> Path:
    def change(header: Header) -> None:
        manifest = json.loads(header["__metadata__"][MANIFEST_KEY])
        edit(manifest)
        header["__metadata__"][MANIFEST_KEY] = json.dumps(manifest)

    return edit_header(path, change)


@pytest.fixture
def model(tmp_path) -> Path:
    """tiny_cnn width 4 depth 2, hidden 8, a 12-class Dirichlet head 'scene' and a Poisson head 'objects'."""
    return tiny_model(tmp_path / "m.safetensors", gsd_m=1.0)


def refused(path: Path, match: str, error: type[Exception] = ModelFileError) -> None:
    """Both the cheap manifest read and the full load refuse ``path`` with ``match``."""
    for read in (read_manifest, load_model):
        with pytest.raises(error, match=match):
            read(path)


W = "backbone.0.weight"  # F32 (4, 3, 3, 3) at bytes [32, 464) of the data


def first_tensor(header: Header) -> str:
    return min((k for k in header if k != "__metadata__"), key=lambda k: header[k]["data_offsets"][0])


# --- the header's framing and JSON -----------------------------------------------------------------------------

def test_empty_and_tiny_files(tmp_path) -> None:
    (tmp_path / "zero.safetensors").write_bytes(b"")
    refused(tmp_path / "zero.safetensors", r"is empty \(0 bytes\)")
    (tmp_path / "three.safetensors").write_bytes(b"abc")
    refused(tmp_path / "three.safetensors", r"empty or truncated \(3 bytes\)")


@pytest.mark.parametrize("length", [2**63, 2**40, 10**6, 1, 0])
def test_absurd_header_length(model, length) -> None:
    raw = model.read_bytes()
    model.write_bytes(struct.pack("<Q", length) + raw[8:])
    refused(model, f"header length {length}, file size {len(raw)} bytes")


@pytest.mark.parametrize(
    ("text", "match"),
    [
        (b"not json!!", "header is not valid JSON"),
        (b"\xff\xfe{}", "header is not UTF-8 text"),
        (b"[1, 2]", "header is a JSON list, not an object"),
        (b'"x"', "header is a JSON str, not an object"),
        (b"[" * 100_000 + b"]" * 100_000, "header is nested too deeply"),
        (b'{"a":' + b"[" * 40 + b"]" * 40 + b"}", "header is nested more than 32 levels"),
        (b'{"a": NaN}', "NaN is not a JSON number"),
        (b'{"a": 1, "a": 2}', "the key 'a' appears twice"),
        (b'{"a": ' + b"9" * 5000 + b"}", "header is not valid JSON"),
    ],
)
def test_header_that_is_not_a_json_object(tmp_path, text, match) -> None:
    refused(write(tmp_path / "h.safetensors", text, b""), match)


# --- header entries ----------------------------------------------------------------------------------------------

def _set(key: str, value: Any) -> Callable[[Header], None]:
    def edit(header: Header) -> None:
        header[W][key] = value

    return edit


@pytest.mark.parametrize(
    ("edit", "match"),
    [
        (lambda h: h.update({"__metadata__": ["x"]}), "__metadata__ must map names to strings"),
        (lambda h: h["__metadata__"].update({"note": 3}), "__metadata__ must map names to strings"),
        (lambda h: h.update({W: 5}), f"entry '{W}' is a int, not an object"),
        (lambda h: h.update({W: [1, 2]}), "is a list, not an object"),
        (_set("dtype", "F128"), "unknown dtype 'F128'"),
        (_set("dtype", ["F32"]), r"unknown dtype \['F32'\]"),
        (_set("shape", "4,3"), "shape must be a list"),
        (_set("shape", [-4, 3, 3, 3]), "shape must be a list"),
        (_set("shape", [4.0, 3, 3, 3]), "shape must be a list"),
        (_set("shape", [True, 3, 3, 3]), "shape must be a list"),
        (_set("shape", [1] * 9), "at most 8"),
        (_set("shape", [4, 3, 3, 4]), "takes 576 bytes but its data_offsets"),
        (_set("data_offsets", [32]), r"data_offsets must be \[start, end\]"),
        (_set("data_offsets", ["32", "464"]), r"data_offsets must be \[start, end\]"),
        (_set("data_offsets", [-400, 32]), r"data_offsets must be \[start, end\]"),
        (_set("data_offsets", [32.0, 464.0]), r"data_offsets must be \[start, end\]"),
        (_set("data_offsets", None), r"data_offsets must be \[start, end\]"),
        (_set("data_offsets", [464, 32]), r"data_offsets \[464, 32\] span -432"),
    ],
)
def test_malformed_header_entries(model, edit, match) -> None:
    refused(edit_header(model, edit), match)


def test_offsets_that_overlap_leave_holes_or_run_past_the_end(model, tmp_path) -> None:
    header, data = split(model)
    names = sorted((k for k in header if k != "__metadata__"), key=lambda k: header[k]["data_offsets"][0])
    second = header[names[1]]
    start, end = second["data_offsets"]
    overlapping = json.loads(json.dumps(header))
    overlapping[names[1]]["data_offsets"] = [start - 4, end - 4]
    refused(write(tmp_path / "a.safetensors", overlapping, data), f"overlaps tensor '{names[0]}'")
    holed = {k: v for k, v in header.items() if k != names[1]}
    refused(write(tmp_path / "b.safetensors", holed, data), "leaves a hole before it")
    refused(write(tmp_path / "c.safetensors", header, data + b"\0" * 16), "16 bytes after its last tensor")
    refused(write(tmp_path / "d.safetensors", header, data[:-16]), "is truncated: its tensors need")
    far = json.loads(json.dumps(header))
    last_start, last_end = header[names[-1]]["data_offsets"]
    far[names[-1]]["data_offsets"] = [2**62, 2**62 + last_end - last_start]
    refused(write(tmp_path / "e.safetensors", far, data), "is truncated")


# --- the manifest ------------------------------------------------------------------------------------------------

def _manifest_text(text: str) -> Callable[[Header], None]:
    return lambda h: h["__metadata__"].update({MANIFEST_KEY: text})


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("{broken", "manifest is not valid JSON"),
        ("[" * 100_000 + "]" * 100_000, "manifest is nested too deeply"),
        ('{"training": ' + '{"a": ' * 100 + "1" + "}" * 100 + "}", "manifest is nested more than 32 levels"),
        ("[]", "manifest is a JSON list"),
    ],
)
def test_manifest_json_that_cannot_be_a_manifest(model, text, match) -> None:
    refused(edit_header(model, _manifest_text(text)), match, ManifestError)


def _in(*keys: str, value: Any) -> Callable[[dict[str, Any]], None]:
    def edit(manifest: dict[str, Any]) -> None:
        target = manifest
        for key in keys[:-1]:
            target = target[int(key)] if isinstance(target, list) else target[key]
        target[int(keys[-1]) if isinstance(target, list) else keys[-1]] = value

    return edit


@pytest.mark.parametrize(
    ("edit", "match"),
    [
        (_in("heads", "0", "name", value="scene.v2"), "head name 'scene.v2' must be an identifier"),
        (_in("heads", "0", "name", value="keys"), "head name 'keys' must be an identifier"),
        (_in("heads", "0", "name", value="1st"), "must be an identifier"),
        (_in("heads", "0", "name", value=""), "must be an identifier"),
        (_in("heads", "0", "name", value=7), "field 'heads\\[0\\].name' must be a string"),
        (_in("heads", "1", "name", value="scene"), "head names repeat: 'scene'"),
        (_in("heads", "0", "labels", value=["a", "b", "a"]), "head 'scene' labels repeat: 'a'"),
        (_in("heads", "0", "labels", value=["a", "b\x00"]), "must be printable text"),
        (_in("heads", "0", "labels", value=["a", 2]), "must be printable text"),
        (_in("heads", "0", "labels", value="ab"), "'heads\\[0\\].labels' must be a list"),
        (_in("heads", "0", value="scene"), "heads\\[0\\] must be an object"),
        (_in("input", "bands", value=["red", "gren", "blue"]), "unknown band name 'gren'"),
        (_in("input", "bands", value=["red", "red", "blue"]), "input.bands repeat: 'red'"),
        (_in("input", "bands", value="rgb"), "'input.bands' must be a list"),
        (_in("input", "mean", value=[0.5, "nan", 0.5]), "input.mean must be finite numbers"),
        (_in("input", "std", value=[0.5, 0, 0.5]), "input.std must be positive finite numbers"),
        (_in("input", "std", value=[0.5, -1, 0.5]), "input.std must be positive finite numbers"),
        (_in("input", "std", value=[0.5, 10**400, 0.5]), "input.std must be positive finite numbers"),
        (_in("input", "tile_px", value=10**6), "input.tile_px must be an integer from 8 to 4096"),
        (_in("input", "tile_px", value=16.0), "'input.tile_px' must be an integer"),
        (_in("input", "gsd_m", value=True), "'input.gsd_m' must be a number"),
        (_in("hidden", value=10**9), "hidden must be an integer from 1 to 65536, got 1000000000"),
        (_in("hidden", value=-8), "hidden must be an integer from 1"),
        (_in("backbone", "options", "depth", value=100), "backbone.options.depth must be an integer from 1 to 8"),
        (_in("backbone", "options", "width", value=1048576), "backbone.options.width must be an integer from 1 to"),
        (_in("backbone", "options", "width", value=-4), "backbone.options.width must be an integer"),
        (_in("backbone", "options", "width", value=4.0), "backbone.options.width must be an integer"),
        (_in("backbone", "options", "width", value=True), "backbone.options.width must be an integer"),
        (_in("backbone", "options", "colour", value=1), "has no option 'colour' \\(its options: depth, width\\)"),
        (_in("backbone", "options", value=[1]), "'backbone.options' must be an object"),
        (_in("format_version", value=True), "format version True is not supported"),
        (_in("kind", value="magic"), "kind 'magic' is unknown"),
    ],
)
def test_manifest_fields_are_typed_and_bounded(model, edit, match) -> None:
    refused(edit_manifest(model, edit), match, ManifestError)


def four_bands(manifest: dict[str, Any]) -> None:
    manifest["input"].update(bands=["red", "green", "blue", "nir"], mean=[0.5] * 4, std=[0.5] * 4)


@pytest.mark.parametrize(
    ("edit", "match"),
    [
        (_in("backbone", "options", "width", value=8),
         r"backbone tiny_cnn depth=2, width=8.*wrong shapes: backbone\.0\.bias is \(4,\), expected \(8,\)"),
        (_in("backbone", "options", "width", value=1024),
         r"width=1024.*wrong shapes: backbone\.0\.bias is \(4,\), expected \(1024,\)"),
        (_in("backbone", "options", "depth", value=8), r"missing tensors: backbone\.10\.bias"),
        (_in("hidden", value=65536), r"hidden 65536.*heads\.objects\.fc1\.bias is \(8,\), expected \(65536,\)"),
        (_in("heads", "0", "labels", value=[f"c{i}" for i in range(100_000)]),
         r"scene 100000 labels.*heads\.scene\.fc2\.bias is \(12,\), expected \(100000,\)"),
        (four_bands, r"4 bands.*backbone\.0\.weight is \(4, 3, 3, 3\), expected \(4, 4, 3, 3\)"),
        (_in("heads", "1", "name", value="counts"), r"missing tensors: heads\.counts.*unexpected tensors: heads\.obj"),
    ],
)
def test_sizes_that_disagree_with_the_tensors_are_refused_before_any_build(model, edit, match) -> None:
    edit_manifest(model, edit)
    with pytest.raises(ModelFileError, match="tensors do not match the manifest"):
        read_manifest(model)
    refused(model, match)


def test_non_finite_numbers_in_a_manifest(model) -> None:
    def swap(old: str, new: str) -> Callable[[Header], None]:
        def edit(header: Header) -> None:
            text = header["__metadata__"][MANIFEST_KEY]
            assert old in text
            header["__metadata__"][MANIFEST_KEY] = text.replace(old, new)

        return edit

    refused(edit_header(model, swap('"mean":[0.5,0.5,0.5]', '"mean":[0.5,1e999,0.5]')),
            "input.mean must be finite numbers", ManifestError)
    refused(edit_header(model, swap('"mean":[0.5,1e999,0.5]', '"mean":[0.5,NaN,0.5]')),
            "manifest is not valid JSON .NaN is not a JSON number", ManifestError)
    with pytest.raises(ManifestError, match="input.mean must be finite"):
        InputSpec(16, 1.0, mean=(0.5, float("nan"), 0.5)).validate()


def test_hostile_manifest_sizes_together_never_allocate(model) -> None:
    """Width 1024, depth 8, hidden 65536 and 100 000 classes: about 1 TB if built for real."""
    def edit(manifest: dict[str, Any]) -> None:
        manifest["backbone"]["options"] = {"width": 1024, "depth": 8}
        manifest["hidden"] = 65536
        manifest["heads"][0]["labels"] = [f"c{i}" for i in range(100_000)]

    refused(edit_manifest(model, edit), "tensors do not match the manifest")


# --- the other model kinds ---------------------------------------------------------------------------------------

TINY = BackboneSpec("tiny_cnn", {"width": 4, "depth": 2})


def other_kinds() -> dict[str, Manifest]:
    from xview_engine.model.feature_net import feature_manifest
    from xview_engine.model.siamese import siamese_manifest
    from xview_engine.model.twin import twin_manifest

    return {
        "twin": twin_manifest(tile_px=16, polar_h=32, polar_w=64),
        "siamese": siamese_manifest(TINY, 16, 1.0, 8, False, (16, 32)),
        "knn": feature_manifest("mobilenet_v3_small", 10, "imagenet", "fc8", tuple(f"c{i}" for i in range(10)),
                                16, 1.0, references=3, k=2),
    }


@pytest.fixture(scope="module")
def kind_files(tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("kinds")
    return {kind: save_model(build_network(m), m, folder / f"{kind}.safetensors") for kind, m in other_kinds().items()}


@pytest.mark.parametrize(
    ("kind", "edit", "match", "error"),
    [
        ("twin", _in("backbone", "name", value="vgg16"), r"twin model, backbone vgg16.*missing", ModelFileError),
        ("twin", four_bands, r"4 bands.*wrong shapes: ground_branch\.0\.weight", ModelFileError),
        ("twin", _in("backbone", "options", "polar_w", value=10**7), "polar_w must be an integer from 1 to 4096",
         ManifestError),
        ("twin", _in("backbone", "options", "polar_h", value="32"), "polar_h must be an integer", ManifestError),
        ("siamese", _in("hidden", value=64), r"hidden 64.*branches\.aerial\.project\.bias is \(8,\), expected \(64,\)",
         ModelFileError),
        ("siamese", _in("network", "shared", value=True), r"missing tensors: branches\.shared", ModelFileError),
        ("siamese", _in("network", "photo_px", value=[16, 10**6]), "photo_px must be an integer from 8 to 4096",
         ManifestError),
        ("siamese", _in("network", "photo_std", value=[0.5, 0.0, 0.5]), "photo_std must be 3 finite numbers > 0",
         ManifestError),
        ("siamese", _in("network", "calibration", value={"intercept": 1, "slope": "x"}), "calibration", ManifestError),
        ("knn", _in("backbone", "options", "references", value=1000), r"reference_photos is \(3, 10\), expected \(1000",
         ModelFileError),
        ("knn", _in("backbone", "options", "references", value=10**12), "references must be an integer from 0 to",
         ManifestError),
        ("knn", _in("backbone", "options", "classes", value=20), "10 feature columns but layer fc8", ManifestError),
        ("knn", _in("backbone", "options", "classes", value=-1), "classes must be an integer from 1", ManifestError),
        ("knn", _in("backbone", "options", "layer", value=["fc8"]), r"layer \['fc8'\] is unknown", ManifestError),
        ("knn", _in("heads", value=[]), "one head 'features', not 0", ManifestError),
    ],
)
def test_every_kind_checks_its_sizes_against_the_header(kind_files, tmp_path, kind, edit, match, error) -> None:
    path = tmp_path / f"{kind}.safetensors"
    path.write_bytes(kind_files[kind].read_bytes())
    refused(edit_manifest(path, edit), match, error)


def test_every_kind_still_loads(kind_files) -> None:
    for kind, path in kind_files.items():
        assert read_manifest(path).kind == kind
        assert load_model(path).manifest == other_kinds()[kind]


# --- generated hostile files --------------------------------------------------------------------------------------

HOSTILE_VALUES: list[Any] = [
    -1, 0, 1, 3, 2**31, 2**64, 10**400, 0.5, -0.0, 1e308, True, False, None, "", "x", "F32", "a.b", [], [0], [-1, 2],
    [0.5, 0.5], ["red"], {}, {"a": 1}, [[[]]], "nan", 1e999,
]


def _paths(value: Any, prefix: tuple = ()) -> list[tuple]:
    """Every path to a value in parsed JSON."""
    found = [prefix] if prefix else []
    if isinstance(value, dict):
        for key, child in value.items():
            found += _paths(child, (*prefix, key))
    elif isinstance(value, list):
        for k, child in enumerate(value[:4]):  # the first few items of long label lists are enough
            found += _paths(child, (*prefix, k))
    return found


def _replace(tree: Any, path: tuple, value: Any) -> None:
    for key in path[:-1]:
        tree = tree[key]
    tree[path[-1]] = value


def _mutants(model: Path, rng: random.Random) -> list[tuple[str, bytes]]:
    raw = model.read_bytes()
    header, data = split(model)
    manifest = json.loads(header["__metadata__"][MANIFEST_KEY])
    out = []
    for path in _paths(manifest):
        for value in rng.sample(HOSTILE_VALUES, 3):
            changed = json.loads(json.dumps(manifest))
            _replace(changed, path, value)
            edited = {**header, "__metadata__": {MANIFEST_KEY: json.dumps(changed)}}
            out.append((f"manifest {path} = {value!r}", _bytes(edited, data)))
    header_paths = [p for p in _paths(header) if p[0] != "__metadata__" or len(p) == 1]
    for path in rng.sample(header_paths, 60):
        value = rng.choice(HOSTILE_VALUES)
        changed = json.loads(json.dumps(header))
        _replace(changed, path, value)
        out.append((f"header {path} = {value!r}", _bytes(changed, data)))
    header_end = 8 + struct.unpack("<Q", raw[:8])[0]
    for _ in range(80):
        at, flipped = rng.randrange(header_end), bytearray(raw)
        flipped[at] = rng.randrange(256)
        out.append((f"byte {at} = {flipped[at]}", bytes(flipped)))
    out += [(f"first {n} bytes", raw[:n]) for n in rng.sample(range(len(raw)), 40)]
    return out


def _bytes(header: Header, data: bytes) -> bytes:
    text = json.dumps(header).encode()
    return struct.pack("<Q", len(text)) + text + data


def test_generated_hostile_files_load_or_fail_cleanly(model, tmp_path) -> None:
    """Any mutant either loads (and runs) or raises ModelFileError: never another exception, never a build."""
    outcomes = {"loaded": 0, "refused": 0}
    path = tmp_path / "mutant.safetensors"
    for what, content in _mutants(model, random.Random(11)):
        path.write_bytes(content)
        try:
            loaded = load_model(path)
        except ModelFileError as exc:
            assert "\n" not in str(exc), what
            outcomes["refused"] += 1
            continue
        except Exception as exc:  # pragma: no cover - the failure message is the point
            pytest.fail(f"{what}: {type(exc).__name__}: {exc}")
        outcomes["loaded"] += 1
        size = loaded.manifest.input.tile_px
        out = loaded.model(torch.zeros(1, len(loaded.manifest.input.bands), size, size))
        assert all(np.isfinite(v.detach().numpy()).all() for v in out.values()), what
    assert outcomes["refused"] > 250 and outcomes["loaded"] > 5, outcomes


# --- through the command line -------------------------------------------------------------------------------------

def test_info_on_a_hostile_header_is_one_line(model, tmp_path) -> None:
    edit_header(model, lambda h: h.update({first_tensor(h): {"dtype": "F32", "shape": [1], "data_offsets": [0]}}))
    code, err = finish(xview("info", str(model)))
    assert_one_line_error(code, err, str(model), "data_offsets must be [start, end]")
    (tmp_path / "zero.safetensors").write_bytes(b"")
    code, err = finish(xview("info", str(tmp_path / "zero.safetensors")))
    assert_one_line_error(code, err, "is empty (0 bytes)")


def test_map_with_a_model_too_big_for_its_tensors_is_one_line(inputs, tmp_path) -> None:  # noqa: F811
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(inputs["model"].read_bytes())
    edit_manifest(bad, _in("hidden", value=65536))
    out = tmp_path / "out"
    code, err = finish(xview("map", str(inputs["raster"]), "--model", str(bad), "--out-dir", str(out)))
    assert_one_line_error(code, err, "tensors do not match the manifest", "hidden 65536")
    assert not out.exists() or not any(out.iterdir())


def test_a_default_head_name_list_is_valid() -> None:
    """The shipped label spaces pass the new checks (COCO's repeated 'N/A' placeholders included)."""
    from xview_engine.model.manifest import default_manifest

    default_manifest().validate()
    Manifest("distill", TINY, InputSpec(16, 1.0), (HeadSpec("coco", "poisson", ("N/A", "car", "N/A")),)).validate()


def test_a_header_length_that_starts_like_a_pickle_still_loads(model, tmp_path) -> None:
    """A length whose low byte is 0x80 (pickle's first byte) is a safetensors file when '{' follows."""
    header, data = split(model)
    text = json.dumps(header).encode()
    text += b" " * ((0x80 - len(text)) % 256)  # safetensors pads its header with spaces too
    path = write(tmp_path / "m.safetensors", text, data)
    assert path.read_bytes()[0] == 0x80
    assert load_model(path).manifest == read_manifest(model)
