"""Which raster bands feed which model input: by colour interpretation, by name, or as the user says.

A model names its input bands (manifest ``input.bands``, e.g. red, green, blue). A raster says what
its bands are through GDAL colour interpretation or band descriptions. Alpha bands are never data:
GDAL turns them into the mask. The choice is always stated (``BandChoice.note``) so a surprising
pick (a grey band repeated as red, green and blue) is visible in products.json.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from rasterio.enums import ColorInterp

from xview_engine.errors import SourceError


@dataclass(frozen=True)
class BandChoice:
    """1-based band indexes in the model's band order, and how they were chosen."""

    indexes: tuple[int, ...]
    note: str


def choose_bands(ds: Any, n_bands: int, band_names: tuple[str, ...], bands: tuple[int, ...] | None,
                 name: str) -> BandChoice:
    """Pick ``n_bands`` bands of the rasterio dataset ``ds`` for a model whose bands are ``band_names``."""
    if bands:
        return _explicit(ds, n_bands, tuple(bands), name)
    data_bands = [i for i, ci in enumerate(ds.colorinterp, 1) if ci != ColorInterp.alpha]
    by_name = _match_names(ds, band_names, data_bands)
    if by_name is not None:
        return BandChoice(by_name, "bands matched by colour interpretation / description: "
                          + ", ".join(f"{n}=band {i}" for n, i in zip(band_names, by_name)))
    if len(data_bands) == 1 and n_bands > 1:
        return BandChoice((data_bands[0],) * n_bands,
                          f"single band {data_bands[0]} repeated for the model's {n_bands} bands")
    if len(data_bands) >= n_bands:
        picked = tuple(data_bands[:n_bands])
        return BandChoice(picked, f"bands {', '.join(map(str, picked))} taken in order as "
                          f"{', '.join(band_names)} (no colour interpretation matched; use --bands to choose)")
    raise SourceError(
        f"{name} has {len(data_bands)} data band(s) but the model needs {n_bands} ({', '.join(band_names)}); "
        "choose bands with --bands, e.g. --bands 1,1,1 for a grey image"
    )


def _explicit(ds: Any, n_bands: int, bands: tuple[int, ...], name: str) -> BandChoice:
    if len(bands) != n_bands:
        raise SourceError(f"--bands lists {len(bands)} band(s) but the model needs {n_bands}")
    bad = [b for b in bands if not 1 <= b <= ds.count]
    if bad:
        raise SourceError(f"--bands {','.join(map(str, bad))}: {name} has bands 1..{ds.count} only")
    return BandChoice(bands, f"bands {', '.join(map(str, bands))} as given by --bands")


def _match_names(ds: Any, band_names: tuple[str, ...], data_bands: list[int]) -> tuple[int, ...] | None:
    labels: dict[str, int] = {}
    for i in reversed(data_bands):  # the first band with a label wins
        ci = ds.colorinterp[i - 1]
        if ci not in (ColorInterp.undefined, ColorInterp.gray):
            labels[ci.name.lower()] = i
        description = (ds.descriptions[i - 1] or "").strip().lower()
        if description:
            labels.setdefault(description, i)
    picked = [labels.get(n.lower()) for n in band_names]
    return tuple(picked) if all(picked) else None  # type: ignore[arg-type]
