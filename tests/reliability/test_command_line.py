"""Every tool with KEY VALUE overrides takes its flags anywhere, and permission problems are one line."""

from __future__ import annotations

import os

import pytest

from pretrain.utils.cli import run_tool
from tests.conftest import load_tool

# tool -> (its flags, a flag whose value the test checks)
CASES = {
    "pretrain": (["--resume"], ("resume", True)),
    "linear_probe": (["--dataset", "folder", "--resume"], ("resume", True)),
    "knn_eval": (["--dataset", "folder"], ("dataset", "folder")),
    "reproduce": (["--preset", "reduced", "--report-only"], ("report_only", True)),
    "detection_runs": (["--config-file", "a.yaml", "--output-dir", "o", "--collect-only"], ("collect_only", True)),
    "localization_score": (["--model", "a.pth", "--limit", "3"], ("limit", 3)),
}


@pytest.mark.parametrize("name", sorted(CASES))
@pytest.mark.parametrize("where", ["before", "after", "between"])
def test_flags_are_accepted_before_between_and_after_the_overrides(name, where):
    flags, (attr, value) = CASES[name]
    opts = ["SEED", "-1", "OUTPUT_DIR", "out"]
    argv = {"before": [*flags, *opts], "after": [*opts, *flags], "between": [*opts[:2], *flags, *opts[2:]]}[where]
    args = load_tool(name).parse_args(argv)
    assert args.opts == opts and getattr(args, attr) == value


def test_a_permission_error_is_one_line_naming_the_file(tmp_path, monkeypatch):
    """A read-only OUTPUT_DIR (simulated: this test may run as root, which writes anywhere)."""
    tool = load_tool("pretrain")
    locked = str(tmp_path / "locked" / "run")

    def refuse(path, *args, **kwargs):
        raise PermissionError(13, "Permission denied", path)

    monkeypatch.setattr(os, "makedirs", refuse)
    with pytest.raises(SystemExit) as e:
        run_tool("pretrain", tool.main, tool.parse_args(["OUTPUT_DIR", locked]))
    assert str(e.value) == f"pretrain: permission denied on {locked!r}: make it accessible, or point the tool elsewhere"
