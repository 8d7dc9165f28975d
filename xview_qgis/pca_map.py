"""The Map tab's false-colour product: the PCA of every tile's outputs as an RGB layer (Workman & Jacobs, Fig. 7).

``PcaChoice`` is the tick box (shown only when the model gives features: ``mapping.pca.gives_features``)
with an optional saved basis to colour like. A Map run with it ticked runs the engine's ``run_pca``
over the same grid as the map (``PcaParams`` built from the tab's ``MapParams``), after the map
products when some are ticked, in the same background task (``map_work``); the basis it fits is saved
beside the map (``pca_basis.json``) so that another raster can be coloured the same way. The result
opens as an RGB layer in the run's group (``add_run_layers``).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any, Optional

from qgis.core import QgsProject, QgsRasterLayer
from qgis.gui import QgsFileWidget
from qgis.PyQt.QtWidgets import QCheckBox, QVBoxLayout, QWidget

from xview_qgis import styling
from xview_qgis.tasks import log

PCA_FILE, BASIS_FILE = "pca.tif", "pca_basis.json"


@dataclasses.dataclass
class MapRunResult:
    """What a Map tab run made: the engine's ``MapResult`` and / or ``PcaResult`` (None where not asked)."""

    map: Any = None
    pca: Any = None


class PcaChoice(QWidget):
    """The false-colour tick box and the saved basis to colour like (shown while ticked)."""

    def __init__(self, parent: Optional[QWidget] = None):
        super().__init__(parent)
        self.check = QCheckBox("false colours (PCA)", self)
        self.check.setObjectName("XviewMapPca")
        self.check.setToolTip("The first three principal components of every tile's outputs as red, green and "
                              "blue: places the model sees alike get alike colours (a land-cover map)")
        self.basis = QgsFileWidget(self)
        self.basis.setObjectName("XviewMapPcaBasis")
        self.basis.setFilter("PCA basis (*.json)")
        self.basis.setToolTip("colour like an earlier run (its pca_basis.json); empty: fit the colours here")
        self.basis.setVisible(False)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.check)
        layout.addWidget(self.basis)
        self.check.toggled.connect(self.basis.setVisible)
        self.set_manifest(None)

    def set_manifest(self, manifest) -> None:
        available = manifest is not None and _gives_features(manifest)
        self.setVisible(available)
        if not available:
            self.check.setChecked(False)

    def params(self, map_params) -> Optional[Any]:
        """The engine's ``PcaParams`` over the map's grid and cluster, into the map's folder; None when not ticked."""
        from xview_engine.mapping.pca import PcaParams
        from xview_engine.mapping.plan import GridParams

        if not self.check.isChecked():
            return None
        grid = {f.name: getattr(map_params, f.name) for f in dataclasses.fields(GridParams)}
        out = Path(map_params.out_dir)
        return PcaParams(**{**grid, "command": "QGIS xview dock: Map (false colours)"}, out=str(out / PCA_FILE),
                         basis_in=self.basis.filePath() or None, basis_out=str(out / BASIS_FILE),
                         cluster=map_params.cluster)


def _gives_features(manifest) -> bool:
    from xview_engine.mapping.pca import gives_features  # rasterio with it: only once a model is chosen

    return gives_features(manifest)


def map_work(params, pca, source):
    """The task body: the map products (``params``, None to skip), then the PCA map (``pca``, None to skip)."""
    from xview_engine.mapping.map import run_map
    from xview_engine.mapping.pca import run_pca

    steps = [step for step in (params, pca) if step is not None]

    def work(progress, cancel) -> MapRunResult:
        def part(n: int):  # each run's progress as its share of the whole task
            return lambda done, total: progress(n * total + done, len(steps) * total)

        result = MapRunResult()
        if params is not None:
            result.map = run_map(params, part(0), cancel, log, source)
        if pca is not None:
            result.pca = run_pca(pca, part(len(steps) - 1), cancel, log, source)
        return result

    return work


def add_run_layers(result: MapRunResult, group_name: str, project: QgsProject, prefix: str) -> list:
    """The map's products (styled, ``styling.add_products_to_project``) and the PCA map as an RGB layer, last in
    the same group and switched on; returns the layers, the shown product first."""
    layers = []
    if result.map is not None:
        json_path = next(p for p in result.map.files if p.name == "products.json")
        layers = styling.add_products_to_project(json_path, group_name, project, prefix=prefix)
    if result.pca is not None:
        group = project.layerTreeRoot().findGroup(group_name) or project.layerTreeRoot().insertGroup(0, group_name)
        layer = QgsRasterLayer(str(result.pca.path), PCA_FILE, "gdal")
        styling.style_rgb(layer, " ".join(filter(None, (prefix, styling.PRODUCT_TITLES["pca"]))))
        project.addMapLayer(layer, False)
        group.addLayer(layer)
        layers.append(layer)
    return layers


def run_line(result: MapRunResult, group_name: str, layers: list) -> str:
    """One line for the message bar: what ran, how long, where the layers are."""
    parts = []
    if result.map is not None:
        parts.append(f"mapped {result.map.tiles_run:,} tiles in {result.map.seconds:.1f} s")
    if result.pca is not None:
        explained = ", ".join(f"{100 * e:.0f} %" for e in result.pca.basis.explained)
        parts.append(f"false colours of {result.pca.valid_tiles:,} tiles (components explain {explained} of the "
                     f"variance; basis saved as {BASIS_FILE})")
    shown = " (the most likely class shown, the others switched off)" if result.map is not None else ""
    return f"{'; '.join(parts)}; {len(layers)} layers in group '{group_name}'{shown}"
