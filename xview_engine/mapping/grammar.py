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
'mean' head, P(yes) of a Bernoulli head, the mean of a Beta head) or, for a Poisson head, its
expected count (a Gaussian head: its mean, thresholded or weighted like a count). ``term > t``
is 1 where true, else 0.
Logic ``product`` (default; independent events): ``a & b = a*b``, ``a | b = a + b - a*b``,
``!a = 1 - a``. Logic ``minmax`` (fuzzy): ``min``, ``max``, ``1 - a``. So ``imagenet:car>0.3 &
places365:park`` scores 0 where cars are unlikely and ranks the rest by how park-like they are.
A count term may be weighted with ``&`` under the product logic (expected count x probability)
but must be thresholded before ``|`` or ``!``. Without a head, a class must exist in exactly one head.

Hostile queries stay errors: parentheses and ``!`` may nest ``MAX_DEPTH`` levels, a query holds at
most ``MAX_TOKENS`` tokens, and the tree is walked without recursion (``_fold``), so a flat chain of
thousands of ``&`` terms is evaluated, not a RecursionError.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Union

import numpy as np

from xview_engine.errors import QueryError
from xview_engine.mapping.products import NOT_PROBABILITIES
from xview_engine.model.manifest import Manifest

LOGICS = ("product", "minmax")
MAX_DEPTH = 64  # levels of parentheses and '!'
MAX_TOKENS = 50_000
_TOKEN = re.compile(r"\s*(?:(?P<num>\d+(?:\.\d*)?(?:[eE][-+]?\d+)?|\.\d+(?:[eE][-+]?\d+)?)(?![\w/])"
                    r"|(?P<op>>=|<=|[><&|!():])|\"(?P<dq>[^\"]*)\"|'(?P<sq>[^']*)'|(?P<name>[^\s&|!()<>=:\"']+))")


@dataclass(frozen=True)
class Term:
    head: str
    index: int
    label: str
    count: bool  # a Poisson rate or a Gaussian mean, not a probability


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
        raise QueryError(f"query '{_shown(text)}': unexpected '{parser.tokens[parser.pos][1]}'")
    _check_kinds(node, logic, text)
    return node


def heads_of(node: Node) -> set[str]:
    """Heads a query reads."""
    return _fold(node, lambda n, parts: {n.head} if isinstance(n, Term) else set().union(*parts))


_COMPARE = {">": np.greater, ">=": np.greater_equal, "<": np.less, "<=": np.less_equal}


def evaluate(node: Node, values: dict[str, np.ndarray], logic: str = "product") -> np.ndarray:
    """Score per tile; ``values`` maps head -> (n, K) class values (probabilities or expected counts)."""

    def score(n: Node, parts: Sequence[np.ndarray]) -> np.ndarray:
        if isinstance(n, Term):
            return values[n.head][:, n.index].astype(np.float64)
        if isinstance(n, Threshold):
            return np.where(np.isnan(parts[0]), np.nan, _COMPARE[n.op](parts[0], n.value).astype(np.float64))
        if isinstance(n, Not):
            return 1.0 - parts[0]
        a, b = parts
        if n.op == "&":
            return a * b if logic == "product" else np.minimum(a, b)
        return a + b - a * b if logic == "product" else np.maximum(a, b)

    return _fold(node, score)


def _fold(node: Node, visit: Callable[[Node, list[Any]], Any]) -> Any:
    """``visit(n, results of n's operands)`` from the leaves up, left before right, with a stack instead
    of recursion: a chain of 5 000 ``&`` is a tree 5 000 deep."""
    stack: list[tuple[Node, bool]] = [(node, False)]
    done: list[Any] = []
    while stack:
        n, operands_done = stack.pop()
        operands = _operands(n)
        if operands_done:
            split = len(done) - len(operands)
            parts, done[split:] = done[split:], []
            done.append(visit(n, parts))
        else:
            stack.append((n, True))
            stack.extend((o, False) for o in reversed(operands))
    return done[0]


def _operands(node: Node) -> tuple[Node, ...]:
    if isinstance(node, Binary):
        return node.left, node.right
    return (node.node,) if isinstance(node, (Not, Threshold)) else ()


def _shown(text: str, limit: int = 80) -> str:
    """The query as an error message quotes it: a 5 000-term query is not repeated whole."""
    return text if len(text) <= limit else f"{text[:limit]}... ({len(text):,} characters)"


def _tokens(text: str) -> list[tuple[str, str]]:
    tokens, pos = [], 0
    while pos < len(text):
        if text[pos:].strip() == "":
            break
        match = _TOKEN.match(text, pos)
        if not match or match.end() == pos:
            raise QueryError(f"query '{_shown(text)}': cannot read '{text[pos:].strip()[:20]}'")
        kind = match.lastgroup or "name"
        value = match.group(kind)
        tokens.append(("name" if kind in ("dq", "sq") else kind, value))
        pos = match.end()
        if len(tokens) > MAX_TOKENS:
            raise QueryError(f"query '{_shown(text)}' has more than {MAX_TOKENS:,} terms and operators; "
                             "write a shorter query")
    if not tokens:
        raise QueryError("the query is empty; e.g. --query \"imagenet:car>0.3 & places365:park\"")
    return tokens


class _Parser:
    def __init__(self, tokens: list[tuple[str, str]], manifest: Manifest, text: str):
        self.tokens, self.manifest, self.text, self.pos = tokens, manifest, _shown(text), 0
        self.depth = 0  # parentheses and '!' open around the current token

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
        nots = 0
        while self.peek() == ("op", "!"):  # '!!!!a' without recursion
            self.take("op", "!")
            nots += 1
            self.enter()
        node = self.atom()
        for _ in range(nots):
            node = Not(node)
        self.depth -= nots
        return node

    def enter(self) -> None:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise QueryError(f"query '{self.text}' nests deeper than {MAX_DEPTH} levels of parentheses and '!'; "
                             "write it flatter")

    def atom(self) -> Node:
        if self.peek() == ("op", "("):
            self.take("op", "(")
            self.enter()
            node = self.expr()
            self.take("op", ")")
            self.depth -= 1
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
        return Term(head.name, head.labels.index(label), label, head.distribution in NOT_PROBABILITIES)


def _check_kinds(node: Node, logic: str, text: str) -> bool:
    """True when ``node`` is a raw count; refuse counts where only probabilities make sense."""
    text = _shown(text)

    def is_count(n: Node, parts: list[bool]) -> bool:
        if isinstance(n, Term):
            return n.count
        if isinstance(n, Not) and parts[0]:
            raise QueryError(f"query '{text}': '!' needs a probability; threshold the count first (e.g. !coco:car>=1)")
        if not isinstance(n, Binary):
            return False
        if any(parts) and (n.op == "|" or logic == "minmax"):
            raise QueryError(f"query '{text}': an expected count can only be weighted with '&' under the product "
                             "logic; threshold it first (e.g. coco:car>=1)")
        return any(parts)

    return _fold(node, is_count)
