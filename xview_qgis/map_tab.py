"""The Map tab: layer, head, classes, products, stride and extent in; a styled layer group out.

The tab only turns choices into the engine's frozen ``MapParams`` (plus a ``QgisLayerSource`` for
layers that are not plain files) and the engine's ``products.json`` into layers; the false-colour
(PCA) product is ``pca_map``'s, the "What's here?" controls are ``whats_here_panel``'s. The tile count is
the engine's own grid (``tiling.make_grid``) over the chosen extent, so the estimate is exactly
what will run; the time estimate uses the rate measured on this machine's last run of the model.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Optional

from qgis.core import (
    QgsCoordinateReferenceSystem,
    QgsCoordinateTransform,
    QgsMapLayerProxyModel,
    QgsProject,
    QgsRectangle,
    QgsSettings,
    QgsVectorFileWriter,
)
from qgis.gui import QgsFilterLineEdit, QgsMapLayerComboBox
from qgis.PyQt.QtCore import Qt
from qgis.PyQt.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFileDialog,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from xview_qgis import styling
from xview_qgis.cluster_setting import ClusterSetting
from xview_qgis.common import (
    RunControls,
    engine_input,
    footer,
    narrow_form,
    output_folder_widget,
    raster_combo,
    remove_if_empty,
    run_folder,
)
from xview_qgis.pca_map import PCA_FILE, PcaChoice, add_run_layers, map_work, run_line
from xview_qgis.tasks import XviewTask, report_error, report_success, report_warning, start_task
from xview_qgis.time_picker import TimePicker
from xview_qgis.whats_here_panel import WhatsHerePanel

EXTENTS = ("Layer extent", "Visible map canvas", "Selected polygons")
RATE_KEY = "xview/tiles_per_second/"
PRODUCT_COLUMNS = 2  # 'concentration' is long: three columns overflow a 300 px dock


class MapTab(QWidget):
    """See the module docstring; ``last_layers`` holds the layers of the last finished run."""

    def __init__(self, iface, model_panel, parent: Optional[QWidget] = None):
        super().__init__(parent)
        self.iface, self.model_panel = iface, model_panel
        self.last_layers: list = []
        self.last_products: Optional[Path] = None
        self.layer_combo = raster_combo(self, "XviewMapLayer")
        self.head_combo = QComboBox(self)
        self.head_combo.setObjectName("XviewMapHead")
        self.class_filter = QgsFilterLineEdit(self)
        self.class_filter.setPlaceholderText("filter classes (none ticked: the top 10 on the map)")
        self.class_list = QListWidget(self)
        self.class_list.setObjectName("XviewMapClasses")
        self.class_list.setMinimumHeight(90)
        self.class_list.setMaximumHeight(130)
        self.products_box = QWidget(self)
        self.products_layout = QGridLayout(self.products_box)  # wraps: the dock is narrow
        self.products_layout.setContentsMargins(0, 0, 0, 0)
        self.product_checks: dict[str, QCheckBox] = {}
        self.threshold = QDoubleSpinBox(self)  # t of the 'exceed' product, P(value > t)
        self.threshold.setObjectName("XviewMapThreshold")
        self.threshold.setDecimals(3)
        self.threshold.setToolTip("t of the 'exceed' product: P(value > t)")
        self.pca = PcaChoice(self)
        self.time_picker = TimePicker(self)  # shown when the model takes the time
        self.stride = QDoubleSpinBox(self)
        self.stride.setObjectName("XviewMapStride")
        self.stride.setRange(0.01, 100000.0)
        self.stride.setSuffix(" m")
        self.extent_combo = QComboBox(self)
        self.extent_combo.setObjectName("XviewMapExtent")
        self.extent_combo.addItems(EXTENTS)
        self.mask_combo = QgsMapLayerComboBox(self)
        self.mask_combo.setFilters(QgsMapLayerProxyModel.Filter.PolygonLayer)
        self.mask_combo.setEnabled(False)
        self.out_dir = output_folder_widget(self, "XviewMapOutDir")
        self.advanced = ClusterSetting(self)
        self.estimate_label = QLabel("", self)
        self.estimate_label.setObjectName("XviewMapEstimate")
        self.estimate_label.setWordWrap(True)
        self.controls = RunControls("Map", "XviewMap", self)
        self.export_button = QPushButton("Export…", self)
        self.export_button.setObjectName("XviewMapExport")
        self.export_button.setEnabled(False)
        self.whats_here = WhatsHerePanel(iface, model_panel, self.layer_combo.currentLayer, lambda: self.last_layers,
                                         self)
        self.whats_here.time_fn = self.picked_time
        self._lay_out()
        self._connect()
        self.set_manifest(model_panel.manifest)

    def _lay_out(self) -> None:
        form = narrow_form()
        form.addRow("Raster layer", self.layer_combo)
        form.addRow("Head", self.head_combo)
        form.addRow("Classes", self.class_filter)
        form.addRow(self.class_list)
        form.addRow("Products", self.products_box)
        form.addRow("Threshold t", self.threshold)
        form.addRow(self.time_picker)
        form.addRow(self.pca)  # the whole width: its label is long
        form.addRow("Stride", self.stride)
        form.addRow("Extent", self.extent_combo)
        form.addRow("Polygons", self.mask_combo)
        form.addRow("Output folder", self.out_dir)
        form.addRow(self.advanced)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addStretch(1)
        buttons = QHBoxLayout()
        buttons.addWidget(self.whats_here.button)
        buttons.addWidget(self.export_button)
        self.footer = footer(self, self.estimate_label, self.controls, buttons, self.whats_here)

    def _connect(self) -> None:
        self.model_panel.model_changed.connect(self.set_manifest)
        self.head_combo.currentTextChanged.connect(self._fill_head)
        self.class_filter.textChanged.connect(self._filter_classes)
        self.extent_combo.currentIndexChanged.connect(self._extent_changed)
        for signal in (self.layer_combo.layerChanged, self.stride.valueChanged, self.extent_combo.currentIndexChanged,
                       self.mask_combo.layerChanged):
            signal.connect(lambda *_: self.update_estimate())
        QgsProject.instance().layersRemoved.connect(self._layers_removed)
        self.controls.run_clicked.connect(self.run)
        self.export_button.clicked.connect(self.export)

    def _layers_removed(self, _ids) -> None:
        """The chosen layer (or the polygons) may be gone: the estimate must not describe it any more."""
        try:
            self.update_estimate()
        except RuntimeError:  # this tab was deleted with the dock; the project outlives it
            QgsProject.instance().layersRemoved.disconnect(self._layers_removed)

    def picked_time(self) -> Optional[str]:
        """The time picker's time (ISO 8601), what a time-aware model answers at; None for a time-blind one."""
        return self.time_picker.map_options()["time"]

    def set_manifest(self, manifest) -> None:
        """Fill heads, classes, products and the default stride (half a tile) from a model's manifest."""
        self.manifest = manifest
        self.head_combo.clear()
        self.pca.set_manifest(manifest)
        self.time_picker.set_manifest(manifest)
        if manifest is None:
            self.class_list.clear()
            self.update_estimate()
            return
        self.stride.setMinimum(manifest.input.gsd_m)  # finer than one model pixel cannot run
        self.stride.setSingleStep(manifest.input.gsd_m)
        self.stride.setValue(manifest.input.footprint_m / 2)
        self.head_combo.addItems(list(manifest.head_names))
        self.update_estimate()

    def _fill_head(self, name: str) -> None:
        """Classes and the products that fit the head's distribution; 'exceed' (off at first) with its t."""
        from xview_engine.mapping.products import PRODUCTS, THRESHOLD_RANGE, fitting_products

        self.class_list.clear()
        for checkbox in self.product_checks.values():
            checkbox.deleteLater()
        self.product_checks = {}
        self.threshold.setEnabled(False)
        if self.manifest is None or not name:
            return
        head = self.manifest.head(name)
        for label in head.labels:
            item = QListWidgetItem(label, self.class_list)
            item.setFlags(item.flags() | Qt.ItemFlag.ItemIsUserCheckable)
            item.setCheckState(Qt.CheckState.Unchecked)
        for product in fitting_products(head, threshold=0.0):
            checkbox = QCheckBox(product, self.products_box)
            checkbox.setChecked(not PRODUCTS[product].needs_threshold)
            checkbox.setToolTip(PRODUCTS[product].units)
            row, column = divmod(len(self.product_checks), PRODUCT_COLUMNS)
            self.products_layout.addWidget(checkbox, row, column)
            self.product_checks[product] = checkbox
            if PRODUCTS[product].needs_threshold:
                low, high = THRESHOLD_RANGE.get(head.distribution, (-1e9, 1e9))
                self.threshold.setRange(low, high)
                self.threshold.setValue((low + high) / 2 if high - low <= 1 else 0.0)
                checkbox.toggled.connect(self.threshold.setEnabled)

    def _filter_classes(self, text: str) -> None:
        for i in range(self.class_list.count()):
            item = self.class_list.item(i)
            item.setHidden(bool(text) and text.lower() not in item.text().lower())

    def _extent_changed(self, index: int) -> None:
        self.mask_combo.setEnabled(EXTENTS[index] == "Selected polygons")

    def chosen_classes(self) -> tuple[str, ...]:
        return tuple(self.class_list.item(i).text() for i in range(self.class_list.count())
                     if self.class_list.item(i).checkState() == Qt.CheckState.Checked)

    def build_params(self, out_dir: str):
        """The engine's ``MapParams`` and the source (None for files) for the current choices."""
        from xview_engine.errors import SourceError
        from xview_engine.mapping.map import MapParams

        layer = self.layer_combo.currentLayer()
        self.model_panel.require_model()
        if layer is None:
            raise SourceError("choose a raster layer to map")
        raster, source = engine_input(layer, self.manifest.input.bands)
        extent, mask = self._extent_and_mask(layer, out_dir)
        params = MapParams(
            raster=raster, model=self.model_panel.model_path, stride_m=self.stride.value(), extent=extent,
            extent_crs=layer.crs().toWkt() if extent else None, mask=mask, device=self.model_panel.device,
            out_dir=out_dir, head=self.head_combo.currentText() or None, classes=self.chosen_classes(),
            products=tuple(n for n, c in self.product_checks.items() if c.isChecked()),
            threshold=self.threshold.value() if self.threshold.isEnabled() else None,
            command="QGIS xview dock: Map", cluster=self.advanced.spec(), **self.time_picker.map_options(),
        )
        return params, source

    def _extent_and_mask(self, layer, out_dir: str):
        """Extent in the layer's CRS (canvas extent transformed with the project's context) or a mask file."""
        choice = EXTENTS[self.extent_combo.currentIndex()]
        if choice == "Visible map canvas" and self.iface is not None:
            canvas = self.iface.mapCanvas()
            rect = _to_layer_crs(canvas.extent(), canvas.mapSettings().destinationCrs(), layer.crs())
            return (rect.xMinimum(), rect.yMinimum(), rect.xMaximum(), rect.yMaximum()), None
        if choice == "Selected polygons":
            return None, _selected_polygons_file(self.mask_combo.currentLayer(), layer.crs(), out_dir)
        return None, None

    def update_estimate(self) -> str:
        """A status line: 'N tiles (rows x cols), about T s' for the current choices, or what is missing."""
        from xview_engine.errors import XviewError

        layer = self.layer_combo.currentLayer()
        if self.manifest is None:
            text = (f"No model: {self.model_panel.problem}" if self.model_panel.problem
                    else "Choose a model file to see the tile count.")
        elif layer is None:
            text = "Choose a raster layer to see the tile count."
        else:
            try:
                text = self._estimate(layer)
            except XviewError as exc:
                text = f"Not ready to map: {exc}"
        self.estimate_label.setText(text)
        return text

    def _estimate(self, layer) -> str:
        from xview_engine.raster.grid import DEFAULT_MAX_TILES, make_grid

        extent, crs = _projected_extent(layer, self._estimate_rect(layer))
        spec = self.manifest.input
        grid = make_grid(extent, crs, spec.tile_px, spec.gsd_m, self.stride.value(), max_tiles=2 ** 62)
        snapped = ""
        if abs(grid.stride_m - self.stride.value()) > 1e-6:
            snapped = (f"stride {self.stride.value():g} m runs as {grid.stride_m:g} m "
                       f"(whole {spec.gsd_m:g} m model pixels); ")
        size = f"{grid.count:,} tiles ({grid.rows:,} x {grid.cols:,})"
        if grid.count > DEFAULT_MAX_TILES:
            return (f"Too many tiles: {snapped}{size}, more than the {DEFAULT_MAX_TILES:,} one run may have; "
                    "choose a larger stride or a smaller extent.")
        rate = QgsSettings().value(RATE_KEY + Path(self.model_panel.model_path).name, 0.0, type=float)
        when = f"about {grid.count / rate:,.0f} s at the last measured {rate:,.0f} tiles/s" if rate else \
            "time measured on the first run"
        return f"{snapped}{size}, {when}"

    def _estimate_rect(self, layer) -> QgsRectangle:
        if EXTENTS[self.extent_combo.currentIndex()] == "Visible map canvas" and self.iface is not None:
            canvas = self.iface.mapCanvas()
            return _to_layer_crs(canvas.extent(), canvas.mapSettings().destinationCrs(), layer.crs()).intersect(
                layer.extent())
        mask = self.mask_combo.currentLayer()
        if EXTENTS[self.extent_combo.currentIndex()] == "Selected polygons" and mask is not None:
            return _to_layer_crs(mask.boundingBoxOfSelected(), mask.crs(), layer.crs()).intersect(layer.extent())
        return layer.extent()

    def run(self):
        """Start a map run in the background; returns the task (tests wait on it)."""
        out_dir = run_folder(self.out_dir.filePath(), f"map-{self.layer_combo.currentText()}")
        try:
            params, source = self.build_params(str(out_dir))
        except Exception as exc:  # every bad choice ends in the message bar, never in a crash
            remove_if_empty(out_dir)
            report_error(self._bar(), exc)
            return None
        from xview_engine.model.provenance import synthetic_mismatch

        pca = self.pca.params(params)
        products = None if pca is not None and not params.products else params  # false colours alone
        task = XviewTask(f"xview map {self.layer_combo.currentText()}", map_work(products, pca, source),
                         self._finished, cleanup=source.close if source is not None else None)
        task.run_number = styling.next_run_number()
        what = "false colours" if products is None else params.head or self.manifest.heads[0].name
        task.group_name = f"xview #{task.run_number} {what} · {self.layer_combo.currentText()}"
        task.synthetic_warning = synthetic_mismatch(self.manifest, params.raster if source is None else None)
        task.out_dir = out_dir
        self.controls.follow(task)
        return start_task(task)

    def _finished(self, task) -> None:
        self.controls.done()
        if task.error is not None:
            remove_if_empty(task.out_dir)
            report_error(self._bar(), task.error, task.details)
            return
        result = task.result
        self.last_layers = add_run_layers(result, task.group_name, QgsProject.instance(), f"#{task.run_number}")
        self.last_products = task.out_dir / ("products.json" if result.map is not None else PCA_FILE)  # its folder
        self.export_button.setEnabled(True)
        if result.map is not None:
            rate = result.map.tiles_total / max(result.map.seconds, 1e-6)
            QgsSettings().setValue(RATE_KEY + Path(self.model_panel.model_path).name, rate)
        line = run_line(result, task.group_name, self.last_layers)
        if task.synthetic_warning:
            report_warning(self._bar(), f"{line}. Warning: {task.synthetic_warning}")
        else:
            report_success(self._bar(), line)

    def export(self, target: Optional[str] = None) -> list[Path]:
        """Copy the last run's GeoTIFFs (with sidecars and products.json) to a chosen folder."""
        import shutil

        if self.last_products is None:
            return []
        target = target or QFileDialog.getExistingDirectory(self, "Export the last xview map to a folder")
        if not target:
            return []
        copied = []
        for path in sorted(self.last_products.parent.iterdir()):
            if path.is_file() and not path.name.startswith("."):
                copied.append(Path(shutil.copy2(path, Path(target) / path.name)))
        report_success(self._bar(), f"exported {len(copied)} files to {target}")
        return copied

    def _bar(self):
        return self.iface.messageBar() if self.iface is not None else None


def _to_layer_crs(rect: QgsRectangle, source_crs, layer_crs) -> QgsRectangle:
    if source_crs == layer_crs or not source_crs.isValid():
        return rect
    transform = QgsCoordinateTransform(source_crs, layer_crs, QgsProject.instance().transformContext())
    return transform.transformBoundingBox(rect)


def _projected_extent(layer, rect: QgsRectangle) -> tuple[tuple[float, float, float, float], str]:
    """The rectangle in a projected CRS for the estimate: the layer's, or the engine's UTM zone choice."""
    from xview_engine.raster.extent import work_crs_for

    crs = layer.crs()
    bounds = (rect.xMinimum(), rect.yMinimum(), rect.xMaximum(), rect.yMaximum())
    work = work_crs_for(crs.toWkt(), bounds, None, None, None)
    if work is None:
        return bounds, crs.toWkt()
    rect = _to_layer_crs(rect, crs, QgsCoordinateReferenceSystem(work))
    return (rect.xMinimum(), rect.yMinimum(), rect.xMaximum(), rect.yMaximum()), work


def _selected_polygons_file(vector, layer_crs, out_dir: str) -> str:
    """The selected polygons, reprojected to the raster's CRS with the project's context, as a GeoPackage."""
    from xview_engine.errors import SourceError

    if vector is None or vector.selectedFeatureCount() == 0:
        raise SourceError("select one or more polygons of a vector layer first (or choose another extent)")
    path = str(Path(tempfile.mkdtemp(prefix="xview-mask-")) / "mask.gpkg")
    options = QgsVectorFileWriter.SaveVectorOptions()
    options.driverName = "GPKG"
    options.onlySelectedFeatures = True
    options.ct = QgsCoordinateTransform(vector.crs(), layer_crs, QgsProject.instance().transformContext())
    error, message, *_ = QgsVectorFileWriter.writeAsVectorFormatV3(
        vector, path, QgsProject.instance().transformContext(), options)
    if error != QgsVectorFileWriter.WriterError.NoError:
        raise SourceError(f"cannot write the selected polygons to {path}: {message}")
    return path
