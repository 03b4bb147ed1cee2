"""What a cluster job of a dilo tool is: the tool, how it is told its output folder and to continue, and the
resources asked. Plain values, no scheduler: :mod:`pretrain.cluster.slurm` submits them."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Tool:
    """How a job runs ``tools/<name>.py``: how it is told its output folder (a ``KEY VALUE`` override or a flag),
    the flag that continues an interrupted run (None: a rerun continues by itself), and whether each task is
    one rank of a process group (else the job is one task on one node)."""

    name: str
    output: str
    resume: str | None
    ranks: bool


TOOLS = {
    tool.name: tool
    for tool in (
        Tool("pretrain", "OUTPUT_DIR", "--resume", ranks=True),
        Tool("linear_probe", "OUTPUT_DIR", "--resume", ranks=True),
        Tool("knn_eval", "OUTPUT_DIR", None, ranks=True),
        Tool("reproduce", "--output", None, ranks=False),
        Tool("detection_runs", "--output-dir", None, ranks=False),
    )
}


@dataclass(frozen=True)
class Resources:
    """What a job asks SLURM for. ``tasks_per_node`` None: one per GPU (one without GPUs); ``timeout_min`` is the
    time limit of one try; ``max_requeues`` bounds the tries that end at the time limit (preemptions are not
    counted)."""

    nodes: int = 1
    gpus_per_node: int = 8
    tasks_per_node: int | None = None
    cpus_per_task: int = 10
    timeout_min: int = 72 * 60
    partition: str | None = None
    account: str | None = None
    qos: str | None = None
    signal_delay_s: int = 120
    max_requeues: int = 3

    def tasks(self, tool: Tool) -> int:
        """Tasks per node for ``tool``; ValueError if it cannot use what is asked."""
        if not tool.ranks:
            if self.nodes != 1 or (self.tasks_per_node or 1) != 1:
                raise ValueError(
                    f"{tool.name} runs as one task on one node (it starts its own processes): "
                    f"--nodes {self.nodes} --tasks-per-node {self.tasks_per_node} asked"
                )
            return 1
        return self.tasks_per_node or max(self.gpus_per_node, 1)


def tool_argv(tool: Tool, argv: list[str], output_dir: str, resources: Resources) -> list[str]:
    """``argv`` with the tool told to write to ``output_dir`` (and detection_runs to use the node's GPUs).

    Raises ValueError if ``argv`` names another output folder or GPU count: the job's are the ones asked.
    """
    if tool.output in argv:
        raise ValueError(f"{tool.name}: give the output folder as --output-dir of submit.py, not {tool.output}")
    argv = [*argv, tool.output, output_dir]
    if tool.name == "detection_runs":
        if "--num-gpus" in argv:
            raise ValueError("detection_runs: its --num-gpus is submit.py's --gpus-per-node")
        argv += ["--num-gpus", str(resources.gpus_per_node)]
    return argv
