"""Hostile manifests: every field typed and bounded, every size compared with the header's tensor shapes.

Sizes that would allocate hundreds of GB if built for real (tiny_cnn width 1024, depth 8, hidden 65536,
100 000 classes) must be refused from the header alone: a regression here would crash the test, not
pass it. Every model kind (distill, twin, siamese, knn) is checked the same way.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

import pytest
from model_file_fixtures import Header, edit_header, edit_manifest, four_bands, refused, set_in

from xview_engine.errors import ManifestError, ModelFileError
from xview_engine.model.file import MANIFEST_KEY, build_network, load_model, read_manifest, save_model
from xview_engine.model.manifest import BackboneSpec, HeadSpec, InputSpec, Manifest

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




@pytest.mark.parametrize(
    ("edit", "match"),
    [
        (set_in("heads", "0", "name", value="scene.v2"), "head name 'scene.v2' must be an identifier"),
        (set_in("heads", "0", "name", value="keys"), "head name 'keys' must be an identifier"),
        (set_in("heads", "0", "name", value="1st"), "must be an identifier"),
        (set_in("heads", "0", "name", value=""), "must be an identifier"),
        (set_in("heads", "0", "name", value=7), "field 'heads\\[0\\].name' must be a string"),
        (set_in("heads", "1", "name", value="scene"), "head names repeat: 'scene'"),
        (set_in("heads", "0", "labels", value=["a", "b", "a"]), "head 'scene' labels repeat: 'a'"),
        (set_in("heads", "0", "labels", value=["a", "b\x00"]), "must be printable text"),
        (set_in("heads", "0", "labels", value=["a", 2]), "must be printable text"),
        (set_in("heads", "0", "labels", value="ab"), "'heads\\[0\\].labels' must be a list"),
        (set_in("heads", "0", value="scene"), "heads\\[0\\] must be an object"),
        (set_in("input", "bands", value=["red", "gren", "blue"]), "unknown band name 'gren'"),
        (set_in("input", "bands", value=["red", "red", "blue"]), "input.bands repeat: 'red'"),
        (set_in("input", "bands", value="rgb"), "'input.bands' must be a list"),
        (set_in("input", "mean", value=[0.5, "nan", 0.5]), "input.mean must be finite numbers"),
        (set_in("input", "std", value=[0.5, 0, 0.5]), "input.std must be positive finite numbers"),
        (set_in("input", "std", value=[0.5, -1, 0.5]), "input.std must be positive finite numbers"),
        (set_in("input", "std", value=[0.5, 10**400, 0.5]), "input.std must be positive finite numbers"),
        (set_in("input", "tile_px", value=10**6), "input.tile_px must be an integer from 8 to 4096"),
        (set_in("input", "tile_px", value=16.0), "'input.tile_px' must be an integer"),
        (set_in("input", "gsd_m", value=True), "'input.gsd_m' must be a number"),
        (set_in("hidden", value=10**9), "hidden must be an integer from 1 to 65536, got 1000000000"),
        (set_in("hidden", value=-8), "hidden must be an integer from 1"),
        (set_in("backbone", "options", "depth", value=100), "backbone.options.depth must be an integer from 1 to 8"),
        (set_in("backbone", "options", "width", value=1048576), "backbone.options.width must be an integer from 1 to"),
        (set_in("backbone", "options", "width", value=-4), "backbone.options.width must be an integer"),
        (set_in("backbone", "options", "width", value=4.0), "backbone.options.width must be an integer"),
        (set_in("backbone", "options", "width", value=True), "backbone.options.width must be an integer"),
        (set_in("backbone", "options", "colour", value=1), "has no option 'colour' \\(its options: depth, width\\)"),
        (set_in("backbone", "options", value=[1]), "'backbone.options' must be an object"),
        (set_in("format_version", value=True), "format version True is not supported"),
        (set_in("kind", value="magic"), "kind 'magic' is unknown"),
    ],
)
def test_manifest_fields_are_typed_and_bounded(model, edit, match) -> None:
    refused(edit_manifest(model, edit), match, ManifestError)



@pytest.mark.parametrize(
    ("edit", "match"),
    [
        (set_in("backbone", "options", "width", value=8),
         r"backbone tiny_cnn depth=2, width=8.*wrong shapes: backbone\.0\.bias is \(4,\), expected \(8,\)"),
        (set_in("backbone", "options", "width", value=1024),
         r"width=1024.*wrong shapes: backbone\.0\.bias is \(4,\), expected \(1024,\)"),
        (set_in("backbone", "options", "depth", value=8), r"missing tensors: backbone\.10\.bias"),
        (set_in("hidden", value=65536), r"hidden 65536.*heads\.objects\.fc1\.bias is \(8,\), expected \(65536,\)"),
        (set_in("heads", "0", "labels", value=[f"c{i}" for i in range(100_000)]),
         r"scene 100000 labels.*heads\.scene\.fc2\.bias is \(12,\), expected \(100000,\)"),
        (four_bands, r"4 bands.*backbone\.0\.weight is \(4, 3, 3, 3\), expected \(4, 4, 3, 3\)"),
        (set_in("heads", "1", "name", value="counts"), r"missing tensors: heads\.counts.*unexpected"),
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
        ("twin", set_in("backbone", "name", value="vgg16"), r"twin model, backbone vgg16.*missing", ModelFileError),
        ("twin", four_bands, r"4 bands.*wrong shapes: ground_branch\.0\.weight", ModelFileError),
        ("twin", set_in("backbone", "options", "polar_w", value=10**7), "polar_w must be an integer from 1 to 4096",
         ManifestError),
        ("twin", set_in("backbone", "options", "polar_h", value="32"), "polar_h must be an integer", ManifestError),
        ("siamese", set_in("hidden", value=64), r"hidden 64.*aerial\.project\.bias is \(8,\), expected \(64,\)",
         ModelFileError),
        ("siamese", set_in("network", "shared", value=True), r"missing tensors: branches\.shared", ModelFileError),
        ("siamese", set_in("network", "photo_px", value=[16, 10**6]), "photo_px must be an integer from 8 to 4096",
         ManifestError),
        ("siamese", set_in("network", "photo_std", value=[0.5, 0.0, 0.5]), "photo_std must be 3 finite numbers > 0",
         ManifestError),
        ("siamese", set_in("network", "calibration", value={"slope": "x"}), "calibration", ManifestError),
        ("knn", set_in("backbone", "options", "references", value=1000), r"photos is \(3, 10\), expected \(1000",
         ModelFileError),
        ("knn", set_in("backbone", "options", "references", value=10**12), "references must be an integer from 0 to",
         ManifestError),
        ("knn", set_in("backbone", "options", "classes", value=20), "10 feature columns but layer fc8", ManifestError),
        ("knn", set_in("backbone", "options", "classes", value=-1), "classes must be an integer from 1", ManifestError),
        ("knn", set_in("backbone", "options", "layer", value=["fc8"]), r"layer \['fc8'\] is unknown", ManifestError),
        ("knn", set_in("heads", value=[]), "one head 'features', not 0", ManifestError),
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


def test_a_default_head_name_list_is_valid() -> None:
    """The shipped label spaces pass the new checks (COCO's repeated 'N/A' placeholders included)."""
    from xview_engine.model.manifest import default_manifest

    default_manifest().validate()
    Manifest("distill", TINY, InputSpec(16, 1.0), (HeadSpec("coco", "poisson", ("N/A", "car", "N/A")),)).validate()

