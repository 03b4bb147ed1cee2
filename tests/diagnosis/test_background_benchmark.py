"""The backgrounds benchmark of a model: the test set it keeps, the variants it scores, the challenge computed in
batches equal to one composite at a time, and the table."""

import os

import cv2
import numpy as np
import pytest
import torch
from torch import nn

from pretrain.data.labeled import LabeledImages
from pretrain.diagnosis import background_benchmark as bench
from pretrain.diagnosis.backgrounds import VARIANTS, background_sources, mixed, only_bg_t
from pretrain.models.frozen import FrozenModel

COLOURS = [(200, 40, 40), (40, 200, 40), (40, 40, 200)]  # object colour of class 0, 1, 2


def write_set(root, per_class: int = 4, size: int = 16) -> tuple[str, str]:
    """Class k: a square of COLOURS[k] at a random place on noise tinted by up to 20 % of COLOURS[k]
    (backgrounds that carry the class: enough to fool the colour classifier below on some composites); masks
    mirror the images. Image 0 of class 0 has an empty mask, image 1 of class 0 a mask over the whole frame:
    the test set must leave both out."""
    rng = np.random.default_rng(0)
    images, masks = os.path.join(root, "images"), os.path.join(root, "masks")
    for k in range(3):
        for folder in (images, masks):
            os.makedirs(os.path.join(folder, f"c{k}"), exist_ok=True)
        for i in range(per_class):
            tint = rng.uniform(0.0, 0.2)
            noise = rng.integers(0, 256, (size, size, 3))
            image = ((1 - tint) * noise + tint * np.array(COLOURS[k])).astype(np.uint8)
            mask = np.zeros((size, size), np.uint8)
            y, x = rng.integers(2, size - 8, 2)
            image[y : y + 6, x : x + 6] = COLOURS[k]
            mask[y : y + 6, x : x + 6] = 255
            if (k, i) == (0, 0):
                mask[:] = 0
            if (k, i) == (0, 1):
                mask[:] = 255
            cv2.imwrite(os.path.join(images, f"c{k}", f"{i}.png"), image[..., ::-1])
            cv2.imwrite(os.path.join(masks, f"c{k}", f"{i}.png"), mask)
    return images, masks


@pytest.fixture
def test_set(tmp_path) -> bench.TestSet:
    images, masks = write_set(tmp_path)
    return bench.masked_test_set(LabeledImages.from_folder(images), masks)


def test_the_test_set_leaves_out_images_without_a_foreground_or_a_margin(test_set):
    assert (len(test_set.images), test_set.dropped) == (10, 2)
    assert test_set.labels.tolist() == [0, 0, 1, 1, 1, 1, 2, 2, 2, 2]
    assert all(fg.sum() == 36 for fg in test_set.foregrounds) and test_set.masks == "true"


def test_variants_are_the_authors_with_backgrounds_drawn_from_the_seed(test_set):
    variants = bench.variant_images(test_set, seed=3)
    assert tuple(variants) == VARIANTS and all(len(v) == 10 for v in variants.values())
    sources = background_sources(test_set.labels, 3, 3)
    for name in ("mixed_same", "mixed_rand", "mixed_next"):
        for i, s in enumerate(sources[name]):
            tiled = only_bg_t(test_set.images[s], bench.mask_box(test_set.foregrounds[s]))
            assert np.array_equal(variants[name][i], mixed(test_set.images[i], test_set.foregrounds[i], tiled))
    assert all(test_set.labels[s] == test_set.labels[i] for i, s in enumerate(sources["mixed_same"]))


class MeanColour(nn.Module):
    """Features: each channel's mean over the image."""

    out_channels = 3

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.mean((2, 3))


def colour_model() -> tuple[FrozenModel, nn.Module]:
    """A frozen model of mean colours at 16 px (pixels in [0, 1]) and a classifier from them: the class whose
    object colour is nearest."""
    model = FrozenModel(MeanColour(), name="colour", size=16, mean=(0.0, 0.0, 0.0), std=(1.0, 1.0, 1.0))
    classifier = nn.Linear(3, 3)
    with torch.no_grad():
        classifier.weight.copy_(torch.tensor(COLOURS, dtype=torch.float32) / 255)
        classifier.bias.zero_()
    return model, classifier


@pytest.mark.parametrize("limit", [None, 4])
def test_the_challenge_in_batches_equals_one_composite_at_a_time(test_set, limit, monkeypatch):
    model, classifier = colour_model()
    backgrounds = bench.variant_images(test_set)["only_bg_t"]
    monkeypatch.setattr(bench, "BATCH", 7)  # batches that split a foreground's composites
    result = bench.challenge(model, classifier, test_set, backgrounds, torch.device("cpu"), limit, seed=1)
    columns = bench.challenge_backgrounds(10, limit, 1)
    right = [
        all(
            bench.predict(model, classifier, [mixed(im, fg, backgrounds[c])], torch.device("cpu"))[0] == y
            for c in columns
        )
        for im, fg, y in zip(test_set.images, test_set.foregrounds, test_set.labels, strict=True)
    ]
    assert result["accuracy"] == pytest.approx(100 * np.mean(right))
    assert (result["backgrounds"], result["pool"], result["sampled"]) == (len(columns), 10, limit is not None)
    assert 0 < np.mean(right) < 1  # the case tells right from wrong


class CountedReads(list):
    """A test set's images that count the ones read through slices, as a batch of composites reads them."""

    reads = 0

    def __getitem__(self, index):
        if isinstance(index, slice):
            CountedReads.reads += len(range(*index.indices(len(self))))
        return super().__getitem__(index)


def test_the_challenge_composites_a_batch_only_when_it_is_scored(test_set, monkeypatch):
    """Its memory is a batch of composites whatever F x B is: all of them were built before the first was scored."""
    model, classifier = colour_model()
    backgrounds = bench.variant_images(test_set)["only_bg_t"]
    lazy = bench.TestSet(CountedReads(test_set.images), *list(vars(test_set).values())[1:])
    monkeypatch.setattr(bench, "BATCH", 10)  # one foreground on each of the 10 backgrounds a batch

    def stop(*args):
        raise StopIteration("scored the first batch")

    monkeypatch.setattr(bench, "predict", stop)
    CountedReads.reads = 0
    with pytest.raises(StopIteration):
        bench.challenge(model, classifier, lazy, backgrounds, torch.device("cpu"))
    assert CountedReads.reads == 1  # the first batch's one foreground image, not all 10


def test_variant_scores_and_the_table(test_set):
    model, classifier = colour_model()
    variants = bench.variant_images(test_set)
    scores = bench.variant_scores(model, classifier, {v: (x, test_set.labels) for v, x in variants.items()}, "cpu")
    assert scores["bg_gap"] == scores["accuracy"]["mixed_same"] - scores["accuracy"]["mixed_rand"]
    challenge = {"accuracy": 20.0, "foregrounds": 10, "backgrounds": 4, "pool": 10, "sampled": True, "seed": 1}
    table = bench.format_table([{**scores, "challenge": challenge}]).splitlines()
    assert table[0].split(" | ")[1:3] == ["Original", "Only-FG"] and table[2].startswith("| colour | ")
    assert table[-1] == (
        "challenge: 10 foregrounds, each on 4 of the 10 backgrounds (drawn with seed 1): an upper bound of the "
        "accuracy on all of them"
    )
