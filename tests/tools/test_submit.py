"""tools/submit.py as users run it on a SLURM login node: what goes to sbatch (a stand-in here records it)."""

import os
import re
import stat

import pytest

from tests.conftest import load_tool

pytest.importorskip("submitit", reason="submitit is not installed: pip install -e '.[cluster]'")
TOOL = load_tool("submit")

SBATCH = """#!/bin/sh
cp "$1" "$(dirname "$0")/submitted.sh"
echo "Submitted batch job 4242"
"""


@pytest.fixture
def slurm(tmp_path, monkeypatch):
    """sbatch and srun on PATH: sbatch keeps the script it was given as ``submitted.sh`` beside it."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for name, text in (("sbatch", SBATCH), ("srun", "#!/bin/sh\n")):
        (bin_dir / name).write_text(text)
        (bin_dir / name).chmod(stat.S_IRWXU)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    return bin_dir


def test_two_nodes_of_eight_gpus_ask_for_what_the_readme_says(slurm, tmp_path, capsys):
    out = tmp_path / "run"
    args = ["--nodes", "2", "--gpus-per-node", "8", "--partition", "learnfair", "--account", "vision", "--qos", "high",
            "--timeout", "4320", "--output-dir", str(out),
            "pretrain", "--config-file", "configs/pretrain/instdisc_R50.yaml",
            "DATA.TRAIN_ROOT", "/data/imagenet/train"]  # fmt: skip
    assert TOOL.main(TOOL.parse_args(args)) == "4242"
    script = (slurm / "submitted.sh").read_text()
    flags = dict(re.findall(r"^#SBATCH --([\w-]+)=(\S+)$", script, re.M))
    assert {k: flags.get(k) for k in ("nodes", "ntasks-per-node", "gpus-per-node", "cpus-per-task", "time",
                                      "partition", "account", "qos", "signal", "job-name")} == {
        "nodes": "2", "ntasks-per-node": "8", "gpus-per-node": "8", "cpus-per-task": "10", "time": "4320",
        "partition": "learnfair", "account": "vision", "qos": "high", "signal": "USR2@120", "job-name": "dilo-pretrain",
    }  # fmt: skip
    assert "srun" in script and str(out / "submitit") in script
    assert "job 4242" in capsys.readouterr().out


def test_a_tool_that_starts_its_own_processes_on_two_nodes_is_refused(slurm, tmp_path):
    with pytest.raises(SystemExit, match="reproduce runs as one task on one node"):
        TOOL.main(TOOL.parse_args(["--nodes", "2", "--output-dir", str(tmp_path), "reproduce", "--preset", "demo"]))
    assert not (slurm / "submitted.sh").exists()
