import pytest
import torch
import torch.nn.functional as F
from torch import nn

from pretrain.moco import MomentumContrast, grouped_forward, shuffled_keys
from pretrain.models import EmbeddingModel


class Pool(nn.Module):
    """A BN-free backbone: per-sample outputs whatever the batch."""

    out_channels = 3

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.mean((2, 3))


class BatchMean(nn.Module):
    """Each sample's output is the mean of its batch: what batch norm lets leak between samples."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.mean(0, keepdim=True).expand_as(x)


def test_without_batch_statistics_shuffling_changes_no_key():
    encoder = nn.Linear(5, 3)
    images = torch.randn(8, 5)
    torch.testing.assert_close(shuffled_keys(encoder, images, 4, seed=0, step=3), encoder(images))


def test_groups_normalize_apart_and_keys_are_shuffled_across_them():
    images = torch.arange(8.0).view(8, 1)
    queries = grouped_forward(BatchMean(), images, 2)
    assert torch.equal(queries[:4], torch.full((4, 1), 1.5)) and torch.equal(queries[4:], torch.full((4, 1), 5.5))
    keys = [shuffled_keys(BatchMean(), images, 2, seed=0, step=step) for step in range(10)]
    # each key is the mean of its group: half of the batch (4 images), drawn anew every step
    assert all(torch.allclose(k.mean(), torch.tensor(3.5)) and len(k.unique()) <= 2 for k in keys)
    assert any(not torch.equal(k, queries) for k in keys)
    assert torch.equal(keys[3], shuffled_keys(BatchMean(), images, 2, seed=0, step=3))  # a function of (seed, step)


def _moco(momentum: float = 0.9, queue: int = 8) -> tuple[EmbeddingModel, MomentumContrast]:
    torch.manual_seed(0)
    model = EmbeddingModel(Pool(), 4, head="mlp")
    return model, MomentumContrast(model, 4, queue, momentum, temperature=0.2, bn_groups=1, seed=0)


def test_key_encoder_follows_the_query_encoder_by_momentum():
    model, moco = _moco(momentum=0.9)
    before = {k: v.clone() for k, v in moco.key_encoder.state_dict().items()}
    with torch.no_grad():
        for p in model.parameters():
            p.add_(1.0)
    moco.update_key_encoder(model)
    for name, p in moco.key_encoder.named_parameters():
        torch.testing.assert_close(p, 0.9 * before[name] + 0.1 * (before[name] + 1.0))
        assert not p.requires_grad


def test_loss_is_infonce_against_the_key_and_the_queue_then_keys_are_enqueued():
    model, moco = _moco(momentum=1.0)  # the key encoder stays the initial copy
    queries, keys = torch.rand(4, 3, 8, 8), torch.rand(4, 3, 8, 8)
    queue = moco.queue.keys.clone()
    loss = moco(model, model, queries, keys, step=0)
    q, k = model(queries), model(keys).detach()
    logits = torch.cat([(q * k).sum(1, keepdim=True), q @ queue.T], dim=1) / 0.2
    torch.testing.assert_close(loss, F.cross_entropy(logits, torch.zeros(4, dtype=torch.long)))
    torch.testing.assert_close(moco.queue.keys[:4], k)
    assert int(moco.queue.pointer) == 4
    loss.backward()
    assert all(p.grad is not None for p in model.parameters())
    assert all(p.grad is None for p in moco.key_encoder.parameters())


def test_similarities_are_the_mean_cosines_of_the_steps_since_the_last_call():
    model, moco = _moco(momentum=1.0)
    assert moco.similarities() == {}
    expected = []
    for step in range(2):
        queries, keys = torch.rand(4, 3, 8, 8), torch.rand(4, 3, 8, 8)
        queue = moco.queue.keys.clone()
        moco(model, model, queries, keys, step=step)
        with torch.no_grad():
            q, k = model(queries), model(keys)
        cross = q @ k.T
        others = cross[~torch.eye(4, dtype=torch.bool)]
        expected.append([cross.diagonal().mean(), others.mean(), (q @ queue.T).mean()])
    means = torch.tensor(expected).mean(0).tolist()
    got = moco.similarities()
    assert list(got) == ["moco_positive", "moco_batch", "moco_queue"]
    assert list(got.values()) == pytest.approx(means, abs=1e-6)
    assert moco.similarities() == {}  # reset by the call
    assert "similarity_sums" not in moco.state_dict()  # a checkpoint stays what it was
