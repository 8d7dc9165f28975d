"""Products: per-tile distribution parameters turned into the bands of the output rasters.

A registry binds each product to the head distributions it makes sense for, its data type, units
and the function that computes it from a block of parameters (rows of NaN = tiles not run):

- ``prob``: Dirichlet mean (or the softmax of a 'mean' head) of chosen classes, one band per class;
- ``top``: index of the most likely (or, for counts, most numerous) class, with class names;
- ``concentration``: alpha_0 = sum of Dirichlet concentrations, the model's confidence;
- ``entropy``: entropy in nats of the expected label distribution (high = mixed views);
- ``count``: Poisson rate, the expected number of objects of a class in a photo taken there.

The maths is numpy, in float32, the same formulas as ``model.distributions`` (tests hold them
equal): mapping with an ONNX model then never imports torch (start-up), and rows need no copies.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Optional

import numpy as np

from xview_engine.errors import QueryError
from xview_engine.model.manifest import HeadSpec

DEFAULT_TOP_CLASSES = 10


@dataclass(frozen=True)
class ProductKind:
    name: str
    distributions: tuple[str, ...]
    per_class: bool  # one band per chosen class, or a single band
    units: str
    compute: Callable[[HeadSpec, np.ndarray], np.ndarray]  # (n, K) float32 parameters -> (n, K) or (n,)


ALPHA_MIN = np.float32(1e-8)  # as model.distributions.ALPHA_MIN


def class_values(head: HeadSpec, params: np.ndarray) -> np.ndarray:
    """What a class 'is worth' at a tile (float32): probability (Dirichlet mean / softmax) or expected count."""
    params = np.asarray(params, dtype=np.float32)
    if head.distribution == "dirichlet":
        alpha = np.maximum(params, ALPHA_MIN)
        return alpha / alpha.sum(axis=-1, keepdims=True)
    return params  # 'mean' heads already output probabilities, 'poisson' heads rates


def _concentration(head: HeadSpec, params: np.ndarray) -> np.ndarray:
    return np.maximum(params, ALPHA_MIN).sum(axis=-1)


def _entropy(head: HeadSpec, params: np.ndarray) -> np.ndarray:
    """Entropy in nats of the expected label distribution (0 log 0 = 0)."""
    p = np.maximum(class_values(head, params), np.float32(0.0))
    return -np.where(p > 0, p * np.log(np.maximum(p, np.float32(1e-30))), np.float32(0.0)).sum(axis=-1)


PRODUCTS: dict[str, ProductKind] = {
    kind.name: kind
    for kind in (
        ProductKind("prob", ("dirichlet", "mean"), True, "probability (mean of the predicted distribution)",
                    class_values),
        ProductKind("top", ("dirichlet", "mean", "poisson"), False, "class index (see category names)",
                    lambda head, p: np.argmax(class_values(head, p), axis=-1)),
        ProductKind("concentration", ("dirichlet",), False, "alpha_0, sum of Dirichlet concentrations",
                    _concentration),
        ProductKind("entropy", ("dirichlet", "mean"), False, "nats, entropy of the expected label distribution",
                    _entropy),
        ProductKind("count", ("poisson",), True, "expected objects per photo (Poisson rate)", class_values),
    )
}


def resolve_products(head: HeadSpec, requested: Optional[tuple[str, ...]]) -> tuple[str, ...]:
    """The requested products (default: all that fit the head), checked against the head's distribution."""
    if not requested:
        return tuple(name for name, kind in PRODUCTS.items() if head.distribution in kind.distributions)
    for name in requested:
        if name not in PRODUCTS:
            raise QueryError(f"unknown product '{name}' (known: {', '.join(PRODUCTS)})")
        if head.distribution not in PRODUCTS[name].distributions:
            fits = [n for n, k in PRODUCTS.items() if head.distribution in k.distributions]
            raise QueryError(
                f"product '{name}' does not apply to head '{head.name}' ({head.distribution}); "
                f"choose from {', '.join(fits)} or another --head"
            )
    return tuple(dict.fromkeys(requested))


def choose_classes(head: HeadSpec, requested: Optional[tuple[str, ...]], class_sums: np.ndarray,
                   top_n: int = DEFAULT_TOP_CLASSES) -> tuple[int, ...]:
    """Class indexes for per-class products: as requested, or the top ``top_n`` by mean over the map."""
    if requested:
        return tuple(head.class_index(name) for name in requested)
    order = np.argsort(-np.nan_to_num(class_sums, nan=-np.inf), kind="stable")
    return tuple(int(i) for i in order[: min(top_n, head.num_classes)])


def top_dtype(head: HeadSpec) -> tuple[str, int]:
    """Smallest unsigned integer type holding every class index, and its nodata value (the type's max)."""
    return ("uint8", 255) if head.num_classes < 255 else ("uint16", 65535)


def compute_product(name: str, head: HeadSpec, params: np.ndarray, classes: tuple[int, ...]) -> np.ndarray:
    """Bands (n, B) float32 of product ``name`` for parameters (n, K); NaN rows stay NaN (nodata)."""
    kind = PRODUCTS[name]
    valid = ~np.isnan(params).any(axis=1)
    out = np.full((params.shape[0], len(classes) if kind.per_class else 1), np.nan, np.float32)
    if valid.any():
        values = kind.compute(head, np.ascontiguousarray(params[valid], np.float32)).astype(np.float32)
        out[valid] = values[:, list(classes)] if kind.per_class else values.reshape(-1, 1)
    return out
