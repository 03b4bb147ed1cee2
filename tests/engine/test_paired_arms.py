"""Two arms with one SEED share every draw that copy-paste does not change (common random numbers).

Paired comparisons (``pretrain/reproduce/pairing.py``) rest on this: with copy-paste on or off,
a seed gives the same initial weights, bank, data order, crop boxes, photometric draws and
negatives, so the arms differ only in the composites.
"""

import pytest
import torch

from pretrain.engine import Trainer


def _first_step(tiny_cfg, prob: str, backend: str) -> tuple[Trainer, dict]:
    cfg = tiny_cfg.clone()
    cfg.merge_from_list(["COPY_PASTE.PROB", prob, "DATA.EMBEDDED.MASKS", "true", "INPUT.BACKEND", backend])
    trainer = Trainer(cfg, torch.device("cpu"))
    trainer.resume_or_start(False)
    return trainer, next(iter(trainer.loader))


@pytest.mark.parametrize("backend", ["cpu", "resident"])
def test_copy_paste_changes_only_the_composites(tiny_cfg, one_thread, backend):
    (base, b0), (paste, b1) = _first_step(tiny_cfg, "0.0", backend), _first_step(tiny_cfg, "0.5", backend)
    for key, value in base.model.state_dict().items():
        torch.testing.assert_close(paste.model.state_dict()[key], value, rtol=0, atol=0)
    torch.testing.assert_close(paste.criterion.bank.features, base.criterion.bank.features, rtol=0, atol=0)
    assert torch.equal(b0["index"], b1["index"])  # data order
    pasted = b1["pasted"].bool()
    assert 0 < pasted.sum() < len(pasted) and not b0["pasted"].any()
    assert torch.equal(b0["image"][~pasted], b1["image"][~pasted])  # same crops, same photometric draws
    assert not torch.equal(b0["image"][pasted], b1["image"][pasted])
    negatives = [t.criterion.sample_negatives(len(b0["index"]), step=0) for t in (base, paste)]
    assert torch.equal(*negatives)
