"""A pretraining run's record: the config that decides its weights and the identity of its inputs.

The record (:mod:`pretrain.utils.provenance`) holds every config key but ``UNRECORDED`` (where and how
fast, never what) and digests of the training and validation listings, the masks (their folder's own
record and which images have one) and the textures. It is written as ``OUTPUT_DIR/provenance.json``
when a run takes its folder, and into every checkpoint. It is checked before anything of a run is
reused: ``--resume`` may change only the ``RESUMABLE`` keys (each declared with its reason in
:mod:`pretrain.config.defaults`), a start without ``--resume`` never writes over a run's checkpoints, and
the reproduction runner takes a finished run's result only if the run's record is the one it would write.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

from fvcore.common.config import CfgNode

from pretrain.config import config_fields
from pretrain.config.defaults import RESUMABLE, UNRECORDED
from pretrain.data import dataset_roots, find_images
from pretrain.data.build import mask_root
from pretrain.data.masks import MaskFolder
from pretrain.utils import comm, provenance
from pretrain.utils.atomic import atomic_open
from pretrain.utils.image_io import list_images

from .checkpoint import FINAL, LAST

KIND = "pretraining run"


def run_record(
    cfg: CfgNode,
    train_paths: Sequence[str] | None = None,
    val_paths: Sequence[str] | None = None,
    masks: MaskFolder | None = None,
) -> provenance.Record:
    """The record of a run of ``cfg``; the listings and masks a trainer already holds are passed, not redone."""
    fields: dict[str, Any] = config_fields(cfg, UNRECORDED)
    train_root, val_root = dataset_roots(cfg)
    train_paths = train_paths if train_paths is not None else find_images(train_root)[0]
    fields["input.train_images"] = provenance.digest(train_paths)
    if val_root:
        fields["input.val_images"] = provenance.digest(val_paths if val_paths is not None else find_images(val_root)[0])
    if cfg.COPY_PASTE.PROB > 0:
        masks = masks or MaskFolder(mask_root(cfg, train_root), list(train_paths), allow_missing=True)
        fields["input.masks"] = masks.identity
        if cfg.COPY_PASTE.BACKGROUND == "texture":
            fields["input.textures"] = provenance.digest(list_images(cfg.COPY_PASTE.TEXTURE_ROOT))
    return provenance.Record.of(KIND, fields)


def take_output_dir(cfg: CfgNode, record: provenance.Record, resume: bool, checkpoint: dict | None) -> None:
    """Check OUTPUT_DIR against ``record``, then make it this run's: its record and ``config.yaml``.

    ``checkpoint`` is the one a resume continues (None for a start). A start is refused where the folder
    holds a run's checkpoints (they would be overwritten); a resume where the run's record (its folder's, or
    for a checkpoint moved without its folder the checkpoint's own) differs outside ``RESUMABLE``, or where
    there is none to compare. Rank 0 decides; every rank raises the same error.
    """
    problem = _problem(cfg, record, resume, checkpoint) if comm.is_main_process() else None
    problem = comm.all_gather_object(problem)[0]
    if problem:
        raise provenance.ProvenanceError(problem)
    if comm.is_main_process():
        provenance.write(cfg.OUTPUT_DIR, record)
        with atomic_open(os.path.join(cfg.OUTPUT_DIR, "config.yaml")) as f:
            f.write(cfg.dump().encode())
    comm.barrier()


def _problem(cfg: CfgNode, record: provenance.Record, resume: bool, checkpoint: dict | None) -> str | None:
    out = cfg.OUTPUT_DIR
    if checkpoint is None:
        held = [name for name in (LAST, FINAL) if os.path.isfile(os.path.join(out, name))]
        if held and not resume:
            return (
                f"{out} holds a run ({', '.join(held)}): continue it with --resume, choose another OUTPUT_DIR, "
                f"or delete {out} to train it again"
            )
        return None
    recorded = provenance.read(out)
    if recorded is None and "provenance" in checkpoint:
        recorded = provenance.Record.from_json(checkpoint["provenance"], os.path.join(out, LAST))
    if recorded is None:
        return (
            f"{out} holds a checkpoint but no record of what made it (a run of an older dilo): dilo cannot check "
            f"that it was trained as this config says; delete {out} to train it again"
        )
    remedy = f"--resume may change only {', '.join(RESUMABLE)}: use another OUTPUT_DIR, or delete {out} to start over"
    try:
        provenance.check(recorded, record, out, remedy, ignore=RESUMABLE)
    except provenance.ProvenanceError as e:
        return str(e)
    return None
