"""The synthetic world: determinism, georeferencing, EXIF, heading dependence, classes, splits."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
import rasterio
from PIL import Image
from pyproj import CRS, Transformer

from xview_engine.cli.main import main
from xview_engine.data.exif import read_geotag
from xview_engine.errors import Cancelled, SynthError
from xview_engine.resources import resource_path
from xview_engine.synth import labels, landcover, objects
from xview_engine.synth.params import SynthParams
from xview_engine.synth.photos import Shot, render_photo
from xview_engine.synth.world import build_world, choose_shots, make_world, split_of

SMALL = SynthParams(seed=3, size_m=300, gsd=1.0, photos=20)


@pytest.fixture(scope="module")
def small_world(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("synth") / "world"
    make_world(SMALL, out)
    return out


def _pairs(world: Path) -> list[dict]:
    with open(world / "pairs.csv", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def _all_bytes(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_same_seed_same_bytes_other_seed_differs(small_world, tmp_path):
    make_world(SMALL, tmp_path / "again")
    assert _all_bytes(tmp_path / "again") == _all_bytes(small_world)
    make_world(SynthParams(seed=4, size_m=300, gsd=1.0, photos=20), tmp_path / "other")
    other = _all_bytes(tmp_path / "other")
    assert other["overhead.tif"] != _all_bytes(small_world)["overhead.tif"]
    assert other["photos/00000.jpg"] != _all_bytes(small_world)["photos/00000.jpg"]


def test_outputs_and_readme(small_world):
    names = {p.name for p in small_world.iterdir()}
    assert {"overhead.tif", "landcover.tif", "photos", "labels.json", "labels.npz", "pairs.csv", "README.txt"} <= names
    assert not [n for n in names if n.startswith(".")], "no temporary files left behind"
    assert "SYNTHETIC" in (small_world / "README.txt").read_text()
    assert len(list((small_world / "photos").glob("*.jpg"))) == 20


def test_georeferencing_real_utm_coordinates(small_world):
    with rasterio.open(small_world / "overhead.tif") as src:
        assert CRS.from_wkt(src.crs.to_wkt()).to_epsg() == 32633  # pyproj: see xview_engine.raster.crs on PROJ_DATA
        assert src.count == 3 and src.dtypes[0] == "uint8"
        # pixels are 1 m on the ground: 1 / k CRS units, k = UTM scale factor (0.9996 .. 1.0004 here)
        assert src.res[0] == src.res[1] == pytest.approx(1.0, rel=1e-3) and src.width == src.height == 300
        assert src.profile["tiled"] and src.compression is not None
        assert src.tags()["SYNTHETIC"] == "yes"
        centre = src.xy(150, 150)
    lon, lat = Transformer.from_crs("EPSG:32633", "EPSG:4326", always_xy=True).transform(*centre)
    assert abs(lon - 16.40) < 0.01 and abs(lat - 43.50) < 0.01  # on the Adriatic coast, in zone 33
    with rasterio.open(small_world / "landcover.tif") as lc_src:
        assert lc_src.transform == rasterio.open(small_world / "overhead.tif").transform
        assert lc_src.descriptions == ("landcover", "objects")


def test_web_mercator_pixels_are_square_on_the_ground(tmp_path):
    world = build_world(SynthParams(seed=1, size_m=200, gsd=1.0, photos=0, crs="EPSG:3857"))
    res = world.georef.transform.a
    assert res == pytest.approx(1.0 / np.cos(np.radians(43.5)), rel=0.01)


def test_exif_round_trip_matches_pairs(small_world):
    for row in _pairs(small_world):
        tag = read_geotag(small_world / row["path"])
        assert tag.lat == pytest.approx(float(row["lat"]), abs=1e-6)
        assert tag.lon == pytest.approx(float(row["lon"]), abs=1e-6)
        assert tag.heading == pytest.approx(float(row["heading"]), abs=0.01)
        with Image.open(small_world / row["path"]) as im:
            assert im.size == (512, 128)
            assert "SYNTHETIC" in im.getexif()[0x010E]
    x, y = float(row["x"]), float(row["y"])
    lon, lat = Transformer.from_crs("EPSG:32633", "EPSG:4326", always_xy=True).transform(x, y)
    assert (lat, lon) == pytest.approx((float(row["lat"]), float(row["lon"])), abs=1e-6)


def test_labels_format_and_real_names(small_world):
    data = np.load(small_world / "labels.npz")
    n = 20
    assert data["scene"].shape == (n, len(labels.SCENE_NAMES)) and data["scene"].dtype == np.float32
    assert data["object"].shape == (n, len(labels.OBJECT_NAMES))
    assert data["count"].shape == (n, len(labels.COUNT_NAMES)) and (data["count"] >= 0).all()
    np.testing.assert_allclose(data["scene"].sum(1), 1, atol=1e-5)
    np.testing.assert_allclose(data["object"].sum(1), 1, atol=1e-5)
    assert list(data["scene_names"]) == list(labels.SCENE_NAMES)
    assert [r["path"] for r in _pairs(small_world)] == list(data["path"])
    places = {line.split()[0][3:] for line in resource_path("labels", "categories_places365.txt").open()}
    assert set(labels.SCENE_NAMES) <= places
    imagenet = resource_path("labels", "imagenet1k.txt")
    if imagenet.exists():
        assert set(labels.OBJECT_NAMES) <= set(imagenet.read_text().splitlines())
    coco = resource_path("labels", "coco91.txt")
    if coco.exists():
        assert set(labels.COUNT_NAMES) <= set(coco.read_text().splitlines())
    doc = json.loads((small_world / "labels.json").read_text())
    assert doc["synthetic"] is True
    first = doc["photos"][0]
    assert first["scene"] == pytest.approx(dict(zip(labels.SCENE_NAMES, data["scene"][0].tolist())), abs=1e-6)


def test_heading_changes_the_scene_at_a_coastal_car_park():
    world = build_world(SynthParams(seed=0, size_m=400, gsd=1.0, photos=0))
    land, kinds = world.land, world.objects.kind
    spots = np.argwhere((land.classes == landcover.PARKING) & (kinds == objects.NONE))
    sand = np.argwhere(land.classes == landcover.SAND)
    d = np.hypot(*(spots[:, None, :] - sand[None, ::7, :]).transpose(2, 0, 1))
    spot = spots[d.min(1).argmin()]
    to_sand = sand[::7][d[d.min(1).argmin()].argmin()] - spot
    seaward = np.degrees(np.arctan2(to_sand[1], -to_sand[0])) % 360
    views = {}
    for name, heading in (("sea", seaward), ("land", (seaward + 180) % 360)):
        _img, seen = render_photo(world.scene, Shot(spot[0] + 0.5, spot[1] + 0.5, heading, 90), (96, 128),
                                 np.random.default_rng(0))
        views[name] = dict(zip(labels.SCENE_NAMES, labels.truth(world.scene, seen)[0]))
    assert max(views["sea"], key=views["sea"].get) in {"beach", "coast", "ocean"}
    assert max(views["land"], key=views["land"].get) == "parking_lot"
    assert views["sea"]["beach"] > views["land"]["beach"]


@pytest.mark.parametrize("fov", [180.0, 270.0, 225.0])
def test_a_wide_photo_is_the_panoramas_columns_around_its_heading(fov):
    """Known answer: from 180 degrees a photo is a cylindrical crop of the panorama taken at the same
    spot; its centre looks along the heading, so it shows the panorama's middle fov / 360 of columns
    (the panorama's own centre looks along the same heading), column for column."""
    world = build_world(SynthParams(seed=0, size_m=400, gsd=1.0, photos=0))
    p = SynthParams(fov=fov, photos=0, size_m=400, gsd=1.0)
    height, width = p.photo_shape
    assert (height, width) == (128, round(512 * fov / 360))
    free = np.argwhere(world.objects.kind == objects.NONE)
    row, col = free[len(free) // 3] + 0.5
    heading = 37.0
    _pano, whole = render_photo(world.scene, Shot(row, col, heading, 360.0), (128, 512), np.random.default_rng(0))
    _crop, part = render_photo(world.scene, Shot(row, col, heading, fov), (height, width), np.random.default_rng(1))
    first = (512 - width) // 2
    assert (512 - width) % 2 == 0
    np.testing.assert_array_equal(part.ground_class, whole.ground_class[:, first:first + width])
    np.testing.assert_array_equal(part.instance, whole.instance[:, first:first + width])
    assert (part.ground_class >= 0).mean() > 0.3  # the ground is seen, not only sky
    # the crop is the panorama turned: 90 degrees to the right, the crop's first columns are the
    # panorama's columns 128 further on
    _turned, right = render_photo(world.scene, Shot(row, col, heading + 90.0, fov), (height, width),
                                  np.random.default_rng(2))
    np.testing.assert_array_equal(right.ground_class[:, :width - 128],
                                  whole.ground_class[:, first + 128:first + width])


def test_a_cylindrical_world_writes_its_fov_and_true_heading(tmp_path):
    out = tmp_path / "w180"
    make_world(SynthParams(seed=3, size_m=200, gsd=2.0, photos=4, fov=180), out)
    rows = _pairs(out)
    assert {r["fov"] for r in rows} == {"180"}
    for r in rows:
        img = Image.open(out / r["path"])
        assert img.size == (256, 128)
        tag = read_geotag(out / r["path"])
        assert tag.heading == pytest.approx(float(r["heading"]), abs=0.01)


def test_a_share_of_photos_stand_afloat_and_see_the_sea():
    p = SynthParams(seed=2, size_m=800, gsd=2.0, photos=80, fov=90)
    world = build_world(p)
    shots = choose_shots(world, np.random.default_rng([p.seed, 5]))
    assert choose_shots(world, np.random.default_rng([p.seed, 5])) == shots, "seeded"
    afloat = [s for s in shots if world.land.classes[int(s.row), int(s.col)] == landcover.WATER]
    assert len(afloat) == round(80 * p.water_photo_share) and all(s.height > 1.7 for s in afloat)
    assert 0 < shots.index(afloat[0]) and shots.index(afloat[-1]) < len(shots) - 1, "spread through the list"
    water_scenes = [labels.SCENE_NAMES.index(n) for n in ("ocean", "coast", "harbor", "beach")]
    tops, water_mass = [], []
    for shot in afloat:
        _img, seen = render_photo(world.scene, shot, p.photo_shape, np.random.default_rng(0))
        scene = labels.truth(world.scene, seen)[0]
        tops.append(labels.SCENE_NAMES[int(scene.argmax())])
        water_mass.append(float(scene[water_scenes].sum()))
    assert tops.count("ocean") >= len(tops) // 2
    assert sum(t in {"ocean", "coast", "harbor", "beach"} for t in tops) >= 0.8 * len(tops)
    assert np.median(water_mass) > 0.8
    dry = build_world(SynthParams(seed=2, size_m=800, gsd=2.0, photos=80, fov=90, water_photo_share=0.0))
    assert all(dry.land.classes[int(s.row), int(s.col)] != landcover.WATER
               for s in choose_shots(dry, np.random.default_rng([2, 5])))


def test_every_class_and_object_kind_in_a_world():
    world = build_world(SynthParams(seed=0, size_m=1200, gsd=2.0, photos=0))
    present = set(np.unique(world.land.classes).tolist())
    assert present == set(range(len(landcover.CLASS_NAMES)))
    kinds = set(np.unique(world.objects.inst_kind).tolist())
    assert kinds >= {objects.TREE, objects.BUILDING, objects.CAR, objects.BOAT, objects.PERSON, objects.BENCH}
    # colours overlap between classes: no single pixel colour tells sand from a light roof or grass from crops
    rgb, cls = world.rgb.reshape(-1, 3).astype(int), world.land.classes.ravel()
    grass = {tuple(c) for c in rgb[cls == landcover.GRASS][:20000] // 8}
    farm = {tuple(c) for c in rgb[cls == landcover.FARMLAND][:20000] // 8}
    assert grass & farm


def test_split_is_spatially_disjoint(small_world):
    p = SynthParams(seed=3, size_m=300, gsd=1.0, photos=20)
    rows, cols = np.mgrid[0:300:3, 0:300:3]
    split = split_of(p, rows.ravel(), cols.ravel()).reshape(rows.shape)
    assert set(np.unique(split)) == {"train", "val", "test"}
    block = (rows * 5 // 300) * 5 + cols * 5 // 300
    for b in np.unique(block):
        assert len(set(split[block == b])) == 1, "a block holds one split only"
    xy = {s: np.array([[float(r["x"]), float(r["y"])] for r in _pairs(small_world) if r["split"] == s])
          for s in ("train", "val", "test")}
    for a, b in (("train", "test"), ("train", "val")):
        if len(xy[a]) and len(xy[b]):
            gap = np.hypot(*(xy[a][:, None] - xy[b][None]).transpose(2, 0, 1)).min()
            assert gap >= 2 * 6.0 - 1e-6  # photos keep a margin from block borders


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--size-m", "0"], "argument --size-m: 0 must be a finite number in (0, 1,000,000]"),
        (["--fov", "400"], "argument --fov: 400 must be a finite number in (0, 360]"),
        (["--fov", "0"], "argument --fov: 0 must be a finite number in (0, 360]"),
        (["--photos", "-1"], "argument --photos: -1 must be a whole number from 0 to 1,000,000"),
        (["--crs", "EPSG:4326"], "is geographic"),
        (["--crs", "EPSG:999999"], "unknown coordinate reference system"),
    ],
)
def test_cli_bad_arguments_one_line(tmp_path, capsys, args, message):
    assert main(["synth", "-o", str(tmp_path / "w"), *args]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("xview: error:") and message in err and "\n" not in err
    assert not (tmp_path / "w").exists()


def test_cli_writes_world_refuses_overwrite_and_previews(tmp_path, capsys):
    argv = ["synth", "-o", str(tmp_path / "w"), "--size-m", "200", "--gsd", "2", "--photos", "3", "--fov", "70"]
    assert main([*argv, "--preview", str(tmp_path / "prev")]) == 0
    assert {p.name for p in (tmp_path / "prev").iterdir()} == {"overhead.png", "landcover.png", "photos.png"}
    assert main(argv) == 2
    assert "already exists" in capsys.readouterr().err
    assert main([*argv, "--overwrite"]) == 0
    with Image.open(tmp_path / "w" / "photos" / "00000.jpg") as im:
        assert im.size == (256, 192)


def test_cancel_writes_nothing(tmp_path):
    with pytest.raises(Cancelled):
        make_world(SynthParams(seed=0, size_m=200, gsd=2.0, photos=5), tmp_path / "w", cancel=lambda: True)
    assert not (tmp_path / "w").exists() or not any((tmp_path / "w").iterdir())


def test_params_validation():
    with pytest.raises(SynthError, match="at least 64 pixels"):
        SynthParams(size_m=50, gsd=1.0)
    with pytest.raises(SynthError, match="--gsd must be positive"):
        SynthParams(gsd=0)
    with pytest.raises(SynthError, match="water_photo_share must be in"):
        SynthParams(water_photo_share=1.5)
