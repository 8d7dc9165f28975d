"""Joint attribute search: a small expression language over the heads' classes, evaluated per tile.

Grammar (whitespace is free; class names with spaces or operator characters go in quotes)::

    expr   := or
    or     := and ( "|" and )*
    and    := not ( "&" not )*
    not    := "!" not | atom
    atom   := "(" expr ")" | term [ cmp number ]
    term   := [ head ":" ] class          e.g. places365:beach, imagenet:"sports car", car
    cmp    := ">" | ">=" | "<" | "<="

Values: a term is the tile's expected probability of the class (Dirichlet mean, or softmax of a
'mean' head) or, for a Poisson head, its expected count. ``term > t`` is 1 where true, else 0.
Logic ``product`` (default; independent events): ``a & b = a*b``, ``a | b = a + b - a*b``,
``!a = 1 - a``. Logic ``minmax`` (fuzzy): ``min``, ``max``, ``1 - a``. So ``imagenet:car>0.3 &
places365:park`` scores 0 where cars are unlikely and ranks the rest by how park-like they are.
A count term may be weighted with ``&`` under the product logic (expected count x probability)
but must be thresholded before ``|`` or ``!``. Without a head, a class must exist in exactly one head.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Union

import numpy as np

from xview_engine.errors import QueryError
from xview_engine.model.manifest import Manifest

LOGICS = ("product", "minmax")
_TOKEN = re.compile(r"\s*(?:(?P<num>\d+(?:\.\d*)?(?:[eE][-+]?\d+)?|\.\d+(?:[eE][-+]?\d+)?)(?![\w/])"
                    r"|(?P<op>>=|<=|[><&|!():])|\"(?P<dq>[^\"]*)\"|'(?P<sq>[^']*)'|(?P<name>[^\s&|!()<>=:\"']+))")


@dataclass(frozen=True)
class Term:
    head: str
    index: int
    label: str
    count: bool  # a Poisson rate, not a probability


@dataclass(frozen=True)
class Threshold:
    node: Node
    op: str
    value: float


@dataclass(frozen=True)
class Not:
    node: Node


@dataclass(frozen=True)
class Binary:
    op: str  # '&' or '|'
    left: Node
    right: Node


Node = Union[Term, Threshold, Not, Binary]


def parse_query(text: str, manifest: Manifest, logic: str = "product") -> Node:
    """Parse and bind ``text`` to the model's heads and classes; every mistake is a QueryError."""
    if logic not in LOGICS:
        raise QueryError(f"unknown logic '{logic}' (choose from {', '.join(LOGICS)})")
    parser = _Parser(_tokens(text), manifest, text)
    node = parser.expr()
    if parser.pos != len(parser.tokens):
        raise QueryError(f"query '{text}': unexpected '{parser.tokens[parser.pos][1]}'")
    _check_kinds(node, logic, text)
    return node


def heads_of(node: Node) -> set[str]:
    """Heads a query reads."""
    if isinstance(node, Term):
        return {node.head}
    if isinstance(node, Binary):
        return heads_of(node.left) | heads_of(node.right)
    return heads_of(node.node)


def evaluate(node: Node, values: dict[str, np.ndarray], logic: str = "product") -> np.ndarray:
    """Score per tile; ``values`` maps head -> (n, K) class values (probabilities or expected counts)."""
    if isinstance(node, Term):
        return values[node.head][:, node.index].astype(np.float64)
    if isinstance(node, Threshold):
        x = evaluate(node.node, values, logic)
        ops = {">": np.greater, ">=": np.greater_equal, "<": np.less, "<=": np.less_equal}
        return np.where(np.isnan(x), np.nan, ops[node.op](x, node.value).astype(np.float64))
    if isinstance(node, Not):
        return 1.0 - evaluate(node.node, values, logic)
    a, b = evaluate(node.left, values, logic), evaluate(node.right, values, logic)
    if node.op == "&":
        return a * b if logic == "product" else np.minimum(a, b)
    return a + b - a * b if logic == "product" else np.maximum(a, b)


def _tokens(text: str) -> list[tuple[str, str]]:
    tokens, pos = [], 0
    while pos < len(text):
        if text[pos:].strip() == "":
            break
        match = _TOKEN.match(text, pos)
        if not match or match.end() == pos:
            raise QueryError(f"query '{text}': cannot read '{text[pos:].strip()[:20]}'")
        kind = match.lastgroup or "name"
        value = match.group(kind)
        tokens.append(("name" if kind in ("dq", "sq") else kind, value))
        pos = match.end()
    if not tokens:
        raise QueryError("the query is empty; e.g. --query \"imagenet:car>0.3 & places365:park\"")
    return tokens


class _Parser:
    def __init__(self, tokens: list[tuple[str, str]], manifest: Manifest, text: str):
        self.tokens, self.manifest, self.text, self.pos = tokens, manifest, text, 0

    def peek(self) -> tuple[str, str]:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else ("end", "")

    def take(self, kind: str, value: str | None = None) -> str:
        tok = self.peek()
        if tok[0] != kind or (value is not None and tok[1] != value):
            want = f"'{value}'" if value else {"name": "a class name", "num": "a number"}.get(kind, kind)
            got = f"'{tok[1]}'" if tok[0] != "end" else "the end"
            raise QueryError(f"query '{self.text}': expected {want}, found {got}")
        self.pos += 1
        return tok[1]

    def expr(self) -> Node:
        node = self.conj()
        while self.peek() == ("op", "|"):
            self.take("op", "|")
            node = Binary("|", node, self.conj())
        return node

    def conj(self) -> Node:
        node = self.neg()
        while self.peek() == ("op", "&"):
            self.take("op", "&")
            node = Binary("&", node, self.neg())
        return node

    def neg(self) -> Node:
        if self.peek() == ("op", "!"):
            self.take("op", "!")
            return Not(self.neg())
        return self.atom()

    def atom(self) -> Node:
        if self.peek() == ("op", "("):
            self.take("op", "(")
            node = self.expr()
            self.take("op", ")")
        else:
            node = self.term()
        if self.peek()[0] == "op" and self.peek()[1] in (">", ">=", "<", "<="):
            op = self.take("op")
            node = Threshold(node, op, float(self.take("num")))
        return node

    def term(self) -> Term:
        first = self.take("name") if self.peek()[0] != "num" else self.take("num")
        if self.peek() == ("op", ":"):
            self.take("op", ":")
            label = self.take("num") if self.peek()[0] == "num" else self.take("name")
            return self._bind(first, label)
        return self._bind(None, first)

    def _bind(self, head_name: str | None, label: str) -> Term:
        if head_name and head_name not in self.manifest.head_names:
            raise QueryError(f"query '{self.text}': the model has no head '{head_name}' "
                             f"(heads: {', '.join(self.manifest.head_names)})")
        heads = [self.manifest.head(head_name)] if head_name else [
            h for h in self.manifest.heads if label in h.labels]
        if not heads:
            raise QueryError(f"query '{self.text}': no head has a class '{label}' "
                             f"(heads: {', '.join(self.manifest.head_names)}; write head:class)")
        if len(heads) > 1:
            raise QueryError(f"query '{self.text}': class '{label}' is in heads "
                             f"{', '.join(h.name for h in heads)}; write head:{label}")
        head = heads[0]
        if label not in head.labels:
            near = [n for n in head.labels if label.lower() in n.lower()][:6]
            hint = f"; similar: {', '.join(near)}" if near else ""
            raise QueryError(f"query '{self.text}': head '{head.name}' has no class '{label}'{hint}")
        return Term(head.name, head.labels.index(label), label, head.distribution == "poisson")


def _check_kinds(node: Node, logic: str, text: str) -> bool:
    """True when ``node`` is a raw count; refuse counts where only probabilities make sense."""
    if isinstance(node, Term):
        return node.count
    if isinstance(node, Threshold):
        _check_kinds(node.node, logic, text)
        return False
    if isinstance(node, Not):
        if _check_kinds(node.node, logic, text):
            raise QueryError(f"query '{text}': '!' needs a probability; threshold the count first (e.g. !coco:car>=1)")
        return False
    left, right = _check_kinds(node.left, logic, text), _check_kinds(node.right, logic, text)
    if (left or right) and (node.op == "|" or logic == "minmax"):
        raise QueryError(f"query '{text}': an expected count can only be weighted with '&' under the product "
                         "logic; threshold it first (e.g. coco:car>=1)")
    return left or right
