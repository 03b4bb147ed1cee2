"""MoCo v2's draws (jitter coin, blur) and the two views of a sample: their own streams, view 0 unchanged."""

import numpy as np
import torch
from PIL import Image
from torchvision import transforms as T

from pretrain.augment import CopyPaste, PasteOutcome, Planner
from pretrain.augment.batched import PhotometricAugmentation
from pretrain.augment.plan import Photometric, photometric_batch
from pretrain.augment.reference import ReferenceAugmentation, photometric
from pretrain.config import load_config
from pretrain.data import augmentation_spec
from pretrain.utils.seed import derive_seed


def _image(seed: int, size=(48, 40)) -> Image.Image:
    return Image.fromarray(np.random.default_rng(seed).integers(0, 256, (size[1], size[0], 3), np.uint8))


def test_jitter_coin_and_blur_replay_torchvisions_random_apply_bit_for_bit():
    """RandomApply(ColorJitter, p) and RandomApply(GaussianBlur, p) in dilo's order (jitter after grayscale).

    A sigma range whose kernels are all 9 wide: torchvision's GaussianBlur has one kernel size.
    """
    opts = ["INPUT.SIZE", "24", "INPUT.COLOR_JITTER_PROB", "0.8", "INPUT.BLUR_PROB", "0.5"]
    opts += ["INPUT.BLUR_SIGMA", "(1.01, 1.3)"]
    cfg = load_config("", opts)
    torchvision = T.Compose(
        [
            T.RandomResizedCrop(24, scale=tuple(cfg.INPUT.CROP_SCALE)),
            T.RandomGrayscale(cfg.INPUT.GRAYSCALE_PROB),
            T.RandomApply([T.ColorJitter(*cfg.INPUT.COLOR_JITTER)], p=0.8),
            T.RandomApply([T.GaussianBlur(9, (1.01, 1.3))], p=0.5),
            T.RandomHorizontalFlip(cfg.INPUT.HFLIP_PROB),
            T.ToTensor(),
            T.Normalize(cfg.INPUT.MEAN, cfg.INPUT.STD),
        ]
    )
    planner, reference = Planner(augmentation_spec(cfg)), ReferenceAugmentation(augmentation_spec(cfg))
    jittered = blurred = 0
    for index in range(60):
        image = _image(index)
        plan = planner.plan(3, 1, index, image.size)
        torch.manual_seed(derive_seed(3, 1, index))
        assert torch.equal(reference(image, plan)[0], torchvision(image)), index
        jittered += plan.photometric.factors[0] is not None
        blurred += plan.photometric.blur > 0
    assert 0 < jittered < 60 and 0 < blurred < 60  # both branches of both coins were replayed


def test_the_batched_blur_matches_the_reference_within_rounding():
    cfg = load_config("", [])
    images = [_image(i, (40, 32)) for i in range(6)]
    sigmas = [0.1, 0.4, 0.9, 1.3, 2.0, 0.0]
    plans = [Photometric(False, (0, 1, 2, 3), (None,) * 4, False, s) for s in sigmas]
    pairs = zip(images, plans, strict=True)
    expected = torch.stack([T.functional.pil_to_tensor(photometric(im, p)) for im, p in pairs])
    crops = torch.stack([torch.from_numpy(np.array(im)) for im in images])
    params = photometric_batch(plans)
    augment = PhotometricAugmentation(cfg.INPUT.MEAN, cfg.INPUT.STD, torch.device("cpu"))
    out = augment.apply(crops.permute(0, 3, 1, 2).float() / 255, params)
    pixels = (out * torch.tensor(cfg.INPUT.STD).view(3, 1, 1) + torch.tensor(cfg.INPUT.MEAN).view(3, 1, 1)) * 255
    assert (pixels - expected.float()).abs().max() <= 0.5 + 1e-3  # the reference rounds to uint8 levels
    assert torch.equal(expected[-1], T.functional.pil_to_tensor(images[-1]))  # sigma 0: no blur


def test_each_view_has_its_own_crop_colours_paste_coin_and_background():
    planner = Planner(
        augmentation_spec(load_config("", ["INPUT.SIZE", "32", "INPUT.BLUR_PROB", "0.5"])),
        CopyPaste(0.5, "gray", "none"),
    )
    sizes = [(48, 40)] * 200
    first = planner.plan_batch(0, 2, range(200), sizes)
    second = planner.plan_batch(0, 2, range(200), sizes, view=1)
    assert first == [planner.plan(0, 2, i, s) for i, s in enumerate(sizes)]  # view 0 is the sample's plan
    assert second == [planner.plan(0, 2, i, s, view=1) for i, s in enumerate(sizes)]
    assert all(a.box != b.box for a, b in zip(first, second, strict=True))
    pairs = [(a.coin, b.coin) for a, b in zip(first, second, strict=True)]
    pasted, kept = PasteOutcome.PASTED, PasteOutcome.KEPT
    assert {(pasted, pasted), (pasted, kept), (kept, pasted), (kept, kept)} == set(pairs)
    both = [(a, b) for a, b in zip(first, second, strict=True) if a.paste is not None and b.paste is not None]
    assert all(a.paste.background != b.paste.background for a, b in both)
