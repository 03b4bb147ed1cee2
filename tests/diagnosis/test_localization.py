"""The localization score: exact on hand-made energy maps, its chance level, and the mask geometry."""

import math

import numpy as np
import pytest
import torch

from pretrain.diagnosis.localization import (
    chance_level,
    foreground,
    format_differences,
    format_table,
    localization_score,
    paired_differences,
    summarize,
)


def square_mask(n: int = 8) -> torch.Tensor:
    fg = torch.zeros(1, n, n, dtype=torch.bool)
    fg[0, 2:6, 2:6] = True  # 16 of 64 pixels
    return fg


def test_all_energy_inside_is_one_and_outside_is_zero():
    fg = square_mask()
    inside = torch.rand(1, 8, 8) * fg
    outside = torch.rand(1, 8, 8) * ~fg
    assert localization_score(inside, fg).item() == 1.0
    assert localization_score(outside, fg).item() == 0.0


def test_uniform_energy_scores_the_area_share_and_halves_split_evenly():
    fg = square_mask()
    assert localization_score(torch.ones(1, 8, 8), fg).item() == pytest.approx(16 / 64)
    assert chance_level(fg).item() == 16 / 64
    half = torch.where(fg, 3.0 / 16, 3.0 / 48)  # the same energy, 3, inside and outside
    assert localization_score(half, fg).item() == pytest.approx(0.5)


def test_per_image_and_no_energy_is_nan():
    fg = square_mask().repeat(2, 1, 1)
    energy = torch.stack([fg[0].float(), torch.zeros(8, 8)])
    scores = localization_score(energy, fg)
    assert scores[0].item() == 1.0 and math.isnan(scores[1].item())


def test_shape_mismatch_is_an_error():
    with pytest.raises(ValueError, match="differ in shape"):
        localization_score(torch.ones(1, 8, 8), torch.ones(1, 4, 4, dtype=torch.bool))


def test_foreground_resizes_to_the_input_and_binarizes_at_half():
    mask = np.zeros((20, 40), np.uint8)
    mask[:, :20] = 255  # left half of a 2:1 image
    fg = foreground(mask, 8)
    assert fg.shape == (8, 8) and fg.dtype == torch.bool
    assert fg[:, :4].all() and not fg[:, 4:].any()


def test_summary_averages_valid_images_and_counts_the_rest():
    scores, chances = torch.tensor([1.0, 0.0, float("nan")]), torch.tensor([0.25, 0.5, 0.5])
    r = summarize(scores, chances, ["a", "b", "c"], "true", empty=2, size=32)
    assert r["images"] == 2 and r["zero_gradients"] == 1 and r["empty_masks"] == 2
    assert r["score"] == 0.5 and r["chance"] == 0.375 and r["lift"] == pytest.approx(0.5 / 0.375)
    assert r["above_chance"] == 0.5
    assert r["per_image"]["c"] == [None, 0.5]
    table = format_table({"set": {"m": r}})
    assert "0.500" in table and "1.33" in table and "50.0%" in table


def per_image(scores: list[float | None]) -> dict:
    return {"per_image": {f"img{i}": [s, 0.25] for i, s in enumerate(scores)}}


def test_paired_differences_to_the_first_model():
    base = per_image([0.1, 0.2, 0.3, None])
    shifted = per_image([0.2, 0.3, 0.4, 0.9])  # +0.1 on every image both scored
    d = paired_differences({"base": base, "same": base, "shifted": shifted})
    assert d["same"]["mean"] == 0 and d["same"]["ci95"] == [0, 0] and d["same"]["higher"] == 0
    assert d["shifted"]["images"] == 3 and d["shifted"]["versus"] == "base"
    assert d["shifted"]["mean"] == pytest.approx(0.1) and d["shifted"]["ci95"] == pytest.approx([0.1, 0.1])
    assert d["shifted"]["higher"] == 1.0
    assert "shifted - base = +0.100" in format_differences({"set": d})
