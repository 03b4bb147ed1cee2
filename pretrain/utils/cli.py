"""What every tool's command line shares: ``KEY VALUE`` overrides with flags anywhere, and one-line errors.

A tool (``tools/*.py``) is ``parse_args(argv) -> Namespace`` and ``main(args) -> result`` over the library,
run as ``run_tool(name, main, parse_args())``; bad input the user can fix leaves ``main`` as a
``SystemExit`` naming it. Tests call ``main(parse_args(argv))`` in their own process.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from typing import Any

from .provenance import ProvenanceError


def parse_with_overrides(
    parser: argparse.ArgumentParser, argv: list[str] | None = None, example: str = "SOLVER.EPOCHS 10"
) -> argparse.Namespace:
    """``parser``'s flags plus trailing ``KEY VALUE`` overrides (``args.opts``), in any order.

    detectron2's tools read everything after the first override as overrides, so
    ``... SOLVER.EPOCHS 10 --resume`` fails as an odd number of them; here a flag is a flag
    wherever it stands (a value starting with ``--`` cannot be an override value).
    """
    parser.add_argument("opts", nargs="*", default=[], metavar="KEY VALUE", help=f"config overrides, e.g. {example}")
    return parser.parse_intermixed_args(argv)


def run_tool(name: str, main: Callable[[argparse.Namespace], Any], args: argparse.Namespace) -> Any:
    """``main(args)``, with a permission problem or an artifact made by other settings (:class:`ProvenanceError`)
    reported as a message naming the file, not a traceback; exit status 1."""
    try:
        return main(args)
    except PermissionError as e:
        sys.exit(f"{name}: permission denied on {e.filename!r}: make it accessible, or point the tool elsewhere")
    except ProvenanceError as e:
        sys.exit(f"{name}: {e}")
