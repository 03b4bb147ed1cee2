"""Every option of the probes (linear probe and kNN on a frozen backbone), with its default, in one place.

Defaults are the paper's linear protocol (InstDisc / MoCo): SGD lr 30, momentum 0.9, no weight
decay, 100 epochs with lr x0.1 every 30, batch 256, RandomResizedCrop(224) + flip for training,
resize 256 + center crop 224 for testing, on the backbone's pooled penultimate features.
``configs/probe/*.yaml`` name the data sets; ``KEY VALUE`` pairs override anything.

A key that means what a pretraining key means has the pretraining key's name (MODEL.BACKBONE.*,
DATA.SOURCE, DATA.TRAIN_ROOT / VAL_ROOT, TEST.KNN_*), so one vocabulary serves pretraining,
probes, kNN and diagnosis; the probes' older names are refused with their new name (RENAMED).
"""

from collections.abc import Sequence

from fvcore.common.config import CfgNode as CN

from pretrain.config import load_config
from pretrain.config.defaults import SCHEDULES
from pretrain.config.rules import AT_LEAST_ONE, NON_NEGATIVE, POSITIVE, PROBABILITY, OneOf, Within

# The string options' values; the code that branches on them imports these.
SOURCES = ("folder", "list", "places365")  # DATA.SOURCE
NORMS = ("none", "bn")  # MODEL.FEATURE_NORM
FAST_SOLVERS = ("sgd", "lbfgs")  # FAST.SOLVER
SPACES = ("auto", "embedding", "penultimate")  # TEST.KNN_FEATURES
ALEXNET_LAYERS = ("conv5", "fc7")  # MODEL.ALEXNET_LAYER

_C = CN()
_C.OUTPUT_DIR = "output/probe"  # probe_last.pth, metrics.jsonl, log.txt, config.yaml, results JSON
_C.SEED = 0  # seeds the linear layer, data order and augmentations (and a "random" backbone)

# ---------------------------------------------------------------------------------------------
_C.MODEL = CN()
# A dilo pretraining checkpoint, a converted backbone .pth (tools/convert.py), a torchvision
# state dict (the supervised baseline), or "random" (an untrained MODEL.BACKBONE, for reference).
_C.MODEL.WEIGHTS = ""
_C.MODEL.BACKBONE = CN()  # "random" only (weights files name their own backbone)
_C.MODEL.BACKBONE.NAME = "resnet50"  # a BACKBONE_REGISTRY name
_C.MODEL.BACKBONE.WIDTH = 1.0  # channel multiplier
_C.MODEL.BACKBONE.CIFAR_STEM = False  # 3x3 stride-1 stem for small images
# What the linear layer sees: "none" (the paper's protocol: raw pooled features) or "bn"
# (a BatchNorm1d without affine parameters first, which makes lr 30 safe for any feature scale).
_C.MODEL.FEATURE_NORM = "none"
# The layer an AlexNet is probed at (other backbones: their pooled penultimate features):
# "conv5" (pool5, then the 6 x 6 average pool fc6 reads, flattened: 9,216 values) or "fc7" (4,096).
# conv5 is what InstDisc's AlexNet linear protocol reads (its Table 1 gives conv1-conv5, the best at
# conv5), and the paper's Table 3 compares with InstDisc-era AlexNet numbers without naming a layer,
# so conv5 is its most likely reading. The embedding head reads fc7, so at conv5 an AlexNet file's
# kNN compares conv5 features (TEST.KNN_FEATURES embedding needs ALEXNET_LAYER fc7).
_C.MODEL.ALEXNET_LAYER = "conv5"

# ---------------------------------------------------------------------------------------------
_C.DATA = CN()
# "folder": DATA.TRAIN_ROOT and DATA.VAL_ROOT are root/<class>/<image> folders (ImageNet's layout);
# "list": DATA.TRAIN_ROOT and DATA.VAL_ROOT are list files of "path [label]" lines under DATA.ROOT
#         (Places205's trainvalsplit_places205/{train,val}_places205.csv);
# "places365": torchvision's Places365 layout under DATA.ROOT; DATA.TRAIN_ROOT is "train-standard"
#         or "train-challenge", DATA.VAL_ROOT is "val".
_C.DATA.SOURCE = "folder"
_C.DATA.ROOT = ""
_C.DATA.TRAIN_ROOT = ""
_C.DATA.VAL_ROOT = ""
_C.DATA.PLACES365_SMALL = True  # the 256 px images (data_256_*, val_256) rather than *_large
_C.DATA.NUM_WORKERS = 8  # DataLoader worker processes per rank

# ---------------------------------------------------------------------------------------------
_C.INPUT = CN()
_C.INPUT.SIZE = 224  # training crop and test crop (pixels)
_C.INPUT.TEST_RESIZE = 256  # shorter side before the test crop
_C.INPUT.CROP_SCALE = (0.08, 1.0)  # RandomResizedCrop area range (torchvision's default, as in MoCo's lincls)
_C.INPUT.HFLIP_PROB = 0.5
_C.INPUT.MEAN = (0.485, 0.456, 0.406)  # ImageNet RGB statistics (torchvision's)
_C.INPUT.STD = (0.229, 0.224, 0.225)

# ---------------------------------------------------------------------------------------------
_C.SOLVER = CN()
_C.SOLVER.IMS_PER_BATCH = 256  # total over all processes
_C.SOLVER.BASE_LR = 30.0
_C.SOLVER.REFERENCE_BATCH = 0  # 0: BASE_LR as is at any batch (the protocol's lr; no linear scaling)
_C.SOLVER.MOMENTUM = 0.9
_C.SOLVER.WEIGHT_DECAY = 0.0
_C.SOLVER.EPOCHS = 100
_C.SOLVER.SCHEDULE = "step"  # the engine's solver reads it: "step" (the protocol's) or "cosine"
_C.SOLVER.STEPS = (30, 60, 90)  # epochs at which the lr is multiplied by GAMMA
_C.SOLVER.GAMMA = 0.1

# ---------------------------------------------------------------------------------------------
_C.TEST = CN()
_C.TEST.IMS_PER_BATCH = 256  # feature-extraction batch, total over all processes
_C.TEST.PERIOD = 10  # epochs between validations (0: only at the end)
# Ten crops (corners + center, and their flips) per test image; their softmax probabilities
# are averaged. Off: one center crop, the paper's protocol.
_C.TEST.TEN_CROP = False
# kNN (tools/knn_eval.py): k neighbours, weighted exp(sim / T), in the space KNN_FEATURES names:
# "embedding": the L2-normalized D-dim embedding (pretraining checkpoints only, InstDisc's kNN);
# "penultimate": the L2-normalized pooled features; "auto": the embedding where the file has
# the head, else the penultimate features.
_C.TEST.KNN_K = 200
_C.TEST.KNN_TEMPERATURE = 0.07
_C.TEST.KNN_FEATURES = "auto"

# ---------------------------------------------------------------------------------------------
# Features are extracted once and kept on disk, keyed by the weights file's content, the
# images and labels, and the transform: a rerun skips extraction. Stored as float16
# (ImageNet's center crops of a ResNet-50: 1.28M x 2048 x 2 bytes = 5.2 GB per view).
_C.FEATURES = CN()
_C.FEATURES.CACHE_DIR = "~/.cache/dilo/features"  # "" keeps features in memory only

# The fast probe: train the linear layer on cached features instead of images.
_C.FAST = CN()
_C.FAST.ENABLED = False
_C.FAST.VIEWS = 0  # augmented training views per image cached beside the center crop (each epoch draws one)
_C.FAST.SOLVER = "sgd"  # "sgd": SOLVER.* on the cache; "lbfgs": fit_linear_probe (standardized, L2)
_C.FAST.LBFGS_WEIGHT_DECAY = 1e-3  # "lbfgs" only

# ---------------------------------------------------------------------------------------------
_C.LOG = CN()
_C.LOG.PERIOD = 20  # iterations between metrics.jsonl records

# ---------------------------------------------------------------------------------------------
# What each value may be, checked when a config is loaded (pretrain.config.rules).
RULES = {
    "SEED": NON_NEGATIVE,
    "MODEL.BACKBONE.WIDTH": POSITIVE,
    "MODEL.FEATURE_NORM": OneOf(NORMS),
    "MODEL.ALEXNET_LAYER": OneOf(ALEXNET_LAYERS),
    "DATA.SOURCE": OneOf(SOURCES),
    "DATA.NUM_WORKERS": NON_NEGATIVE,
    "INPUT.SIZE": AT_LEAST_ONE,
    "INPUT.TEST_RESIZE": AT_LEAST_ONE,
    "INPUT.CROP_SCALE": Within(0, 1, open_low=True, ordered=True),
    "INPUT.HFLIP_PROB": PROBABILITY,
    "INPUT.STD": POSITIVE,
    "SOLVER.IMS_PER_BATCH": AT_LEAST_ONE,
    "SOLVER.BASE_LR": POSITIVE,
    "SOLVER.REFERENCE_BATCH": NON_NEGATIVE,
    "SOLVER.MOMENTUM": PROBABILITY,
    "SOLVER.WEIGHT_DECAY": NON_NEGATIVE,
    "SOLVER.EPOCHS": AT_LEAST_ONE,
    "SOLVER.STEPS": Within(0, ordered=True),
    "SOLVER.GAMMA": POSITIVE,
    "SOLVER.SCHEDULE": OneOf(SCHEDULES),
    "TEST.IMS_PER_BATCH": AT_LEAST_ONE,
    "TEST.PERIOD": NON_NEGATIVE,
    "FAST.VIEWS": NON_NEGATIVE,
    "FAST.SOLVER": OneOf(FAST_SOLVERS),
    "FAST.LBFGS_WEIGHT_DECAY": NON_NEGATIVE,
    "TEST.KNN_K": AT_LEAST_ONE,
    "TEST.KNN_TEMPERATURE": POSITIVE,
    "TEST.KNN_FEATURES": OneOf(SPACES),
    "LOG.PERIOD": AT_LEAST_ONE,
}

# The probes' older key names -> the pretraining names they now share; an old name is an error naming the new one.
RENAMED = {
    "MODEL.ARCH": "MODEL.BACKBONE.NAME",
    "MODEL.WIDTH": "MODEL.BACKBONE.WIDTH",
    "MODEL.CIFAR_STEM": "MODEL.BACKBONE.CIFAR_STEM",
    "DATA.NAME": "DATA.SOURCE",
    "DATA.TRAIN": "DATA.TRAIN_ROOT",
    "DATA.VAL": "DATA.VAL_ROOT",
    "KNN.K": "TEST.KNN_K",
    "KNN.TEMPERATURE": "TEST.KNN_TEMPERATURE",
    "KNN.FEATURES": "TEST.KNN_FEATURES",
}

# A probe's record (in probe_last.pth and its results JSON; pretrain.probe.launch) holds every key but these,
# which say where or how fast, and the kNN keys, which the linear probe does not read.
UNRECORDED = ("OUTPUT_DIR", "DATA.NUM_WORKERS", "FEATURES.CACHE_DIR", "LOG.PERIOD")
KNN_KEYS = ("TEST.KNN_K", "TEST.KNN_TEMPERATURE", "TEST.KNN_FEATURES")
# Keys that a linear probe's --resume may change, and why; any other difference from its record is refused.
RESUMABLE = {
    "SOLVER.EPOCHS": "extends or shortens the probe; the epochs trained keep their learning rates (step schedule)",
    "TEST.PERIOD": "how often it validates, not what it trains",
    "TEST.TEN_CROP": "the test crops only",
    "TEST.IMS_PER_BATCH": "the feature extraction's batch only",
}


def get_probe_cfg() -> CN:
    return _C.clone()


def load_probe_config(config_file: str = "", opts: Sequence[str] = ()) -> CN:
    """Probe defaults <- ``config_file`` <- ``KEY VALUE`` overrides, frozen; unknown keys are errors."""
    return load_config(config_file, opts, defaults=_C, rules=RULES, renamed=RENAMED)
