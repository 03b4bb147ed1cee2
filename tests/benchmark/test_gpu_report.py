"""The GPU report's runner: the full plan fits 8 minutes, a part that fails or runs over its budget is reported
and the report goes on, tables are markdown."""

from dataclasses import replace

import pytest

from pretrain.benchmark.gpu_report import FULL, PARTS, QUICK, Context, plan, run_report, table


def test_the_full_plan_fits_eight_minutes_and_names_every_part():
    text = plan(FULL)
    assert FULL.total_budget <= 8 * 60 and set(FULL.budgets) == set(PARTS)
    assert [line.split()[0] for line in text.splitlines()[1:]] == [*PARTS, "total"]
    assert text.splitlines()[-1].split()[1] == str(FULL.total_budget)
    with pytest.raises(ValueError, match="unknown parts"):
        plan(FULL, ["train_step", "tpu"])


def test_a_failed_part_and_one_over_its_budget_are_reported_and_the_rest_runs(tmp_path):
    sizes = replace(QUICK, budgets={**QUICK.budgets, "train_step": 0})  # stopped as soon as it starts
    ctx = Context(sizes, "cpu", str(tmp_path / "work"), str(tmp_path / "missing.yaml"))
    lines = []
    report = run_report(ctx, str(tmp_path / "out"), ["train_step", "reproduce", "environment"], echo=lines.append)
    over, failed, ok = report["parts"]
    assert (over["status"], over["rows"], over["error"]) == ("over budget", [], "stopped at its budget of 0 s")
    assert failed["status"] == "failed" and "missing.yaml" in failed["error"]  # the traceback's last lines
    assert ok["status"] == "ok" and ok["rows"][0]["device"] == "cpu"
    assert [line.split(":")[0] for line in lines] == ["train_step", "reproduce", "environment"]
    markdown = (tmp_path / "out" / "report.md").read_text()
    assert "| train_step | over budget |" in markdown and "missing.yaml" in markdown


def test_a_table_has_a_column_per_key_in_order_of_appearance():
    assert table([{"a": 1.23456, "b": None}, {"c": "x", "a": 2}]) == [
        "| a | b | c |",
        "|---|---|---|",
        "| 1.235 | - | - |",
        "| 2 | - | x |",
    ]


def test_a_work_folder_in_use_is_refused(tmp_path):
    """An earlier report's runs would be read back as if measured now."""
    (tmp_path / "work" / "reproduce").mkdir(parents=True)
    ctx = Context(QUICK, "cpu", str(tmp_path / "work"), "demo.yaml")
    with pytest.raises(ValueError, match="is not empty"):
        run_report(ctx, str(tmp_path / "out"), ["environment"])
    assert not (tmp_path / "out").exists()
