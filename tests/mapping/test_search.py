"""The search grammar: parsing, binding to heads, semantics, errors; and the search tool's known answer."""

from __future__ import annotations

import numpy as np
import pytest
import rasterio
from mapping_fixtures import expected_alpha, mean_colour_model, random_rgb

from xview_engine.errors import QueryError
from xview_engine.mapping.grammar import Binary, Not, Term, Threshold, evaluate, heads_of, parse_query
from xview_engine.mapping.search import SearchParams, run_search
from xview_engine.model.manifest import BackboneSpec, HeadSpec, InputSpec, Manifest

MANIFEST = Manifest(
    kind="distill",
    backbone=BackboneSpec("tiny_cnn", {}),
    input=InputSpec(tile_px=16, gsd_m=1.0),
    heads=(
        HeadSpec("places365", "dirichlet", ("beach", "park", "parking lot")),
        HeadSpec("imagenet", "dirichlet", ("car", "sports car", "park bench")),
        HeadSpec("coco", "poisson", ("car", "tree")),
    ),
    hidden=8,
)
VALUES = {
    "places365": np.array([[0.7, 0.2, 0.1], [0.1, 0.8, 0.1]]),
    "imagenet": np.array([[0.5, 0.3, 0.2], [0.1, 0.1, 0.8]]),
    "coco": np.array([[3.0, 0.5], [0.2, 4.0]]),
}


def test_parse_precedence_and_binding():
    node = parse_query("imagenet:car>0.3 & places365:park | !beach", MANIFEST)
    assert isinstance(node, Binary) and node.op == "|"
    assert isinstance(node.left, Binary) and node.left.op == "&"
    assert node.left.left == Threshold(Term("imagenet", 0, "car", False), ">", 0.3)
    assert node.right == Not(Term("places365", 0, "beach", False))
    assert heads_of(node) == {"imagenet", "places365"}


def test_quoted_class_names_and_parentheses():
    node = parse_query('(places365:"parking lot" | park) & imagenet:\'sports car\' >= .5', MANIFEST)
    assert heads_of(node) == {"places365", "imagenet"}


@pytest.mark.parametrize(
    ("query", "logic", "expected"),
    [
        ("places365:beach", "product", [0.7, 0.1]),
        ("imagenet:car>0.3 & places365:park", "product", [0.2, 0.0]),
        ("beach | park", "product", [0.7 + 0.2 - 0.14, 0.1 + 0.8 - 0.08]),
        ("beach | park", "minmax", [0.7, 0.8]),
        ("beach & park", "minmax", [0.2, 0.1]),
        ("!beach", "product", [0.3, 0.9]),
        ("coco:car & park", "product", [0.6, 0.16]),
        ("coco:tree >= 1 | beach", "product", [0.7, 1.0]),
    ],
)
def test_semantics(query, logic, expected):
    np.testing.assert_allclose(evaluate(parse_query(query, MANIFEST, logic), VALUES, logic), expected)


def test_nan_tiles_stay_nan():
    values = {k: np.vstack([v, np.full((1, v.shape[1]), np.nan)]) for k, v in VALUES.items()}
    score = evaluate(parse_query("beach>0.5 | park", MANIFEST), values)
    assert np.isnan(score[-1]) and np.isfinite(score[:-1]).all()


@pytest.mark.parametrize(
    ("query", "match"),
    [
        ("", "empty"),
        ("car", "in heads imagenet, coco; write head:car"),
        ("places365:beech", "no class 'beech'"),
        ("foo:beach", "no head 'foo'"),
        ("beach &", "expected a class name, found the end"),
        ("beach > x", "expected a number"),
        ("(beach", r"expected '\)'"),
        ("beach park", "unexpected 'park'"),
        ("coco:car | beach", "threshold it first"),
        ("!coco:car", "needs a probability"),
        ("unicorn", "no head has a class 'unicorn'"),
    ],
)
def test_errors(query, match):
    with pytest.raises(QueryError, match=match.replace("(", r"\(") if match.startswith("in heads") else match):
        parse_query(query, MANIFEST)


def test_minmax_refuses_raw_counts():
    with pytest.raises(QueryError, match="threshold"):
        parse_query("coco:car & park", MANIFEST, "minmax")
    with pytest.raises(QueryError, match="unknown logic"):
        parse_query("park", MANIFEST, "fuzzy")


def test_search_known_answer(tmp_path):
    data = random_rgb(tmp_path / "rgb.tif")
    model = mean_colour_model(tmp_path / "m.safetensors", gsd_m=10.0)
    result = run_search(SearchParams(raster=str(tmp_path / "rgb.tif"), model=str(model), device="cpu",
                                     query="colour:red>0.33 & colour:green", out=str(tmp_path / "s.tif")))
    means = np.array([[data[:, r * 8:r * 8 + 16, c * 8:c * 8 + 16].mean(axis=(1, 2)) for c in range(7)]
                      for r in range(5)])
    alpha = expected_alpha(means)
    prob = alpha / alpha.sum(-1, keepdims=True)
    expected = (prob[..., 0] > 0.33) * prob[..., 1]
    with rasterio.open(result.path) as ds:
        score = ds.read(1)
        assert ds.descriptions[0] == "search:score:colour:red>0.33 & colour:green"
        assert ds.tags()["xview_query"] == "colour:red>0.33 & colour:green"
    near_threshold = np.abs(prob[..., 0] - 0.33) < 1e-3
    np.testing.assert_allclose(score[~near_threshold], expected[~near_threshold], atol=1e-4)
    assert result.tiles_run == 35


def test_a_time_aware_model_is_searched_at_the_time_given_as_its_map(tmp_path, capsys):
    """`xview search --time`: the term's score is the map's probability at that time, tile for tile."""
    from time_fixtures import tiny_time_model

    from xview_engine.cli.main import main
    from xview_engine.errors import SourceError
    from xview_engine.mapping.map import MapParams, run_map

    random_rgb(tmp_path / "rgb.tif", width=64, height=48, pixel=2.0)
    raster, model = str(tmp_path / "rgb.tif"), str(tiny_time_model(tmp_path))
    base = {"raster": raster, "model": model, "query": "snow:snow", "device": "cpu"}
    with pytest.raises(SourceError, match="give --time"):
        run_search(SearchParams(**base, out=str(tmp_path / "none.tif")))
    assert not (tmp_path / "none.tif").exists()
    winter = "2026-01-15T08:00"
    assert main(["search", raster, "--model", model, "--query", "snow:snow", "--time", winter, "--device", "cpu",
                 "-o", str(tmp_path / "winter.tif")]) == 0, capsys.readouterr().err
    run_search(SearchParams(**base, out=str(tmp_path / "summer.tif"), time="2026-07-15T08:00"))
    run_map(MapParams(raster=raster, model=model, out_dir=str(tmp_path / "map"), head="snow", products=("prob",),
                      classes=("snow",), time=winter, device="cpu"))
    with rasterio.open(tmp_path / "winter.tif") as ds:
        score, tags = ds.read(1, masked=True), ds.tags()
    with rasterio.open(tmp_path / "summer.tif") as ds:
        summer = ds.read(1, masked=True)
    with rasterio.open(tmp_path / "map" / "snow_prob.tif") as ds:
        mapped = ds.read(1, masked=True)
    assert score.count() > 0 and score.shape == mapped.shape
    np.testing.assert_allclose(score.filled(np.nan), mapped.filled(np.nan), atol=1e-6)
    assert tags["xview_time"] == winter
    assert not np.allclose(summer.compressed(), score.compressed(), atol=1e-4)  # the time matters
    blind = mean_colour_model(tmp_path / "blind.safetensors", gsd_m=2.0)
    with pytest.raises(SourceError, match="does not take the time"):
        run_search(SearchParams(raster=raster, model=str(blind), query="colour:red", device="cpu", time=winter,
                                out=str(tmp_path / "blind.tif")))
