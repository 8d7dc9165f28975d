"""The xview algorithms. Each: declare parameters, build the engine's parameters, call the engine.

Raster inputs accept any raster layer: files go to the engine by path, other layers (XYZ, WMS)
through ``QgisLayerSource``, built in ``prepareAlgorithm`` on the main thread. User errors
(``XviewError``) become ``QgsProcessingException`` with the engine's one-line message. Result
rasters open styled when the run completes (``postprocess``): the map's products when LOAD is set,
search scores and heatmaps when their output is to be opened. The algorithms that answer for one
point (verify, photo search) are in ``point_algorithms``, the PCA false-colour map in ``pca_algorithm``.
"""

from __future__ import annotations

from typing import Any

from qgis.core import (
    QgsProcessingAlgorithm,
    QgsProcessingException,
    QgsProcessingOutputFile,
    QgsProcessingOutputString,
    QgsProcessingParameterBoolean,
    QgsProcessingParameterEnum,
    QgsProcessingParameterExtent,
    QgsProcessingParameterFile,
    QgsProcessingParameterFileDestination,
    QgsProcessingParameterFolderDestination,
    QgsProcessingParameterNumber,
    QgsProcessingParameterRasterDestination,
    QgsProcessingParameterRasterLayer,
    QgsProcessingParameterString,
)

from xview_qgis.common import engine_input
from xview_qgis.processing.postprocess import load_styled, style_when_loaded

HEAD_WRAPPER = "xview_qgis.processing.widgets.HeadWrapper"  # by name: qgis_process never imports the GUI
CLASSES_WRAPPER = "xview_qgis.processing.widgets.ClassesWrapper"

DEVICES = ("auto", "cpu", "cuda")
PRODUCT_NAMES = ("prob", "top", "concentration", "entropy", "count", "mean", "spread", "exceed")  # new ones last
Behavior = QgsProcessingParameterFile.Behavior


class XviewAlgorithm(QgsProcessingAlgorithm):
    """Shared plumbing: the model/device parameters, the engine call with feedback, the error funnel."""

    name_, display, help_ = "", "", ""
    source = None
    raster = ""

    def name(self) -> str:
        return self.name_

    def displayName(self) -> str:
        return self.display

    def group(self) -> str:
        return "xview"

    def groupId(self) -> str:
        return "xview"

    def shortHelpString(self) -> str:
        return self.help_

    def createInstance(self):
        return type(self)()

    def add_raster_and_model(self, raster_optional: bool = False, model_optional: bool = False) -> None:
        self.addParameter(QgsProcessingParameterRasterLayer("INPUT", "Raster layer", optional=raster_optional))
        self.addParameter(QgsProcessingParameterFile("MODEL", "Model file", extension="safetensors",
                                                     optional=model_optional))
        self.add_device()

    def add_device(self) -> None:
        self.addParameter(QgsProcessingParameterEnum("DEVICE", "Device", options=list(DEVICES), defaultValue=0))

    def prepareAlgorithm(self, parameters, context, feedback) -> bool:
        """Main thread: turn the raster layer into a path or a QGIS source for the engine."""
        self.source, self.raster = None, ""
        layer = self.parameterAsRasterLayer(parameters, "INPUT", context) if "INPUT" in parameters else None
        if layer is not None:
            model = self.parameterAsFile(parameters, "MODEL", context)
            bands = ("red", "green", "blue")
            if model:
                bands = self.call(lambda: _manifest(model).input.bands)
            self.raster, self.source = self.call(lambda: engine_input(layer, bands, context.project()))
        return True

    def device(self, parameters, context) -> str:
        return DEVICES[self.parameterAsEnum(parameters, "DEVICE", context)]

    def add_stride(self) -> None:
        self.addParameter(QgsProcessingParameterNumber("STRIDE", "Stride in metres (empty: half a tile)",
                                                       QgsProcessingParameterNumber.Type.Double, optional=True,
                                                       minValue=0.001))

    def add_stride_and_extent(self) -> None:
        self.add_stride()
        self.addParameter(QgsProcessingParameterExtent("EXTENT", "Extent", optional=True))

    def add_cluster(self) -> None:
        from xview_engine.mapping.cluster.spec import DEFAULT_BLOCK_TILES, MAX_BLOCK_TILES

        self.addParameter(QgsProcessingParameterString(
            "CLUSTER", "Dask scheduler the tiles run on (tcp://HOST:8786; empty: this computer)", optional=True))
        self.addParameter(QgsProcessingParameterNumber(
            "BLOCK_TILES", "Tiles per cluster task", QgsProcessingParameterNumber.Type.Integer,
            defaultValue=DEFAULT_BLOCK_TILES, minValue=1, maxValue=MAX_BLOCK_TILES))
        self.addParameter(QgsProcessingParameterBoolean(
            "RESUME", "Resume the interrupted cluster run into this output", defaultValue=False))

    def cluster(self, parameters, context):
        """The ``ClusterSpec`` of CLUSTER (None when empty): a running scheduler, never ``local:N`` here."""
        from xview_engine.mapping.cluster.spec import scheduler_spec

        address = self.parameterAsString(parameters, "CLUSTER", context) or ""
        block_tiles = self.parameterAsInt(parameters, "BLOCK_TILES", context)
        resume = self.parameterAsBoolean(parameters, "RESUME", context)
        return self.call(lambda: scheduler_spec(address, "inside QGIS and qgis_process", block_tiles, resume))

    def grid_choices(self, parameters, context) -> dict[str, Any]:
        """The ``GridParams`` fields every tiled run shares: raster, model, stride, extent (layer CRS), device."""
        layer_crs = self.parameterAsRasterLayer(parameters, "INPUT", context).crs()
        extent = self.parameterAsExtent(parameters, "EXTENT", context, layer_crs)
        return {"raster": self.raster, "model": self.parameterAsFile(parameters, "MODEL", context),
                "stride_m": _optional_number(self, parameters, "STRIDE", context),
                "extent": None if extent.isNull() else (extent.xMinimum(), extent.yMinimum(), extent.xMaximum(),
                                                        extent.yMaximum()),
                "extent_crs": None if extent.isNull() else layer_crs.toWkt(),
                "device": self.device(parameters, context)}

    def call(self, function):
        """Run an engine call; a user error becomes a QgsProcessingException with its one-line message."""
        from xview_engine.errors import XviewError

        try:
            return function()
        except XviewError as exc:
            raise QgsProcessingException(str(exc)) from None

    def hooks(self, feedback) -> dict[str, Any]:
        return {"progress": lambda done, total: feedback.setProgress(100.0 * done / max(total, 1)),
                "cancel": feedback.isCanceled}


class MapAlgorithm(XviewAlgorithm):
    name_, display = "map", "Map what people would see"
    help_ = ("Probability, top-class, confidence, entropy and count rasters of one head; an attribute head's mean, "
             "spread and P(value > threshold) (xview map).")

    def initAlgorithm(self, config=None) -> None:
        self.add_raster_and_model()
        head = QgsProcessingParameterString("HEAD", "Head (empty: the first)", optional=True)
        head.setMetadata({"widget_wrapper": {"class": HEAD_WRAPPER}})  # a drop-down of the model's heads
        self.addParameter(head)
        classes = QgsProcessingParameterString("CLASSES", "Classes, comma separated (empty: top 10)", optional=True)
        classes.setMetadata({"widget_wrapper": {"class": CLASSES_WRAPPER}})  # a tick list of the head's classes
        self.addParameter(classes)
        self.addParameter(QgsProcessingParameterEnum("PRODUCTS", "Products (none: all that fit the head)",
                                                     options=list(PRODUCT_NAMES), allowMultiple=True, optional=True))
        self.addParameter(QgsProcessingParameterNumber("THRESHOLD", "Threshold t of 'exceed', P(value > t)",
                                                       QgsProcessingParameterNumber.Type.Double, optional=True))
        self.add_stride_and_extent()
        self.addParameter(QgsProcessingParameterString("TIME", "Time-aware model: map at (ISO 8601, e.g. "
                                                       "2026-01-15T08:00)", optional=True))
        self.addParameter(QgsProcessingParameterString("MONTHS", "Time-aware model: one band per month (e.g. 1-12)",
                                                       optional=True))
        self.add_cluster()
        self.addParameter(QgsProcessingParameterFolderDestination("OUTPUT", "Output folder"))
        self.addParameter(QgsProcessingParameterBoolean("LOAD", "Open the products, styled, when done",
                                                        defaultValue=True))
        self.addOutput(QgsProcessingOutputFile("PRODUCTS_JSON", "products.json"))

    def processAlgorithm(self, parameters, context, feedback):
        from xview_engine.mapping.map import MapParams, run_map

        out = self.parameterAsString(parameters, "OUTPUT", context)
        params = MapParams(
            **self.grid_choices(parameters, context), head=self.parameterAsString(parameters, "HEAD", context) or None,
            classes=_split(self.parameterAsString(parameters, "CLASSES", context)),
            products=tuple(PRODUCT_NAMES[i] for i in self.parameterAsEnums(parameters, "PRODUCTS", context)),
            threshold=_optional_number(self, parameters, "THRESHOLD", context),
            out_dir=out, overwrite=True, command="QGIS Processing xview:map",
            time=self.parameterAsString(parameters, "TIME", context) or None,
            months=self.parameterAsString(parameters, "MONTHS", context) or None,
            cluster=self.cluster(parameters, context))
        result = self.call(lambda: run_map(params, log=feedback.pushInfo, source=self.source, **self.hooks(feedback)))
        if self.parameterAsBoolean(parameters, "LOAD", context):
            for path in (p for p in result.files if p.suffix == ".tif"):
                load_styled(context, path, "OUTPUT")
        return {"OUTPUT": out, "PRODUCTS_JSON": str(next(p for p in result.files if p.name == "products.json"))}


class SearchAlgorithm(XviewAlgorithm):
    name_, display = "search", "Search by attributes"
    help_ = 'Score every tile with a joint query, e.g. objects:car > 0.5 & scenes:"parking lot" (xview search).'

    def initAlgorithm(self, config=None) -> None:
        self.add_raster_and_model()
        self.addParameter(QgsProcessingParameterString("QUERY", "Query"))
        self.addParameter(QgsProcessingParameterEnum("LOGIC", "Logic", options=["product", "minmax"], defaultValue=0))
        self.addParameter(QgsProcessingParameterString("TIME", "Time-aware model: score at (ISO 8601, e.g. "
                                                       "2026-01-15T08:00)", optional=True))
        self.add_cluster()
        self.addParameter(QgsProcessingParameterRasterDestination("OUTPUT", "Score raster"))

    def processAlgorithm(self, parameters, context, feedback):
        from xview_engine.mapping.search import SearchParams, run_search

        out = self.parameterAsOutputLayer(parameters, "OUTPUT", context)
        params = SearchParams(raster=self.raster, model=self.parameterAsFile(parameters, "MODEL", context),
                              query=self.parameterAsString(parameters, "QUERY", context), out=out,
                              logic=("product", "minmax")[self.parameterAsEnum(parameters, "LOGIC", context)],
                              device=self.device(parameters, context), overwrite=True,
                              time=self.parameterAsString(parameters, "TIME", context) or None,
                              cluster=self.cluster(parameters, context))
        self.call(lambda: run_search(params, log=feedback.pushInfo, source=self.source, **self.hooks(feedback)))
        style_when_loaded(context, out)
        return {"OUTPUT": out}


class IndexAlgorithm(XviewAlgorithm):
    name_, display = "index", "Index a raster for geolocation"
    help_ = "Run the model once over every tile and keep the per-tile distributions (xview index)."

    def initAlgorithm(self, config=None) -> None:
        self.add_raster_and_model()
        self.add_stride()
        self.add_cluster()
        self.addParameter(QgsProcessingParameterFolderDestination("OUTPUT", "Index folder"))

    def processAlgorithm(self, parameters, context, feedback):
        from xview_engine.localization.build import IndexParams, build_index

        out = self.parameterAsString(parameters, "OUTPUT", context)
        params = IndexParams(raster=self.raster, model=self.parameterAsFile(parameters, "MODEL", context),
                             stride_m=_optional_number(self, parameters, "STRIDE", context),
                             device=self.device(parameters, context), out=out, overwrite=True,
                             cluster=self.cluster(parameters, context))
        self.call(lambda: build_index(params, log=feedback.pushInfo, source=self.source, **self.hooks(feedback)))
        return {"OUTPUT": out}


class LocalizeAlgorithm(XviewAlgorithm):
    name_, display = "localize", "Geolocate a ground photo"
    help_ = "Heatmap of where a photo was taken and its top-k candidates, from an index (xview localize)."

    def initAlgorithm(self, config=None) -> None:
        self.addParameter(QgsProcessingParameterFile("PHOTO", "Ground photo"))
        self.addParameter(QgsProcessingParameterFile("INDEX", "Index folder", behavior=Behavior.Folder))
        self.addParameter(QgsProcessingParameterFile("LABELS", "Label file of the photo", optional=True))
        self.addParameter(QgsProcessingParameterString("TEACHERS", "or a teacher spec", optional=True))
        self.addParameter(QgsProcessingParameterNumber("TOP_K", "Candidates", defaultValue=10, minValue=1))
        self.addParameter(QgsProcessingParameterNumber("FOV", "Photo field of view in degrees (twin index; empty: 360)",
                                                       QgsProcessingParameterNumber.Type.Double, optional=True,
                                                       minValue=1.0, maxValue=360.0))
        self.addParameter(QgsProcessingParameterRasterDestination("OUTPUT", "Heatmap"))
        self.addOutput(QgsProcessingOutputString("RESULTS", "Candidates (with a heading when the method finds one) "
                                                            "and truth (JSON)"))

    def processAlgorithm(self, parameters, context, feedback):
        import json

        from xview_engine.localization.localize import LocalizeParams, localize

        out = self.parameterAsOutputLayer(parameters, "OUTPUT", context)
        params = LocalizeParams(
            photos=(self.parameterAsFile(parameters, "PHOTO", context),), out=out, overwrite=True,
            index=self.parameterAsFile(parameters, "INDEX", context),
            labels=self.parameterAsFile(parameters, "LABELS", context) or None,
            teachers=self.parameterAsString(parameters, "TEACHERS", context) or None,
            top_k=self.parameterAsInt(parameters, "TOP_K", context),
            fov_deg=self.parameterAsDouble(parameters, "FOV", context) if parameters.get("FOV") is not None else None)
        results = self.call(lambda: localize(params, **self.hooks(feedback)))
        style_when_loaded(context, out, "heatmap")
        return {"OUTPUT": out, "RESULTS": json.dumps([r.to_dict() for r in results])}


class ExportOnnxAlgorithm(XviewAlgorithm):
    name_, display = "export_onnx", "Export a model to ONNX"
    help_ = "The same model as ONNX, with its manifest in the metadata (xview export-onnx)."

    def initAlgorithm(self, config=None) -> None:
        self.addParameter(QgsProcessingParameterFile("MODEL", "Model file", extension="safetensors"))
        self.addParameter(QgsProcessingParameterFileDestination("OUTPUT", "ONNX file", "ONNX (*.onnx)"))

    def processAlgorithm(self, parameters, context, feedback):
        from xview_engine.model.onnx_export import export_onnx

        out = self.parameterAsFileOutput(parameters, "OUTPUT", context)
        self.call(lambda: export_onnx(self.parameterAsFile(parameters, "MODEL", context), out))
        return {"OUTPUT": out}


def _manifest(path: str):
    from xview_engine.model.runtime import read_model_manifest

    return read_model_manifest(path)


def _split(text: str) -> tuple[str, ...]:
    return tuple(p.strip() for p in (text or "").split(",") if p.strip())


def _optional_number(algorithm, parameters, name: str, context):
    value = parameters.get(name)
    return None if value in (None, "") else algorithm.parameterAsDouble(parameters, name, context)


ALGORITHMS = (MapAlgorithm, SearchAlgorithm, IndexAlgorithm, LocalizeAlgorithm, ExportOnnxAlgorithm)
