"""The PCA false-colour map (Workman & Jacobs, Fig. 7) as an algorithm: `xview pca` in Processing.

Every tile's outputs (a knn model's classifier features, a distillation model's heads side by
side) -> their first three principal components -> an RGB GeoTIFF (``mapping.pca.run_pca``), which
opens as an RGB layer when the run completes. The fitted basis can be saved (BASIS_OUT) and given
again (BASIS_IN) so that another raster is coloured the same way. CLUSTER runs the tiles on a Dask
scheduler, as for the map.
"""

from __future__ import annotations

from qgis.core import (
    QgsProcessingOutputString,
    QgsProcessingParameterFile,
    QgsProcessingParameterFileDestination,
    QgsProcessingParameterRasterDestination,
)

from xview_qgis.processing.algorithms import XviewAlgorithm
from xview_qgis.processing.postprocess import style_when_loaded


class PcaAlgorithm(XviewAlgorithm):
    name_, display = "pca", "False-colour map (PCA of tile features)"
    help_ = ("The first three principal components of every tile's model outputs as red, green and blue (a knn "
             "model from xview features, or any model's heads); save the basis to colour another raster the same "
             "way (xview pca).")

    def initAlgorithm(self, config=None) -> None:
        self.add_raster_and_model()
        self.add_stride_and_extent()
        self.addParameter(QgsProcessingParameterFile("BASIS_IN", "Colour with a saved PCA basis (empty: fit one here)",
                                                     extension="json", optional=True))
        self.addParameter(QgsProcessingParameterFileDestination("BASIS_OUT", "Save the PCA basis", "JSON (*.json)",
                                                                optional=True, createByDefault=False))
        self.add_cluster()
        self.addParameter(QgsProcessingParameterRasterDestination("OUTPUT", "False-colour map"))
        self.addOutput(QgsProcessingOutputString("EXPLAINED", "Share of the variance of each component (JSON)"))

    def processAlgorithm(self, parameters, context, feedback):
        import json

        from xview_engine.mapping.pca import PcaParams, run_pca

        out = self.parameterAsOutputLayer(parameters, "OUTPUT", context)
        basis_out = self.parameterAsFileOutput(parameters, "BASIS_OUT", context) or None
        params = PcaParams(**self.grid_choices(parameters, context), out=out, overwrite=True,
                           basis_in=self.parameterAsFile(parameters, "BASIS_IN", context) or None, basis_out=basis_out,
                           command="QGIS Processing xview:pca", cluster=self.cluster(parameters, context))
        result = self.call(lambda: run_pca(params, log=feedback.pushInfo, source=self.source, **self.hooks(feedback)))
        style_when_loaded(context, out, "rgb")
        return {"OUTPUT": out, "BASIS_OUT": str(result.basis_path) if result.basis_path else None,
                "EXPLAINED": json.dumps([round(float(e), 6) for e in result.basis.explained])}
