"""Products: per-tile distribution parameters turned into the bands of the output rasters.

A registry binds each product to the head distributions it makes sense for, its data type, units
and the function that computes it from a block of parameters (rows of NaN = tiles not run):

- ``prob``: Dirichlet mean (or the softmax of a 'mean' head) of chosen classes, one band per class;
- ``top``: index of the most likely (or, for counts, most numerous) class, with class names;
- ``concentration``: alpha_0 = sum of Dirichlet concentrations, the model's confidence;
- ``entropy``: entropy in nats of the expected label distribution (high = mixed views);
- ``count``: Poisson rate, the expected number of objects of a class in a photo taken there;
- ``mean``: the expected value of a Beta (in [0, 1]) or Gaussian attribute, one band per attribute;
- ``spread``: its standard deviation (Beta, Gaussian; for yes / no sqrt(q (1 - q)));
- ``exceed``: P(value > t) at the run's threshold t (``--threshold``): a Beta or Gaussian attribute,
  a Poisson count (P(N > t)), a Dirichlet class share (its Beta marginal); made only when t is given.

Per-attribute heads (Beta, Bernoulli, Gaussian) have ``prob`` (Bernoulli: P(yes)) or ``mean`` as
what a class "is worth" (``class_values``), which the search grammar and What's here read too.

The maths is numpy, in float32, the same formulas as ``model.distributions`` (tests hold them
equal): mapping with an ONNX model then never imports torch (start-up), and rows need no copies.
``exceed`` uses scipy's incomplete beta and gamma functions and erfc (float64, then float32).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Optional

import numpy as np

from xview_engine.errors import QueryError
from xview_engine.model.manifest import HeadSpec

DEFAULT_TOP_CLASSES = 10
THRESHOLD_RANGE = {"beta": (0.0, 1.0), "dirichlet": (0.0, 1.0)}  # values a threshold of these heads can take
NOT_PROBABILITIES = ("poisson", "gaussian")  # heads whose class values are not in [0, 1]


@dataclass(frozen=True)
class ProductKind:
    name: str
    distributions: tuple[str, ...]
    per_class: bool  # one band per chosen class, or a single band
    units: str
    # (n, P) float32 parameters (and the threshold, for 'exceed') -> (n, K) or (n,)
    compute: Callable[..., np.ndarray]
    needs_threshold: bool = False


ALPHA_MIN = np.float32(1e-8)  # as model.distributions.ALPHA_MIN
VAR_MIN = np.float32(1e-6)  # as model.distributions.VAR_MIN


def _halves(params: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    k = params.shape[-1] // 2
    return params[..., :k], params[..., k:]


def class_values(head: HeadSpec, params: np.ndarray) -> np.ndarray:
    """What a class 'is worth' at a tile (float32): probability (Dirichlet mean / softmax / P(yes)),
    expected count, or an attribute's expected value (Beta a / (a + b), Gaussian mean)."""
    params = np.asarray(params, dtype=np.float32)
    if head.distribution == "dirichlet":
        alpha = np.maximum(params, ALPHA_MIN)
        return alpha / alpha.sum(axis=-1, keepdims=True)
    if head.distribution == "beta":
        a, b = (np.maximum(h, ALPHA_MIN) for h in _halves(params))
        return a / (a + b)
    if head.distribution == "gaussian":
        return _halves(params)[0]
    return params  # 'mean' heads already output probabilities, 'poisson' heads rates, 'bernoulli' P(yes)


def _spread(head: HeadSpec, params: np.ndarray, threshold: Optional[float] = None) -> np.ndarray:
    """Standard deviation of each attribute's value at the tile."""
    if head.distribution == "beta":
        a, b = (np.maximum(h, ALPHA_MIN) for h in _halves(params))
        s = a + b
        return np.sqrt(a * b / (s * s * (s + np.float32(1.0))))
    if head.distribution == "gaussian":
        return np.sqrt(np.maximum(_halves(params)[1], VAR_MIN))
    q = np.clip(params, np.float32(0.0), np.float32(1.0))
    return np.sqrt(q * (np.float32(1.0) - q))


def _exceed(head: HeadSpec, params: np.ndarray, threshold: Optional[float] = None) -> np.ndarray:
    """P(value > t) for each label: the survival function of its distribution at t."""
    from scipy import special

    t = float(threshold if threshold is not None else 0.5)
    x = np.asarray(params, np.float64)
    if head.distribution == "gaussian":
        mean, var = _halves(x)
        return 0.5 * special.erfc((t - mean) / np.sqrt(2.0 * np.maximum(var, float(VAR_MIN))))
    if head.distribution == "poisson":  # P(N > t) = P(N >= floor(t) + 1) = regularised lower gamma
        return special.gammainc(np.floor(t) + 1.0, np.maximum(x, 1e-8)) if t >= 0 else np.ones_like(x)
    if head.distribution == "beta":
        a, b = (np.maximum(h, float(ALPHA_MIN)) for h in _halves(x))
    else:  # a Dirichlet's class share is Beta(a_i, a_0 - a_i)
        a = np.maximum(x, float(ALPHA_MIN))
        b = np.maximum(a.sum(axis=-1, keepdims=True) - a, float(ALPHA_MIN))
    return special.betainc(b, a, np.clip(1.0 - t, 0.0, 1.0))  # I_{1-t}(b, a) = 1 - I_t(a, b)


def _concentration(head: HeadSpec, params: np.ndarray, threshold: Optional[float] = None) -> np.ndarray:
    return np.maximum(params, ALPHA_MIN).sum(axis=-1)


def _entropy(head: HeadSpec, params: np.ndarray, threshold: Optional[float] = None) -> np.ndarray:
    """Entropy in nats of the expected label distribution (0 log 0 = 0)."""
    p = np.maximum(class_values(head, params), np.float32(0.0))
    return -np.where(p > 0, p * np.log(np.maximum(p, np.float32(1e-30))), np.float32(0.0)).sum(axis=-1)


PRODUCTS: dict[str, ProductKind] = {
    kind.name: kind
    for kind in (
        ProductKind("prob", ("dirichlet", "mean", "bernoulli"), True,
                    "probability (mean of the predicted distribution)", lambda head, p, t=None: class_values(head, p)),
        ProductKind("top", ("dirichlet", "mean", "poisson"), False, "class index (see category names)",
                    lambda head, p, t=None: np.argmax(class_values(head, p), axis=-1)),
        ProductKind("concentration", ("dirichlet",), False, "alpha_0, sum of Dirichlet concentrations",
                    _concentration),
        ProductKind("entropy", ("dirichlet", "mean"), False, "nats, entropy of the expected label distribution",
                    _entropy),
        ProductKind("count", ("poisson",), True, "expected objects per photo (Poisson rate)",
                    lambda head, p, t=None: class_values(head, p)),
        ProductKind("mean", ("beta", "gaussian"), True, "expected value of the attribute (Beta: in [0, 1])",
                    lambda head, p, t=None: class_values(head, p)),
        ProductKind("spread", ("beta", "gaussian", "bernoulli"), True,
                    "standard deviation of the attribute's value", _spread),
        ProductKind("exceed", ("beta", "gaussian", "poisson", "dirichlet"), True,
                    "probability that the value exceeds the threshold", _exceed, needs_threshold=True),
    )
}


def fitting_products(head: HeadSpec, threshold: Optional[float] = None) -> tuple[str, ...]:
    """Every product that applies to the head's distribution ('exceed' only with a threshold)."""
    return tuple(name for name, kind in PRODUCTS.items() if head.distribution in kind.distributions
                 and (threshold is not None or not kind.needs_threshold))


def check_threshold(head: HeadSpec, threshold: Optional[float]) -> None:
    """A threshold must be a finite number inside the range of the head's values."""
    if threshold is None:
        return
    low, high = THRESHOLD_RANGE.get(head.distribution, (-np.inf, np.inf))
    if not (np.isfinite(threshold) and low <= threshold <= high):
        where = f" from {low:g} to {high:g}" if np.isfinite(low) else ""
        raise QueryError(f"--threshold {threshold!r} is not a finite number{where} for head '{head.name}' "
                         f"({head.distribution})")


def resolve_products(head: HeadSpec, requested: Optional[tuple[str, ...]],
                     threshold: Optional[float] = None) -> tuple[str, ...]:
    """The requested products (default: all that fit the head), checked against the head's distribution."""
    check_threshold(head, threshold)
    if not requested:
        return fitting_products(head, threshold)
    for name in requested:
        if name not in PRODUCTS:
            raise QueryError(f"unknown product '{name}' (known: {', '.join(PRODUCTS)})")
        if head.distribution not in PRODUCTS[name].distributions:
            raise QueryError(
                f"product '{name}' does not apply to head '{head.name}' ({head.distribution}); "
                f"choose from {', '.join(fitting_products(head, 0.5))} or another --head"
            )
        if PRODUCTS[name].needs_threshold and threshold is None:
            raise QueryError(f"product '{name}' is P(value > t): give the threshold t with --threshold")
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


def compute_product(name: str, head: HeadSpec, params: np.ndarray, classes: tuple[int, ...],
                    threshold: Optional[float] = None) -> np.ndarray:
    """Bands (n, B) float32 of product ``name`` for parameters (n, P); NaN rows stay NaN (nodata)."""
    kind = PRODUCTS[name]
    valid = ~np.isnan(params).any(axis=1)
    out = np.full((params.shape[0], len(classes) if kind.per_class else 1), np.nan, np.float32)
    if valid.any():
        values = kind.compute(head, np.ascontiguousarray(params[valid], np.float32), threshold).astype(np.float32)
        out[valid] = values[:, list(classes)] if kind.per_class else values.reshape(-1, 1)
    return out
