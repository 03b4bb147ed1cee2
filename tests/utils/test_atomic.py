"""Atomic writes: all or nothing, with the permissions a plain open would give."""

from __future__ import annotations

import os
import stat
import time

import pytest

from pretrain.utils.atomic import atomic_open, remove_stale_temporaries


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


def test_stale_temporaries_of_killed_writes_are_removed_and_nothing_else(tmp_path):
    (tmp_path / "masks" / "cls").mkdir(parents=True)
    stale = tmp_path / "masks" / "cls" / ".tmp-ab_c1234"  # a killed write, from before this process
    young = tmp_path / "masks" / ".tmp-zz9y8x7w"  # a writer alive now
    others = [tmp_path / ".tmp-notours.txt", tmp_path / "masks" / "cls" / "a.png", tmp_path / "tmp-abcd1234"]
    for path in [stale, young, *others]:
        path.write_bytes(b"x")
        os.utime(path, (time.time() - 3600, time.time() - 3600))
    os.utime(young, None)
    assert remove_stale_temporaries(str(tmp_path)) == [str(stale)]
    assert not stale.exists() and young.exists() and all(p.exists() for p in others)


def test_a_failed_write_names_the_final_file_not_the_temporary(tmp_path, monkeypatch):
    path = tmp_path / "checkpoint_last.pth"
    path.write_bytes(b"old")

    def disk_full(fd):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", disk_full)
    with (
        pytest.raises(OSError, match=r"No space left on device.*'.*/checkpoint_last\.pth'$") as e,
        atomic_open(str(path)) as f,
    ):
        f.write(b"new")
    assert e.value.filename == str(path) and ".tmp-" not in str(e.value)
    assert path.read_bytes() == b"old" and os.listdir(tmp_path) == ["checkpoint_last.pth"]
