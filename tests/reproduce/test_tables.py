"""Table 2's settings, the run plan, and the seed aggregation and layout, checked with numbers."""

import json
import os

import pytest

from pretrain.config import load_config
from pretrain.data.build import embedded_spec
from pretrain.engine.provenance import run_record
from pretrain.reproduce import (
    PRESETS,
    SETTINGS,
    TABLE2,
    Column,
    Panel,
    Reproduction,
    aggregate,
    available_settings,
    format_panel,
    format_tables,
    plan_runs,
    preset_opts,
    read_result,
    select_panels,
    table_settings,
)
from pretrain.reproduce.tables import BACKGROUND_METRICS, format_backgrounds
from pretrain.utils import provenance
from pretrain.utils.provenance import ProvenanceError
from pretrain.utils.stats import mean_interval
from tests.conftest import TINY


def test_aggregate_over_seeds():
    runs = {
        "rbd": [{"linear_top1": 50.0, "knn_top1": 40.0}, {"linear_top1": 54.0, "knn_top1": 44.0}],
        "baseline": [{"linear_top1": 45.0, "knn_top1": 39.0, "epochs": 20}],
        "gs": [],
    }
    summary = aggregate(runs)
    assert set(summary) == {"rbd", "baseline"}
    assert summary["rbd"]["seeds"] == 2
    assert summary["rbd"]["linear_top1"]["mean"] == 52.0
    assert summary["rbd"]["linear_top1"]["std"] == pytest.approx(2.828427)
    assert summary["rbd"]["knn_top1"]["values"] == [40.0, 44.0]
    assert summary["rbd"]["linear_top1"]["high"] == pytest.approx(52.0 + 12.706205 * 2.828427 / 2**0.5)
    assert summary["baseline"]["knn_top1"] == {"mean": 39.0, "std": 0.0, "low": 39.0, "high": 39.0, "values": [39.0]}


def test_panel_layout_is_the_papers_with_our_rows_above():
    panel = Panel("(x) demo", (Column("A", "rbd", 59.3), Column("B", "gs", 57.8)))
    summary = aggregate({"rbd": [{"linear_top1": 50.0, "knn_top1": 40.0}, {"linear_top1": 54.0, "knn_top1": 44.0}]})
    assert format_panel(panel, summary) == "\n".join(
        [
            "**(x) demo**",
            "",
            "|  | A | B |",
            "|---|---|---|",
            "| linear top-1 here | 52.0 ± 25.4 | - |",  # the 95% t interval of 2 seeds: 12.7 std / sqrt(2)
            "| kNN top-1 here | 42.0 ± 25.4 | - |",
            "| paper (ImageNet linear) | 59.3 | 57.8 |",
        ]
    )
    one_seed = format_panel(panel, aggregate({"gs": [{"linear_top1": 47.25, "knn_top1": 30.0}]}))
    assert "| linear top-1 here | - | 47.2 |" in one_seed  # one seed: no spread shown
    assert "localization" not in one_seed  # its row appears only where runs were scored
    scored = format_panel(panel, aggregate({"gs": [{"linear_top1": 47.0, "knn_top1": 30.0, "localization": 41.0}]}))
    assert "| localization score here | - | 41.0 |" in scored


def test_table2_has_the_papers_panels_and_numbers():
    text = format_tables({})
    assert [line for line in text.splitlines() if line.startswith("**")] == [
        "**(a) saliency estimation**",
        "**(b) copy-paste ratio**",
        "**(c) background**",
        "**(d) blending**",
    ]
    assert "| paper (ImageNet linear) | 56.5 | 57.8 | 58.1 | 59.3 | 62.9 |" in text
    assert "| paper (ImageNet linear) | 59.3 | 59.3 | 57.5 | 44.5 |" in text
    assert table_settings(TABLE2) == list(SETTINGS)  # every setting is read, each once


def test_plan_puts_seeds_outermost_and_each_setting_its_overrides(tmp_path):
    runs = plan_runs(
        Reproduction("", str(tmp_path), ("baseline", "texture"), (3, 4), ("SOLVER.EPOCHS", "5"), texture_root="/tex")
    )
    assert [(r.setting, r.seed) for r in runs] == [("baseline", 3), ("texture", 3), ("baseline", 4), ("texture", 4)]
    assert runs[1].output_dir == os.path.join(str(tmp_path), "texture", "seed3")
    assert runs[1].opts == (
        "SOLVER.EPOCHS", "5", "COPY_PASTE.PROB", "0.5", "DATA.EMBEDDED.MASKS", "rbd", "COPY_PASTE.BACKGROUND",
        "texture", "COPY_PASTE.TEXTURE_ROOT", "/tex", "SEED", "3", "OUTPUT_DIR", runs[1].output_dir,
    )  # fmt: skip
    assert "COPY_PASTE.TEXTURE_ROOT" not in runs[0].opts
    with pytest.raises(ValueError, match="unknown settings \\['basnet'\\]"):
        plan_runs(Reproduction("", str(tmp_path), ("basnet",), (0,)))


def test_seeds_vary_training_but_not_the_embedded_images(tmp_path):
    a, b = plan_runs(Reproduction("", str(tmp_path), ("rbd",), (0, 1)))
    cfg_a, cfg_b = load_config("", list(a.opts)), load_config("", list(b.opts))
    assert (cfg_a.SEED, cfg_b.SEED) == (0, 1)
    assert embedded_spec(cfg_a).fingerprint() == embedded_spec(cfg_b).fingerprint()


def test_texture_column_is_dropped_with_a_note_without_textures(tmp_path):
    settings, notes = available_settings(["rbd", "texture"], str(tmp_path / "absent"))
    assert settings == ["rbd"] and "texture" in notes[0] and "absent" in notes[0]
    assert available_settings(["rbd", "texture"], str(tmp_path)) == (["rbd", "texture"], [])


def test_an_image_folder_set_reads_each_settings_masks_from_its_folder(tmp_path):
    roots = {"gs": "/m/gs", "rbd": "/m/rbd"}
    base, gs, mix = plan_runs(
        Reproduction("", str(tmp_path), ("baseline", "gs", "mix"), (0,), ("K", "V"), mask_roots=roots)
    )
    assert base.opts[:4] == ("K", "V", "COPY_PASTE.PROB", "0.0") and "COPY_PASTE.MASK_ROOT" not in base.opts
    assert gs.opts[:6] == ("K", "V", "COPY_PASTE.PROB", "0.5", "COPY_PASTE.MASK_ROOT", "/m/gs")
    assert mix.opts[2:8] == ("COPY_PASTE.PROB", "0.5", "COPY_PASTE.MASK_ROOT", "/m/rbd", "COPY_PASTE.BLEND", "mix")
    assert not any("DATA.EMBEDDED.MASKS" in r.opts for r in (base, gs, mix))
    with pytest.raises(ValueError, match="needs mc masks"):
        plan_runs(Reproduction("", str(tmp_path), ("mc",), (0,), mask_roots=roots))
    settings, notes = available_settings(["baseline", "mc", "true", "rbd"], str(tmp_path), roots, "caltech20")
    assert settings == ["baseline", "rbd"]
    assert notes == ["mc skipped: caltech20 has no mc masks", "true skipped: caltech20 has no true masks"]


def test_presets_give_caltech20_as_many_steps_as_the_embedded_set():
    reduced = PRESETS["reduced"]
    embedded = ["SOLVER.EPOCHS", "30", "SOLVER.STEPS", "(22, 27)", "TEST.KNN_PERIOD", "0"]
    assert preset_opts(reduced, "embedded") == embedded
    assert preset_opts(reduced, "caltech20")[:4] == ["SOLVER.EPOCHS", "75", "SOLVER.STEPS", "(56, 68)"]
    for preset in (p for p in PRESETS.values() if "caltech20" in p.epochs):  # 2,000 images (31 steps) vs 800 (12)
        steps = preset.epochs["embedded"] * (2000 // 64), preset.epochs["caltech20"] * (800 // 64)
        assert abs(steps[1] / steps[0] - 1) < 0.05
    with pytest.raises(ValueError, match="unknown dataset 'voc'"):
        preset_opts(reduced, "voc")


def test_a_result_from_other_overrides_is_refused(embedded_cache, tmp_path):
    """A finished run is taken only if its record is the one this reproduction would write; a damaged result is
    named."""
    opts = [*TINY, "DATA.EMBEDDED.CACHE_DIR", embedded_cache]
    (run,) = plan_runs(Reproduction("", str(tmp_path), ("baseline",), (0,), (*opts, "SOLVER.EPOCHS", "5")))
    assert read_result("", run) is None
    os.makedirs(run.output_dir)
    with open(os.path.join(run.output_dir, "result.json"), "w") as f:
        json.dump({"linear_top1": 50.0}, f)
    with pytest.raises(ProvenanceError, match="holds a result but no record"):
        read_result("", run)
    (other,) = plan_runs(Reproduction("", str(tmp_path), ("baseline",), (0,), (*opts, "SOLVER.EPOCHS", "6")))
    provenance.write(run.output_dir, run_record(load_config("", list(other.opts))))
    with pytest.raises(ProvenanceError, match="SOLVER.EPOCHS: 6 there, 5 here"):
        read_result("", run)
    provenance.write(run.output_dir, run_record(load_config("", list(run.opts))))
    assert read_result("", run) == {"linear_top1": 50.0}
    with open(os.path.join(run.output_dir, "result.json"), "w") as f:
        f.write('{"linear_top1": 5')  # cut short
    with pytest.raises(ValueError, match=f"run result '{run.output_dir}/result.json' is not readable JSON"):
        read_result("", run)


def test_presets_name_their_data_sets_and_panels():
    assert PRESETS["reduced"].datasets == ("embedded",) and PRESETS["evidence"].datasets == ("embedded", "caltech20")
    evidence = PRESETS["evidence"]
    assert len(evidence.seeds) >= 5 and evidence.settings["embedded"] == ("baseline", "rbd", "true")
    (panel,) = select_panels(list(evidence.settings["embedded"]))  # (b)-(d) would hold RBD alone
    assert [c.label for c in panel.columns] == ["InstDisc", "RBD", "true masks (BASNet)"]
    assert select_panels(["gaussian"]) == ()


def test_the_backgrounds_table_has_a_row_per_scored_setting_and_a_column_per_variant():
    def run(gap: float) -> dict:
        return {"linear_top1": 50.0, **{k: 10.0 for k in BACKGROUND_METRICS}, "bg_gap": gap}

    summary = aggregate({"baseline": [run(30.0), run(34.0)], "rbd": [run(20.0)], "gs": [{"linear_top1": 40.0}]})
    table = format_backgrounds(summary, ["baseline", "gs", "rbd"])
    lines = table.splitlines()
    assert lines[0] == "| setting | seeds | " + " | ".join(BACKGROUND_METRICS.values()) + " |"
    half = mean_interval([30.0, 34.0])[2] - 32.0
    assert lines[2].startswith("| baseline | 2 | 10.0 ± 0.0 |") and lines[2].endswith(
        f"| 32.0 ± {half:.1f} | 10.0 ± 0.0 |"
    )
    assert lines[3] == "| rbd | 1 | " + " | ".join(["10.0"] * 8 + ["20.0", "10.0"]) + " |" and len(lines) == 4
    assert format_backgrounds(summary, ["gs"]) == ""  # no run scored: no table
