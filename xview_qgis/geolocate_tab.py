"""The Geolocate tab: a ground photo in; a heatmap, the top-k candidate points and the true spot out.

The photo's thumbnail (read through the engine's safe opener) and EXIF (GPS position, heading)
show as soon as it is picked; the "What's here?" tool of the Map tab asks whether it was taken at
the clicked spot when the model can verify. The photo's label distributions come from a label
file (``xview synth`` / ``xview teach``) or from teachers run now (a teacher spec). The tiles'
distributions come from a reused index folder or are indexed now from the raster layer (files by
path; other layers through ``QgisLayerSource``, indexed in the same task). The engine
(``xview_engine.localization.localize``) does all scoring; this tab turns its ``PhotoResult`` into a
styled heatmap layer, a point layer of candidates (rank, score, posterior, heading) and a point for
the truth, and zooms to the best candidate.

With the shipped synthetic default model, photo -> distributions defaults to the synthetic teacher
shipped beside it (the teacher it was distilled from, so head names and classes match): the teacher
spec is filled in while it is empty, and taken out again when another model is chosen.

"Get weights" under the teacher spec lists the published teachers (``xview_engine.weights``,
cached or not); choosing one downloads it in a task (the tab's progress bar and Cancel follow it;
the engine resumes, checks the SHA-256 and caches) and then names it in the spec.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Optional

from qgis.core import QgsProject, QgsRasterLayer
from qgis.gui import QgsFileWidget
from qgis.PyQt.QtCore import Qt
from qgis.PyQt.QtGui import QPixmap
from qgis.PyQt.QtWidgets import (
    QDoubleSpinBox,
    QLabel,
    QLineEdit,
    QMenu,
    QSpinBox,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from xview_qgis import styling
from xview_qgis.common import (
    ResultPanel,
    RunControls,
    engine_input,
    footer,
    narrow_form,
    raster_combo,
    remove_if_empty,
    run_folder,
)
from xview_qgis.elide import elide_middle
from xview_qgis.points import candidate_layer, truth_layer
from xview_qgis.tasks import XviewTask, log, report_error, report_success, report_warning, start_task

THUMB_PX = 160


class GeolocateTab(QWidget):
    """See the module docstring; ``last_layers`` holds the heatmap and point layers of the last run."""

    def __init__(self, iface, model_panel, parent: Optional[QWidget] = None):
        super().__init__(parent)
        self.iface, self.model_panel = iface, model_panel
        self.last_layers: list = []
        self.photo = _file_widget(self, "XviewPhoto", "Photos (*.jpg *.jpeg *.png *.tif)")
        self.thumbnail = QLabel(self)
        self.thumbnail.setObjectName("XviewPhotoThumbnail")
        self.thumbnail.setFixedHeight(THUMB_PX)
        self.thumbnail.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.exif_label = QLabel("", self)
        self.exif_label.setObjectName("XviewPhotoExif")
        self.exif_label.setWordWrap(True)
        # The method is the model's or the index's (twin, Siamese, kNN, distillation); what the tab needs
        # from the user is the photo's field of view, which a twin model's heading search depends on.
        self.fov = QDoubleSpinBox(self)
        self.fov.setObjectName("XviewPhotoFov")
        self.fov.setRange(1.0, 360.0)
        self.fov.setDecimals(0)
        self.fov.setValue(360.0)
        self.fov.setSuffix(" °")
        self.fov.setToolTip("the photo's horizontal field of view: 360 for a panorama (twin models use it "
                            "to search headings; other methods ignore it)")
        self.labels = _file_widget(self, "XviewPhotoLabels", "Label files (*.json *.jsonl *.csv *.npz)")
        self.teachers = QLineEdit(self)
        self.teachers.setObjectName("XviewTeachers")
        self.teachers.setPlaceholderText("or a teacher spec, e.g. synthetic=teacher.safetensors")
        self.teachers_elide = elide_middle(self.teachers, "teacher spec:\n")
        self.get_weights = QToolButton(self)
        self.get_weights.setObjectName("XviewGetWeights")
        self.get_weights.setText("Get weights")
        self.get_weights.setToolTip("download a published teacher (Places365, ImageNet, COCO) into the weights "
                                    "cache, checked against its SHA-256, and name it in the teacher spec")
        self.get_weights.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
        self.get_weights.setMenu(QMenu(self.get_weights))
        self.get_weights.menu().aboutToShow.connect(self.fill_weights_menu)
        self.layer_combo = raster_combo(self, "XviewGeolocateLayer")
        self.index = _file_widget(self, "XviewIndex", "")
        self.index.setStorageMode(QgsFileWidget.StorageMode.GetDirectory)
        self.top_k = QSpinBox(self)
        self.top_k.setObjectName("XviewTopK")
        self.top_k.setRange(1, 1000)
        self.top_k.setValue(10)
        self.controls = RunControls("Geolocate", "XviewGeolocate", self)
        self.result_label = ResultPanel("XviewGeolocateResult", self, max_height=90)
        self._lay_out()
        self.photo.fileChanged.connect(self.show_photo)
        self.controls.run_clicked.connect(self.run)
        self.model_panel.model_changed.connect(lambda _: self.default_teacher())
        self.default_teacher()

    def _lay_out(self) -> None:
        form = narrow_form()
        form.addRow("Photo", self.photo)
        form.addRow("", self.thumbnail)
        form.addRow("EXIF", self.exif_label)
        form.addRow("Field of view", self.fov)
        form.addRow("Photo labels", self.labels)
        form.addRow("", self.teachers)
        form.addRow("", self.get_weights)  # under the spec it fills: beside it, a 300 px dock squeezes the spec
        form.addRow("Raster layer", self.layer_combo)
        form.addRow("Reuse index", self.index)
        form.addRow("Candidates", self.top_k)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addStretch(1)
        self.footer = footer(self, self.controls, self.result_label)

    def show_photo(self, path: str) -> str:
        """Thumbnail and EXIF line of the chosen photo; returns the EXIF line."""
        from xview_engine.data.exif import read_geotag
        from xview_engine.errors import XviewError
        from xview_qgis.thumbnails import pixmap_from_rgb, read_thumbnail

        rgb = read_thumbnail(path, THUMB_PX * 2) if path else None  # the engine's safe opener, never QPixmap(path)
        pixmap = pixmap_from_rgb(rgb) if rgb is not None else QPixmap()
        self.thumbnail.setPixmap(pixmap.scaled(THUMB_PX * 2, THUMB_PX, Qt.AspectRatioMode.KeepAspectRatio,
                                               Qt.TransformationMode.SmoothTransformation) if not pixmap.isNull()
                                 else QPixmap())
        try:
            tag = read_geotag(path) if path and Path(path).is_file() else None
        except XviewError as exc:  # not an image, damaged, or a decompression bomb: said where the EXIF goes
            self.exif_label.setText(str(exc))
            return str(exc)
        if tag is None:
            text = "no GPS position in EXIF: the true spot cannot be shown" if path else ""
        else:
            heading = f", heading {tag.heading:.0f}°" if tag.heading is not None else ""
            text = f"GPS {tag.lat:.6f}, {tag.lon:.6f}{heading}"
        self.exif_label.setText(text)
        return text

    def default_teacher(self) -> str:
        """The synthetic teacher spec while the model is the synthetic default; returns the spec field's text."""
        from xview_qgis.model_panel import is_synthetic_default, synthetic_defaults

        teacher = synthetic_defaults()[1]
        spec = f"synthetic={teacher}"
        current = self.teachers.text().strip()
        if is_synthetic_default(self.model_panel.model_path) and teacher.is_file():
            if not current:
                self.teachers.setText(spec)
                self.teachers.setToolTip(f"the synthetic teacher shipped with the synthetic default model:\n{spec}")
        elif current == spec:
            self.teachers.clear()
        return self.teachers.text()

    def fill_weights_menu(self) -> list:
        """One entry per published file (each is a teacher), saying whether it is cached; returns the actions."""
        from xview_engine.weights import cache_states

        menu = self.get_weights.menu()
        menu.clear()
        for state in cache_states():
            entry = state.entry
            size = f"{entry.size / 2**20:.0f} MiB" if entry.size else "size unknown"
            note = "cached" if state.state == "cached" else size
            action = menu.addAction(f"{entry.name}  ({note})")
            action.setToolTip(entry.description)
            action.setData(entry.name)
            action.triggered.connect(lambda _checked=False, name=entry.name: self.fetch_weights(name))
        return menu.actions()

    def fetch_weights(self, name: str):
        """Download (or only check, when cached) a published teacher in a task, then name it in the spec."""
        from xview_engine.weights import fetch

        task = XviewTask(f"xview: get weights {name}",
                         lambda progress, cancel: fetch(name, progress=progress, cancel=cancel, log=log),
                         self._weights_fetched)
        task.weights_name = name
        self.controls.follow(task)
        return start_task(task)

    def _weights_fetched(self, task) -> None:
        self.controls.done()
        if task.error is not None:
            report_error(self._bar(), task.error, task.details)
            return
        self.teachers.setText(with_teacher(self.teachers.text(), task.weights_name))
        report_success(self._bar(), f"{task.weights_name} is ready: {task.result}")

    def build_params(self, out_dir: Path):
        """The engine's ``LocalizeParams`` and, for non-file layers without an index, the source to index."""
        from xview_engine.errors import SourceError
        from xview_engine.localization.localize import LocalizeParams

        if not self.photo.filePath():
            raise SourceError("choose a ground photo first")
        index, raster, source = self.index.filePath() or None, None, None
        layer = self.layer_combo.currentLayer()
        if index is None:
            if self.model_panel.model_path:
                self.model_panel.require_model()  # names a chosen file that is not a model
            if layer is None or self.model_panel.manifest is None:
                raise SourceError("choose a model and a raster layer, or an index folder to reuse")
            raster, source = engine_input(layer, self.model_panel.manifest.input.bands)
        params = LocalizeParams(
            photos=(self.photo.filePath(),), out=str(out_dir / f"{Path(self.photo.filePath()).stem}_heatmap.tif"),
            index=index, raster=raster if source is None else None, model=self.model_panel.model_path or None,
            labels=self.labels.filePath() or None, teachers=self._teacher_spec(),
            top_k=self.top_k.value(), device=self.model_panel.device,
            fov_deg=None if self.fov.value() >= 360.0 else float(self.fov.value()),
        )
        return params, source

    def _teacher_spec(self):
        """The teacher spec to use; a label file wins over the automatic default teacher (not over a typed one)."""
        from xview_qgis.model_panel import synthetic_defaults

        spec = self.teachers.text().strip() or None
        if self.labels.filePath() and spec == f"synthetic={synthetic_defaults()[1]}":
            return None
        return spec

    def run(self):
        out_dir = run_folder("", f"geolocate-{Path(self.photo.filePath()).stem}")
        try:
            params, source = self.build_params(out_dir)
        except Exception as exc:
            remove_if_empty(out_dir)
            report_error(self._bar(), exc)
            return None
        task = XviewTask(f"xview geolocate {Path(params.photos[0]).name}", _work(params, source), self._finished,
                         cleanup=source.close if source is not None else None)
        task.photo = Path(params.photos[0]).name
        task.synthetic_warning = self._synthetic_warning(params, source)
        self.controls.follow(task)
        return start_task(task)

    def _finished(self, task) -> None:
        self.controls.done()
        if task.error is not None:
            report_error(self._bar(), task.error, task.details)
            return
        result = task.result[0]
        group = f"xview #{styling.next_run_number()} geolocate · {task.photo}"
        self.last_layers = add_geolocation_layers(result, group, QgsProject.instance())
        best = result.candidates[0] if result.candidates else None
        if best is not None and self.iface is not None:
            _zoom_to(self.iface.mapCanvas(), self.last_layers[1])
        line = describe_result(result)
        self.result_label.setText(line)
        outside = bool(result.truth) and not (result.truth.get("rank") or {}).get("combined")
        if task.synthetic_warning:
            report_warning(self._bar(), f"{line}. Warning: {task.synthetic_warning}")
        elif outside:
            report_warning(self._bar(), line)
        else:
            report_success(self._bar(), line)

    def _synthetic_warning(self, params, source):
        """The engine's warning when a synthetic-world model meets a raster that is no synthetic world."""
        from xview_engine.model.provenance import synthetic_mismatch

        manifest = self.model_panel.manifest
        if manifest is None or params.index is not None:
            return None
        return synthetic_mismatch(manifest, params.raster if source is None else None)

    def _bar(self):
        return self.iface.messageBar() if self.iface is not None else None


def _work(params, source):
    """The task body: index a QGIS layer first when needed (temporary), then localize."""
    from xview_engine.localization.localize import localize

    def work(progress, cancel):
        if source is None:
            return localize(params, progress, cancel)
        import dataclasses

        from xview_engine.localization.build import IndexParams, build_index

        with tempfile.TemporaryDirectory(prefix="xview-index-") as tmp:
            index = str(Path(tmp) / "index")
            build_index(IndexParams(raster=source.info["file"], model=params.model, device=params.device,
                                    out=index), progress, cancel, source=source)
            return localize(dataclasses.replace(params, index=index, raster=None), None, cancel)

    return work


def with_teacher(spec: str, name: str) -> str:
    """The spec with ``name`` (``family:arch``) in place of any teacher of the same family."""
    family = name.split(":")[0]
    kept = [part.strip() for part in spec.split(",")
            if part.strip() and part.split("=")[0].split(":")[0].strip() != family]
    return ",".join([*kept, name])


def describe_result(result) -> str:
    """One line for the panel and the message bar: the best candidate, and the true spot's rank or why none."""
    best = result.candidates[0] if result.candidates else None
    line = f"best candidate at {best.lat:.5f}, {best.lon:.5f}" if best else "no candidate (no tile ran)"
    truth = result.truth or {}
    rank = (truth.get("rank") or {}).get("combined")
    if rank:
        return f"{line}; the true spot (EXIF) ranks {rank} of {truth['candidates']}"
    if truth:
        return (f"{line}; the photo's true spot (EXIF {truth['lat']:.5f}, {truth['lon']:.5f}) lies outside the "
                "searched area, so it has no rank: search a raster (or extent) that covers it")
    return line


def add_geolocation_layers(result, group_name: str, project: QgsProject) -> list:
    """Heatmap (styled by rank percentile), candidates and truth point layers in a new group on top; returns them."""
    group = project.layerTreeRoot().insertGroup(0, group_name)
    heatmap = QgsRasterLayer(result.heatmap, "photo location likelihood", "gdal")
    styling.style_geolocation(heatmap, band=1)
    heatmap.setOpacity(0.85)
    layers = [candidate_layer(result.candidates, heatmap.crs()), heatmap]
    if result.truth:
        layers.insert(0, truth_layer(result.truth))
    for layer in layers:
        project.addMapLayer(layer, False)
        group.addLayer(layer)
    return layers


def _zoom_to(canvas, candidates) -> None:
    from qgis.core import QgsCoordinateTransform

    feature = next(candidates.getFeatures())
    point = feature.geometry().asPoint()
    transform = QgsCoordinateTransform(candidates.crs(), canvas.mapSettings().destinationCrs(),
                                       QgsProject.instance().transformContext())
    canvas.setCenter(transform.transform(point))
    canvas.refresh()


def _file_widget(parent: QWidget, name: str, file_filter: str) -> QgsFileWidget:
    widget = QgsFileWidget(parent)
    widget.setObjectName(name)
    widget.setFilter(file_filter)
    return widget
