"""Algorithms that answer for one point on the map: location verification and aerial-based photo search.

``verify`` is `xview verify PHOTO --model M --raster R --xy X,Y`: the point is taken into the CRS
the engine reads the layer in (the file's own, or the work CRS of the QGIS source) and
``verification.verify_point`` reads the tile centred there. ``photo_search`` is `xview retrieve
--tile X,Y --index I`: the photos of the index model's own collection (a knn model's reference
photos) whose tiles look most like the tile at the point, or those of a label file scored under
the tile (distillation), as a contact sheet PNG and a CSV. Both
log their answer as one line each (``xview_qgis.point_answers``, as the dock says it).
"""

from __future__ import annotations

import json

from qgis.core import (
    QgsCoordinateReferenceSystem,
    QgsProcessingOutputFile,
    QgsProcessingOutputNumber,
    QgsProcessingOutputString,
    QgsProcessingParameterFile,
    QgsProcessingParameterFolderDestination,
    QgsProcessingParameterNumber,
    QgsProcessingParameterPoint,
    QgsProcessingParameterString,
)

from xview_qgis.point_answers import hit_line, verdict_line
from xview_qgis.processing.algorithms import Behavior, XviewAlgorithm

DEFAULT_PHOTOS = 8


class VerifyAlgorithm(XviewAlgorithm):
    name_, display = "verify", "Verify photo location"
    help_ = ("Was this photo taken here? The embedding distance between the photo and the tile centred on the "
             "point, and the model's calibrated P(same place) (a Siamese model; xview verify).")

    def initAlgorithm(self, config=None) -> None:
        self.addParameter(QgsProcessingParameterFile("PHOTO", "Ground photo"))
        self.add_raster_and_model()
        self.addParameter(QgsProcessingParameterPoint("POINT", "Place (the centre of the tile to compare)"))
        self.addOutput(QgsProcessingOutputNumber("DISTANCE", "Embedding distance"))
        self.addOutput(QgsProcessingOutputNumber("P_SAME_PLACE", "P(same place) (none without a calibration)"))
        self.addOutput(QgsProcessingOutputString("RESULT", "The answer (JSON)"))

    def processAlgorithm(self, parameters, context, feedback):
        from xview_engine.localization.verification import verify_point

        layer = self.parameterAsRasterLayer(parameters, "INPUT", context)
        crs = layer.crs() if self.source is None else QgsCoordinateReferenceSystem.fromWkt(self.source.crs)
        point = self.parameterAsPoint(parameters, "POINT", context, crs)
        answer = self.call(lambda: verify_point(self.parameterAsFile(parameters, "PHOTO", context),
                                                self.parameterAsFile(parameters, "MODEL", context), self.raster,
                                                xy=(point.x(), point.y()), device=self.device(parameters, context),
                                                source=self.source))
        feedback.pushInfo(verdict_line(answer))
        return {"DISTANCE": answer["distance"], "P_SAME_PLACE": answer["p_same_place"], "RESULT": json.dumps(answer)}


class PhotoSearchAlgorithm(XviewAlgorithm):
    name_, display = "photo_search", "Photos of similar-looking places"
    help_ = ("For a point on the map, the reference photos whose aerial tiles look most like the tile there "
             "(a knn model's index; Workman & Jacobs' aerial-based photo search): a contact sheet PNG and a CSV "
             "(xview retrieve --tile).")

    def initAlgorithm(self, config=None) -> None:
        from xview_engine.limits import MAX_CHIPS

        self.addParameter(QgsProcessingParameterFile("INDEX", "Index folder", behavior=Behavior.Folder))
        self.addParameter(QgsProcessingParameterPoint("POINT", "Point on the map"))
        self.addParameter(QgsProcessingParameterNumber("TOP_K", "Photos", defaultValue=DEFAULT_PHOTOS, minValue=1,
                                                       maxValue=MAX_CHIPS))
        self.addParameter(QgsProcessingParameterFile("LABELS", "or the photos of a label file (empty: the model's own "
                                                     "reference photos)", optional=True))
        self.addParameter(QgsProcessingParameterString("TEACHERS", "or a teacher spec for the label file's photos",
                                                       optional=True))
        self.add_device()
        self.addParameter(QgsProcessingParameterFolderDestination("OUTPUT", "Output folder"))
        self.addOutput(QgsProcessingOutputFile("CONTACT_SHEET", "Contact sheet (PNG)"))
        self.addOutput(QgsProcessingOutputFile("CSV", "The photos found (CSV)"))
        self.addOutput(QgsProcessingOutputString("RESULTS", "The photos found (JSON)"))

    def processAlgorithm(self, parameters, context, feedback):
        from xview_engine.localization.retrieve import RetrieveParams, retrieve

        point = self.parameterAsPoint(parameters, "POINT", context)
        crs = self.parameterAsPointCrs(parameters, "POINT", context)
        out = self.parameterAsString(parameters, "OUTPUT", context)
        params = RetrieveParams(index=self.parameterAsFile(parameters, "INDEX", context), out_dir=out,
                                tile=(point.x(), point.y()), tile_crs=crs.toWkt() if crs.isValid() else None,
                                top_k=self.parameterAsInt(parameters, "TOP_K", context),
                                labels=self.parameterAsFile(parameters, "LABELS", context) or None,
                                teachers=self.parameterAsString(parameters, "TEACHERS", context) or None,
                                device=self.device(parameters, context), overwrite=True)
        report = self.call(lambda: retrieve(params))
        for hit in report["photos"]:
            feedback.pushInfo(hit_line(hit))
        return {"OUTPUT": out, "CONTACT_SHEET": report["contact_sheet"], "CSV": report["csv"],
                "RESULTS": json.dumps(report["photos"])}


POINT_ALGORITHMS = (VerifyAlgorithm, PhotoSearchAlgorithm)
