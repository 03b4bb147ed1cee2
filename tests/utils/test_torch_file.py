"""Weights files are read without running code from them."""

from __future__ import annotations

import os
import random

import numpy as np
import pytest
import torch

from pretrain.engine.checkpoint import load_checkpoint, set_rng_state
from pretrain.models.weights import read_weights
from pretrain.probe.trainer import read_probe_checkpoint
from pretrain.utils.torch_file import TRUST_ENV


class _Payload:
    """Unpickling this writes a marker file: what a malicious checkpoint would do."""

    def __init__(self, marker: str):
        self.marker = marker

    def __reduce__(self):
        return (open, (self.marker, "w"))


@pytest.mark.parametrize("reader", [read_weights, load_checkpoint, read_probe_checkpoint])
def test_a_pickle_that_runs_code_is_refused_without_running(tmp_path, monkeypatch, reader):
    monkeypatch.delenv(TRUST_ENV, raising=False)
    marker = tmp_path / "ran"
    torch.save({"model": {"w": torch.zeros(1)}, "config": "", "x": _Payload(str(marker))}, tmp_path / "evil.pth")
    with pytest.raises(ValueError, match=rf"evil\.pth.*pickled Python object \(\w+\.open\).*{TRUST_ENV}=1"):
        reader(str(tmp_path / "evil.pth"))
    assert not marker.exists()


def test_the_trust_option_loads_a_legacy_file(tmp_path, monkeypatch):
    torch.save({"state": torch.ones(1), "extra": _Payload(str(tmp_path / "ran"))}, tmp_path / "legacy.pth")
    monkeypatch.setenv(TRUST_ENV, "1")
    assert torch.equal(read_weights(str(tmp_path / "legacy.pth"))["state"], torch.ones(1))


def test_a_checkpoint_of_the_previous_format_still_loads(tmp_path, monkeypatch):
    """Older dilo checkpoints kept NumPy's generator state as an array: data, so still read safely."""
    monkeypatch.delenv(TRUST_ENV, raising=False)
    np.random.seed(3)
    old = {"model": {}, "rng": [{"python": random.getstate(), "numpy": np.random.get_state()}]}
    torch.save(old, tmp_path / "old.pth")
    expected = np.random.rand(3)
    ckpt = load_checkpoint(str(tmp_path / "old.pth"))
    np.random.seed(0)
    set_rng_state({**ckpt["rng"][0], "torch": torch.get_rng_state()})
    assert np.array_equal(np.random.rand(3), expected)


def test_corrupt_file_is_named(tmp_path):
    (tmp_path / "junk.pth").write_bytes(b"garbage")
    with pytest.raises(ValueError, match=r"junk\.pth.*corrupt"):
        read_weights(str(tmp_path / "junk.pth"))
    assert not os.path.exists(tmp_path / "ran")
