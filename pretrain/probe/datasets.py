"""Where probes find their labeled images: any class folder (ImageNet), list files (Places205), Places365.

Every source becomes the same ``pretrain.data.labeled.LabeledImages``, the dataset of every evaluation.
"""

from __future__ import annotations

import os
import posixpath
from collections.abc import Callable

from fvcore.common.config import CfgNode

from pretrain.data import LabeledImages, find_images

PLACES365_TRAIN_SPLITS = ("train-standard", "train-challenge")

Split = tuple[str, list[str], list[int], list[str]]  # root, paths, labels, class names


def folder_split(root: str, classes: list[str] | None = None) -> Split:
    """``root/<class>/<image>`` (ImageNet's train and val layout; classes sorted by name).

    Classes are the non-hidden sub-folders holding an image. With ``classes`` (the training split's) labels
    are indices into them: a training class that ``root`` lacks is fine, a folder of a class that training
    lacks is a ValueError naming it.
    """
    paths, labels, classes = find_images(root, classes)
    return os.path.expanduser(root), paths, labels, classes


def list_split(root: str, list_file: str, classes: list[str] | None = None) -> Split:
    """A list file of ``path [label]`` lines, paths relative to ``root`` (see :func:`_read_list`).

    With a label (Places205's ``train_places205.csv``: ``a/abbey/gsun_....jpg 0``) the label is
    used as given and the class is named after the path's folders; without one (a list such as
    Caltech's ``airplanes/image_0001.jpg``) the first folder is the class. ``classes`` (the
    training split's) fixes the label order of a validation list without labels.
    """
    root = os.path.expanduser(root)
    entries = _read_list(list_file)
    labeled = [len(e) == 2 for e in entries]
    if any(labeled) and not all(labeled):
        raise ValueError(f"list file {list_file!r} mixes lines with and without a label")
    paths = [e[0] for e in entries]
    if all(labeled):
        labels = [int(e[1]) for e in entries]
        names = {lab: "/".join(p.split("/")[1:-1]) or os.path.dirname(p) for p, lab in zip(paths, labels, strict=True)}
        classes = classes if classes is not None else [names.get(i, str(i)) for i in range(max(labels) + 1)]
    else:
        folders = [p.split("/")[0] for p in paths]
        classes = classes if classes is not None else sorted(set(folders))
        index = {c: i for i, c in enumerate(classes)}
        unknown = sorted(set(folders) - set(index))
        if unknown:
            raise ValueError(f"list file {list_file!r} names classes the training split lacks: {unknown[:5]}")
        labels = [index[f] for f in folders]
    _check_first(root, paths[0], list_file)
    return root, paths, labels, classes


def _read_list(list_file: str) -> list[list[str]]:
    """The ``[path]`` or ``[path, label]`` of each non-blank line. A path is relative to a root: a leading "/"
    is dropped (Places365 writes ``/a/abbey/...``), it is normalized (``a/./b`` -> ``a/b``), and one that
    leaves its root (``../x``) or names the root itself is a ValueError naming the file, line and path."""
    if not os.path.isfile(list_file):
        raise FileNotFoundError(f"list file {list_file!r} does not exist")
    entries = []
    with open(list_file) as f:
        for number, line in enumerate(f, 1):
            parts = line.split()
            if not parts:
                continue
            if len(parts) > 2 or (len(parts) == 2 and not parts[1].isdigit()):
                raise ValueError(f"{list_file}:{number}: expected 'path [integer label]', got {line.strip()!r}")
            path = posixpath.normpath(parts[0].lstrip("/"))
            if path in (".", "..") or path.startswith("../"):
                raise ValueError(
                    f"{list_file}:{number}: path {parts[0]!r} is not below the root the list's paths are in"
                )
            entries.append([path, *parts[1:]])
    if not entries:
        raise ValueError(f"list file {list_file!r} lists no images")
    return entries


def _check_first(root: str, path: str, source: str) -> None:
    """A wrong root is the usual mistake: catch it now, not an hour into the job."""
    if not os.path.isfile(os.path.join(root, path)):
        raise FileNotFoundError(f"{source!r} lists {path!r}, but {os.path.join(root, path)!r} does not exist")


def places365_split(root: str, split: str, small: bool = True) -> Split:
    """torchvision's ``Places365`` layout: devkit lists in ``root``, images in ``data_256_standard/``, ``val_256/``.

    ``split`` is "train-standard", "train-challenge" or "val"; ``small`` picks the 256 px images
    (``*_256*``) over the full-size ones (``*_large*``).
    """
    root = os.path.expanduser(root)
    size = "256" if small else "large"
    if split in PLACES365_TRAIN_SPLITS:
        variant = split.split("-")[1]
        list_file, images = f"places365_train_{variant}.txt", f"data_{size}_{variant}"
    elif split == "val":
        list_file, images = "places365_val.txt", f"val_{size}"
    else:
        raise ValueError(f"Places365 split {split!r} is not one of {(*PLACES365_TRAIN_SPLITS, 'val')}")
    categories = os.path.join(root, "categories_places365.txt")
    classes = [entry[0] for entry in _read_list(categories)]
    _, paths, labels, _ = list_split(os.path.join(root, images), os.path.join(root, list_file), classes)
    return os.path.join(root, images), paths, labels, classes


def probe_split(cfg: CfgNode, split: str, classes: list[str] | None = None) -> Split:
    """The "train" or "val" split that DATA.SOURCE and its keys describe; ``classes`` (the training split's)
    label the validation split: a validation class that training lacks is an error naming it, a training
    class that validation lacks is fine."""
    data = cfg.DATA
    where = data.TRAIN_ROOT if split == "train" else data.VAL_ROOT
    key = f"DATA.{split.upper()}_ROOT"
    if not where:
        raise ValueError(f"{key} is empty: set the {split} {'split' if data.SOURCE == 'places365' else data.SOURCE}")
    if data.SOURCE == "folder":
        return folder_split(where, classes)
    if data.SOURCE == "list":
        if not data.ROOT:
            raise ValueError("DATA.SOURCE list needs DATA.ROOT, the folder the list's paths are relative to")
        return list_split(data.ROOT, where, classes)
    return places365_split(data.ROOT, where, data.PLACES365_SMALL)


def build_probe_datasets(
    cfg: CfgNode, train_transform: Callable | None, val_transform: Callable | None
) -> tuple[LabeledImages, LabeledImages]:
    """The training and validation sets; validation labels follow the training split's classes."""
    train = LabeledImages(*probe_split(cfg, "train"), train_transform, cfg.SEED)
    val = LabeledImages(*probe_split(cfg, "val", train.classes), val_transform, cfg.SEED)
    if int(val.labels.max()) >= len(train.classes):
        raise ValueError(
            f"DATA.VAL_ROOT has label {int(val.labels.max())}, but DATA.TRAIN_ROOT has {len(train.classes)} classes"
        )
    return train, val
