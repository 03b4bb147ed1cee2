"""The plan: a pure function of (seed, epoch, index, size) that replays torchvision's own draws."""

import numpy as np
import torch
from PIL import Image
from torchvision import transforms as T

from pretrain.augment import CopyPaste, PasteOutcome, Planner, texture_source
from pretrain.augment.backgrounds import GrayLevel, TextureWindow
from pretrain.augment.plan import coin
from pretrain.augment.reference import ReferenceAugmentation
from pretrain.config import load_config
from pretrain.data import augmentation_spec
from pretrain.utils.seed import derive_seed


def _image(seed: int, size=(48, 40)) -> Image.Image:
    return Image.fromarray(np.random.default_rng(seed).integers(0, 256, (size[1], size[0], 3), np.uint8))


def test_the_reference_executor_replays_torchvisions_pipeline_bit_for_bit():
    """InstDisc's transforms seeded per sample, and the plan carried out by the reference executor: same tensor."""
    cfg = load_config("", ["INPUT.SIZE", "24"])
    torchvision = T.Compose(
        [
            T.RandomResizedCrop(24, scale=tuple(cfg.INPUT.CROP_SCALE)),
            T.RandomGrayscale(cfg.INPUT.GRAYSCALE_PROB),
            T.ColorJitter(*cfg.INPUT.COLOR_JITTER),
            T.RandomHorizontalFlip(cfg.INPUT.HFLIP_PROB),
            T.ToTensor(),
            T.Normalize(cfg.INPUT.MEAN, cfg.INPUT.STD),
        ]
    )
    planner, reference = Planner(augmentation_spec(cfg)), ReferenceAugmentation(augmentation_spec(cfg))
    grays = flips = 0
    for index in range(40):
        image = _image(index)
        plan = planner.plan(3, 1, index, image.size)
        out, status = reference(image, plan)
        torch.manual_seed(derive_seed(3, 1, index))
        assert torch.equal(out, torchvision(image)) and status == PasteOutcome.OFF, index
        grays, flips = grays + plan.photometric.gray, flips + plan.photometric.flip
    assert 0 < grays < 40 and 0 < flips < 40  # both branches of each coin were replayed


def test_plans_are_pure_and_batched_plans_equal_single_ones():
    textures = texture_source(["a", "b"], lambda p: np.zeros((30 if p == "a" else 50, 70, 3), np.uint8))
    for background, blend in (("gray", "mix"), ("texture", "none")):
        cp = CopyPaste(0.6, background, blend)
        planner = Planner(augmentation_spec(load_config("", ["INPUT.SIZE", "32"])), cp, textures)
        sizes = [(40 + i, 30 + 2 * i) for i in range(24)]
        state = torch.get_rng_state()
        single = [planner.plan(0, 5, i, size) for i, size in enumerate(sizes)]
        assert torch.equal(torch.get_rng_state(), state)  # the caller's stream is left as it was
        assert (
            planner.plan_batch(0, 5, range(24), sizes)
            == single
            == [planner.plan(0, 5, i, s) for i, s in enumerate(sizes)]
        )
        coins = [p.coin for p in single]
        assert set(coins) == {PasteOutcome.KEPT, PasteOutcome.PASTED}
        kind = GrayLevel if background == "gray" else TextureWindow
        assert all(isinstance(p.paste.background, kind) for p in single if p.paste is not None)
        assert planner.plan(0, 6, 3, sizes[3]) != single[3]


def test_copy_paste_draws_do_not_move_the_other_draws():
    """At any p the box and photometric draws are those of the plain pipeline (copy-paste draws after them)."""
    cfg = load_config("", ["INPUT.SIZE", "32"])
    plain, pasted = Planner(augmentation_spec(cfg)), Planner(augmentation_spec(cfg), CopyPaste(1.0, "gray", "mix"))
    for i in range(10):
        a, b = plain.plan(1, 2, i, (64, 48)), pasted.plan(1, 2, i, (64, 48))
        assert (a.box, a.photometric) == (b.box, b.photometric) and (a.coin, b.coin) == (
            PasteOutcome.OFF,
            PasteOutcome.PASTED,
        )


def test_copy_paste_draws_have_their_configured_distribution():
    """Over 4,000 samples: the coin lands at p, gray levels cover 0-255 evenly, "mix" blurs half the pasted."""
    planner = Planner(augmentation_spec(load_config("", ["INPUT.SIZE", "32"])), CopyPaste(0.3, "gray", "mix"))
    plans = planner.plan_batch(7, 0, range(4000), [(64, 48)] * 4000)
    pasted = [p.paste for p in plans if p.coin == PasteOutcome.PASTED]
    assert abs(len(pasted) - 1200) < 5 * (4000 * 0.3 * 0.7) ** 0.5  # binomial, 5 sigma
    levels = np.array([p.background.level for p in pasted])
    assert levels.min() < 5 and levels.max() > 250 and abs(levels.mean() - 127.5) < 5 * 73.9 / len(levels) ** 0.5
    assert abs(sum(p.blur for p in pasted) - len(pasted) / 2) < 5 * (len(pasted) / 4) ** 0.5


def test_coin_is_torchvisions_comparison_also_at_the_float32_boundary(monkeypatch):
    """``coin(p)`` is ``torch.rand(1) < p``: on seeded streams, and where the draw equals p rounded to float32 (0.7
    rounds down: torch says no, a comparison in float64 would say yes)."""
    for p in (0.0, 0.1, 0.5, 0.7, 1.0):
        torch.manual_seed(5)
        expected = [bool(torch.rand(1) < p) for _ in range(200)]
        torch.manual_seed(5)
        assert [coin(p) for _ in range(200)] == expected, p
    boundary = torch.tensor([np.float32(0.7)])
    monkeypatch.setattr(torch, "rand", lambda *size: boundary)
    assert not bool(boundary < 0.7) and not coin(0.7) and float(boundary) < 0.7
