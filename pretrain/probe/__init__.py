"""The evaluation layer: linear probes (the paper's protocol and fast) and kNN on a frozen model.

What these share with the kNN monitor and diagnosis lives once, at the lowest layer that needs it:
the frozen model in ``pretrain.models.frozen`` (loaded by ``pretrain.models.weights.load_frozen``),
the labeled dataset in ``pretrain.data.labeled``, the feature extractor and the L-BFGS fit in
``pretrain.engine`` (the monitor runs inside the trainer, so they cannot sit above it). This
package adds the protocols on top and trains its linear layer with the engine's solver and
checkpoints; it imports only downward (engine, data, models, utils), and diagnosis builds on it.
"""

from .defaults import get_probe_cfg, load_probe_config
from .knn_eval import run_knn
from .protocol import run_linear_probe

__all__ = ["get_probe_cfg", "load_probe_config", "run_knn", "run_linear_probe"]
