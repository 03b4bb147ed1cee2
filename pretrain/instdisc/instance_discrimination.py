"""Non-parametric instance discrimination: bank look-up, negative sampling, loss, bank update."""

from __future__ import annotations

import torch
from torch import nn

from pretrain.config.defaults import LOSSES
from pretrain.utils import comm
from pretrain.utils.seed import derive_seed

from .loss import nce_loss, nce_normalizer, softmax_nce_loss
from .memory_bank import MemoryBank

# Per-sample negatives copy B x K bank rows (B x K x D floats) before one product each. A bank of at most
# this many times K rows is cheaper scored whole, one (B, D) x (D, N) product on a copy of the bank (N x D),
# and the negatives picked from it: the same values up to float rounding, a smaller copy (the demo: 2,000
# rows, K 1,024, a 24 % shorter step on the CPU; ImageNet's 1.28M rows are gathered).
DENSE_BANK_RATIO = 4


class InstanceDiscrimination(nn.Module):
    """Scores each embedding against its own bank entry and K uniformly drawn ones.

    Negatives are a pure function of (seed, step, rank): per-sample draws use a per-rank
    stream, batch-shared draws use one stream for all ranks, so a run is reproducible and
    resumable without saving generator state. ``forward`` returns the loss and then updates
    the bank with the features of *all* ranks.
    """

    def __init__(
        self,
        bank: MemoryBank,
        num_negatives: int = 4096,
        temperature: float = 0.07,
        loss: str = "softmax_nce",
        shared_negatives: bool = False,
        seed: int = 0,
    ):
        super().__init__()
        if loss not in LOSSES:
            raise ValueError(f"INSTDISC.LOSS must be one of {LOSSES}, got {loss!r}")
        if not num_negatives > 0:
            raise ValueError(f"INSTDISC.NUM_NEGATIVES must be positive, got {num_negatives}")
        self.bank = bank
        self.num_negatives = num_negatives
        self.temperature = temperature
        self.loss = loss
        self.shared_negatives = shared_negatives
        self.seed = seed
        # NCE's normalization constant, estimated on the first step and kept afterwards.
        self.register_buffer("nce_z", torch.tensor(-1.0))
        self._generator: torch.Generator | None = None

    def sample_negatives(self, batch: int, step: int) -> torch.Tensor:
        """(batch, K) indices, or (K,) when shared, drawn uniformly from [0, N)."""
        device = self.bank.features.device
        if self._generator is None or self._generator.device != device:
            self._generator = torch.Generator(device)
        stream = 0 if self.shared_negatives else 1 + comm.get_rank()
        self._generator.manual_seed(derive_seed(self.seed, stream, step))
        shape = (self.num_negatives,) if self.shared_negatives else (batch, self.num_negatives)
        return torch.randint(len(self.bank), shape, device=device, generator=self._generator)

    def similarities(
        self, features: torch.Tensor, indices: torch.Tensor, step: int
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """(pos (B,), neg (B, K)) cosine similarities to the bank, in float32."""
        f = features.float()
        pos = (self.bank.get(indices) * f).sum(dim=1)
        neg_idx = self.sample_negatives(f.shape[0], step)
        if self.shared_negatives:
            neg = f @ self.bank.get(neg_idx).T
        elif len(self.bank) <= DENSE_BANK_RATIO * self.num_negatives:
            bank = self.bank.features.clone()  # backward needs it as it is now; the update follows before
            neg = (f @ bank.T).gather(1, neg_idx)  # a small bank: score it all, pick the negatives
        else:
            neg = torch.bmm(self.bank.get(neg_idx), f.unsqueeze(2)).squeeze(2)
        return pos, neg

    def forward(self, features: torch.Tensor, indices: torch.Tensor, step: int) -> torch.Tensor:
        pos, neg = self.similarities(features, indices, step)
        if self.loss == "softmax_nce":
            loss = softmax_nce_loss(pos, neg, self.temperature)
        else:
            if self.nce_z < 0:
                z = nce_normalizer(pos.detach(), neg.detach(), self.temperature, len(self.bank))
                self.nce_z.copy_(comm.all_reduce_sum(z) / comm.get_world_size())
            loss = nce_loss(pos, neg, self.temperature, self.nce_z, len(self.bank))
        self.bank.update(comm.all_gather(features.detach().float()), comm.all_gather(indices))
        return loss
