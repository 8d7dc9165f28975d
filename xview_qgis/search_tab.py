"""The Search tab: the joint attribute query of `xview search`, typed or built from pickers.

The builder only writes query text in the engine's grammar (``head:"class" > value`` joined by
``&`` or ``|``); the engine parses and checks it (``xview_engine.mapping.grammar``) and scores every tile.
"Check" parses the query against the model now, so a typo is said before anything runs.
"""

from __future__ import annotations

from typing import Callable, Optional

from qgis.core import QgsProject, QgsRasterLayer
from qgis.PyQt.QtWidgets import (
    QComboBox,
    QDoubleSpinBox,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from xview_qgis import styling
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
from xview_qgis.tasks import XviewTask, log, report_error, report_success, start_task

COMPARISONS = ("(any)", ">", ">=", "<", "<=")


class SearchTab(QWidget):
    """See the module docstring; ``last_layers`` holds the score layer of the last run."""

    def __init__(self, iface, model_panel, parent: Optional[QWidget] = None):
        super().__init__(parent)
        self.iface, self.model_panel = iface, model_panel
        self.manifest = None
        self.last_layers: list = []
        self.time_fn: Callable[[], Optional[str]] = lambda: None  # the Map tab's time, for a time-aware model
        self.layer_combo = raster_combo(self, "XviewSearchLayer")
        self.query = QLineEdit(self)
        self.query.setObjectName("XviewSearchQuery")
        self.query.setPlaceholderText('e.g. objects:car > 0.5 & scenes:"parking lot"')
        self.head = QComboBox(self)
        self.head.setObjectName("XviewSearchHead")
        self.cls = QComboBox(self)
        self.cls.setObjectName("XviewSearchClass")
        self.cls.setEditable(True)  # typing filters through the completer: searchable among 1000 classes
        self.cmp = QComboBox(self)
        self.cmp.addItems(COMPARISONS)
        self.value = QDoubleSpinBox(self)
        self.value.setRange(0.0, 1000.0)
        self.value.setDecimals(3)
        self.value.setValue(0.3)
        self.join = QComboBox(self)
        self.join.addItems(["&", "|"])
        self.add_button = QPushButton("Add to query", self)
        self.add_button.setObjectName("XviewSearchAdd")
        self.check_button = QPushButton("Check", self)
        self.logic = QComboBox(self)
        self.logic.setObjectName("XviewSearchLogic")
        self.logic.addItems(["product", "minmax"])
        self.check_label = QLabel("", self)
        self.check_label.setWordWrap(True)
        self.time_note = QLabel("This model takes the time: the search scores it at the Map tab's time.", self)
        self.time_note.setObjectName("XviewSearchTimeNote")
        self.time_note.setWordWrap(True)
        self.out_dir = output_folder_widget(self, "XviewSearchOutDir")
        self.controls = RunControls("Search", "XviewSearch", self)
        self._lay_out()
        model_panel.model_changed.connect(self.set_manifest)
        self.head.currentTextChanged.connect(self._fill_classes)
        self.add_button.clicked.connect(self.add_term)
        self.check_button.clicked.connect(self.check)
        self.controls.run_clicked.connect(self.run)
        self.set_manifest(model_panel.manifest)

    def _lay_out(self) -> None:
        builder = QGridLayout()  # three short rows: one row of five pickers overflows a 300 px dock
        builder.addWidget(self.join, 0, 0)
        builder.addWidget(self.head, 0, 1)
        builder.addWidget(self.cls, 1, 0, 1, 2)
        builder.addWidget(self.cmp, 2, 0)
        builder.addWidget(self.value, 2, 1)
        buttons = QHBoxLayout()
        buttons.addWidget(self.add_button)
        buttons.addWidget(self.check_button)
        form = narrow_form()
        form.addRow("Raster layer", self.layer_combo)
        form.addRow("Query", self.query)
        form.addRow("Builder", builder)
        form.addRow("", buttons)
        form.addRow("Logic", self.logic)
        form.addRow("Output folder", self.out_dir)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(self.check_label)
        layout.addWidget(self.time_note)
        layout.addStretch(1)
        self.footer = footer(self, self.controls)

    def set_manifest(self, manifest) -> None:
        self.manifest = manifest
        self.time_note.setVisible(bool(getattr(manifest, "takes_time", False)))
        self.head.clear()
        if manifest is not None:
            self.head.addItems(list(manifest.head_names))

    def _fill_classes(self, name: str) -> None:
        self.cls.clear()
        if self.manifest is not None and name:
            self.cls.addItems(list(self.manifest.head(name).labels))

    def add_term(self) -> str:
        """Append ``head:"class" [cmp value]`` to the query, joined by the chosen operator."""
        term = f'{self.head.currentText()}:"{self.cls.currentText()}"'
        if self.cmp.currentText() != COMPARISONS[0]:
            term += f" {self.cmp.currentText()} {self.value.value():g}"
        text = self.query.text().strip()
        self.query.setText(f"{text} {self.join.currentText()} {term}" if text else term)
        return self.query.text()

    def check(self) -> bool:
        """Parse the query with the engine against the model; say what is wrong, if anything."""
        from xview_engine.errors import XviewError
        from xview_engine.mapping.grammar import parse_query

        try:
            if self.manifest is None:
                raise XviewError("choose a model first")
            parse_query(self.query.text(), self.manifest, self.logic.currentText())
        except XviewError as exc:
            self.check_label.setText(str(exc))
            self.check_label.setStyleSheet("color: #b3261e;")
            return False
        self.check_label.setText("The query is valid for this model.")
        self.check_label.setStyleSheet("")
        return True

    def run(self):
        from xview_engine.errors import SourceError
        from xview_engine.mapping.search import SearchParams, run_search

        out_dir = run_folder(self.out_dir.filePath(), "search")
        try:
            layer = self.layer_combo.currentLayer()
            self.model_panel.require_model()  # names a chosen file that is not a model
            if layer is None:
                raise SourceError("choose a raster layer first")
            raster, source = engine_input(layer, self.manifest.input.bands)
            params = SearchParams(raster=raster, model=self.model_panel.model_path, device=self.model_panel.device,
                                  query=self.query.text(), out=str(out_dir / "search.tif"),
                                  logic=self.logic.currentText(), command="QGIS xview dock: Search",
                                  time=self.time_fn())
        except Exception as exc:
            remove_if_empty(out_dir)
            report_error(self._bar(), exc)
            return None
        task = XviewTask("xview search", lambda p, c: run_search(params, p, c, log, source), self._finished,
                         cleanup=source.close if source is not None else None)
        task.query = params.query + (f" @{params.time}" if params.time else "")  # the layer's name: the time too
        self.controls.follow(task)
        return start_task(task)

    def _finished(self, task) -> None:
        self.controls.done()
        if task.error is not None:
            report_error(self._bar(), task.error, task.details)
            return
        layer = QgsRasterLayer(str(task.result.path), f"search: {task.query}", "gdal")
        styling.style_heatmap(layer, 1, task.result.score_range)
        layer.setName(f"search: {task.query}")
        project = QgsProject.instance()
        project.addMapLayer(layer, False)
        project.layerTreeRoot().insertLayer(0, layer)
        self.last_layers = [layer]
        report_success(self._bar(), f"scored {task.result.tiles_run:,} tiles for '{task.query}'")

    def _bar(self):
        return self.iface.messageBar() if self.iface is not None else None
