"""The batched-tensor executor: a whole batch's plans carried out at once on the training device.

Used by INPUT.BACKEND "gpu" (photometric half, after the workers' crops) and "resident" (all
of it). Each step takes per-sample parameters from the plans (:mod:`.plan`):

- :func:`crop_batch`: every crop box resized to the output by one bilinear ``grid_sample``
  (a mask rides along as a channel), sampled at pixel centres and clamped to the box as OpenCV
  and PIL resize a cropped region; a box larger than the output is sampled k times denser and
  averaged (PIL antialiases with a triangle filter instead);
- :func:`composite`: copy-paste's alpha composite, the Gaussian blending with OpenCV's kernel, and
  :func:`paste_rows`: the composite of a batch's pasted rows and what copy-paste did to each;
- :class:`PhotometricAugmentation`: grayscale, ColorJitter (each sample's four operations in its
  own order), Gaussian blur (each sample's own sigma), flip and normalization.

The pixels differ from the reference executor's only where float arithmetic differs from PIL's
uint8 steps; ``tests/augment`` and ``tests/data`` measure by how much.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torchvision.transforms.v2 import functional as TF2

from .copy_paste import PasteOutcome
from .plan import BRIGHTNESS, CONTRAST, HUE, IDENTITY, SATURATION

# PIL's convert("L") weights (ITU-R 601-2), which the reference's grayscale and enhancers use.
LUMA = (0.299, 0.587, 0.114)


def gaussian_kernel_size(sigma: float) -> int:
    """The kernel OpenCV's GaussianBlur picks for float images and ksize (0, 0)."""
    return round(sigma * 8 + 1) | 1


def blur_kernel_size(sigma: float) -> int:
    """The augmentation blur's kernel: +-3 sigma, odd (both executors use it)."""
    return 2 * math.ceil(3 * sigma) + 1


def blur_batch(x: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
    """Each (3, H, W) image of ``x`` blurred by a Gaussian of its own ``sigma``, reflect-padded as
    torchvision's ``gaussian_blur``: one grouped separable convolution, the smaller kernels
    zero-padded to the largest (the same sums, since reflection does not depend on the pad width)."""
    sizes = torch.tensor([blur_kernel_size(s) for s in sigma.tolist()], device=x.device)
    half = int(sizes.max()) // 2
    taps = torch.arange(-half, half + 1, device=x.device, dtype=x.dtype)
    sigma = sigma.to(x.device, x.dtype)[:, None]
    kernel = torch.exp(-0.5 * (taps / sigma) ** 2) * (taps.abs() <= sizes[:, None] // 2)
    kernel = (kernel / kernel.sum(1, keepdim=True)).repeat_interleave(x.shape[1], 0)  # (n * 3, K)
    n, c, h, w = x.shape
    y = F.pad(x.reshape(1, n * c, h, w), (half, half, half, half), mode="reflect")
    y = F.conv2d(y, kernel.view(n * c, 1, -1, 1), groups=n * c)
    y = F.conv2d(y, kernel.view(n * c, 1, 1, -1), groups=n * c)
    return y.view(n, c, h, w)


def crop_grid(boxes: torch.Tensor, out: tuple[int, int], full: tuple[int, int], k: int = 1) -> torch.Tensor:
    """``grid_sample`` grid (N, k h, k w, 2) that resizes each (top, left, height, width) box to ``out``.

    Samples sit at the centres of the k-times finer output pixels, mapped into the box and clamped
    to its first and last pixel centre (OpenCV's and PIL's edge rule on a cropped region);
    ``full`` is the stored (H, W), for align_corners=True normalization.
    """
    top, left, h, w = boxes.unbind(1)

    def axis(start: torch.Tensor, length: torch.Tensor, n: int, size: int) -> torch.Tensor:
        steps = (torch.arange(n, device=boxes.device) + 0.5) / n
        pos = start[:, None] + steps * length[:, None] - 0.5
        pos = torch.minimum(torch.maximum(pos, start[:, None]), (start + length - 1)[:, None])
        return pos * (2.0 / max(size - 1, 1)) - 1.0

    ys = axis(top, h, k * out[0], full[0])
    xs = axis(left, w, k * out[1], full[1])
    return torch.stack(torch.broadcast_tensors(xs[:, None, :], ys[:, :, None]), dim=-1)


def crop_batch(pixels: torch.Tensor, boxes: torch.Tensor, out: tuple[int, int]) -> torch.Tensor:
    """(N, C, H, W) images (any dtype) and their (N, 4) boxes -> (N, C, h, w) float crops, rounded to levels
    as PIL's uint8 crops are."""
    k = max(1, math.ceil(max((boxes[:, 2] / out[0]).max().item(), (boxes[:, 3] / out[1]).max().item())))
    grid = crop_grid(boxes.to(pixels.device), out, tuple(pixels.shape[-2:]), k)
    crops = F.grid_sample(pixels.float(), grid, mode="bilinear", padding_mode="border", align_corners=True)
    if k > 1:
        crops = F.avg_pool2d(crops, k)
    return crops.round_()


def composite(
    crops: torch.Tensor, foreground: torch.Tensor, backgrounds: torch.Tensor, blur: torch.Tensor, sigma: float
) -> torch.Tensor:
    """Copy-paste on float (n, 3, h, w) crops: ``foreground`` (n, 1, h, w) kept, ``backgrounds`` elsewhere,
    the rows where ``blur`` blended through the mask smoothed by a Gaussian of ``sigma`` pixels."""
    alpha = foreground.float()
    if blur.any():
        size = gaussian_kernel_size(sigma)
        alpha[blur] = TF2.gaussian_blur(alpha[blur], [size, size], [sigma, sigma])
    return (alpha * crops + (1.0 - alpha) * backgrounds).round_()


def paste_rows(
    crops: torch.Tensor,
    rows: torch.Tensor,
    foreground: torch.Tensor,
    whole: torch.Tensor,
    tiles: torch.Tensor,
    blur: torch.Tensor,
    sigma: float,
) -> torch.Tensor:
    """Copy-paste on the ``rows`` of float (n, 3, h, w) ``crops`` whose coin said paste and that have a mask,
    in place; returns each row's :class:`PasteOutcome`.

    Per row: ``foreground`` (m, 1, h, w) bool, its crop's foreground; ``whole``, whether its whole mask has
    any; ``tiles`` (m, th, tw, 3) uint8, its background (:func:`.backgrounds.background_tile`: 1 x 1 for a
    gray level, broadcast over the crop); ``blur``, whether it blends. A crop without foreground is left as
    it is: CROP_WITHOUT_FOREGROUND where the mask has foreground elsewhere, EMPTY where it has none.
    """
    present = foreground.flatten(1).any(1).cpu()
    missed = torch.where(whole.cpu(), PasteOutcome.CROP_WITHOUT_FOREGROUND, PasteOutcome.EMPTY)
    status = torch.where(present, PasteOutcome.PASTED, missed)
    keep = present.nonzero().flatten()
    if len(keep):
        at, keep = rows[keep].to(crops.device), keep.to(crops.device)
        backgrounds = tiles[keep].to(crops.device).permute(0, 3, 1, 2).float().expand(-1, -1, *crops.shape[-2:])
        blended = blur[keep].to(crops.device)
        crops[at] = composite(crops[at], foreground[keep], backgrounds, blended, sigma)
    return status


def luma(x: torch.Tensor) -> torch.Tensor:
    """(N, 3, H, W) in [0, 1] -> (N, 1, H, W) gray level."""
    w = torch.tensor(LUMA, dtype=x.dtype, device=x.device).view(1, 3, 1, 1)
    return (x * w).sum(1, keepdim=True)


def _blend(x: torch.Tensor, other: torch.Tensor, factor: torch.Tensor) -> torch.Tensor:
    """``other + factor * (x - other)``, clipped: the form of PIL's ImageEnhance."""
    return (other + factor.view(-1, 1, 1, 1) * (x - other)).clamp_(0.0, 1.0)


def adjust_brightness(x: torch.Tensor, factor: torch.Tensor) -> torch.Tensor:
    return _blend(x, torch.zeros_like(x), factor)


def adjust_contrast(x: torch.Tensor, factor: torch.Tensor) -> torch.Tensor:
    return _blend(x, luma(x).mean((2, 3), keepdim=True), factor)


def adjust_saturation(x: torch.Tensor, factor: torch.Tensor) -> torch.Tensor:
    return _blend(x, luma(x), factor)


def adjust_hue(x: torch.Tensor, shift: torch.Tensor) -> torch.Tensor:
    """Rotate the HSV hue of each image by its ``shift`` (in turns, [-0.5, 0.5])."""
    r, g, b = x.unbind(1)
    v = x.amax(1)
    delta = v - x.amin(1)
    safe = torch.where(delta > 0, delta, torch.ones_like(delta))
    hue = torch.where(r == v, ((g - b) / safe) % 6, torch.where(g == v, (b - r) / safe + 2, (r - g) / safe + 4))
    hue = (hue / 6 + shift.view(-1, 1, 1)) % 1.0
    sat = torch.where(v > 0, delta / torch.where(v > 0, v, torch.ones_like(v)), torch.zeros_like(v))
    # HSV -> RGB: channel n (R 5, G 3, B 1) is v - v s clamp(min(k, 4 - k), 0, 1), k = (n + 6 h) mod 6.
    n = torch.tensor([5.0, 3.0, 1.0], dtype=x.dtype, device=x.device).view(1, 3, 1, 1)
    k = (n + 6 * hue.unsqueeze(1)) % 6
    return v.unsqueeze(1) * (1 - sat.unsqueeze(1) * torch.minimum(k, 4 - k).clamp(0.0, 1.0))


JITTER = {BRIGHTNESS: adjust_brightness, CONTRAST: adjust_contrast, SATURATION: adjust_saturation, HUE: adjust_hue}


class PhotometricAugmentation:
    """Grayscale, ColorJitter (each sample's four operations in its own order), blur, flip, then normalization,
    as in the reference path, on float images in [0, 1] on the device. Samples are grouped by (position,
    operation) on the CPU, so nothing waits for the device.
    """

    def __init__(self, mean: Sequence[float], std: Sequence[float], device: torch.device):
        self.mean = torch.tensor(mean, device=device).view(1, 3, 1, 1)
        self.std = torch.tensor(std, device=device).view(1, 3, 1, 1)
        self.device = device

    def apply(self, x: torch.Tensor, params: dict[str, torch.Tensor]) -> torch.Tensor:
        """Float images (N, 3, H, W) in [0, 1] on the device, modified in place -> normalized."""
        order = params["order"].cpu()  # (N, 4): which operation each sample applies at each position
        gray = params["gray"].to(self.device, non_blocking=True).view(-1, 1, 1, 1)
        flip = params["flip"].to(self.device, non_blocking=True).view(-1, 1, 1, 1)
        factors = params["factors"].to(self.device, non_blocking=True)
        # An operation whose range is zero (e.g. the demo's hue) has the identity factor: torchvision skips it.
        active = params["factors"].cpu() != torch.tensor(IDENTITY)
        x = torch.where(gray, luma(x).expand_as(x), x)
        for position in range(order.shape[1]):
            for op, fn in JITTER.items():
                rows = ((order[:, position] == op) & active[:, op]).nonzero().flatten()
                if len(rows):
                    rows = rows.to(self.device, non_blocking=True)
                    x[rows] = fn(x[rows], factors[rows, op])
        sigma = params["blur"].cpu()
        rows = (sigma > 0).nonzero().flatten()
        if len(rows):
            x[rows.to(self.device)] = blur_batch(x[rows.to(self.device)], sigma[rows])
        x = torch.where(flip, x.flip(3), x)
        return (x - self.mean) / self.std
