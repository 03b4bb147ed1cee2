import os

import pytest
import torch

from pretrain.engine import load_checkpoint
from pretrain.utils.torch_file import save_atomic


def test_atomic_save_replaces_and_leaves_no_temporaries(tmp_path):
    path = str(tmp_path / "c.pth")
    save_atomic({"model": {"w": torch.ones(2)}}, path)
    save_atomic({"model": {"w": torch.zeros(2)}}, path)
    assert torch.equal(load_checkpoint(path)["model"]["w"], torch.zeros(2))
    assert os.listdir(tmp_path) == ["c.pth"]


def test_failed_save_keeps_the_old_checkpoint(tmp_path):
    path = str(tmp_path / "c.pth")
    save_atomic({"model": {"w": torch.ones(2)}}, path)

    class Unpicklable:
        def __reduce__(self):
            raise RuntimeError("disk full")

    with pytest.raises(RuntimeError, match="disk full"):
        save_atomic({"model": Unpicklable()}, path)
    assert torch.equal(load_checkpoint(path)["model"]["w"], torch.ones(2))
    assert os.listdir(tmp_path) == ["c.pth"]


def test_corrupt_missing_and_foreign_checkpoints(tmp_path):
    bad = tmp_path / "bad.pth"
    bad.write_bytes(b"\x00garbage")
    with pytest.raises(ValueError, match="bad.pth.*corrupt"):
        load_checkpoint(str(bad))
    with pytest.raises(FileNotFoundError, match="nope.pth"):
        load_checkpoint(str(tmp_path / "nope.pth"))
    torch.save({"state_dict": {}}, tmp_path / "other.pth")
    with pytest.raises(ValueError, match="not a dilo pretraining checkpoint"):
        load_checkpoint(str(tmp_path / "other.pth"))
