"""BASNet: the authors' parameter layout, the forward pass, the weights loader's checks and the method contract.

The real ``basnet.pth`` is not available to tests; a randomly initialized network saved to a file stands
in for it. Inference runs at 32 px (the smallest input the six encoder stages allow) to stay fast.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import torch
import torchvision

from pretrain.saliency import basnet
from pretrain.saliency.basnet import BASNet, BASNetModel, load_basnet
from pretrain.saliency.registry import build_saliency
from tests.conftest import REPO

# From the authors' model/BASNet.py (NathanUA/BASNet): BASNet(3, 1) with torchvision ResNet-34 layer1-4.
NUM_TENSORS = 517  # 439 weights / biases / BatchNorm statistics + 78 BatchNorm num_batches_tracked
NUM_PARAMETERS = 87_060_360
TOP_LEVEL = [
    "inconv",
    "inbn",
    *(f"encoder{i}" for i in range(1, 5)),
    *(f"resb{s}_{i}" for s in (5, 6) for i in (1, 2, 3)),
    *(f"{kind}bg_{p}" for p in ("1", "m", "2") for kind in ("conv", "bn")),
    *(f"{kind}{s}d_{p}" for s in range(6, 0, -1) for p in ("1", "m", "2") for kind in ("conv", "bn")),
    "outconvb",
    *(f"outconv{i}" for i in range(6, 0, -1)),
    "refunet",
]
REFERENCE_SHAPES = {
    "inconv.weight": (64, 3, 3, 3),
    "inbn.running_var": (64,),
    "encoder1.0.conv1.weight": (64, 64, 3, 3),
    "encoder2.0.downsample.0.weight": (128, 64, 1, 1),
    "encoder2.0.downsample.1.num_batches_tracked": (),
    "encoder3.5.bn2.weight": (256,),
    "encoder4.2.conv2.weight": (512, 512, 3, 3),
    "resb5_1.conv1.weight": (512, 512, 3, 3),
    "resb6_3.bn2.running_mean": (512,),
    "convbg_1.weight": (512, 512, 3, 3),
    "convbg_m.bias": (512,),
    "bnbg_2.weight": (512,),
    "conv6d_1.weight": (512, 1024, 3, 3),
    "conv4d_2.weight": (256, 512, 3, 3),
    "conv3d_1.weight": (256, 512, 3, 3),
    "bn2d_m.running_var": (128,),
    "conv1d_1.weight": (64, 128, 3, 3),
    "outconvb.weight": (1, 512, 3, 3),
    "outconv4.weight": (1, 256, 3, 3),
    "outconv1.bias": (1,),
    "refunet.conv0.weight": (64, 1, 3, 3),
    "refunet.bn5.weight": (64,),
    "refunet.conv_d4.weight": (64, 128, 3, 3),
    "refunet.conv_d0.weight": (1, 64, 3, 3),
}

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def state() -> dict[str, torch.Tensor]:
    torch.manual_seed(0)
    return BASNetModel().state_dict()


@pytest.fixture(scope="module")
def weights(state: dict[str, torch.Tensor], tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("basnet") / "basnet.pth"
    torch.save(state, path)
    return path


@pytest.fixture(scope="module")
def method(weights: Path) -> BASNet:
    return BASNet(str(weights), device="cpu", batch_size=2)


@pytest.fixture
def small_input(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(basnet, "INPUT_SIZE", 32)


def _image(h: int, w: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)


def test_layout_matches_the_authors_released_model() -> None:
    with torch.device("meta"):
        model = BASNetModel()
    sd = model.state_dict()
    assert len(sd) == NUM_TENSORS
    assert sum(p.numel() for p in model.parameters()) == NUM_PARAMETERS
    assert list(dict.fromkeys(k.split(".")[0] for k in sd)) == TOP_LEVEL
    assert {k: tuple(sd[k].shape) for k in REFERENCE_SHAPES} == REFERENCE_SHAPES


def test_forward_returns_eight_sigmoid_maps_at_input_size(method: BASNet) -> None:
    with torch.no_grad():
        outputs = method.net(torch.randn(1, 3, 64, 64))
    assert len(outputs) == 8  # refined, d1 .. d6, bridge
    for out in outputs:
        assert out.shape == (1, 1, 64, 64)
        assert 0 <= out.min() <= out.max() <= 1


@pytest.mark.usefixtures("small_input")
def test_weights_round_trip_and_map_contract(method: BASNet, state: dict[str, torch.Tensor]) -> None:
    loaded = method.net.state_dict()
    assert all(torch.equal(loaded[k], v) for k, v in state.items())
    image = _image(45, 70, seed=1)
    saliency = method(image)
    assert saliency.shape == (45, 70) and saliency.dtype == np.float32
    assert 0 <= saliency.min() <= saliency.max() <= 1 and saliency.max() > saliency.min()
    np.testing.assert_array_equal(method.predict_batch([image])[0], saliency)
    batched = method.predict_batch([_image(20, 33, seed=2), image, _image(64, 40, seed=3)])  # two batches of 2
    assert [m.shape for m in batched] == [(20, 33), (45, 70), (64, 40)]
    np.testing.assert_allclose(batched[1], saliency, atol=1e-4)
    assert method.predict_batch([]) == []


@pytest.mark.usefixtures("small_input")
def test_autocast_gives_a_float32_map_close_to_full_precision(method: BASNet, monkeypatch: pytest.MonkeyPatch) -> None:
    image = _image(40, 50, seed=4)
    full = method(image)
    monkeypatch.setattr(method, "autocast", torch.bfloat16)
    mixed = method(image)
    assert mixed.dtype == np.float32 and 0 <= mixed.min() <= mixed.max() <= 1
    assert np.abs(mixed - full).mean() < 0.05


@pytest.mark.parametrize("variant", ["dataparallel", "no_batch_counters"])
def test_loads_dataparallel_and_pre_0_4_1_files(variant: str, state: dict[str, torch.Tensor], tmp_path: Path) -> None:
    if variant == "dataparallel":
        saved = {f"module.{k}": v for k, v in state.items()}
    else:
        saved = {k: v for k, v in state.items() if not k.endswith("num_batches_tracked")}
    path = tmp_path / "basnet.pth"
    torch.save(saved, path)
    model = load_basnet(path)
    assert not model.training
    assert torch.equal(model.state_dict()["refunet.conv_d0.weight"], state["refunet.conv_d0.weight"])


def test_missing_file_names_the_path(tmp_path: Path) -> None:
    path = tmp_path / "nowhere" / "basnet.pth"
    with pytest.raises(FileNotFoundError, match=str(path)):
        BASNet(str(path), device="cpu")


@pytest.mark.parametrize(
    ("content", "detail"),
    [
        (lambda: torchvision.models.resnet18().state_dict(), "missing: inconv.weight.*unexpected: conv1.weight"),
        (lambda: {"inconv.weight": torch.zeros(64, 1, 3, 3)}, r"inconv.weight \(64, 1, 3, 3\) \(expected \(64, 3"),
        (lambda: [torch.zeros(3)], "not hold a state dict"),
        (lambda: b"\x00 not a checkpoint", "cannot read"),
    ],
    ids=["resnet18", "wrong_shape", "list", "corrupt"],
)
def test_wrong_file_is_a_value_error_naming_path_and_keys(
    content: Callable[[], object], detail: str, tmp_path: Path
) -> None:
    path = tmp_path / "weights.pth"
    obj = content()
    if isinstance(obj, bytes):
        path.write_bytes(obj)
    else:
        torch.save(obj, path)
    with pytest.raises(ValueError, match=str(path)) as err:
        load_basnet(path)
    assert err.match(detail)


@pytest.mark.parametrize(
    "image",
    [np.zeros((8, 8), np.uint8), np.zeros((8, 8, 3), np.float32), np.zeros((8, 8, 4), np.uint8)],
    ids=["gray", "float", "rgba"],
)
def test_bad_image_is_a_value_error(method: BASNet, image: np.ndarray) -> None:
    with pytest.raises(ValueError, match="H x W x 3 uint8"):
        method(image)
    with pytest.raises(ValueError, match="H x W x 3 uint8"):
        method.predict_batch([_image(8, 8, seed=0), image])


def test_parameters_name_the_weights_by_their_contents(method: BASNet, weights: Path, tmp_path: Path) -> None:
    """A mask folder records the weights file's digest, not its path: a copy gives the same record."""
    copy = tmp_path / "elsewhere.pth"
    copy.write_bytes(weights.read_bytes())
    params = method.parameters()
    assert params == BASNet(str(copy), device="cpu").parameters() and params["autocast"] is None
    assert len(params["weights_sha256"]) == 16 and str(weights) not in str(params)
    assert BASNet(str(copy), device="cpu", autocast=torch.bfloat16).parameters()["autocast"] == "torch.bfloat16"


def test_registered_under_its_name_and_imported_when_built(weights: Path) -> None:
    """``--method basnet`` builds the network; the classic methods' workers never import torch for it."""
    assert isinstance(build_saliency("basnet", weights=str(weights)), BASNet)
    code = "import sys, pretrain.saliency.batch as b; b._init_worker('rbd', {}, 0, None); print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"


def _d6_after_changing(model: BASNetModel, bn: str, x: torch.Tensor) -> torch.Tensor:
    """Stage 6's side output before and after perturbing the BatchNorm ``bn`` in place (stacked)."""
    with torch.no_grad():
        before = model(x)[6]
        layer = model.get_submodule(bn)
        layer.weight.mul_(3.0)
        layer.bias.add_(2.0)
        layer.running_mean.add_(0.2)
        after = model(x)[6]
    return torch.stack([before, after])


@pytest.mark.parametrize(
    ("trained_bn6d_2", "used", "unused"),
    [(False, "bn5d_2", "bn6d_2"), (True, "bn6d_2", "bn5d_2")],
    ids=["first_release", "current_release"],
)
def test_stage6_decodes_with_the_batchnorm_its_file_was_trained_with(
    state: dict[str, torch.Tensor], tmp_path: Path, trained_bn6d_2: bool, used: str, unused: str
) -> None:
    # The authors' first release applied bn5d_2 after conv6d_2 (bn6d_2 stayed at its initial values);
    # their commit "bn6d_2" switched to bn6d_2 together with the weights link.
    saved = dict(state)
    if trained_bn6d_2:
        saved["bn6d_2.running_var"] = torch.full_like(state["bn6d_2.running_var"], 2.0)
    path = tmp_path / "basnet.pth"
    torch.save(saved, path)
    x = torch.randn(1, 3, 64, 64, generator=torch.Generator().manual_seed(5))
    unchanged = _d6_after_changing(load_basnet(path), unused, x)
    torch.testing.assert_close(unchanged[0], unchanged[1], rtol=0, atol=0)
    changed = _d6_after_changing(load_basnet(path), used, x)
    assert (changed[0] - changed[1]).abs().max() > 1e-2


def test_unknown_stage6_batchnorm_is_refused() -> None:
    with pytest.raises(ValueError, match="stage6_bn"):
        BASNetModel(stage6_bn="4d_2")
