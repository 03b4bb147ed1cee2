"""tools/bench_pretrain.py on a tiny step: the plain step, then each K and way of drawing negatives and MoCo v2,
relative to it."""

import json

from tests.conftest import load_tool

TOOL = load_tool("bench_pretrain")


def test_one_row_per_setting_relative_to_the_plain_step(capsys, one_thread):
    args = ["--backbone", "resnet18", "--batch", "2", "--size", "32", "--iters", "1", "--warmup", "0"]
    rows = TOOL.main(TOOL.parse_args([*args, "--bank-size", "64"]))
    names = ["plain", "K=4096 per-sample", "K=4096 shared", "K=65536 per-sample", "K=65536 shared", "MoCo v2 K=65536"]
    assert [r["setting"] for r in rows] == names
    plain = rows[0]["images_per_s"]
    assert rows[0]["relative"] == 1.0
    for r in rows:
        # images/s are rounded to 0.1 and the relative rate (the unrounded ratio) to 0.001
        slack = 0.05 * (1 + r["relative"]) + 0.0005 * plain
        assert r["images_per_s"] > 0 and abs(r["relative"] * plain - r["images_per_s"]) <= slack
        assert (r["device"], r["backbone"], r["batch"], r["size"], r["amp_bf16"]) == ("cpu", "resnet18", 2, 32, False)
        assert r["peak_memory_mb"] is None  # the device's peak: none on the CPU
    printed = capsys.readouterr().out.splitlines()
    assert [json.loads(line) for line in printed[:6]] == rows
    assert printed[7].split() == ["setting", "images/s", "relative", "peak", "MB"] and printed[8].split()[0] == "plain"
