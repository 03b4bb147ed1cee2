"""tools/reproduce.py end to end on a tiny setting: tables, JSON, a rerun that trains nothing, caltech20,
the evidence preset's paired comparisons. In-process: the tool's ``main`` on parsed arguments."""

import json
import os
from types import SimpleNamespace

import pytest

from pretrain.reproduce import PRESETS
from pretrain.reproduce.runner import Run, train_run
from pretrain.reproduce.tables import BACKGROUND_METRICS
from pretrain.utils.provenance import ProvenanceError
from tests.conftest import TINY, load_tool
from tests.reproduce.test_caltech20 import caltech_subset

tool = load_tool("reproduce")


def _run(capsys, *argv: str) -> SimpleNamespace:
    tool.main(tool.parse_args([str(a) for a in argv]))
    return SimpleNamespace(returncode=0, stdout=capsys.readouterr().out)


def _reproduce(capsys, output, cache, *args):
    return _run(capsys, "--output", output, "--device", "cpu", *args, *TINY, "SOLVER.EPOCHS", "1",
                "DATA.EMBEDDED.CACHE_DIR", cache)  # fmt: skip


def test_two_settings_one_seed_then_a_rerun_skips_them(embedded_cache, tmp_path, capsys):
    out = tmp_path / "rep"
    first = _reproduce(capsys, out, embedded_cache, "--settings", "baseline,rbd", "--seeds", "7", "--jobs", "2")
    report = json.loads((out / "reproduce.json").read_text())
    assert report["trained"] == 2 and report["seeds"] == [7]
    runs = {r["setting"]: r for r in report["runs"]}
    assert set(runs) == {"baseline", "rbd"} and all(r["seed"] == 7 and r["epochs"] == 1 for r in runs.values())
    assert os.path.exists(out / "rbd" / "seed7" / "checkpoint_last.pth")
    base, rbd = runs["baseline"]["linear_top1"], runs["rbd"]["linear_top1"]
    row = f"| linear top-1 here | {base:.1f} | - | - | {rbd:.1f} | - |"
    assert row in first.stdout and row in report["tables"]
    assert "| paper (ImageNet linear) | 56.5 | 57.8 | 58.1 | 59.3 | 62.9 |" in first.stdout
    assert report["summary"]["rbd"]["linear_top1"]["mean"] == rbd

    again = _reproduce(capsys, out, embedded_cache, "--settings", "baseline,rbd", "--seeds", "7")
    rerun = json.loads((out / "reproduce.json").read_text())
    assert rerun["trained"] == 0 and all(r["skipped"] for r in rerun["runs"])
    assert rerun["summary"] == report["summary"] and row in again.stdout


def test_a_run_finished_before_a_score_existed_is_scored_once_not_retrained(embedded_cache, tmp_path, capsys):
    """A run whose result.json predates the backgrounds benchmark gains its scores from its final checkpoint."""
    out = tmp_path / "rep"
    _reproduce(capsys, out, embedded_cache, "--settings", "rbd", "--seeds", "0")
    path = out / "rbd" / "seed0" / "result.json"
    full = json.loads(path.read_text())
    path.write_text(json.dumps({k: v for k, v in full.items() if k not in BACKGROUND_METRICS}))
    checkpoint = (out / "rbd" / "seed0" / "checkpoint_last.pth").stat().st_mtime_ns
    run = Run("rbd", 0, tuple(full["opts"]))
    kept = train_run(tool.DEFAULT_CONFIG, run, "cpu", backgrounds=False)  # as the GPU report's check asks
    assert kept["skipped"] and "bg_gap" not in kept and "bg_gap" not in json.loads(path.read_text())
    _reproduce(capsys, out, embedded_cache, "--settings", "rbd", "--seeds", "0")
    report = json.loads((out / "reproduce.json").read_text())
    assert report["trained"] == 0 and (out / "rbd" / "seed0" / "checkpoint_last.pth").stat().st_mtime_ns == checkpoint
    rescored = json.loads(path.read_text())
    assert {k: rescored[k] for k in BACKGROUND_METRICS} == pytest.approx({k: full[k] for k in BACKGROUND_METRICS})
    assert report["summary"]["rbd"]["bg_gap"]["values"] == [rescored["bg_gap"]]


def test_report_only_tabulates_finished_runs_and_names_the_rest(embedded_cache, tmp_path, capsys):
    out = tmp_path / "rep"
    _reproduce(capsys, out, embedded_cache, "--settings", "baseline", "--seeds", "0")
    args = ("--report-only", "--settings", "baseline,texture", "--seeds", "0,1", "--texture-root", str(tmp_path / "no"))
    done = _reproduce(capsys, out, embedded_cache, *args)
    report = json.loads((out / "reproduce.json").read_text())
    assert report["trained"] == 0 and [r["seed"] for r in report["runs"]] == [0]
    assert report["missing"] == [str(out / "baseline" / "seed1")]
    assert "note: texture backgrounds skipped" in done.stdout and "not finished (1 runs)" in done.stdout
    assert not (out / "baseline" / "seed1").exists()


def test_unknown_setting_is_named(capsys):
    with pytest.raises(SystemExit) as exit_:
        tool.parse_args(["--settings", "rbd,basnet"])
    assert exit_.value.code == 2 and "unknown settings ['basnet']" in capsys.readouterr().err


def test_caltech20_is_prepared_once_and_trains_on_its_own_masks(tmp_path, capsys, monkeypatch):
    data = caltech_subset(tmp_path / "data", ("car_side", "airplanes"), 10, 3)
    tiny = [v for k, v in zip(TINY[::2], TINY[1::2], strict=True) for v in (k, v) if not k.startswith("DATA.")]
    monkeypatch.chdir(tmp_path)
    done = _run(capsys, "--dataset", "caltech20", "--data-root", data, "--device", "cpu", "--settings",
                "baseline,true,rbd", "--seeds", "0", *tiny, "SOLVER.EPOCHS", "1", "DATA.NUM_WORKERS", "0")  # fmt: skip

    out = tmp_path / "output" / "reproduce" / "demo" / "caltech20-reduced"  # the defaults, under the working folder
    report = json.loads((out / "reproduce.json").read_text())
    assert report["dataset"] == "caltech20" and report["trained"] == 2
    assert [r["setting"] for r in report["runs"]] == ["baseline", "rbd"]
    assert "note: true skipped: caltech20 has no true masks" in done.stdout
    assert "Table 2 at small scale on caltech20 (reduced preset" in done.stdout
    (prepared,) = (tmp_path / "output" / "cache").iterdir()
    rbd = report["runs"][1]["opts"]
    assert rbd[rbd.index("DATA.TRAIN_ROOT") + 1] == str(prepared / "train")
    assert rbd[rbd.index("DATA.VAL_ROOT") + 1] == str(prepared / "val")
    assert rbd[rbd.index("COPY_PASTE.MASK_ROOT") + 1] == str(prepared / "masks_rbd" / "train")
    caltech_epochs = str(PRESETS["reduced"].epochs["caltech20"])
    assert rbd[rbd.index("SOLVER.EPOCHS") + 1] == caltech_epochs  # the preset's caltech20 schedule, then the test's 1
    assert all(r["epochs"] == 1 and 0 <= r["linear_top1"] <= 100 for r in report["runs"])
    assert "| paper (ImageNet linear) | 56.5 | 57.8 | 58.1 | 59.3 | 62.9 |" in done.stdout


def test_evidence_preset_pairs_every_arm_with_the_baseline_on_both_sets(embedded_cache, tmp_path, capsys):
    data = caltech_subset(tmp_path / "data", ("car_side", "airplanes"), 10, 3)
    tiny = [v for k, v in zip(TINY[::2], TINY[1::2], strict=True) for v in (k, v) if k != "DATA.SOURCE"]
    out = tmp_path / "evidence"
    done = _run(capsys, "--preset", "evidence", "--seeds", "0,1", "--jobs", "1", "--data-root", data, "--output", out,
                "--cache-dir", tmp_path / "cache", "--device", "cpu", *tiny, "SOLVER.EPOCHS", "1",
                "DATA.EMBEDDED.CACHE_DIR", embedded_cache)  # fmt: skip
    report = json.loads((out / "reproduce.json").read_text())
    assert report["preset"] == "evidence" and set(report["datasets"]) == {"embedded", "caltech20"}
    embedded, caltech = report["datasets"]["embedded"], report["datasets"]["caltech20"]
    assert embedded["settings"] == ["baseline", "rbd", "true"] and caltech["settings"] == ["baseline", "rbd"]
    assert set(embedded["comparisons"]) == {"rbd", "true"} and set(caltech["comparisons"]) == {"rbd"}
    runs = {(r["setting"], r["seed"]): r for r in embedded["runs"]}
    gain = embedded["comparisons"]["true"]["linear_top1"]
    assert gain["seeds"] == [0, 1] and gain["n"] == 2
    expected = [runs["true", s]["linear_top1"] - runs["baseline", s]["linear_top1"] for s in (0, 1)]
    assert gain["differences"] == pytest.approx(expected)
    assert gain["low"] <= gain["mean"] <= gain["high"]
    assert all(0 <= r["localization"] <= 100 for r in embedded["runs"])  # scored on the embedded set's true masks
    assert all(set(BACKGROUND_METRICS) <= set(r) for r in embedded["runs"])  # and on its backgrounds benchmark
    assert not any("bg_gap" in r for r in caltech["runs"])  # no true masks to build the variants from
    gap = embedded["comparisons"]["rbd"]["bg_gap"]
    expected = [runs["rbd", s]["bg_mixed_same"] - runs["rbd", s]["bg_mixed_rand"] for s in (0, 1)]
    assert [runs["rbd", s]["bg_gap"] for s in (0, 1)] == pytest.approx(expected)
    assert gap["differences"] == pytest.approx(
        [runs["rbd", s]["bg_gap"] - runs["baseline", s]["bg_gap"] for s in (0, 1)]
    )
    assert "| rbd - baseline | BG-Gap | 2 |" in done.stdout and "| true | 2 |" in embedded["backgrounds_table"]
    assert "The backgrounds benchmark (ImageNet-9's protocol" in done.stdout
    assert "localization" in embedded["comparisons"]["rbd"] and "localization" not in caltech["comparisons"]["rbd"]
    assert (
        "| rbd - baseline | linear top-1 | 2 |" in done.stdout
        and "| true - baseline | localization score |" in done.stdout
    )
    assert (
        "| InstDisc | RBD | true masks (BASNet) |" in embedded["tables"] and "(b) copy-paste ratio" not in done.stdout
    )


def test_two_configs_reproduced_with_the_default_output_stay_apart_and_labeled(embedded_cache, tmp_path, capsys,
                                                                                monkeypatch):  # fmt: skip
    """The README's `--preset demo`, then the same with the MoCo demo config: the second printed "0 runs trained"
    and labeled the InstDisc runs as MoCo, both having used one default folder."""
    monkeypatch.chdir(tmp_path)
    tiny = (*TINY, "SOLVER.EPOCHS", "1", "DATA.EMBEDDED.CACHE_DIR", embedded_cache)
    moco = os.path.join(tool.REPO, "configs", "pretrain", "moco_v2_demo.yaml")
    _run(capsys, "--preset", "demo", "--device", "cpu", "--jobs", "1", *tiny)
    second = _run(capsys, "--preset", "demo", "--config-file", moco, "--device", "cpu", "--jobs", "1", *tiny)
    assert "2 runs trained" in second.stdout
    for config, method in (("demo", "instdisc"), ("moco_v2_demo", "moco_v2")):
        out = tmp_path / "output" / "reproduce" / config / "demo"
        report = json.loads((out / "reproduce.json").read_text())
        assert report["config_file"].endswith(f"{config}.yaml") and report["trained"] == 2
        records = [json.loads((out / s / "seed0" / "provenance.json").read_text()) for s in ("baseline", "rbd")]
        assert [r["fields"]["MODEL.METHOD"] for r in records] == [method, method]


def test_a_killed_reproduction_rerun_with_other_overrides_is_refused(embedded_cache, tmp_path, capsys):
    """It resumed the old runs and recorded only the new overrides; now the run's record names what differs."""
    out = tmp_path / "rep"
    _reproduce(capsys, out, embedded_cache, "--settings", "baseline", "--seeds", "0")
    os.remove(out / "baseline" / "seed0" / "result.json")  # as if killed after its last checkpoint
    with pytest.raises(ProvenanceError, match="INSTDISC.TEMPERATURE: 0.07 there, 0.1 here"):
        _reproduce(capsys, out, embedded_cache, "--settings", "baseline", "--seeds", "0", "INSTDISC.TEMPERATURE", "0.1")
