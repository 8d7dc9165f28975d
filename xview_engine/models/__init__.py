"""Models: a registry of backbones, distribution heads, and the cross-view model that joins them."""

from xview_engine.models.backbones import BACKBONES, build_backbone, load_backbone_weights
from xview_engine.models.crossview import CrossViewModel, build_model
from xview_engine.models.heads import HEAD_ACTIVATIONS, DistributionHead

__all__ = [
    "BACKBONES",
    "HEAD_ACTIVATIONS",
    "CrossViewModel",
    "DistributionHead",
    "build_backbone",
    "build_model",
    "load_backbone_weights",
]
