"""tools/localization_score.py end to end: the embedded set and SOD, several models side by side, JSON."""

import json

import numpy as np
import pytest

from pretrain.data.labeled import LabeledImages
from pretrain.diagnosis.localization import foreground
from tests.conftest import TINY, shared_data
from tests.tools.test_visualize_tool import load_tool, tiny  # noqa: F401  (fixture)

TOOL = load_tool("localization_score")


def test_scores_both_sets_for_two_models(tmp_path, tiny, embedded_cache, capsys):  # noqa: F811
    root, (a, b) = tiny
    out = tmp_path / "scores.json"
    embedded = [k for pair in zip(TINY[0::2], TINY[1::2], strict=True) if pair[0].startswith("DATA.EMBEDDED")
                for k in pair]  # fmt: skip
    TOOL.main(TOOL.parse_args([
        "--model", f"a={a}", "--model", f"b={b}", "--images", shared_data("sod-dev", "images"),
        "--masks", shared_data("sod-dev", "masks"), "--train", f"{root}/train", "--limit", "6", "--json", str(out),
        *embedded, "DATA.EMBEDDED.CACHE_DIR", embedded_cache,
    ]))  # fmt: skip
    table = capsys.readouterr().out
    result = json.loads(out.read_text())
    assert result["models"] == {"a": a, "b": b}
    assert list(result["sets"]) == ["embedded val", "sod-dev/images"]
    for name, per_model in result["sets"].items():
        assert list(per_model) == ["a", "b"]
        for r in per_model.values():
            assert r["images"] == 6 and 0 <= r["score"] <= 1
            assert r["target"] == ("true" if name == "embedded val" else "predicted")
            assert r["lift"] == pytest.approx(r["score"] / r["chance"])
            assert f"{r['score']:.3f}" in table
    for name in result["sets"]:
        d = result["paired_differences"][name]["b"]
        assert d["versus"] == "a" and d["images"] == 6 and d["ci95"][0] <= d["mean"] <= d["ci95"][1]
        assert f"{name}: b - a = {d['mean']:+.3f}" in table
    # chance is the mask's area share at the model's 32 px input
    images = LabeledImages.from_folder(shared_data("sod-dev", "images"), 6)
    first = images.paths[0]
    _, mask = images.with_mask(0, shared_data("sod-dev", "masks"))
    chance = foreground(mask, 32).float().mean().item()
    assert result["sets"]["sod-dev/images"]["a"]["per_image"][first][1] == pytest.approx(chance, abs=1e-5)
    assert np.mean([v[1] for v in result["sets"]["sod-dev/images"]["a"]["per_image"].values()]) == pytest.approx(
        result["sets"]["sod-dev/images"]["a"]["chance"], abs=1e-5
    )


def test_arguments_are_checked():
    with pytest.raises(SystemExit):
        TOOL.parse_args(["--model", "a.pth", "--images", "x"])  # no --masks / --train
    with pytest.raises(SystemExit):
        TOOL.parse_args(["--model", "a.pth", "--no-embedded"])  # nothing to score
