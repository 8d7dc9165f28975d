"""The JSON manifest that travels inside every model file and fully configures the UI and the CLI.

A manifest says what the tensors are (backbone, heads, hidden width), what the model expects as
input (tile size in pixels, ground sample distance, band order, normalisation) and where it came
from (training provenance). ``Manifest.from_dict`` validates everything and names the field that is
wrong, so a damaged or hand-edited file fails with a message a user can act on.
"""

from __future__ import annotations

import json
import math
import re
import reprlib
from collections import Counter
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from xview_engine.errors import ManifestError
from xview_engine.model.header import parse_json_object

FORMAT_VERSION = 1
KINDS = ("distill", "twin", "siamese")
KINDS += ("knn",)  # off-the-shelf classifier features (model/feature_net.py)
# dirichlet: alpha per class; poisson: rate per class; mean: a categorical mean only (the baseline);
# per attribute (each label on its own): beta over [0, 1] values (alpha, beta), bernoulli over yes / no
# (P(yes)), gaussian over continuous values (mean, variance). See model/distributions.py.
DISTRIBUTIONS = ("dirichlet", "poisson", "mean", "beta", "bernoulli", "gaussian")
CATEGORICAL = ("dirichlet", "mean")  # a distribution over the labels together: needs two labels or more
TWO_PARAMETER = ("beta", "gaussian")  # heads output [first (K) | second (K)]
HEADLESS_KINDS = ("twin", "siamese", "knn")  # embedding models: their outputs are not distributions
# Every size a manifest sets is bounded before anything is built: a hand-edited or hostile manifest
# must not make xview allocate more than the tensors of its file hold (``model.file`` checks those).
MAX_TILE_PX = 4096
MAX_BANDS = 64
MAX_HEADS = 64
MAX_CLASSES = 100_000
MAX_HIDDEN = 65_536
MAX_LABEL_CHARS = 256
PLACEHOLDER_LABELS = ("N/A",)  # COCO's unused detector ids: the one label allowed to repeat
# the band names a raster can say it has (GDAL colour interpretations and the usual spectral bands)
BAND_NAMES = ("red", "green", "blue", "gray", "grey", "pan", "coastal", "rededge", "nir", "swir", "swir1", "swir2",
              "mwir", "lwir", "tir", "other_ir", "hue", "saturation", "lightness", "cyan", "magenta", "yellow",
              "black", "y", "cb", "cr", "sar_ka", "sar_k", "sar_ku", "sar_x", "sar_c", "sar_s", "sar_l", "sar_p",
              "elevation")
_HEAD_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,63}\Z")


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
        bounded_int(self.tile_px, "input.tile_px", 8, MAX_TILE_PX)
        if not _positive_number(self.gsd_m):
            raise ManifestError(f"manifest input.gsd_m must be a positive number of metres, got {self.gsd_m!r}")
        n = len(self.bands)
        if not 0 < n <= MAX_BANDS or len(self.mean) != n or len(self.std) != n:
            raise ManifestError(
                f"manifest input: bands, mean and std must have the same length, from 1 to {MAX_BANDS} "
                f"(got {len(self.bands)}, {len(self.mean)}, {len(self.std)})"
            )
        for band in self.bands:
            if not isinstance(band, str) or band.lower() not in BAND_NAMES:
                raise ManifestError(f"manifest input.bands: unknown band name {_short(band)} "
                                    f"(known: {', '.join(BAND_NAMES)})")
        _no_repeats([b.lower() for b in self.bands], "input.bands")
        if not all(finite_number(m) for m in self.mean):
            raise ManifestError(f"manifest input.mean must be finite numbers, got {_short(list(self.mean))}")
        if not all(_positive_number(s) for s in self.std):
            raise ManifestError(f"manifest input.std must be positive finite numbers, got {_short(list(self.std))}")


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

    @property
    def num_params(self) -> int:
        """Width of the head's output: its parameters for all labels (2K for Beta and Gaussian heads)."""
        return len(self.labels) * params_per_label(self.distribution)

    def class_index(self, label: str) -> int:
        """Index of a class name; the error lists near matches so a typo is easy to fix."""
        from xview_engine.model.label_spaces import index_of_label

        return index_of_label(self.labels, label, f"head '{self.name}'", ManifestError)

    def validate(self) -> None:
        if not isinstance(self.name, str) or not _HEAD_NAME.match(self.name) or reserved_head_name(self.name):
            raise ManifestError(f"manifest head name {_short(self.name)} must be an identifier (letters, digits, _; "
                                "at most 64, not starting with a digit or _) and not a reserved word such as 'keys'")
        if self.distribution not in DISTRIBUTIONS:
            raise ManifestError(
                f"manifest head '{self.name}': unknown distribution {_short(self.distribution)} "
                f"(known: {', '.join(DISTRIBUTIONS)})"
            )
        if not 1 <= len(self.labels) <= MAX_CLASSES:
            raise ManifestError(f"manifest head '{self.name}' must have 1 to {MAX_CLASSES} labels, "
                                f"has {len(self.labels)}")
        if self.distribution in CATEGORICAL and len(self.labels) < 2:
            raise ManifestError(f"manifest head '{self.name}': a {self.distribution} head needs >= 2 labels")
        for label in self.labels:
            if not (isinstance(label, str) and 0 < len(label) <= MAX_LABEL_CHARS and label.isprintable()):
                raise ManifestError(f"manifest head '{self.name}': label {_short(label)} must be printable text "
                                    f"of 1 to {MAX_LABEL_CHARS} characters")
        _no_repeats([x for x in self.labels if x not in PLACEHOLDER_LABELS], f"head '{self.name}' labels")
        if not isinstance(self.label_space, str):
            raise ManifestError(f"manifest head '{self.name}': label_space must be a string")


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
    # a time-aware model: cycles of when the photo was taken fed to the heads (model/time_features.py)
    time_features: tuple[str, ...] = ()

    def head(self, name: str) -> HeadSpec:
        for spec in self.heads:
            if spec.name == name:
                return spec
        raise ManifestError(f"model has no head '{name}' (heads: {', '.join(self.head_names)})")

    @property
    def head_names(self) -> tuple[str, ...]:
        return tuple(spec.name for spec in self.heads)

    def validate(self) -> None:
        _check_version(self.format_version)
        if self.kind not in KINDS:
            raise ManifestError(f"manifest kind {_short(self.kind)} is unknown (known: {', '.join(KINDS)})")
        bounded_int(self.hidden, "hidden", 1, MAX_HIDDEN)
        if not isinstance(self.backbone.name, str) or not self.backbone.name:
            raise ManifestError("manifest backbone.name must be a non-empty string")
        for name, value in (("backbone.options", self.backbone.options), ("training", self.training),
                            ("network", self.network)):
            if not isinstance(value, Mapping):
                raise ManifestError(f"manifest {name} must be a JSON object, got {_short(value)}")
        self.input.validate()
        if not self.heads and self.kind not in HEADLESS_KINDS:
            raise ManifestError("manifest has no heads")
        if len(self.heads) > MAX_HEADS:
            raise ManifestError(f"manifest has {len(self.heads)} heads; at most {MAX_HEADS} are supported")
        for spec in self.heads:
            spec.validate()
        _no_repeats(list(self.head_names), "head names")
        self._validate_time()

    def _validate_time(self) -> None:
        from xview_engine.model.time_features import TIME_FEATURES

        if not isinstance(self.time_features, tuple) or not all(f in TIME_FEATURES for f in self.time_features):
            raise ManifestError(f"manifest time_features {_short(self.time_features)} must name cycles among "
                                f"{', '.join(TIME_FEATURES)}")
        _no_repeats(list(self.time_features), "time_features")
        if self.time_features and (self.kind != "distill" or not self.heads):
            raise ManifestError("manifest time_features: only a distillation model with heads takes the time")

    @property
    def takes_time(self) -> bool:
        """Whether the model's heads take when the photo was taken (``time_features``) as input."""
        return bool(self.time_features)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["backbone"]["options"] = dict(self.backbone.options)
        data["training"] = dict(self.training)
        data["network"] = dict(self.network)
        if self.time_features:
            data["time_features"] = list(self.time_features)
        else:  # a time-blind model's manifest stays exactly as before time features existed
            del data["time_features"]
        return data

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"))

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Manifest:
        """Build and validate; every structural problem names the field."""
        if not isinstance(data, Mapping):
            raise ManifestError("manifest must be a JSON object")
        _check_version(data.get("format_version"))
        bb, inp = _field(data, "backbone", dict), _field(data, "input", dict)
        manifest = cls(
            kind=_field(data, "kind", str),
            backbone=BackboneSpec(_field(bb, "name", str, "backbone."), _field(bb, "options", dict, "backbone.", {})),
            input=InputSpec(
                tile_px=_field(inp, "tile_px", int, "input."),
                gsd_m=_field(inp, "gsd_m", (int, float), "input."),
                bands=tuple(_field(inp, "bands", list, "input.")),
                mean=tuple(_field(inp, "mean", list, "input.")),
                std=tuple(_field(inp, "std", list, "input.")),
            ),
            heads=tuple(_head(h, k) for k, h in enumerate(_field(data, "heads", list))),
            hidden=_field(data, "hidden", int, "", 1024),
            training=_field(data, "training", dict, "", {}),
            format_version=data["format_version"],
            network=_field(data, "network", dict, "", {}),
            time_features=tuple(_field(data, "time_features", list, "", [])),
        )
        manifest.validate()
        return manifest

    @classmethod
    def from_json(cls, text: str) -> Manifest:
        return cls.from_dict(parse_json_object(text, "manifest", ManifestError))


_MISSING = object()


def _field(data: Mapping[str, Any], key: str, kind: type | tuple[type, ...], where: str = "",
           default: Any = _MISSING) -> Any:
    """``data[key]`` when it has the JSON type ``kind`` (a bool is never a number); names the field when not."""
    if key not in data:
        if default is _MISSING:
            raise ManifestError(f"manifest is missing the field '{where}{key}'")
        return default
    value = data[key]
    if not isinstance(value, kind) or (isinstance(value, bool) and kind is not bool):
        names = {dict: "an object", list: "a list", str: "a string", int: "an integer"}
        wanted = names.get(kind, "a number") if isinstance(kind, type) else "a number"
        raise ManifestError(f"manifest field '{where}{key}' must be {wanted}, got {_short(value)}")
    return value


def _head(data: Any, k: int) -> HeadSpec:
    if not isinstance(data, dict):
        raise ManifestError(f"manifest heads[{k}] must be an object, got {_short(data)}")
    where = f"heads[{k}]."
    return HeadSpec(name=_field(data, "name", str, where), distribution=_field(data, "distribution", str, where),
                    labels=tuple(_field(data, "labels", list, where)),
                    label_space=_field(data, "label_space", str, where, "custom"))


def params_per_label(distribution: str) -> int:
    """Parameters a head predicts per label: 2 for Beta (alpha, beta) and Gaussian (mean, variance), else 1."""
    return 2 if distribution in TWO_PARAMETER else 1


def _check_version(version: Any) -> None:
    if type(version) is not int or version != FORMAT_VERSION:
        raise ManifestError(
            f"model file format version {_short(version)} is not supported by this xview "
            f"(it reads version {FORMAT_VERSION}); upgrade xview or re-export the model"
        )


def bounded_int(value: Any, name: str, low: int, high: int) -> int:
    """``value`` when it is an integer (not a bool, not a float) in [low, high]; else the field is named."""
    if type(value) is not int or not low <= value <= high:
        raise ManifestError(f"manifest {name} must be an integer from {low} to {high}, got {_short(value)}")
    return value


def _no_repeats(names: list[str], what: str) -> None:
    repeated = [name for name, n in Counter(names).items() if n > 1]
    if repeated:
        raise ManifestError(f"manifest {what} repeat: {', '.join(map(_short, repeated[:5]))}")


# The public attributes of ``nn.ModuleDict`` (torch 2.14), which holds the heads: a head called 'keys' or
# 'training' cannot be one of its entries; every name starting with '_' is reserved too. Written out so
# that validating a manifest never imports torch (tests/model check it against the installed torch).
MODULE_DICT_ATTRIBUTES = frozenset((
    "T_destination", "add_module", "apply", "bfloat16", "buffers", "call_super_init", "children", "clear",
    "compile", "cpu", "cuda", "double", "dump_patches", "eval", "extra_repr", "float", "forward", "get_buffer",
    "get_extra_state", "get_parameter", "get_submodule", "half", "ipu", "items", "keys", "load_state_dict",
    "modules", "mtia", "named_buffers", "named_children", "named_modules", "named_parameters", "parameters",
    "pop", "register_backward_hook", "register_buffer", "register_forward_hook", "register_forward_pre_hook",
    "register_full_backward_hook", "register_full_backward_pre_hook", "register_load_state_dict_post_hook",
    "register_load_state_dict_pre_hook", "register_module", "register_parameter",
    "register_state_dict_post_hook", "register_state_dict_pre_hook", "requires_grad_", "set_extra_state",
    "set_submodule", "share_memory", "state_dict", "to", "to_empty", "train", "training", "type", "update",
    "values", "xpu", "zero_grad",
))


def reserved_head_name(name: str) -> bool:
    """Whether ``name`` cannot name a head: an attribute of the heads' ``nn.ModuleDict``, or private."""
    return name.startswith("_") or name in MODULE_DICT_ATTRIBUTES


def _short(value: Any) -> str:
    return reprlib.repr(value)


def finite_number(value: Any) -> bool:
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        return False
    try:
        return math.isfinite(value)
    except OverflowError:  # an integer of hundreds of digits
        return False


def _positive_number(value: Any) -> bool:
    return finite_number(value) and value > 0


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
