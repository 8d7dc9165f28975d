from __future__ import annotations

import pytest

from xview_engine.errors import LabelSpaceError
from xview_engine.model.label_spaces import (
    coco91,
    custom_space,
    custom_space_from_file,
    imagenet1k,
    label_space,
    places365,
)


def test_places365_names_from_the_csail_list() -> None:
    space = places365()
    assert len(space) == 365
    assert space.names[0] == "airfield"
    assert space.index("field/cultivated") == 140
    assert space.names[space.index("beach")] == "beach"


def test_imagenet_and_coco_match_torchvision_metadata() -> None:
    from torchvision.models import ResNet50_Weights
    from torchvision.models.detection import FasterRCNN_ResNet50_FPN_Weights

    assert imagenet1k().names == tuple(ResNet50_Weights.IMAGENET1K_V2.meta["categories"])
    coco = coco91()
    assert coco.names == tuple(FasterRCNN_ResNet50_FPN_Weights.COCO_V1.meta["categories"])
    assert len(coco) == 91 and coco.names[0] == "__background__" and coco.names[12] == "N/A"
    assert coco.index("car") == 3


def test_unknown_class_suggests_near_names() -> None:
    with pytest.raises(LabelSpaceError, match="no class 'parking'.*parking_lot"):
        places365().index("parking")


def test_label_space_lookup_and_errors(tmp_path) -> None:
    assert label_space("coco") is coco91()
    with pytest.raises(LabelSpaceError, match="built in: places365, imagenet, coco"):
        label_space("openimages")
    path = tmp_path / "mine.txt"
    path.write_text("water\n\nroad\nroof\n")
    assert custom_space_from_file(path).names == ("water", "road", "roof")
    with pytest.raises(LabelSpaceError, match="repeats names: road"):
        custom_space("x", ["road", "road"])
    with pytest.raises(LabelSpaceError, match="does not exist"):
        custom_space_from_file(tmp_path / "none.txt")
    assert places365().subset(["beach", "coast"]).names == ("beach", "coast")
