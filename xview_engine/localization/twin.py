"""The twin network as a localization method: where was the photo taken, and which way does it look.

An index stores each tile's 16-channel overhead map (the overhead branch on the tile's polar
transform, ``model.twin``), L2-normalised, as what scoring reads: its spectrum along the azimuth and
its per-column energy (``azimuth.overhead_arrays``), so no tile is transformed again per photo. A
photo is described by the ground branch on the photo resized to ``fov / 360`` of the panorama
width, and scored against every tile by circular correlation over azimuth
(``localization.azimuth``): the best shift gives the heading, the cosine at that shift the match.
The score is ``-alpha x distance`` with DSM's distance 2 - 2 cos and the
training loss's alpha = 10, so the posterior over tiles (a softmax of scores) has the logistic
scale the network was trained at. Each candidate carries ``heading_deg``, degrees clockwise from
TRUE north: the best shift gives an azimuth on the tile's grid (column 0 of the polar transform is
the tile's top, grid north), turned by the meridian convergence at the tile centre
(``TileIndex.grid_north_deg``), so it compares with EXIF and pairs-CSV headings anywhere in a zone.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Optional

import numpy as np

from xview_engine.errors import LabelFileError, ModelFileError
from xview_engine.localization.azimuth import heading_deg, match_tiles, overhead_arrays
from xview_engine.localization.methods import ArraySpec, PhotoOptions, Scores, finite_rows, register_method
from xview_engine.localization.photos import Queries, photo_truths, photos_for_model
from xview_engine.localization.ranking import COMBINED
from xview_engine.model.manifest import Manifest
from xview_engine.model.twin import OVERHEAD, feature_shape, ground_width_px, panorama_size
from xview_engine.progress import CancelCheck, ProgressCallback, check_cancel

if TYPE_CHECKING:
    from xview_engine.localization.index import TileIndex

ALPHA = 10.0  # the soft-margin triplet loss's weight (DSM, WITW): scores are -ALPHA x distance
GROUND = "ground"  # Queries.values: (P, 16, h, g) ground maps
FOV = "fov_deg"  # Queries.values: (P,) field of view of each photo
SPECTRUM, ENERGY = "spectrum", "column_energy"  # index arrays: (T, F, 2 C h) and (T, w)
HEADING = "heading_deg"  # the per-candidate extra: degrees clockwise from true north
PHOTO_BATCH = 16


def score_from_cosine(cosine: np.ndarray) -> np.ndarray:
    """-ALPHA x (2 - 2 cos): higher is better, -inf stays -inf."""
    return (-ALPHA * (2.0 - 2.0 * cosine)).astype(np.float32)


class TwinCorrelation:
    kind = "twin"
    description = "cosine of the photo's ground map and each tile's polar overhead map at the best azimuth shift"

    def index_arrays(self, manifest: Manifest, dtype: str) -> list[ArraySpec]:
        c, h, w = feature_shape(manifest)
        return [ArraySpec(SPECTRUM, (w // 2 + 1, 2 * c * h), dtype, 0.0), ArraySpec(ENERGY, (w,), dtype, 0.0)]

    def index_header(self, manifest: Manifest, dtype: str) -> dict[str, Any]:
        c, h, w = feature_shape(manifest)
        return {"twin": {"spectrum": f"{SPECTRUM}.npy", "column_energy": f"{ENERGY}.npy",
                         "spectrum_layout": "rfft along the azimuth of each (channel, row) of the unit-norm map: "
                                            "(frequency, [real | imaginary] x channel x row)",
                         "channels": c, "rows": h, "azimuth_bins": w,
                         "bin_deg": 360.0 / w, "column_0": "grid north (the tile's top), columns clockwise",
                         "heading": "degrees clockwise from true north: the best shift's grid azimuth plus the "
                                    "meridian convergence at the tile centre",
                         "panorama_px": list(panorama_size(manifest)), "score": f"-{ALPHA:g} x (2 - 2 cos)"}}

    def tile_arrays(self, manifest: Manifest, outputs: Mapping[str, np.ndarray],
                    dtype: str) -> Optional[tuple[np.ndarray, dict[str, np.ndarray]]]:
        ran = finite_rows(outputs, OVERHEAD)
        if ran is None:
            return None
        ok, rows = ran
        maps = rows.astype(np.float64)
        maps /= np.maximum(np.linalg.norm(maps, axis=1, keepdims=True), 1e-12)  # the match is scale-free
        spectrum, energy = overhead_arrays(maps.reshape(-1, *feature_shape(manifest)).astype(np.float32))
        return ok, {SPECTRUM: spectrum.astype(dtype), ENERGY: energy.astype(dtype)}

    def describe_photos(self, photos: Sequence[str | Path], options: PhotoOptions,
                        progress: Optional[ProgressCallback] = None, cancel: Optional[CancelCheck] = None) -> Queries:
        paths = photos_for_model(photos, options.model, "a twin index describes photos with its model's ground "
                                 "branch: give --model M (the model file the index was built with)")
        fov = float(options.fov_deg or 360.0)
        maps = ground_maps(options.model, paths, fov, options.device, progress, cancel)
        return Queries(paths, {GROUND: maps, FOV: np.full(len(paths), fov)}, {GROUND: (), FOV: ()},
                       *photo_truths(paths, options.use_exif))

    def score(self, index: TileIndex, queries: Queries, heads: Sequence[str] = (),
              weights: Optional[Mapping[str, float]] = None, keep_heads: bool = True,
              progress: Optional[ProgressCallback] = None, cancel: Optional[CancelCheck] = None) -> Scores:
        return self._score(index, queries, None, progress, cancel)

    def score_tile(self, index: TileIndex, tile: int, queries: Queries, heads: Sequence[str] = (),
                   weights: Optional[Mapping[str, float]] = None) -> np.ndarray:
        return self._score(index, queries, np.array([tile])).heads[COMBINED][:, 0]

    def _score(self, index: TileIndex, queries: Queries, tiles: Optional[np.ndarray],
               progress: Optional[ProgressCallback] = None, cancel: Optional[CancelCheck] = None) -> Scores:
        ground, fov = _query_maps(queries)
        energy = index.arrays[ENERGY]
        cosine, shift = match_tiles(ground, index.arrays[SPECTRUM], energy, index.valid, tiles, progress, cancel)
        width = energy.shape[-1]
        north = index.grid_north_deg if tiles is None else index.grid_north_deg[tiles]
        heading = (heading_deg(shift, width, fov) + north[None, :]) % 360.0  # grid azimuth -> from true north
        return Scores({COMBINED: score_from_cosine(cosine)}, {HEADING: heading.astype(np.float32)},
                      headings={HEADING: 360.0 / width})


def _query_maps(queries: Queries) -> tuple[np.ndarray, float]:
    if GROUND not in queries.values:
        raise LabelFileError("these photos were not described by a twin model (no ground maps)")
    fov = np.unique(queries.values[FOV])
    if fov.size != 1:
        raise LabelFileError(f"photos of one run must share a field of view (got {sorted(fov.tolist())})")
    return queries.values[GROUND], float(fov[0])


def ground_maps(model_path: str | Path, photos: Sequence[Path], fov_deg: float, device: str = "cpu",
                progress: Optional[ProgressCallback] = None, cancel: Optional[CancelCheck] = None) -> np.ndarray:
    """(P, 16, h, g) ground-branch maps of the photos, resized to the panorama height and fov width."""
    import torch

    from xview_engine.model.device import resolve_device
    from xview_engine.model.file import load_model
    from xview_engine.teachers.base import read_photo, to_tensor

    loaded = load_model(model_path, device=resolve_device(device))
    manifest = loaded.manifest
    if manifest.kind != "twin":
        raise ModelFileError(f"{model_path} is a '{manifest.kind}' model, not a twin model")
    size = (panorama_size(manifest)[0], ground_width_px(manifest, fov_deg))
    out = np.zeros((len(photos), *feature_shape(manifest, fov_deg)), np.float32)
    param = next(loaded.model.parameters())
    for start in range(0, len(photos), PHOTO_BATCH):
        check_cancel(cancel)
        batch = [read_photo(p) for p in photos[start:start + PHOTO_BATCH]]
        x = to_tensor(batch, size, manifest.input.mean, manifest.input.std).to(param.device)
        with torch.inference_mode():
            out[start:start + len(batch)] = loaded.model.ground(x).float().cpu().numpy()
        if progress is not None:
            progress(start + len(batch), len(photos))
    return out


register_method(TwinCorrelation())
