"""Atomic writes: all or nothing, with the permissions a plain open would give."""

from __future__ import annotations

import os
import stat

import pytest

from pretrain.utils.atomic import atomic_open


def test_failed_write_leaves_the_old_file_and_no_temporary(tmp_path):
    path = tmp_path / "f.bin"
    path.write_bytes(b"old")
    with pytest.raises(RuntimeError), atomic_open(str(path)) as f:
        f.write(b"new, partial")
        raise RuntimeError("killed")
    assert path.read_bytes() == b"old"
    assert os.listdir(tmp_path) == ["f.bin"]


def test_permissions_follow_the_umask(tmp_path):
    old = os.umask(0o022)
    try:
        with atomic_open(str(tmp_path / "f.bin")) as f:
            f.write(b"x")
    finally:
        os.umask(old)
    assert stat.S_IMODE(os.stat(tmp_path / "f.bin").st_mode) == 0o644
