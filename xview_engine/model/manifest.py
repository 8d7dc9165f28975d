"""The JSON manifest that travels inside every model file and fully configures the UI and the CLI.

A manifest says what the tensors are (backbone, heads, hidden width), what the model expects as
input (tile size in pixels, ground sample distance, band order, normalisation) and where it came
from (training provenance). ``Manifest.from_dict`` validates everything and names the field that is
wrong, so a damaged or hand-edited file fails with a message a user can act on.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from xview_engine.errors import ManifestError

FORMAT_VERSION = 1
KINDS = ("distill", "twin", "siamese")
KINDS += ("knn",)  # off-the-shelf classifier features (model/feature_net.py)
# dirichlet: alpha per class; poisson: rate per class; mean: a categorical mean only (the baseline).
DISTRIBUTIONS = ("dirichlet", "poisson", "mean")
HEADLESS_KINDS = ("twin", "siamese", "knn")  # embedding models: their outputs are not distributions


@dataclass(frozen=True)
class InputSpec:
    """What one model input is: a square tile of ``tile_px`` pixels at ``gsd_m`` metres per pixel.

    Pixels are first scaled to [0, 1] (bytes / 255; other types by the source's stretch), then
    normalised per band as ``(x - mean) / std``; mean = std = 0.5 gives the seed's [-1, 1] range.
    """

    tile_px: int
    gsd_m: float
    bands: tuple[str, ...] = ("red", "green", "blue")
    mean: tuple[float, ...] = (0.5, 0.5, 0.5)
    std: tuple[float, ...] = (0.5, 0.5, 0.5)

    @property
    def footprint_m(self) -> float:
        """Ground width of one tile in metres."""
        return self.tile_px * self.gsd_m

    def validate(self) -> None:
        if not isinstance(self.tile_px, int) or self.tile_px < 8:
            raise ManifestError(f"manifest input.tile_px must be an integer >= 8, got {self.tile_px!r}")
        if not _positive_number(self.gsd_m):
            raise ManifestError(f"manifest input.gsd_m must be a positive number of metres, got {self.gsd_m!r}")
        n = len(self.bands)
        if n == 0 or len(self.mean) != n or len(self.std) != n:
            raise ManifestError(
                f"manifest input: bands, mean and std must have the same non-zero length "
                f"(got {len(self.bands)}, {len(self.mean)}, {len(self.std)})"
            )
        if not all(_positive_number(s) for s in self.std):
            raise ManifestError(f"manifest input.std must be positive numbers, got {list(self.std)}")


@dataclass(frozen=True)
class HeadSpec:
    """One output head: a distribution over an ordered list of labels."""

    name: str
    distribution: str
    labels: tuple[str, ...]
    label_space: str = "custom"

    @property
    def num_classes(self) -> int:
        return len(self.labels)

    def class_index(self, label: str) -> int:
        """Index of a class name; the error lists near matches so a typo is easy to fix."""
        from xview_engine.model.label_spaces import index_of_label

        return index_of_label(self.labels, label, f"head '{self.name}'", ManifestError)

    def validate(self) -> None:
        if not self.name or not isinstance(self.name, str):
            raise ManifestError("manifest head name must be a non-empty string")
        if self.distribution not in DISTRIBUTIONS:
            raise ManifestError(
                f"manifest head '{self.name}': unknown distribution '{self.distribution}' "
                f"(known: {', '.join(DISTRIBUTIONS)})"
            )
        if len(self.labels) < 1:
            raise ManifestError(f"manifest head '{self.name}' has no labels")
        if self.distribution != "poisson" and len(self.labels) < 2:
            raise ManifestError(f"manifest head '{self.name}': a {self.distribution} head needs >= 2 labels")


@dataclass(frozen=True)
class BackboneSpec:
    """A backbone from the registry in ``xview_engine.model.backbones`` and its options."""

    name: str
    options: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Manifest:
    """Everything needed to rebuild a model and feed it: see the module docstring."""

    kind: str
    backbone: BackboneSpec
    input: InputSpec
    heads: tuple[HeadSpec, ...]
    hidden: int = 1024
    training: Mapping[str, Any] = field(default_factory=dict)
    format_version: int = FORMAT_VERSION
    # twin / Siamese networks: their branches (shared or domain-specific, the ground photo input, calibration)
    network: Mapping[str, Any] = field(default_factory=dict)

    def head(self, name: str) -> HeadSpec:
        for spec in self.heads:
            if spec.name == name:
                return spec
        raise ManifestError(f"model has no head '{name}' (heads: {', '.join(self.head_names)})")

    @property
    def head_names(self) -> tuple[str, ...]:
        return tuple(spec.name for spec in self.heads)

    def validate(self) -> None:
        if self.format_version != FORMAT_VERSION:
            raise ManifestError(
                f"model file format version {self.format_version!r} is not supported by this xview "
                f"(it reads version {FORMAT_VERSION}); upgrade xview or re-export the model"
            )
        if self.kind not in KINDS:
            raise ManifestError(f"manifest kind '{self.kind}' is unknown (known: {', '.join(KINDS)})")
        if not isinstance(self.hidden, int) or self.hidden < 1:
            raise ManifestError(f"manifest hidden must be a positive integer, got {self.hidden!r}")
        self.input.validate()
        if not self.heads and self.kind not in HEADLESS_KINDS:
            raise ManifestError("manifest has no heads")
        for spec in self.heads:
            spec.validate()
        if len(set(self.head_names)) != len(self.heads):
            raise ManifestError(f"manifest head names repeat: {list(self.head_names)}")

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["backbone"]["options"] = dict(self.backbone.options)
        data["training"] = dict(self.training)
        data["network"] = dict(self.network)
        return data

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"))

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Manifest:
        """Build and validate; every structural problem names the field."""
        if not isinstance(data, Mapping):
            raise ManifestError("manifest must be a JSON object")
        version = data.get("format_version")
        if version != FORMAT_VERSION:
            raise ManifestError(
                f"model file format version {version!r} is not supported by this xview "
                f"(it reads version {FORMAT_VERSION}); upgrade xview or re-export the model"
            )
        try:
            bb = data["backbone"]
            backbone = BackboneSpec(name=str(bb["name"]), options=dict(bb.get("options", {})))
            inp = data["input"]
            input_spec = InputSpec(
                tile_px=inp["tile_px"],
                gsd_m=inp["gsd_m"],
                bands=tuple(inp["bands"]),
                mean=tuple(float(v) for v in inp["mean"]),
                std=tuple(float(v) for v in inp["std"]),
            )
            heads = tuple(
                HeadSpec(
                    name=h["name"],
                    distribution=h["distribution"],
                    labels=tuple(str(x) for x in h["labels"]),
                    label_space=str(h.get("label_space", "custom")),
                )
                for h in data["heads"]
            )
            manifest = cls(
                kind=data["kind"],
                backbone=backbone,
                input=input_spec,
                heads=heads,
                hidden=data.get("hidden", 1024),
                training=dict(data.get("training", {})),
                format_version=version,
                network=dict(data.get("network", {})),
            )
        except KeyError as exc:
            raise ManifestError(f"manifest is missing the field {exc}") from None
        except (TypeError, ValueError, AttributeError) as exc:
            raise ManifestError(f"manifest has a field of the wrong type ({exc})") from None
        manifest.validate()
        return manifest

    @classmethod
    def from_json(cls, text: str) -> Manifest:
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ManifestError(f"manifest is not valid JSON ({exc.msg} at character {exc.pos})") from None
        return cls.from_dict(data)


def _positive_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value) and value > 0


def default_heads() -> tuple[HeadSpec, ...]:
    """The seed's three heads: Dirichlet over Places365 scenes and ImageNet classes, Poisson COCO counts."""
    from xview_engine.model.label_spaces import coco91, imagenet1k, places365

    return tuple(
        HeadSpec(name=space.name, distribution=dist, labels=space.names, label_space=space.name)
        for space, dist in ((places365(), "dirichlet"), (imagenet1k(), "dirichlet"), (coco91(), "poisson"))
    )


def default_manifest(backbone: str = "resnet50", tile_px: int = 224, gsd_m: float = 0.5, **options: Any) -> Manifest:
    """The design card's distillation model: ResNet-50, 224 px tiles scaled to [-1, 1], three heads."""
    return Manifest(
        kind="distill",
        backbone=BackboneSpec(backbone, options),
        input=InputSpec(tile_px=tile_px, gsd_m=gsd_m),
        heads=default_heads(),
    )
