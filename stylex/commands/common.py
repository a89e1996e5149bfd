"""Flags that several sub-commands share, defined once."""

from __future__ import annotations

import argparse

from stylex.config import resolution_problem


def add_device_arg(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--device",
        default="auto",
        help="where to compute: auto (CUDA if available, else CPU), cpu, cuda or cuda:<index> (default: auto)",
    )


def add_seed_arg(parser: argparse.ArgumentParser, default: int = 0) -> None:
    parser.add_argument(
        "--seed", type=int, default=default, help=f"random seed; same seed, same result (default: {default})"
    )


def _number(text: str, convert, what: str):
    try:
        return convert(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not {what}") from None


def positive_int(text: str) -> int:
    """argparse type for counts that must be at least 1."""
    value = _number(text, int, "a whole number")
    if value < 1:
        raise argparse.ArgumentTypeError(f"{value} is not allowed; it must be at least 1")
    return value


def non_negative_int(text: str) -> int:
    """argparse type for counts where 0 means none or off."""
    value = _number(text, int, "a whole number")
    if value < 0:
        raise argparse.ArgumentTypeError(f"{value} is not allowed; it must be 0 or more")
    return value


def non_negative_float(text: str) -> float:
    """argparse type for weights where 0 means off."""
    value = _number(text, float, "a number")
    if not 0 <= value < float("inf"):
        raise argparse.ArgumentTypeError(f"{value} is not allowed; it must be 0 or more")
    return value


def positive_float(text: str) -> float:
    """argparse type for amounts that must be above 0 (lengths, learning rates)."""
    value = _number(text, float, "a number")
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"{value} is not allowed; it must be a finite number above 0")
    return value


def share(text: str) -> float:
    """argparse type for a share of a whole: a number from 0 to 1."""
    value = _number(text, float, "a number")
    if not 0 <= value <= 1:
        raise argparse.ArgumentTypeError(f"{value} is not allowed; it must be a share from 0 to 1")
    return value


def power_of_two(text: str) -> int:
    """argparse type for image resolutions: a power of two from 16 to 1024 (`resolution_problem`)."""
    value = _number(text, int, "a whole number")
    if problem := resolution_problem(value):
        raise argparse.ArgumentTypeError(problem)
    return value
