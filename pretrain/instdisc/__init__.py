"""Instance discrimination with a memory bank: the bank, the losses and the kNN monitor."""

from .instance_discrimination import InstanceDiscrimination
from .knn import knn_accuracy, knn_predict
from .loss import nce_loss, softmax_nce_loss
from .memory_bank import MemoryBank

__all__ = ["InstanceDiscrimination", "MemoryBank", "knn_accuracy", "knn_predict", "nce_loss", "softmax_nce_loss"]
