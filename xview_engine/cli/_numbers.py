"""argparse types for every number an `xview` option takes: bounded, finite, one message style.

``count(1, MAX_BATCH_SIZE)`` or ``number(0, 1, low_open=True)`` as an argument's ``type`` refuses
text that is not a number, NaN and infinities, and values outside the range, so that a size typed
on the command line cannot ask for terabytes or index past an array (the bounds are in
``xview_engine.limits``, shared with the engine's own checks). argparse prints the refusal as
"argument --batch-size: ..." on one line.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

from xview_engine.errors import XviewError
from xview_engine.limits import check_count, check_number


def count(low: int, high: int) -> Callable[[str], int]:
    """A whole number in [low, high]."""
    return _argument_type("whole number", int, lambda v: check_count("", v, low, high),
                          f"is not a whole number (from {low:,} to {high:,})")


def number(low: float, high: float, *, low_open: bool = False, high_open: bool = False) -> Callable[[str], float]:
    """A finite number in [low, high] (open at either end on request)."""
    return _argument_type("number", float, lambda v: check_number("", v, low, high, low_open=low_open,
                                                                   high_open=high_open), "is not a number")


def positive(high: float) -> Callable[[str], float]:
    """A finite number in (0, high]: lengths, sizes, rates."""
    return number(0, high, low_open=True)


def _argument_type(name: str, convert: Callable[[str], Any], check: Callable[[Any], Any],
                   not_a_number: str) -> Callable[[str], Any]:
    """An argparse ``type``: convert the text, check it, and say what is wrong as an ArgumentTypeError."""

    def parse(text: str) -> Any:
        try:
            value = convert(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"'{text}' {not_a_number}") from None
        try:
            return check(value)
        except XviewError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None

    parse.__name__ = name  # argparse names the type in its own messages
    return parse
