"""PCA false-colour land-cover map (Workman & Jacobs, Fig. 7): tile features -> 3 components -> RGB.

Any model's per-tile outputs are features (a knn model's classifier layer, or a distillation
model's heads side by side). Their first three principal components, each stretched robustly (the
2nd to 98th percentile of the fitted tiles mapped onto 1-255, 0 being nodata), become the red,
green and blue bands of a GeoTIFF that QGIS opens as an RGB layer. The basis (mean, components,
stretch) is saved as JSON so that another raster is coloured the same way (``basis_in``). Component
signs are fixed (largest loading positive) so that the same features always give the same colours.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

import numpy as np

from xview_engine.errors import SourceError
from xview_engine.mapping.cluster.spec import ClusterSpec
from xview_engine.mapping.grid_rows import grid_rows
from xview_engine.mapping.plan import GridParams, check_params, open_grid
from xview_engine.model.manifest import Manifest
from xview_engine.model.runtime import read_model_manifest
from xview_engine.outputs import atomic_output, check_outputs_free
from xview_engine.progress import CancelCheck, Log, ProgressCallback, check_cancel
from xview_engine.raster.geotiff import RasterSpec, write_grid_raster
from xview_engine.raster.source import RasterSource

COMPONENTS = 3
STRETCH_PERCENTILES = (2.0, 98.0)
BASIS_FORMAT = "xview-pca-basis"


class PcaError(SourceError):
    """A PCA basis that cannot be fitted or does not fit these features."""


@dataclass
class PcaBasis:
    """Mean (D,), components (3, D) as rows, stretch low/high (3,), explained variance ratios (3,)."""

    mean: np.ndarray
    components: np.ndarray
    low: np.ndarray
    high: np.ndarray
    explained: np.ndarray
    features: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {"format": BASIS_FORMAT, "mean": self.mean.tolist(), "components": self.components.tolist(),
                "low": self.low.tolist(), "high": self.high.tolist(), "explained": self.explained.tolist(),
                "features": list(self.features)}

    def save(self, path: str | Path) -> Path:
        with atomic_output(path) as tmp:
            tmp.write_text(json.dumps(self.to_dict()), encoding="utf-8")
        return Path(path)

    @classmethod
    def load(cls, path: str | Path) -> PcaBasis:
        try:
            data = json.loads(Path(path).read_text(encoding="utf-8"))
            if data.get("format") != BASIS_FORMAT:
                raise ValueError("not an xview PCA basis")
            return cls(*(np.asarray(data[k], np.float64) for k in ("mean", "components", "low", "high", "explained")),
                       tuple(data.get("features", ())))
        except FileNotFoundError:
            raise PcaError(f"PCA basis {path} does not exist") from None
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
            raise PcaError(f"PCA basis {path} cannot be read ({exc}); write one with 'xview pca ... --basis-out'") \
                from None

    def project(self, features: np.ndarray) -> np.ndarray:
        """(N, 3) component scores."""
        features = np.asarray(features, np.float64)
        if features.shape[1] != self.mean.shape[0]:
            raise PcaError(f"the PCA basis is for {self.mean.shape[0]} features but the model gives "
                           f"{features.shape[1]}; use a basis fitted with the same model")
        return (features - self.mean) @ self.components.T

    def colours(self, features: np.ndarray) -> np.ndarray:
        """(N, 3) float values 1-255 (the stretched components), NaN rows staying NaN."""
        span = np.where(self.high > self.low, self.high - self.low, 1.0)
        unit = np.clip((self.project(features) - self.low) / span, 0.0, 1.0)
        return np.rint(1.0 + 254.0 * unit)


def fit_pca(features: np.ndarray, names: tuple[str, ...] = ()) -> PcaBasis:
    """The first three principal components of (N, D) features (SVD of the centred data), stretched."""
    x = np.asarray(features, np.float64)
    if x.ndim != 2 or x.shape[0] < COMPONENTS or x.shape[1] < COMPONENTS:
        raise PcaError(f"a PCA colour map needs at least {COMPONENTS} tiles and {COMPONENTS} features "
                       f"(got {x.shape[0]} tiles of {x.shape[1] if x.ndim == 2 else 0} features)")
    mean = x.mean(axis=0)
    _, singular, vt = np.linalg.svd(x - mean, full_matrices=False)
    components = vt[:COMPONENTS].copy()
    biggest = np.abs(components).argmax(axis=1)
    components *= np.sign(components[np.arange(COMPONENTS), biggest])[:, None]
    variance = np.square(singular)
    explained = variance[:COMPONENTS] / max(variance.sum(), 1e-300)
    scores = (x - mean) @ components.T
    low, high = np.percentile(scores, STRETCH_PERCENTILES, axis=0)
    return PcaBasis(mean, components, low, high, explained, names)


@dataclass(frozen=True)
class PcaParams(GridParams):
    """`xview pca`: the grid of ``GridParams`` coloured into ``out`` (a 3-band GeoTIFF)."""

    out: str = "pca.tif"
    basis_in: Optional[str] = None  # colour with a saved basis instead of fitting one
    basis_out: Optional[str] = None  # save the fitted basis here
    cluster: Optional[ClusterSpec] = None  # run the tiles on a Dask cluster (mapping.cluster); None: here


@dataclass
class PcaResult:
    path: Path
    basis: PcaBasis
    basis_path: Optional[Path]
    tiles: int
    valid_tiles: int
    seconds: float


def feature_names(manifest: Manifest) -> tuple[str, ...]:
    """Column names of the concatenated head outputs, ``head:label``."""
    return tuple(f"{h.name}:{label}" for h in manifest.heads for label in h.labels)


def gives_features(manifest: Manifest) -> bool:
    """Whether a model's tile outputs can be coloured: at least three feature columns (a Siamese or twin
    model's embeddings are no head outputs)."""
    return len(feature_names(manifest)) >= COMPONENTS


def run_pca(params: PcaParams, progress: Optional[ProgressCallback] = None, cancel: Optional[CancelCheck] = None,
            log: Optional[Log] = None, source: Optional[RasterSource] = None) -> PcaResult:
    """Run the model over the grid, fit (or load) the basis, write the RGB GeoTIFF and the basis."""
    log = log or (lambda message: None)
    started = time.perf_counter()
    check_params(params)
    manifest = read_model_manifest(params.model)
    if not gives_features(manifest):
        raise PcaError(f"model {params.model} ({manifest.kind}) gives {len(feature_names(manifest))} features per "
                       f"tile; a PCA colour map needs at least {COMPONENTS}: use a knn model from 'xview features' "
                       "or a distillation model")
    outputs = [Path(params.out)] + ([Path(params.basis_out)] if params.basis_out else [])
    check_outputs_free(outputs, params.overwrite)
    given = PcaBasis.load(params.basis_in) if params.basis_in else None
    with open_grid(params, manifest, source) as plan:
        grid = plan.grid
        log(f"{grid.count:,} tiles to describe ({grid.rows:,} x {grid.cols:,}), stride {grid.stride_m:g} m")
        with grid_rows(params, manifest, plan, Path(params.out), progress, cancel, log,
                       source is not None) as (rows, _):
            features = collect_features(rows, manifest, grid.rows, grid.cols, cancel)
    valid = np.isfinite(features).all(axis=1)
    basis = given or fit_pca(features[valid], feature_names(manifest))
    colours = np.full((len(features), COMPONENTS), np.nan)
    colours[valid] = basis.colours(features[valid])
    write_rgb(Path(params.out), grid, colours, basis, params.command)
    basis_path = basis.save(params.basis_out) if params.basis_out else None
    seconds = time.perf_counter() - started
    log(f"wrote {params.out}: {int(valid.sum()):,} of {grid.count:,} tiles, components explain "
        f"{', '.join(f'{100 * e:.1f} %' for e in basis.explained)} of the variance")
    return PcaResult(Path(params.out), basis, basis_path, grid.count, int(valid.sum()), seconds)


def collect_features(rows: Any, manifest: Manifest, n_rows: int, n_cols: int,
                     cancel: Optional[CancelCheck] = None) -> np.ndarray:
    """(rows * cols, D) float32: every head's outputs side by side, NaN where a tile did not run."""
    width = sum(h.num_params for h in manifest.heads)  # a Beta or Gaussian head gives 2 values per label
    features = np.full((n_rows * n_cols, width), np.nan, np.float32)
    for row, outputs in rows:
        check_cancel(cancel)
        if all(h.name in outputs for h in manifest.heads):
            features[row * n_cols:(row + 1) * n_cols] = np.concatenate([outputs[h.name] for h in manifest.heads], 1)
    return features


def write_rgb(path: Path, grid: Any, colours: np.ndarray, basis: PcaBasis, command: Optional[str]) -> None:
    """The (tiles, 3) colours as an RGB uint8 GeoTIFF (0 = nodata), written under a temporary name."""
    tags = {"xview_product": "pca", "xview_explained_variance": json.dumps(basis.explained.round(6).tolist())}
    if command:
        tags["xview_command"] = command
    spec = RasterSpec(("PC1 (red)", "PC2 (green)", "PC3 (blue)"), "uint8", 0, tags=tags,
                      colour_interp=("red", "green", "blue"))
    write_grid_raster(path, grid, spec, colours)
