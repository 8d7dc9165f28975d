"""Hostile search queries: deep nesting, thousands of operators, random token soup.

Every query is parsed or refused with a QueryError, never another exception (RecursionError was
the old answer to 500 parentheses); long flat chains are evaluated; and on random well-formed
queries the iterative evaluator gives exactly (bit for bit) what the plain recursive definition gives.
The random queries come from a seeded generator (hypothesis is not a dependency of the project).
"""

from __future__ import annotations

import random
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from mapping_fixtures import mean_colour_model, random_rgb
from test_search import MANIFEST, VALUES

from xview_engine.errors import QueryError
from xview_engine.mapping.grammar import MAX_DEPTH, Not, Term, Threshold, evaluate, heads_of, parse_query

ROOT = Path(__file__).resolve().parents[2]
PROBABILITY_TERMS = ["beach", "park", "places365:'parking lot'", "imagenet:car", "'sports car'", "coco:car>=1"]


@pytest.mark.parametrize(
    ("query", "match"),
    [
        ("(" * 500 + "beach" + ")" * 500, f"nests deeper than {MAX_DEPTH} levels"),
        ("!" * 10_000 + "beach", f"nests deeper than {MAX_DEPTH} levels"),
        ("(!" * 40 + "beach" + ")" * 40, "nests deeper"),
        ("(" * 5000, "nests deeper"),
        ("beach & " * 30_000 + "park", "more than 50,000 terms and operators"),
    ],
)
def test_deep_or_huge_queries_are_query_errors(query, match) -> None:
    with pytest.raises(QueryError, match=match) as info:
        parse_query(query, MANIFEST)
    assert len(str(info.value)) < 300  # the query is quoted shortened, not whole


def test_nesting_up_to_the_limit_is_fine() -> None:
    node = parse_query("(" * MAX_DEPTH + "beach" + ")" * MAX_DEPTH, MANIFEST)
    assert node == Term("places365", 0, "beach", False)
    node = parse_query("!" * MAX_DEPTH + "beach", MANIFEST)
    np.testing.assert_allclose(evaluate(node, VALUES), [0.7, 0.1])  # an even number of '!'


@pytest.mark.parametrize("op", ["&", "|"])
def test_flat_chains_of_thousands_of_terms_evaluate(op) -> None:
    terms = ["beach", "park"] * 2500
    node = parse_query(f" {op} ".join(terms), MANIFEST)
    assert heads_of(node) == {"places365"}
    score = evaluate(node, VALUES)
    expected = VALUES["places365"][:, 0].astype(np.float64)
    for name in terms[1:]:
        x = VALUES["places365"][:, ["beach", "park"].index(name)]
        expected = expected * x if op == "&" else expected + x - expected * x
    np.testing.assert_array_equal(score, expected)
    with pytest.raises(QueryError, match="threshold it first"):
        parse_query(" & ".join(["beach"] * 4000) + " | coco:car", MANIFEST)


def _reference(node, values, logic):
    """The grammar's definition, recursive: what `evaluate` gave before it was iterative."""
    if isinstance(node, Term):
        return values[node.head][:, node.index].astype(np.float64)
    if isinstance(node, Threshold):
        x = _reference(node.node, values, logic)
        ops = {">": np.greater, ">=": np.greater_equal, "<": np.less, "<=": np.less_equal}
        return np.where(np.isnan(x), np.nan, ops[node.op](x, node.value).astype(np.float64))
    if isinstance(node, Not):
        return 1.0 - _reference(node.node, values, logic)
    a, b = _reference(node.left, values, logic), _reference(node.right, values, logic)
    if node.op == "&":
        return a * b if logic == "product" else np.minimum(a, b)
    return a + b - a * b if logic == "product" else np.maximum(a, b)


def _random_query(rng: random.Random, depth: int = 0) -> str:
    roll = rng.random()
    if depth > 4 or roll < 0.35:
        term = rng.choice(PROBABILITY_TERMS)
        if rng.random() < 0.7 or ">" in term:
            return term
        return f"{term} {rng.choice(['>', '<', '>=', '<='])} 0.{rng.randint(0, 9)}"
    if roll < 0.5:
        return "!" + _random_query(rng, depth + 1)
    if roll < 0.65:
        return f"({_random_query(rng, depth + 1)})"
    return f"{_random_query(rng, depth + 1)} {rng.choice('&|')} {_random_query(rng, depth + 1)}"


@pytest.mark.parametrize("logic", ["product", "minmax"])
def test_random_well_formed_queries_score_as_defined(logic) -> None:
    rng = random.Random(11)
    values = {k: np.random.default_rng(5).random((64, v.shape[1])) * (4 if k == "coco" else 1)
              for k, v in VALUES.items()}
    for _ in range(400):
        query = _random_query(rng)
        node = parse_query(query, MANIFEST, logic)
        np.testing.assert_array_equal(evaluate(node, values, logic), _reference(node, values, logic), err_msg=query)


SOUP = ["(", ")", "!", "&", "|", ":", ">", ">=", "<", "<=", "=", "beach", "park", "coco", "car", "places365",
        "0.5", "1e3", ".", "'", '"', "'sports car'", " ", "\x00", "\u00e9", "-", "1e400", "nan"]


def test_random_token_soup_is_parsed_or_a_query_error() -> None:
    rng = random.Random(7)
    outcomes = {"parsed": 0, "refused": 0}
    for _ in range(3000):
        query = "".join(rng.choice(SOUP) for _ in range(rng.randint(0, 30)))
        if rng.random() < 0.05:
            query = rng.choice("(!") * rng.randint(60, 3000) + query
        try:
            node = parse_query(query, MANIFEST, rng.choice(["product", "minmax"]))
        except QueryError:
            outcomes["refused"] += 1
            continue
        heads_of(node)
        outcomes["parsed"] += 1
    assert outcomes["parsed"] >= 10 and outcomes["refused"] > 1000, outcomes


def test_deep_query_through_the_command_is_one_line(tmp_path) -> None:
    random_rgb(tmp_path / "rgb.tif")
    model = mean_colour_model(tmp_path / "m.safetensors", gsd_m=10.0)
    query = "(" * 500 + "colour:red" + ")" * 500
    result = subprocess.run([sys.executable, "-m", "xview_engine", "search", str(tmp_path / "rgb.tif"), "--model",
                             str(model), "--query", query, "-o", str(tmp_path / "s.tif")],
                            capture_output=True, text=True, timeout=120, env={"PYTHONPATH": str(ROOT)})
    assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr
    assert result.stderr.startswith("xview: error: query '((((") and result.stderr.count("\n") == 1
    assert f"nests deeper than {MAX_DEPTH} levels" in result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.safetensors", "rgb.tif"]
