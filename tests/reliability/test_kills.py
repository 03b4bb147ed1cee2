"""kill -9 at bad moments: the saliency tool's workers die with it (and with Ctrl-C or SIGTERM, which end
it promptly); a killed checkpoint write leaves the old checkpoint whole and a temporary that the next start
removes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest

from tests.conftest import REPO, shared_data


def _children(pid: int) -> list[int]:
    kids = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    if int(f.read().rsplit(")", 1)[1].split()[1]) == pid:
                        kids.append(int(entry))
            except (FileNotFoundError, ProcessLookupError):
                continue
    return kids


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def _masks(folder) -> int:
    return sum(name.endswith(".png") for name in os.listdir(folder)) if os.path.isdir(folder) else 0


def _start_saliency_tool(masks):
    """The saliency tool with 2 workers on the 150 SOD photos (about 15 s of work), once it has written 2 masks;
    returns it and its worker processes."""
    images = shared_data("sod-dev", "images")
    cmd = [sys.executable, os.path.join(REPO, "tools", "saliency.py"), "--input", images, "--output", str(masks)]
    proc = subprocess.Popen([*cmd, "--workers", "2"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.time() + 120
        while _masks(masks) < 2:
            assert proc.poll() is None and time.time() < deadline
            time.sleep(0.1)
        workers = _children(proc.pid)
        assert len(workers) >= 2
    except AssertionError:  # a failed wait must not leave the tool running
        proc.kill()
        proc.wait()
        raise
    return proc, workers


def _assert_stopped(masks, workers, what):
    deadline = time.time() + 3
    while any(map(_alive, workers)) and time.time() < deadline:
        time.sleep(0.05)
    assert not any(map(_alive, workers)), f"workers outlived the {what} tool"
    written = _masks(masks)
    time.sleep(1)
    assert _masks(masks) == written < 150  # nobody writes any more


def test_saliency_workers_exit_when_the_tool_is_killed(tmp_path):
    proc, workers = _start_saliency_tool(tmp_path / "masks")
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    _assert_stopped(tmp_path / "masks", workers, "killed")


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["ctrl_c", "sigterm"])
def test_ctrl_c_and_sigterm_end_the_saliency_tool_and_its_workers_at_once(tmp_path, sig):
    """The signal goes to the tool alone (a terminal's Ctrl-C reaches the workers too; they ignore it): pending
    work is cancelled, the workers end, and the tool exits within seconds instead of going on or hanging."""
    proc, workers = _start_saliency_tool(tmp_path / "masks")
    proc.send_signal(sig)
    try:
        _, stderr = proc.communicate(timeout=5)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        raise AssertionError("the tool did not exit within 5 s of the signal") from None
    _assert_stopped(tmp_path / "masks", workers, "interrupted")
    if sig == signal.SIGINT:
        assert proc.returncode == 130 and "rerun the command to resume" in stderr
    else:
        assert proc.returncode == -signal.SIGTERM


def test_kill_during_a_checkpoint_write_keeps_the_old_one_and_the_next_start_cleans_up(tmp_path):
    path = tmp_path / "checkpoint_last.pth"
    path.write_bytes(b"the previous checkpoint")
    writer = textwrap.dedent(f"""
        import time
        from pretrain.utils.atomic import atomic_open
        with atomic_open({str(path)!r}) as f:
            f.write(b"half of a new one")
            f.flush()
            print("writing", flush=True)
            time.sleep(60)
    """)
    proc = subprocess.Popen([sys.executable, "-c", writer], stdout=subprocess.PIPE, text=True, cwd=REPO)
    assert proc.stdout.readline().strip() == "writing"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    left = [name for name in os.listdir(tmp_path) if name.startswith(".tmp-")]
    assert path.read_bytes() == b"the previous checkpoint" and len(left) == 1
    cleanup = "import sys; from pretrain.utils.atomic import remove_stale_temporaries as r; r(sys.argv[1])"
    subprocess.run([sys.executable, "-c", cleanup, str(tmp_path)], check=True, cwd=REPO)
    assert os.listdir(tmp_path) == ["checkpoint_last.pth"]
