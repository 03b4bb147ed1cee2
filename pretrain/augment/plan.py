"""One sample's augmentation, drawn before any pixel is touched: the plan every executor carries out.

:meth:`Planner.plan` is a pure function of (seed, epoch, index, image size) (and, for the
texture and image backgrounds, of the texture sizes and other images' masks it looks at): it
returns plain data (crop box, copy-paste coin, background and blending, grayscale, jitter
factors and order, flip) that a test can inspect and replay. The executors carry it out: the
reference (:mod:`.reference`, PIL and numpy, INPUT.BACKEND cpu, and the workers of "gpu") and
the batched one (:mod:`.batched`, tensors on the training device, "gpu" and "resident").

The draw order is written here once. torch's default generator, seeded with
``derive_seed(seed, epoch, index)``, draws per sample:

- first what torchvision's transforms draw, with their own functions, in their order: the
  RandomResizedCrop box, RandomGrayscale's coin, ColorJitter's order and factors,
  RandomHorizontalFlip's coin; MoCo v2's extra coins (jitter at all, INPUT.COLOR_JITTER_PROB
  < 1, before the jitter's draws; blur and its sigma, INPUT.BLUR_PROB > 0, before the flip's) are
  drawn only where configured, so InstDisc's draws stay as they were;
- then, with copy-paste on, its coin, and for a pasted sample the seed of a NumPy generator that
  draws the background and the blending (:meth:`.CopyPaste.draw`).

So copy-paste on or off leaves every other draw as it is (the paired arms of a comparison share
them), a kept sample costs one draw more, the plan does not depend on the worker that makes it,
and a resumed run replays its epoch exactly.

Two views (MoCo's query and key): view 0 is the sample's plan above; view v > 0 draws from
coordinates that carry ``(VIEW_STREAM, v)`` after (seed, epoch, index). Each view thus has its
own crop, colours, paste coin and background, independent of the other's, and view 0 is
InstDisc's plan unchanged. Copy-paste is one more augmentation of a view: the paper composites
each sample before its other augmentations, and MoCo's views are two independent draws of the
whole augmentation, so each view is composited (or not) on its own. At p 0.5 a quarter of the
pairs have both views pasted (on different backgrounds) and half have one: the query and its key
then differ in background, which is the invariance copy-paste teaches. (dilo composites on the
crop, not before it: :mod:`.copy_paste` says why.)

The jitter comes after the grayscale, InstDisc's order; MoCo v2 jitters first. On a gray image
saturation and hue do nothing and brightness and contrast commute with the luma conversion up
to clipping, so dilo keeps one order for both methods.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np
import torch
from torchvision import transforms as T

from pretrain.utils.seed import derive_seed, derive_seeds

from .backgrounds import Backgrounds
from .copy_paste import Box, CopyPaste, PasteDraws, PasteOutcome

# torchvision's ColorJitter numbering of its four operations (the "order" of a plan).
BRIGHTNESS, CONTRAST, SATURATION, HUE = range(4)
IDENTITY = (1.0, 1.0, 1.0, 0.0)  # the factors that leave an image unchanged, in that numbering
VIEW_STREAM = 3  # the coordinate tag of views after the first (2: bad-file replacement)
PASTE_SEEDS = 2**63 - 1  # a pasted sample's NumPy seed is drawn below this


@dataclass(frozen=True)
class Photometric:
    """RandomGrayscale, ColorJitter, Gaussian blur and RandomHorizontalFlip of one sample, as drawn.

    ``factors[k]`` is None where the operation's range is zero (torchvision then skips it), and
    all are None where the jitter's coin said no. ``blur`` is the blur's sigma in pixels, 0 for none.
    """

    gray: bool
    order: tuple[int, ...]
    factors: tuple[float | None, ...]
    flip: bool
    blur: float = 0.0

    def identity_factors(self) -> list[float]:
        """The factors with the identity where an operation is skipped (the batched executor skips those)."""
        return [IDENTITY[k] if f is None else f for k, f in enumerate(self.factors)]


# The columns of :func:`photometric_columns`' two tables (the jitter's operations in the order applied).
PHOTOMETRIC_INT_COLUMNS = ("gray", "flip", "order_0", "order_1", "order_2", "order_3")
PHOTOMETRIC_FLOAT_COLUMNS = ("brightness", "contrast", "saturation", "hue", "blur_sigma")


def photometric_columns(plans: Sequence[Photometric]) -> tuple[np.ndarray, np.ndarray]:
    """Many samples' parameters as two tables (what a worker ships: two tensors, not five): int64 (n, 6) and
    float32 (n, 5), columns :data:`PHOTOMETRIC_INT_COLUMNS` and :data:`PHOTOMETRIC_FLOAT_COLUMNS` (the factors as
    :meth:`Photometric.identity_factors` gives them). Built through NumPy: torch.tensor on lists costs more."""
    ints = np.array([(p.gray, p.flip, *p.order) for p in plans], np.int64).reshape(-1, 6)
    floats = np.array([(*p.identity_factors(), p.blur) for p in plans], np.float32).reshape(-1, 5)
    return ints, floats


def photometric_params(ints: torch.Tensor, floats: torch.Tensor) -> dict[str, torch.Tensor]:
    """The batched executor's parameters from :func:`photometric_columns`' tables as tensors."""
    return {
        "gray": ints[:, 0].bool(),
        "flip": ints[:, 1].bool(),
        "order": ints[:, 2:6],
        "factors": floats[:, :4],
        "blur": floats[:, 4],
    }


def photometric_batch(plans: Sequence[Photometric]) -> dict[str, torch.Tensor]:
    """The batched executor's parameters of many samples."""
    return photometric_params(*(torch.from_numpy(a) for a in photometric_columns(plans)))


@dataclass(frozen=True)
class AugmentationSpec:
    """The ranges a training view's augmentation is drawn from, and its normalization (a config's INPUT.* keys,
    read by :func:`pretrain.data.build.augmentation_spec`; every range as torchvision's transform takes it)."""

    size: int  # the square crop's side (pixels)
    crop_scale: tuple[float, float]  # RandomResizedCrop's area range, a fraction of the image
    grayscale_prob: float
    color_jitter: tuple[float, float, float, float]  # brightness, contrast, saturation, hue
    color_jitter_prob: float  # the chance to jitter at all (1: always, InstDisc's)
    blur_prob: float  # the chance of a Gaussian blur after the jitter (0: never, InstDisc's)
    blur_sigma: tuple[float, float]  # its sigma's range, in pixels of the crop
    hflip_prob: float
    mean: tuple[float, float, float]  # RGB, of images in [0, 1]
    std: tuple[float, float, float]


@dataclass(frozen=True)
class SamplePlan:
    """Everything one sample's augmentation needs; ``paste`` is set when ``coin`` is PASTED."""

    box: Box  # (top, left, height, width) on the full-size image
    photometric: Photometric
    coin: PasteOutcome  # OFF (copy-paste off), KEPT or PASTED: what the coin said, before any mask is read
    paste: PasteDraws | None


class Planner:
    """Draws :class:`SamplePlan` s from ``spec``'s ranges and the copy-paste settings."""

    def __init__(
        self, spec: AugmentationSpec, copy_paste: CopyPaste | None = None, backgrounds: Backgrounds | None = None
    ):
        crop = T.RandomResizedCrop(spec.size, scale=tuple(spec.crop_scale))  # checks the ranges
        self.size, self.scale, self.ratio = tuple(crop.size), crop.scale, crop.ratio
        self.grayscale_prob = spec.grayscale_prob
        jitter = T.ColorJitter(*spec.color_jitter)  # its ranges, checked and centred as torchvision does
        self.jitter_ranges = (jitter.brightness, jitter.contrast, jitter.saturation, jitter.hue)
        self.jitter_prob, self.blur_prob = spec.color_jitter_prob, spec.blur_prob
        self.blur_sigma = tuple(spec.blur_sigma)
        self.hflip_prob = spec.hflip_prob
        self.copy_paste = copy_paste if copy_paste is not None and copy_paste.prob > 0 else None
        self.backgrounds = self.copy_paste.backgrounds(backgrounds) if self.copy_paste else None

    def plan(self, seed: int, epoch: int, index: int, size: tuple[int, int], view: int = 0) -> SamplePlan:
        """The plan of view ``view`` of sample ``index`` in ``epoch``, for an image of (w, h) ``size``."""
        with seeded_default_generator(derive_seed(seed, epoch, index, *view_coords(view))):
            return self._draws(size)

    def plan_batch(
        self, seed: int, epoch: int, indices: Sequence[int], sizes: Sequence[tuple[int, int]], view: int = 0
    ) -> list[SamplePlan]:
        """:meth:`plan` of many samples, the same values for less: the seeds of the whole batch are derived
        at once (:func:`derive_seeds`) and the caller's torch stream is saved once, not per sample."""
        suffix = view_coords(view)
        coords = np.array([(seed, epoch, i, *suffix) for i in indices], dtype=np.int64).reshape(-1, 3 + len(suffix))
        gen = torch.default_generator
        state = gen.get_state()
        try:
            plans = []
            for sample_seed, size in zip(derive_seeds(coords), sizes, strict=True):
                gen.manual_seed(sample_seed)
                plans.append(self._draws(size))
        finally:
            gen.set_state(state)
        return plans

    def _draws(self, size: tuple[int, int]) -> SamplePlan:
        """One sample's plan from the torch stream seeded for it: torchvision's draws, then copy-paste's."""
        box, photometric = self._torchvision_draws(size)
        if self.copy_paste is None:
            return SamplePlan(box, photometric, PasteOutcome.OFF, None)
        if not coin(self.copy_paste.prob):
            return SamplePlan(box, photometric, PasteOutcome.KEPT, None)
        assert self.backgrounds is not None
        # NumPy's generator (the backgrounds draw with it): PCG64 as default_rng makes it, without its checks.
        rng = np.random.Generator(np.random.PCG64(int(torch.randint(PASTE_SEEDS, (1,)))))
        return SamplePlan(box, photometric, PasteOutcome.PASTED, self.copy_paste.draw(rng, self.size, self.backgrounds))

    def _torchvision_draws(self, size: tuple[int, int]) -> tuple[Box, Photometric]:
        """The crop box, then grayscale, jitter, blur and flip: torchvision's calls, in InstDisc's order."""
        stand_in = torch.empty((0, size[1], size[0]), device="meta")  # get_params reads the size only
        box = T.RandomResizedCrop.get_params(stand_in, self.scale, self.ratio)
        gray = coin(self.grayscale_prob)  # RandomGrayscale's draw
        if self.jitter_prob < 1 and not coin(self.jitter_prob):  # RandomApply's coin, where configured
            order, factors = tuple(range(4)), (None,) * 4
        else:
            jitter_order, *jitter_factors = T.ColorJitter.get_params(*self.jitter_ranges)
            order, factors = tuple(jitter_order.tolist()), tuple(jitter_factors)
        blur = 0.0
        if self.blur_prob > 0 and coin(self.blur_prob):  # MoCo v2's blur, where configured
            low, high = self.blur_sigma
            blur = float(torch.empty(1).uniform_(low, high))
        flip = coin(self.hflip_prob)  # RandomHorizontalFlip's draw
        return tuple(box), Photometric(gray, order, factors, flip, blur)


def coin(prob: float) -> bool:
    """torchvision's coin ``torch.rand(1) < prob``, the same outcome (torch compares the float32 draw with ``prob``
    rounded to float32) without a tensor comparison, a second tensor operation per coin."""
    return float(torch.rand(1)) < float(np.float32(prob))


def view_coords(view: int) -> tuple[int, ...]:
    """The seed coordinates that follow (seed, epoch, index) for view ``view``: none for the first."""
    if view < 0:
        raise ValueError(f"a view is numbered from 0, got {view}")
    return (VIEW_STREAM, view) if view else ()


@contextmanager
def seeded_default_generator(seed: int) -> Iterator[None]:
    """torchvision draws from the CPU default generator: seed it for one sample, then put the
    caller's stream back (cheaper than torch.manual_seed + fork_rng)."""
    gen = torch.default_generator
    state = gen.get_state()
    gen.manual_seed(seed)
    try:
        yield
    finally:
        gen.set_state(state)
