import torch

from pretrain.data import build_eval_dataset, dataset_roots, eval_loader
from pretrain.engine.features import extract_features
from pretrain.models import build_model


def test_features_come_back_in_dataset_order(tiny_cfg):
    _, val_root = dataset_roots(tiny_cfg)
    ds = build_eval_dataset(tiny_cfg, val_root)
    model = build_model(tiny_cfg).eval()
    out = extract_features(model, eval_loader(ds, 256, 0), len(ds), torch.device("cpu"))
    assert out["features"].shape == (16, model.backbone.out_channels)
    assert torch.equal(out["labels"], ds.labels)
    with torch.no_grad():
        f, e = model.forward_with_features(ds[5]["image"][None])
    assert torch.allclose(out["features"][5], f[0], atol=1e-5)
    assert torch.allclose(out["embeddings"][5], e[0], atol=1e-5)


def _rows(num: int) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    return torch.randn(num, 3, 2, 2, generator=g), torch.arange(num) % 3


def _loader(images: torch.Tensor, labels: torch.Tensor, rank: int, world: int) -> list[dict[str, torch.Tensor]]:
    """This rank's shard as eval_loader cuts it (every world-th row), in batches of 2."""
    index = torch.arange(rank, len(images), world)
    return [{"image": images[i], "index": i, "label": labels[i]} for i in index.split(2)]


def _forward(x: torch.Tensor) -> dict[str, torch.Tensor]:
    return {"features": x.flatten(1) * 1.001, "pooled": x.mean((2, 3))}


def _gather_worker(rank: int, world: int, init: str, out: str) -> None:
    import torch.distributed as dist

    from pretrain.engine import features

    dist.init_process_group("gloo", init_method=init, rank=rank, world_size=world)
    features.GATHER_ROWS = 2  # several all-gather steps over the padded shards of 4 rows
    images, labels = _rows(7)
    result = features.gather_outputs(_forward, _loader(images, labels, rank, world), 7, torch.device("cpu"))
    torch.save(result, f"{out}/rank{rank}.pt")
    dist.destroy_process_group()


def test_two_ranks_gather_the_single_process_rows_on_the_cpu(tmp_path):
    from pretrain.engine.features import gather_outputs

    images, labels = _rows(7)
    single = gather_outputs(_forward, _loader(images, labels, 0, 1), 7, torch.device("cpu"))
    assert torch.equal(single["labels"], labels) and torch.equal(single["pooled"], images.mean((2, 3)))
    torch.multiprocessing.spawn(_gather_worker, args=(2, f"file://{tmp_path}/init", str(tmp_path)), nprocs=2)
    for rank in range(2):
        ranked = torch.load(tmp_path / f"rank{rank}.pt")
        assert ranked.keys() == single.keys()
        assert all(torch.equal(ranked[k], single[k]) and ranked[k].device.type == "cpu" for k in single)


def test_rows_are_stored_in_the_requested_precision():
    from pretrain.engine.features import gather_outputs

    images, labels = _rows(5)
    half = gather_outputs(_forward, _loader(images, labels, 0, 1), 5, torch.device("cpu"), dtype=torch.float16)
    assert half["features"].dtype == torch.float16 and half["labels"].dtype == torch.long
    assert torch.equal(half["features"], _forward(images)["features"].half())
