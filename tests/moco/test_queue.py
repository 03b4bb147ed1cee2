import pytest
import torch

from pretrain.moco import KeyQueue


def test_push_overwrites_the_oldest_rows_and_wraps_around():
    queue = KeyQueue(6, 4, seed=0)
    assert torch.allclose(queue.keys.norm(dim=1), torch.ones(6))
    first, second = torch.full((2, 4), 1.0), torch.full((2, 4), 2.0)
    queue.push(first)
    queue.push(second)
    assert int(queue.pointer) == 4
    assert torch.equal(queue.keys[:2], first) and torch.equal(queue.keys[2:4], second)
    queue.push(torch.full((2, 4), 3.0))
    queue.push(torch.full((2, 4), 4.0))  # the oldest (rows 0-1) go first
    assert int(queue.pointer) == 2 and torch.equal(queue.keys[:2], torch.full((2, 4), 4.0))


def test_a_batch_that_does_not_divide_the_queue_is_refused():
    with pytest.raises(ValueError, match="not a multiple of the 4 keys"):
        KeyQueue(6, 4).push(torch.zeros(4, 4))


def test_the_queue_is_in_the_state_dict_and_seeded():
    a, b = KeyQueue(8, 4, seed=3), KeyQueue(8, 4, seed=3)
    assert torch.equal(a.keys, b.keys) and not torch.equal(a.keys, KeyQueue(8, 4, seed=4).keys)
    assert set(a.state_dict()) == {"keys", "pointer"}
