"""dilo's tools as SLURM jobs through submitit: one job per command, requeued after a preemption or a time limit.

A job runs the tool as users run it, ``python tools/<tool>.py ...``, in a child of each submitit task. For the tools
that train in a process group (pretraining, the probes), each task is one rank: submitit's job environment gives
torch.distributed's variables (RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR, MASTER_PORT), exported before the child
starts, so the tool joins its group as under torchrun; no SLURM variable is read here. reproduce and
detection_runs start their own processes: one task on one node.

Preemption and time limits: SLURM signals the tasks (USR2 ahead of the time limit, as submitit asks it to; SIGTERM
on preemption), and each task passes the signal on to its tool as SIGTERM. pretraining saves after the current
step and exits 75; the other tools stop where they are, and their next try starts from what they keep (the linear
probe's last epoch, the kNN feature cache, reproduce's and detection_runs' finished runs). Task 0 then hands the
job back to submitit, which requeues it with the tool's resume flag (:meth:`ToolJob.checkpoint`). A signal that
arrives before pretraining has installed its handler (while the data are prepared) is not acted on: the job then
ends at its time limit without a requeue.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from dataclasses import dataclass, replace
from functools import partial
from typing import Any

import submitit

from pretrain.utils.processes import die_with

from .jobs import TOOLS, Resources, Tool, tool_argv

TOOLS_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))), "tools")


@dataclass
class ToolJob:
    """One try of ``tools/<tool>.py argv`` in a submitit task; checkpointable (see the module docstring).

    Calling it runs the tool to its end: 0 when it finished. A tool that ends unfinished after the job's signal
    (pretraining's 75, a tool killed by the SIGTERM, reproduce's error for an interrupted run) hands the job back to
    submitit, which requeues it (task 0 does not return); the next try fails for good if the cause was another.
    Any other end raises RuntimeError naming the status.
    """

    tool: str
    argv: list[str]
    tries: int = 1

    def __call__(self) -> int:
        tool = TOOLS[self.tool]
        if tool.ranks:
            ranks = submitit.helpers.TorchDistributedEnvironment().export(set_cuda_visible_devices=False)
            if ranks.local_world_size > 1:  # as torchrun: one intra-op thread per rank unless told otherwise
                os.environ.setdefault("OMP_NUM_THREADS", "1")
        usr = _signal(submitit.JobEnvironment.USR_SIG)
        requeue = signal.getsignal(usr)  # submitit's: checkpoint() and requeue on task 0, nothing on the others
        script = os.path.join(TOOLS_DIR, f"{self.tool}.py")
        print(f"dilo: try {self.tries} of {self.tool}: {' '.join(self.argv)}", flush=True)
        child = subprocess.Popen([sys.executable, script, *self.argv], preexec_fn=partial(die_with, os.getpid()))
        stopped: list[int] = []

        def forward(signum: int, frame: Any) -> None:
            stopped.append(signum)
            child.send_signal(signal.SIGTERM)

        for signum in (usr, signal.SIGTERM):
            signal.signal(signum, forward)
        status = child.wait()
        if status == 0:
            return 0
        if stopped:
            print(f"dilo: {self.tool} stopped by {signal.Signals(stopped[0]).name}: requeued", flush=True)
            requeue(usr, None)
            return status
        raise RuntimeError(f"{script} ended with status {status} (see this job's log)")

    def checkpoint(self) -> submitit.helpers.DelayedSubmission:
        """The next try: the same command, continuing (the tool's resume flag, where it has one)."""
        flag = TOOLS[self.tool].resume
        argv = self.argv if flag is None or flag in self.argv else [*self.argv, flag]
        return submitit.helpers.DelayedSubmission(replace(self, argv=argv, tries=self.tries + 1))


def _signal(name: str) -> signal.Signals:
    """``USR2`` or ``SIGUSR2`` as a signal."""
    return signal.Signals["SIG" + name.removeprefix("SIG")]


def executor(folder: str, resources: Resources, tool: Tool, cluster: str | None = None) -> submitit.AutoExecutor:
    """A submitit executor for ``tool`` with ``resources``, its logs and pickles under ``folder/<job id>``.

    ``cluster``: "slurm", or "local" to run the job on this machine (what the tests do); None detects it.
    """
    ex = submitit.AutoExecutor(
        folder=os.path.join(folder, "%j"), cluster=cluster, slurm_max_num_timeout=resources.max_requeues
    )
    ex.update_parameters(
        name=f"dilo-{tool.name}",
        nodes=resources.nodes,
        tasks_per_node=resources.tasks(tool),
        gpus_per_node=resources.gpus_per_node,
        cpus_per_task=resources.cpus_per_task,
        timeout_min=resources.timeout_min,
        slurm_partition=resources.partition,
        slurm_signal_delay_s=resources.signal_delay_s,
        **{f"slurm_{k}": v for k in ("account", "qos") if (v := getattr(resources, k)) is not None},
    )
    return ex


def submit(
    tool_name: str, argv: list[str], output_dir: str, resources: Resources, cluster: str | None = None
) -> submitit.Job:
    """Submit ``tools/<tool_name>.py argv`` writing to ``output_dir``; submitit's files go to ``output_dir/submitit``.

    Raises ValueError for an unknown tool or a request the tool cannot use (see :func:`tool_argv`).
    """
    if tool_name not in TOOLS:
        raise ValueError(f"unknown tool {tool_name!r}: expected one of {', '.join(TOOLS)}")
    tool = TOOLS[tool_name]
    output_dir = os.path.abspath(output_dir)
    job = ToolJob(tool.name, tool_argv(tool, argv, output_dir, resources))
    return executor(os.path.join(output_dir, "submitit"), resources, tool, cluster).submit(job)
