"""kill -9 at bad moments: the saliency tool's workers die with it; a killed checkpoint write leaves
the old checkpoint whole and a temporary that the next start removes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time

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


def test_saliency_workers_exit_when_the_tool_is_killed(tmp_path):
    images = shared_data("sod-dev", "images")  # 150 photos: about 15 s of work for 2 workers
    masks = tmp_path / "masks"
    cmd = [sys.executable, os.path.join(REPO, "tools", "saliency.py"), "--input", images, "--output", str(masks)]
    proc = subprocess.Popen([*cmd, "--workers", "2"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.time() + 120
        while not (masks.is_dir() and len(os.listdir(masks)) >= 2):
            assert proc.poll() is None and time.time() < deadline
            time.sleep(0.1)
    except AssertionError:  # a failed wait must not leave the tool running
        proc.kill()
        proc.wait()
        raise
    workers = _children(proc.pid)
    assert len(workers) >= 2
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    deadline = time.time() + 3
    while any(map(_alive, workers)) and time.time() < deadline:
        time.sleep(0.05)
    assert not any(map(_alive, workers)), "workers outlived the killed tool"
    written = len(os.listdir(masks))
    time.sleep(1)
    assert len(os.listdir(masks)) == written  # nobody writes any more


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
