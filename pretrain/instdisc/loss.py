"""The two losses of instance discrimination, as functions of bank similarities.

``pos`` (B,) holds f_i . m_i for each sample's own bank entry, ``neg`` (B, K) its similarities
to K bank entries drawn uniformly (the noise distribution P_n = 1/N).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def softmax_nce_loss(pos: torch.Tensor, neg: torch.Tensor, temperature: float) -> torch.Tensor:
    """Cross-entropy of the positive among K + 1 candidates, logits = similarity / tau.

    The paper's choice ("softmax-NCE"; the form MoCo calls InfoNCE).
    """
    logits = torch.cat([pos.unsqueeze(1), neg], dim=1) / temperature
    target = torch.zeros(logits.shape[0], dtype=torch.long, device=logits.device)
    return F.cross_entropy(logits.float(), target)


def nce_normalizer(pos: torch.Tensor, neg: torch.Tensor, temperature: float, num_data: int) -> torch.Tensor:
    """Z ~= N * E[exp(v . f / tau)], estimated once from the first batch as InstDisc does."""
    return torch.cat([pos.unsqueeze(1), neg], dim=1).float().div(temperature).exp().mean() * num_data


def nce_loss(pos: torch.Tensor, neg: torch.Tensor, temperature: float, z: torch.Tensor, num_data: int) -> torch.Tensor:
    """InstDisc's original NCE: binary classification of data (P = exp(s/tau)/Z) vs noise (K/N).

    loss = -log h(pos) - sum_k log(1 - h(neg_k)),  h(x) = P(x) / (P(x) + K/N).
    Computed in log space: log h = -softplus(log(K/N) - log P).
    """
    k = neg.shape[1]
    log_noise = torch.log(torch.tensor(k / num_data, dtype=torch.float32, device=pos.device))
    log_p_pos = pos.float() / temperature - torch.log(z)
    log_p_neg = neg.float() / temperature - torch.log(z)
    loss_pos = F.softplus(log_noise - log_p_pos)  # -log h(pos)
    loss_neg = F.softplus(log_p_neg - log_noise).sum(dim=1)  # -log(1 - h(neg))
    return (loss_pos + loss_neg).mean()
