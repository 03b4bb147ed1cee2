import torch

from pretrain.data import build_eval_dataset, build_eval_loader, dataset_roots
from pretrain.models import build_model
from pretrain.probe import extract_features


def test_features_come_back_in_dataset_order(tiny_cfg):
    _, val_root = dataset_roots(tiny_cfg)
    ds = build_eval_dataset(tiny_cfg, val_root)
    model = build_model(tiny_cfg).eval()
    out = extract_features(model, build_eval_loader(tiny_cfg, ds), len(ds), torch.device("cpu"))
    assert out["features"].shape == (16, model.backbone.out_channels)
    assert torch.equal(out["labels"], ds.labels)
    with torch.no_grad():
        f, e = model.forward_with_features(ds[5]["image"][None])
    assert torch.allclose(out["features"][5], f[0], atol=1e-5)
    assert torch.allclose(out["embeddings"][5], e[0], atol=1e-5)
