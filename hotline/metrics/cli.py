"""`hotline` subcommands of hotline.metrics."""

from __future__ import annotations

import argparse


def add_parsers(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add this room's subcommands to the `hotline` parser."""
