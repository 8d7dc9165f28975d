"""The published weight files xview knows by name: where each comes from, what it must hash to, who uses it.

A name is ``family:arch``, the same words a teacher spec uses (``places365:resnet50``,
``imagenet:vgg16``, ``coco:fasterrcnn``), so ``--teachers places365:resnet50`` (no ``=FILE``) and
``--backbone-weights imagenet:resnet50`` name a file of this table. Each file is checked against
its SHA-256 before it is used (``weights.store.verify``).

Where the digests come from (no network here): torchvision's file names carry the first 8 hex
digits of the file's SHA-256 (``resnet50-11ad3fa6.pth``; torch.hub checks that prefix); the full
digests below were taken from public pin files that record them (each agrees with its file
name's prefix; most were found in several independent ones) and are not recomputed by CI. CSAIL's
file names carry no digest: ``places365:resnet50``'s comes from such pin files too, and
``places365:resnet18``'s is not recorded (the first copy xview checks is hashed, and its digest
kept beside it, with a warning). ``make weights-check`` (a person with internet) downloads every
file, prints its size and SHA-256 against this table and loads it into its architecture.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Optional

from xview_engine.errors import WeightsError

TORCHVISION = "https://download.pytorch.org/models/"
CSAIL = "http://places2.csail.mit.edu/models_places365/"  # CSAIL serves http only: the digest is what protects
TORCHVISION_LICENCE = "BSD-3-Clause (torchvision); the terms of the ImageNet training data may apply"
COCO_LICENCE = "BSD-3-Clause (torchvision); COCO annotations CC BY 4.0"
PLACES_LICENCE = "CC BY (CSAIL Places365-CNNs: credit Zhou et al., Places, TPAMI 2017)"
NAME_FORM = re.compile(r"^[a-z0-9]+:[a-z0-9_]+$")
HASH_TAG = re.compile(r"-([0-9a-f]{8,})\.")  # torch.hub's rule: the hex run after the last '-' is a sha256 prefix
SHA256_FORM = re.compile(r"^[0-9a-f]{64}$")


@dataclass(frozen=True)
class WeightFile:
    """One published file: its name in xview, what it is, its URL, size and SHA-256 where known, who uses it."""

    name: str
    description: str
    url: str
    size: Optional[int]  # bytes; None where not known here (`make weights-check` prints it)
    sha256: Optional[str]  # the full digest; None where not known here
    licence: str
    used_by: str  # the spec or option that uses it
    aliases: tuple[str, ...] = field(default=())

    def __post_init__(self) -> None:
        if self.sha256 is not None and not SHA256_FORM.match(self.sha256):
            raise ValueError(f"{self.name}: sha256 must be 64 lowercase hex digits")
        if self.sha256 is not None and self.hash_prefix and not self.sha256.startswith(self.hash_prefix):
            raise ValueError(f"{self.name}: sha256 {self.sha256} disagrees with its file name {self.filename}")

    @property
    def filename(self) -> str:
        return self.url.rsplit("/", 1)[-1]

    @property
    def hash_prefix(self) -> Optional[str]:
        """The SHA-256 prefix the file name carries (torchvision), or None."""
        match = HASH_TAG.search(self.filename)
        return match.group(1) if match else None

    def digest_matches(self, digest: str) -> bool:
        """Whether a file's SHA-256 is this one's: the full digest, else the name's prefix, else unknown (True)."""
        if self.sha256 is not None:
            return digest == self.sha256
        return digest.startswith(self.hash_prefix) if self.hash_prefix else True

    @property
    def digest_text(self) -> str:
        """The digest as a message gives it."""
        if self.sha256 is not None:
            return f"SHA-256 {self.sha256}"
        if self.hash_prefix:
            return f"SHA-256 starting {self.hash_prefix}"
        return "SHA-256 not published"


def _torchvision(arch: str, file: str, size: Optional[int], sha256: str, what: str, used_by: str,
                 **extra) -> WeightFile:
    return WeightFile(f"imagenet:{arch}", what, TORCHVISION + file, size, sha256, TORCHVISION_LICENCE, used_by,
                      **extra)


def _backbone(arch: str) -> str:
    return f"--teachers imagenet:{arch}; --backbone {arch} --backbone-weights imagenet:{arch} (train distill, siamese)"


FILES: tuple[WeightFile, ...] = (
    WeightFile("places365:resnet18", "Places365-Standard scene classifier, ResNet-18, 365 classes (CSAIL)",
               CSAIL + "resnet18_places365.pth.tar", None, None, PLACES_LICENCE,
               "--teachers places365:resnet18 (teach, localize, features); --backbone-weights places365:resnet18"),
    WeightFile("places365:resnet50", "Places365-Standard scene classifier, ResNet-50, 365 classes (CSAIL)",
               CSAIL + "resnet50_places365.pth.tar", None,
               "46529c86902bd0cfb0ea562a30b2850c28d2620d96282b3db9c318e1d774f6c5", PLACES_LICENCE,
               "--teachers places365:resnet50 (teach, localize, features); --backbone-weights places365:resnet50"),
    _torchvision("resnet18", "resnet18-f37072fd.pth", 46_830_571,
                 "f37072fd47e89c5e827621c5baffa7500819f7896bbacec160b1a16c560e07ec",
                 "ImageNet-1k classifier, ResNet-18 (torchvision IMAGENET1K_V1)", _backbone("resnet18")),
    _torchvision("resnet34", "resnet34-b627a593.pth", None,
                 "b627a593bcbe140c234610266fe4f8ae95ea42fc881d091c9b6052e6b1d0590f",
                 "ImageNet-1k classifier, ResNet-34 (torchvision IMAGENET1K_V1)", _backbone("resnet34")),
    _torchvision("resnet50", "resnet50-11ad3fa6.pth", 102_540_417,
                 "11ad3fa62ca79e40addfd354a8ec4b7c75143b3038b8d2a807fbc68deab379ca",
                 "ImageNet-1k classifier, ResNet-50 (torchvision IMAGENET1K_V2)", _backbone("resnet50")),
    _torchvision("resnet101", "resnet101-63fe2227.pth", None,
                 "63fe2227b86e8f1f2063f43a75c84d195911b6a0eace650907dd3dc62dd49a0a",
                 "ImageNet-1k classifier, ResNet-101 (torchvision IMAGENET1K_V1)", _backbone("resnet101")),
    _torchvision("mobilenet_v3_small", "mobilenet_v3_small-047dcff4.pth", 10_306_551,
                 "047dcff4addef86ea5bc2eff13c9614dc11f47ab1160d0a71a25e7db994f4e1f",
                 "ImageNet-1k classifier, MobileNetV3-Small (torchvision IMAGENET1K_V1): a small, fast teacher",
                 "--teachers imagenet:mobilenet_v3_small (teach, localize, features)"),
    _torchvision("vgg16", "vgg16-397923af.pth", 553_433_881,
                 "397923af8e79cdbb6a7127f12361acd7a2f83e06b05044ddf496e83de57a5bf0",
                 "ImageNet-1k classifier, VGG16 (torchvision IMAGENET1K_V1): the twin network's branches",
                 "train twin --branch vgg16 --backbone-weights imagenet:vgg16; --teachers imagenet:vgg16"),
    WeightFile("coco:fasterrcnn", "COCO object detector, Faster R-CNN ResNet-50 FPN (torchvision COCO_V1)",
               TORCHVISION + "fasterrcnn_resnet50_fpn_coco-258fb6c6.pth", 167_502_836,
               "258fb6c638b15964ddcdd1ae0748c5eef1be9e732750120cc857feed3faac384", COCO_LICENCE,
               "--teachers coco:fasterrcnn (object counts)", aliases=("coco:fasterrcnn_resnet50_fpn",)),
)
REGISTRY: dict[str, WeightFile] = {f.name: f for f in FILES}


def find(name: str) -> Optional[WeightFile]:
    """The file a name (or an alias) stands for, or None."""
    if name in REGISTRY:
        return REGISTRY[name]
    return next((f for f in REGISTRY.values() if name in f.aliases), None)


def lookup(name: str) -> WeightFile:
    """The file a name stands for; an unknown name is an error listing the known ones."""
    found = find(name.strip())
    if found is None:
        raise WeightsError(f"no published weights are called '{name}' (known: {', '.join(REGISTRY)}; "
                           "see xview weights list)")
    return found


def looks_like_name(text: str) -> bool:
    """Whether an argument reads as a registry name (``family:arch``) rather than a file path."""
    return bool(NAME_FORM.match(text.strip()))
