"""The models a diagnosis compares, from command-line ``[NAME=]PATH`` specs.

Each is the one frozen model of every evaluation (``pretrain.models.frozen``), fed whole images
resized to its input size; names label the figures and tables.
"""

from __future__ import annotations

import argparse
import os

from pretrain.models.frozen import FrozenModel
from pretrain.models.weights import BackboneSpec, load_frozen


def model_spec(text: str) -> tuple[str, str]:
    """``NAME=PATH`` or just ``PATH`` (then named after the file) from the command line."""
    name, sep, path = text.partition("=")
    if not sep:
        return os.path.splitext(os.path.basename(text))[0], text
    if not (name and path):
        raise ValueError(f"expected NAME=PATH or PATH for a model, got {text!r}")
    return name, path


def add_model_arguments(parser: argparse.ArgumentParser) -> None:
    """``--model [NAME=]PATH`` (repeated, at least one) and ``--size``: what :func:`load_models` reads."""
    parser.add_argument("--model", required=True, action="append", metavar="[NAME=]PATH", help="repeat per model")
    parser.add_argument("--size", type=int, help="input side (default: the checkpoint's INPUT.SIZE, else 224)")


def load_models(
    texts: list[str],
    size: int | None = None,
    space: str = "penultimate",
    random: tuple[BackboneSpec, int] | None = None,
) -> list[FrozenModel]:
    """The models of ``texts``, each at ``size`` (default: its checkpoint's INPUT.SIZE, else 224) in ``space``;
    a PATH "random" is ``random``'s untrained backbone, at ``size`` or else ``random``'s own input size.

    Names must be distinct (they label figures and tables).
    """
    specs = [model_spec(text) for text in texts]
    names = [name for name, _ in specs]
    if len(set(names)) != len(names):
        raise ValueError(f"model names must be distinct, got {names}: name them as NAME=PATH")
    backbone, random_size = random or (None, 0)
    return [
        load_frozen(
            path, name=name, space=space, size=size or (random_size if path == "random" else 0), random=backbone
        )
        for name, path in specs
    ]
