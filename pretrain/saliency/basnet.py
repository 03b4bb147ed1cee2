"""BASNet saliency (Qin et al., "BASNet: Boundary-Aware Salient Object Detection", CVPR 2019).

The one learned saliency method of dilo: it runs the authors' released network from a weights file
that the user supplies, because training it needs pixel-labelled DUTS-TR, which dilo does not ship.

Weights
    ``basnet.pth``, trained by the authors on DUTS-TR, linked from the README of
    https://github.com/NathanUA/BASNet ("Download the pre-trained model basnet.pth", Google Drive id
    ``1s52ek_4YTDRt_EOkx1FS53u-vJa0c4nu`` or Baidu Pan, extraction code ``6phq``; about 350 MB). It is
    a plain ``state_dict`` of the authors' ``model/BASNet.py`` ``BASNet(3, 1)``; :class:`BASNetModel`
    keeps their parameter names and shapes, so their file loads as is. 87,060,360 parameters; 517 tensors:
    439 weights, biases and BatchNorm statistics plus 78 BatchNorm ``num_batches_tracked`` counters,
    which files saved before PyTorch 0.4.1 lack (:func:`load_basnet` accepts both, and a ``module.``
    prefix from ``nn.DataParallel``). Top-level prefixes, in the file's order:

    - encoder: ``inconv``, ``inbn`` (3 -> 64, 3x3, stride 1: no ResNet stem, no max-pool), ``encoder1``
      .. ``encoder4`` (torchvision ResNet-34 ``layer1`` .. ``layer4``: 3, 4, 6, 3 basic blocks, 64 ..
      512 channels), then after each 2x2 max-pool ``resb5_1`` .. ``resb5_3`` and ``resb6_1`` ..
      ``resb6_3`` (basic blocks, 512 channels);
    - bridge: ``convbg_{1,m,2}`` / ``bnbg_{1,m,2}`` (3x3, dilation 2, 512 channels);
    - decoder: ``conv{6,5,4,3,2,1}d_{1,m,2}`` / ``bn{...}`` (three conv-BN-ReLU per stage on the
      concatenation of the upsampled previous stage and the encoder feature; stage 6 dilates its
      last two convs by 2);
    - side outputs: ``outconvb``, ``outconv6`` .. ``outconv1`` (3x3 -> 1 channel);
    - refinement: ``refunet.*`` (the residual refinement module, a small 4-level U-Net on d1).

Which BatchNorm follows ``conv6d_2``
    The authors' first release (May 2019, weights link ``1qeKYOTLIOeSJGqIhFJOEch48tPyzrsZx``) applied
    ``bn5d_2`` after ``conv6d_2``; ``bn6d_2`` was created but never used, so in files trained with that code
    it keeps its initial values (weight 1, bias 0, running mean 0, running variance 1). Their commit
    "bn6d_2" (bf03d2f, 4 September 2019) switched the forward pass to ``bn6d_2`` and, in the same commit,
    the README's weights link to the file named above. :func:`load_basnet` reads which code a file was
    trained with from ``bn6d_2`` itself: at its initial values it decodes with ``bn5d_2`` (the first
    release), otherwise with ``bn6d_2`` (the current one), so either file gives its authors' maps.

Preprocessing (the authors' ``basnet_test.py``: ``RescaleT(256)``, ``ToTensorLab(flag=0)``)
    Resize the RGB image to 256 x 256 (bilinear), scale to [0, 1] by dividing by the image maximum,
    normalize with the ImageNet mean and std. The saliency map is the sigmoid of the refined map (the
    first of the eight outputs), min-max normalized per image and resized bilinearly back to the image.
    The authors resize with scikit-image; OpenCV's bilinear resize gives the same values inside the
    image, at a fraction of the cost, without the dark border of their zero padding and without the
    Gaussian anti-aliasing that newer scikit-image versions add when shrinking.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torchvision.models.resnet import BasicBlock

from .registry import check_image

INPUT_SIZE = 256
IMAGENET_MEAN = np.array([0.485, 0.456, 0.406], dtype=np.float32)
IMAGENET_STD = np.array([0.229, 0.224, 0.225], dtype=np.float32)

# Decoder stages, deepest first: (name, in channels, mid channels, out channels, dilation of the last two convs).
DECODER = (
    ("6d", 1024, 512, 512, 2),
    ("5d", 1024, 512, 512, 1),
    ("4d", 1024, 512, 256, 1),
    ("3d", 512, 256, 128, 1),
    ("2d", 256, 128, 64, 1),
    ("1d", 128, 64, 64, 1),
)


class _ConvBNNet(nn.Module):
    """Registers conv-BN pairs under the authors' flat names (``conv<s>``, ``bn<s>``) so their weights load."""

    def _add_conv_bn(self, suffix: str, cin: int, cout: int, dilation: int = 1) -> None:
        self.add_module(f"conv{suffix}", nn.Conv2d(cin, cout, 3, padding=dilation, dilation=dilation))
        self.add_module(f"bn{suffix}", nn.BatchNorm2d(cout))

    def _conv_bn_relu(self, suffix: str, x: torch.Tensor, bn: str | None = None) -> torch.Tensor:
        """ReLU(bn(conv(x))) of the pair ``suffix``, or of ``conv<suffix>`` with the BatchNorm ``bn<bn>``."""
        return F.relu(self.get_submodule(f"bn{bn or suffix}")(self.get_submodule(f"conv{suffix}")(x)))


def _pool(x: torch.Tensor) -> torch.Tensor:
    return F.max_pool2d(x, 2, 2, ceil_mode=True)


def _upsample_to(x: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """Bilinear resize to ``like``'s size: the authors' fixed-factor ``nn.Upsample`` on multiples of 32."""
    if x.shape[-2:] == like.shape[-2:]:
        return x
    return F.interpolate(x, size=like.shape[-2:], mode="bilinear", align_corners=False)


def _resnet_stage(cin: int, cout: int, blocks: int, stride: int) -> nn.Sequential:
    """A torchvision ResNet ``layerN``: the first block changes resolution/width through a 1x1 projection."""
    down = None
    if stride != 1 or cin != cout:
        down = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))
    return nn.Sequential(BasicBlock(cin, cout, stride, down), *(BasicBlock(cout, cout) for _ in range(blocks - 1)))


class RefUnet(_ConvBNNet):
    """Residual refinement module: a 4-level U-Net that predicts a correction added to the coarse map."""

    def __init__(self, in_ch: int = 1, inc_ch: int = 64) -> None:
        super().__init__()
        self.conv0 = nn.Conv2d(in_ch, inc_ch, 3, padding=1)
        self._add_conv_bn("1", inc_ch, 64)
        for level in range(2, 6):
            self._add_conv_bn(str(level), 64, 64)
        for level in range(4, 0, -1):
            self._add_conv_bn(f"_d{level}", 128, 64)
        self.conv_d0 = nn.Conv2d(64, 1, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        skips: list[torch.Tensor] = []
        hx = self.conv0(x)
        for level in range(1, 5):
            skips.append(self._conv_bn_relu(str(level), hx))
            hx = _pool(skips[-1])
        hx = self._conv_bn_relu("5", hx)
        for level, skip in zip(range(4, 0, -1), reversed(skips), strict=True):
            hx = self._conv_bn_relu(f"_d{level}", torch.cat((_upsample_to(hx, skip), skip), 1))
        return x + self.conv_d0(hx)


class BASNetModel(_ConvBNNet):
    """The authors' BASNet(3, 1): encoder, bridge, decoder with deep supervision, refinement.

    ``forward`` returns, as the released code does, eight sigmoid maps at the input size: the refined map,
    then the side outputs d1 .. d6 of the decoder stages and the bridge's. Inputs should be multiples of
    32 on each side (the authors use 256) for the resizes to match the authors' fixed factors.
    ``stage6_bn`` names the BatchNorm after ``conv6d_2``: ``"6d_2"`` (the authors' current code) or ``"5d_2"``
    (their first release; see the module docstring).
    """

    def __init__(self, stage6_bn: str = "6d_2") -> None:
        super().__init__()
        if stage6_bn not in ("6d_2", "5d_2"):
            raise ValueError(f"stage6_bn must be '6d_2' or '5d_2', got {stage6_bn!r}")
        self.stage6_bn = stage6_bn
        self.inconv = nn.Conv2d(3, 64, 3, padding=1)
        self.inbn = nn.BatchNorm2d(64)
        self.encoder1 = _resnet_stage(64, 64, 3, 1)
        self.encoder2 = _resnet_stage(64, 128, 4, 2)
        self.encoder3 = _resnet_stage(128, 256, 6, 2)
        self.encoder4 = _resnet_stage(256, 512, 3, 2)
        for stage in (5, 6):
            for i in (1, 2, 3):
                self.add_module(f"resb{stage}_{i}", BasicBlock(512, 512))
        for part in ("1", "m", "2"):
            self._add_conv_bn(f"bg_{part}", 512, 512, dilation=2)
        for name, cin, mid, cout, dilation in DECODER:
            self._add_conv_bn(f"{name}_1", cin, mid)
            self._add_conv_bn(f"{name}_m", mid, mid, dilation)
            self._add_conv_bn(f"{name}_2", mid, cout, dilation)
        self.outconvb = nn.Conv2d(512, 1, 3, padding=1)
        for level, (*_, cout, _) in zip(range(6, 0, -1), DECODER, strict=True):
            self.add_module(f"outconv{level}", nn.Conv2d(cout, 1, 3, padding=1))
        self.refunet = RefUnet(1, 64)

    def _encode(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Encoder features h1 .. h6 at 1, 1/2, 1/4, 1/8, 1/16, 1/32 of the input."""
        h = self.encoder1(F.relu(self.inbn(self.inconv(x))))
        feats = [h]
        for stage in (self.encoder2, self.encoder3, self.encoder4):
            feats.append(stage(feats[-1]))
        for stage in (5, 6):
            h = _pool(feats[-1])
            for i in (1, 2, 3):
                h = self.get_submodule(f"resb{stage}_{i}")(h)
            feats.append(h)
        return feats

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        feats = self._encode(x)
        bridge = feats[-1]
        for part in ("1", "m", "2"):
            bridge = self._conv_bn_relu(f"bg_{part}", bridge)
        side = [_upsample_to(self.outconvb(bridge), x)]
        hx = bridge
        for (name, *_), skip, level in zip(DECODER, reversed(feats), range(6, 0, -1), strict=True):
            hx = self._conv_bn_relu(f"{name}_1", torch.cat((_upsample_to(hx, skip), skip), 1))
            last_bn = self.stage6_bn if name == "6d" else None
            hx = self._conv_bn_relu(f"{name}_2", self._conv_bn_relu(f"{name}_m", hx), bn=last_bn)
            side.append(_upsample_to(self.get_submodule(f"outconv{level}")(hx), x))
        d1 = side[-1]
        return tuple(torch.sigmoid(d) for d in (self.refunet(d1), *reversed(side)))


def _read_state_dict(path: Path) -> dict[str, torch.Tensor]:
    """The file's name -> tensor mapping, without a DataParallel ``module.`` prefix."""
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # a corrupt or foreign file fails in zipfile, pickle or torch itself
        raise ValueError(f"cannot read {path} as PyTorch weights: {err}") from err
    if not (isinstance(obj, Mapping) and obj and all(isinstance(v, torch.Tensor) for v in obj.values())):
        raise ValueError(f"{path} does not hold a state dict (names -> tensors) but a {type(obj).__name__}")
    if all(key.startswith("module.") for key in obj):
        return {key.removeprefix("module."): value for key, value in obj.items()}
    return dict(obj)


def _mismatches(expected: Mapping[str, torch.Tensor], state: Mapping[str, torch.Tensor], shown: int = 5) -> list[str]:
    """Missing, unexpected and mis-shaped names, a few of each; BatchNorm counters may be absent."""
    missing = [k for k in expected if k not in state and not k.endswith("num_batches_tracked")]
    unexpected = [k for k in state if k not in expected]
    shapes = [
        f"{k} {tuple(state[k].shape)} (expected {tuple(v.shape)})"
        for k, v in expected.items()
        if k in state and state[k].shape != v.shape
    ]
    return [
        f"{len(keys)} {what}: {', '.join(keys[:shown])}{', ...' if len(keys) > shown else ''}"
        for what, keys in (("missing", missing), ("unexpected", unexpected), ("with another shape", shapes))
        if keys
    ]


def _stage6_bn(state: Mapping[str, torch.Tensor]) -> str:
    """``"5d_2"`` when ``bn6d_2`` holds its initial values (a file of the authors' first release), else ``"6d_2"``."""
    initial = {"weight": 1.0, "bias": 0.0, "running_mean": 0.0, "running_var": 1.0}
    untouched = all(
        f"bn6d_2.{name}" in state and bool((state[f"bn6d_2.{name}"] == value).all()) for name, value in initial.items()
    )
    return "5d_2" if untouched else "6d_2"


def load_basnet(weights: str | Path) -> BASNetModel:
    """The network with ``weights`` loaded (on the CPU, in eval mode), or an error naming what does not fit."""
    path = Path(weights)
    if not path.is_file():
        raise FileNotFoundError(f"BASNet weights file not found: {path}")
    state = _read_state_dict(path)
    with torch.device("meta"):  # names and shapes only: skip initializing 87M parameters that are overwritten
        model = BASNetModel(stage6_bn=_stage6_bn(state))
    expected = model.state_dict()
    problems = _mismatches(expected, state)
    if problems:
        raise ValueError(f"{path} is not a BASNet state dict (authors' model/BASNet.py): " + "; ".join(problems))
    full = {k: state[k].to(v.dtype) if k in state else torch.zeros((), dtype=v.dtype) for k, v in expected.items()}
    model.load_state_dict(full, assign=True)
    return model.eval()


def _preprocess(image: np.ndarray, size: int) -> torch.Tensor:
    """The authors' test transform: bilinear resize, divide by the maximum, ImageNet mean/std; 3 x size x size."""
    x = cv2.resize(image.astype(np.float32), (size, size), interpolation=cv2.INTER_LINEAR)
    top = float(x.max())
    if top > 0:  # an all-black image stays 0 instead of the authors' 0/0
        x /= top
    return torch.from_numpy(((x - IMAGENET_MEAN) / IMAGENET_STD).transpose(2, 0, 1).copy())


def _min_max(maps: torch.Tensor) -> torch.Tensor:
    """Per-map min-max normalization (the authors' normPRED); a constant map becomes 0."""
    lo = maps.amin(dim=(-2, -1), keepdim=True)
    span = maps.amax(dim=(-2, -1), keepdim=True) - lo
    return (maps - lo) / span.clamp_min(torch.finfo(maps.dtype).tiny)


class BASNet:
    """BASNet saliency from the authors' weights file (see the module docstring for where to get it).

    ``autocast`` (e.g. ``torch.bfloat16``) runs the network under mixed precision; off by default so that
    maps match the authors' float32 ones.
    """

    def __init__(
        self,
        weights: str | Path,
        device: str | torch.device | None = None,
        batch_size: int = 8,
        autocast: torch.dtype | None = None,
    ) -> None:
        if batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, got {batch_size}")
        if device is None:
            device = "cuda" if torch.cuda.is_available() else "cpu"
        self.device = torch.device(device)
        self.batch_size = batch_size
        self.autocast = autocast
        self.weights = Path(weights)
        self.net = load_basnet(weights).to(self.device)
        self._weights_digest: str | None = None

    def parameters(self) -> dict[str, Any]:
        """What the maps depend on (what a mask folder records): the weights file's contents (a digest, not its
        path: a copy elsewhere gives the same maps) and the precision; not the device or the batch size."""
        if self._weights_digest is None:
            h = hashlib.sha256()
            with open(self.weights, "rb") as f:
                while block := f.read(1 << 20):
                    h.update(block)
            self._weights_digest = h.hexdigest()[:16]
        return {"weights_sha256": self._weights_digest, "autocast": str(self.autocast) if self.autocast else None}

    def __call__(self, image: np.ndarray) -> np.ndarray:
        return self.predict_batch([image])[0]

    def predict_batch(self, images: Sequence[np.ndarray]) -> list[np.ndarray]:
        """H x W float32 maps in [0, 1], one per image (sizes may differ), run ``batch_size`` at a time."""
        for image in images:
            check_image(image)
        maps: list[np.ndarray] = []
        for start in range(0, len(images), self.batch_size):
            chunk = images[start : start + self.batch_size]
            refined = _min_max(self._refined(torch.stack([_preprocess(im, INPUT_SIZE) for im in chunk])))
            for saliency, image in zip(refined.cpu().numpy(), chunk, strict=True):
                back = cv2.resize(saliency, (image.shape[1], image.shape[0]), interpolation=cv2.INTER_LINEAR)
                maps.append(np.clip(back, 0.0, 1.0))
        return maps

    @torch.inference_mode()
    def _refined(self, batch: torch.Tensor) -> torch.Tensor:
        """The sigmoid of the refined map, N x 256 x 256 float32."""
        with torch.autocast(self.device.type, dtype=self.autocast, enabled=self.autocast is not None):
            return self.net(batch.to(self.device))[0][:, 0].float()
