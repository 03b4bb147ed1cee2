"""Every pretraining option of dilo, with its default, in one place (detectron2's style).

Values are the paper's ImageNet setting (InstDisc ResNet-50, K = 4096) unless a comment says
otherwise; ``configs/pretrain/*.yaml`` override them with ``_BASE_`` inheritance, and the command
line overrides those with ``KEY VALUE`` pairs.
"""

from fvcore.common.config import CfgNode as CN

from .rules import AT_LEAST_ONE, NON_NEGATIVE, POSITIVE, PROBABILITY, OneOf, Requires, Within

# The string options' values; the code that branches on them imports these.
SOURCES = ("folder", "embedded")  # DATA.SOURCE
EMBEDDED_MASKS = ("true", "rbd", "gs", "mc")  # DATA.EMBEDDED.MASKS
MISSING_MASKS = ("error", "skip")  # COPY_PASTE.MISSING_MASKS
BACKGROUNDS = ("gray", "texture", "image")  # COPY_PASTE.BACKGROUND
BLENDS = ("none", "gaussian", "mix")  # COPY_PASTE.BLEND
BACKENDS = ("cpu", "gpu", "resident")  # INPUT.BACKEND
LOSSES = ("softmax_nce", "nce")  # INSTDISC.LOSS
BANK_INITS = ("random", "features")  # INSTDISC.BANK_INIT
AMP_DTYPES = ("bfloat16", "float16")  # SOLVER.AMP.DTYPE
METHODS = ("instdisc", "moco_v2")  # MODEL.METHOD: the names in pretrain.engine.method.METHOD_REGISTRY
TWO_VIEW_METHODS = ("moco_v2",)  # the methods that train on two views of each image
TWO_VIEW_BACKENDS = ("cpu", "resident")  # the INPUT.BACKENDs that draw two views
HEADS = ("linear", "mlp")  # MODEL.HEAD
SCHEDULES = ("step", "cosine")  # SOLVER.SCHEDULE

_C = CN()
_C.OUTPUT_DIR = "output/pretrain"  # checkpoints, metrics.jsonl, log.txt and config.yaml go here
_C.SEED = 0  # seeds weights, bank, data order, augmentations and negatives (all reproducible)

# ---------------------------------------------------------------------------------------------
_C.DATA = CN()
# "folder": ImageNet layout ROOT/<class>/<image>; "embedded": the built-in procedural set
# (generated on first use into DATA.EMBEDDED.CACHE_DIR; TRAIN_ROOT/VAL_ROOT are then ignored).
_C.DATA.SOURCE = "folder"
_C.DATA.TRAIN_ROOT = ""  # training images; labels (class folders) are used by monitors only
_C.DATA.VAL_ROOT = ""  # labeled images for the kNN monitor; "" disables the monitor
_C.DATA.NUM_WORKERS = 8  # DataLoader worker processes per rank
# Skip (and count) unreadable images instead of stopping: a bad file is replaced by another
# sample of the same batch slot, and the count is logged every epoch.
_C.DATA.SKIP_BAD_IMAGES = False

_C.DATA.EMBEDDED = CN()
_C.DATA.EMBEDDED.CACHE_DIR = "~/.cache/dilo/embedded"  # generated once, reused afterwards
_C.DATA.EMBEDDED.NUM_CLASSES = 10
_C.DATA.EMBEDDED.TRAIN_PER_CLASS = 200
_C.DATA.EMBEDDED.VAL_PER_CLASS = 50
_C.DATA.EMBEDDED.IMAGE_SIZE = 64  # pixels (square)
_C.DATA.EMBEDDED.NUM_BACKGROUNDS = 30  # pool of backgrounds shared by all classes
_C.DATA.EMBEDDED.OBJECT_SIZE = (0.2, 0.3)  # object radius range, fraction of the image side
_C.DATA.EMBEDDED.SEED = 0  # the set is a pure function of these keys
# Share of each class's images whose background comes from the class's own part of the pool (0: all shared;
# configs/pretrain/demo_class_backgrounds.yaml: backgrounds that carry the class, as ImageNet's do)
_C.DATA.EMBEDDED.CLASS_BACKGROUNDS = 0.0
# Masks the embedded set gives copy-paste: "true" (the generator's), or a saliency method
# ("rbd", "gs", "mc") run on its training images once (by tools/pretrain.py's setup) and cached beside them.
_C.DATA.EMBEDDED.MASKS = "rbd"

# ---------------------------------------------------------------------------------------------
# Copy-paste (the paper's Sec. 5.2): keep the salient foreground, replace the rest by another
# background. Composited on the RandomResizedCrop (image and mask cropped alike), before
# grayscale, jitter and flip; the paper pastes before cropping (pretrain/augment/copy_paste.py
# says where the two differ). PROB 0 is plain InstDisc.
_C.COPY_PASTE = CN()
_C.COPY_PASTE.PROB = 0.0  # chance per image (the paper: 0.5; 1.0 hurts)
_C.COPY_PASTE.MASK_ROOT = ""  # masks mirroring DATA.TRAIN_ROOT (tools/saliency.py's output)
_C.COPY_PASTE.MASK_THRESHOLD = 0.5  # foreground = mask >= 0.5 (on [0, 1]): RBD maps are near bimodal
_C.COPY_PASTE.MISSING_MASKS = "error"  # "error": refuse to start; "skip": no copy-paste for those images
# "": read each mask from its file; a folder: the masks packed in one memory-mapped file there (the fast
# path's reads, no file opened per sample), built from MASK_ROOT's files by rank 0 when they changed
_C.COPY_PASTE.MASK_PACK = ""
# "gray" (uniform random level), "texture", "image" (another image's background); drawn at the crop's size
_C.COPY_PASTE.BACKGROUND = "gray"
_C.COPY_PASTE.TEXTURE_ROOT = ""  # folder of texture images, for BACKGROUND texture
_C.COPY_PASTE.BLEND = "none"  # "none" (direct copy), "gaussian" (smoothed mask as alpha), "mix" (either)
_C.COPY_PASTE.BLUR_SIGMA = 2.0  # Gaussian blending's sigma, in pixels of the training crop

# ---------------------------------------------------------------------------------------------
_C.INPUT = CN()
_C.INPUT.SIZE = 224  # training crop and test crop (pixels)
_C.INPUT.TEST_RESIZE = 256  # shorter side before the center crop for evaluation
_C.INPUT.CROP_SCALE = (0.2, 1.0)  # RandomResizedCrop area range (fraction of the image)
_C.INPUT.GRAYSCALE_PROB = 0.2
_C.INPUT.COLOR_JITTER = (0.4, 0.4, 0.4, 0.4)  # brightness, contrast, saturation, hue
_C.INPUT.COLOR_JITTER_PROB = 1.0  # chance to jitter at all (InstDisc: always; MoCo v2: 0.8)
_C.INPUT.BLUR_PROB = 0.0  # chance of a Gaussian blur after the jitter (MoCo v2: 0.5)
_C.INPUT.BLUR_SIGMA = (0.1, 2.0)  # its sigma, uniform in this range, in pixels of the training crop
_C.INPUT.HFLIP_PROB = 0.5
_C.INPUT.MEAN = (0.485, 0.456, 0.406)  # ImageNet RGB statistics (torchvision's)
_C.INPUT.STD = (0.229, 0.224, 0.225)
# Where the training augmentations run. "cpu": all of them in the DataLoader workers (the
# reference path). "gpu": workers decode JPEGs at reduced size, crop and copy-paste, and hand
# uint8 crops over; grayscale, jitter, flip and normalization run batched on the training device
# (the CPU when there is none). Same parameters per sample, same distribution; for a GPU's rate.
# "resident": small sets (the embedded set, Caltech-20 at 64 px) are decoded once and held on the
# training device, which crops, pastes and colors whole batches; no workers. Same draws again.
_C.INPUT.BACKEND = "cpu"

# ---------------------------------------------------------------------------------------------
_C.MODEL = CN()
# The pretraining method, a name in pretrain.engine.method.METHOD_REGISTRY: "instdisc" (the
# paper's: memory bank, INSTDISC.*) or "moco_v2" (momentum encoder and queue, MOCO.*).
_C.MODEL.METHOD = "instdisc"
_C.MODEL.BACKBONE = CN()
_C.MODEL.BACKBONE.NAME = "resnet50"  # a name in BACKBONE_REGISTRY: resnet18/resnet50/resnet50w2/alexnet_bn/vgg16_bn
_C.MODEL.BACKBONE.WIDTH = 1.0  # multiplies every channel count (resnet50w2 sets 2.0 itself)
_C.MODEL.BACKBONE.CIFAR_STEM = False  # 3x3 stride-1 stem, no max-pool: for small images (ResNets, AlexNet)
_C.MODEL.EMBED_DIM = 128  # D: the head's output, L2-normalized
# "linear" (InstDisc's) or "mlp" (MoCo v2's: Linear(C, C), ReLU, Linear(C, D), C the backbone's width)
_C.MODEL.HEAD = "linear"
_C.MODEL.CHANNELS_LAST = False  # NHWC memory format (faster convolutions on tensor cores)

# ---------------------------------------------------------------------------------------------
_C.INSTDISC = CN()
_C.INSTDISC.LOSS = "softmax_nce"  # "softmax_nce" (the paper's) or "nce" (InstDisc's original)
_C.INSTDISC.NUM_NEGATIVES = 4096  # K, drawn uniformly from the bank
# False: every sample draws its own K negatives (InstDisc's way); True: one draw of K per
# step shared by the batch, which turns a B x K x D gather into a (K x D) matmul.
_C.INSTDISC.SHARED_NEGATIVES = False
_C.INSTDISC.TEMPERATURE = 0.07  # tau
_C.INSTDISC.BANK_MOMENTUM = 0.5  # m_i <- normalize(m * m_i + (1 - m) * f_i)
# "random": uniform rows (InstDisc's). "features": each row starts as the untrained model's
# embedding of its own image (center crop; one inference pass over the training set). With
# random rows, epoch 0 pulls every image towards a random positive while its negatives fill up
# with real features: the loss climbs (10.4 -> 15.8 on the demo) and seeds drift apart.
_C.INSTDISC.BANK_INIT = "random"

# ---------------------------------------------------------------------------------------------
# MoCo v2 (Chen et al. 2020), MODEL.METHOD moco_v2: ImageNet values.
_C.MOCO = CN()
_C.MOCO.QUEUE_SIZE = 65536  # K keys of past batches, the negatives; a multiple of SOLVER.IMS_PER_BATCH
_C.MOCO.MOMENTUM = 0.999  # key encoder <- m * key encoder + (1 - m) * query encoder, every step
_C.MOCO.TEMPERATURE = 0.2  # tau of InfoNCE
# Batch-norm groups per process. The key encoder's batch is shuffled over all groups of all
# processes and the query encoder's split into this process's groups, so a query and its
# positive key never share batch statistics (MoCo's shuffle BN). MoCo trains with one group per
# GPU; a single process needs several for the same effect.
_C.MOCO.BN_GROUPS = 1

# ---------------------------------------------------------------------------------------------
_C.SOLVER = CN()
_C.SOLVER.IMS_PER_BATCH = 256  # total over all processes
_C.SOLVER.BASE_LR = 0.03  # for REFERENCE_BATCH; scaled linearly with IMS_PER_BATCH
_C.SOLVER.REFERENCE_BATCH = 256
_C.SOLVER.MOMENTUM = 0.9
_C.SOLVER.WEIGHT_DECAY = 1e-4
_C.SOLVER.EPOCHS = 200
_C.SOLVER.SCHEDULE = "step"  # "step": x GAMMA at each of STEPS; "cosine": half a cosine to 0 over EPOCHS (MoCo v2)
_C.SOLVER.STEPS = (120, 160)  # epochs at which the lr is multiplied by GAMMA
_C.SOLVER.GAMMA = 0.1
_C.SOLVER.AMP = CN()
_C.SOLVER.AMP.ENABLED = False  # autocast the forward pass
_C.SOLVER.AMP.DTYPE = "bfloat16"  # "bfloat16" (no loss scaling) or "float16" (GradScaler)

# ---------------------------------------------------------------------------------------------
_C.CHECKPOINT = CN()
_C.CHECKPOINT.KEEP_PERIOD = 20  # also keep checkpoint_<epoch>.pth every N epochs (0: never)

_C.LOG = CN()
_C.LOG.PERIOD = 20  # iterations between metrics.jsonl records

# ---------------------------------------------------------------------------------------------
_C.TEST = CN()
_C.TEST.KNN_PERIOD = 10  # epochs between kNN monitors on DATA.VAL_ROOT (0: only at the end)
_C.TEST.KNN_K = 200
_C.TEST.KNN_TEMPERATURE = 0.07  # neighbour weight exp(sim / T)
_C.TEST.IMS_PER_BATCH = 256  # feature-extraction batch, total over all processes
# At the end of training, a fast linear probe (L-BFGS on center-crop penultimate features of
# DATA.TRAIN_ROOT, tested on DATA.VAL_ROOT). For ImageNet use tools/linear_probe.py instead.
_C.TEST.LINEAR_PROBE = False

# ---------------------------------------------------------------------------------------------
# What each value may be, checked when a config is loaded (pretrain.config.rules).
RULES = {
    "SEED": NON_NEGATIVE,
    "DATA.SOURCE": OneOf(SOURCES),
    "DATA.NUM_WORKERS": NON_NEGATIVE,
    "DATA.EMBEDDED.NUM_CLASSES": AT_LEAST_ONE,
    "DATA.EMBEDDED.TRAIN_PER_CLASS": AT_LEAST_ONE,
    "DATA.EMBEDDED.VAL_PER_CLASS": NON_NEGATIVE,
    "DATA.EMBEDDED.IMAGE_SIZE": AT_LEAST_ONE,
    "DATA.EMBEDDED.NUM_BACKGROUNDS": AT_LEAST_ONE,
    "DATA.EMBEDDED.OBJECT_SIZE": Within(0, 0.5, open_low=True, ordered=True),
    "DATA.EMBEDDED.MASKS": OneOf(EMBEDDED_MASKS),
    "DATA.EMBEDDED.SEED": NON_NEGATIVE,
    "DATA.EMBEDDED.CLASS_BACKGROUNDS": PROBABILITY,
    "COPY_PASTE.PROB": PROBABILITY,
    "COPY_PASTE.MASK_THRESHOLD": PROBABILITY,
    "COPY_PASTE.MISSING_MASKS": OneOf(MISSING_MASKS),
    "COPY_PASTE.BACKGROUND": OneOf(BACKGROUNDS),
    "COPY_PASTE.BLEND": OneOf(BLENDS),
    "COPY_PASTE.BLUR_SIGMA": POSITIVE,
    "INPUT.SIZE": AT_LEAST_ONE,
    "INPUT.TEST_RESIZE": AT_LEAST_ONE,
    "INPUT.CROP_SCALE": Within(0, 1, open_low=True, ordered=True),
    "INPUT.GRAYSCALE_PROB": PROBABILITY,
    "INPUT.COLOR_JITTER": NON_NEGATIVE,
    "INPUT.COLOR_JITTER_PROB": PROBABILITY,
    "INPUT.BLUR_PROB": PROBABILITY,
    "INPUT.BLUR_SIGMA": Within(0, open_low=True, ordered=True),
    "INPUT.HFLIP_PROB": PROBABILITY,
    "INPUT.STD": POSITIVE,
    "INPUT.BACKEND": OneOf(BACKENDS),
    "MODEL.METHOD": OneOf(METHODS),
    "MODEL.BACKBONE.WIDTH": POSITIVE,
    "MODEL.EMBED_DIM": AT_LEAST_ONE,
    "MODEL.HEAD": OneOf(HEADS),
    "INSTDISC.LOSS": OneOf(LOSSES),
    "INSTDISC.NUM_NEGATIVES": AT_LEAST_ONE,
    "INSTDISC.TEMPERATURE": POSITIVE,
    "INSTDISC.BANK_MOMENTUM": PROBABILITY,
    "INSTDISC.BANK_INIT": OneOf(BANK_INITS),
    "MOCO.QUEUE_SIZE": AT_LEAST_ONE,
    "MOCO.MOMENTUM": PROBABILITY,
    "MOCO.TEMPERATURE": POSITIVE,
    "MOCO.BN_GROUPS": AT_LEAST_ONE,
    "SOLVER.IMS_PER_BATCH": AT_LEAST_ONE,
    "SOLVER.BASE_LR": POSITIVE,
    "SOLVER.REFERENCE_BATCH": AT_LEAST_ONE,
    "SOLVER.MOMENTUM": PROBABILITY,
    "SOLVER.WEIGHT_DECAY": NON_NEGATIVE,
    "SOLVER.EPOCHS": AT_LEAST_ONE,
    "SOLVER.SCHEDULE": OneOf(SCHEDULES),
    "SOLVER.STEPS": Within(0, ordered=True),
    "SOLVER.GAMMA": POSITIVE,
    "SOLVER.AMP.DTYPE": OneOf(AMP_DTYPES),
    "CHECKPOINT.KEEP_PERIOD": NON_NEGATIVE,
    "LOG.PERIOD": AT_LEAST_ONE,
    "TEST.KNN_PERIOD": NON_NEGATIVE,
    "TEST.KNN_K": AT_LEAST_ONE,
    "TEST.KNN_TEMPERATURE": POSITIVE,
    "TEST.IMS_PER_BATCH": AT_LEAST_ONE,
}

# Rules between keys, checked after RULES.
COMBINATIONS = (
    Requires(
        "MODEL.METHOD",
        TWO_VIEW_METHODS,
        "INPUT.BACKEND",
        TWO_VIEW_BACKENDS,
        "two views of each image are drawn by the reference and resident data paths only",
    ),
    Requires("INSTDISC.BANK_INIT", ("features",), "MODEL.METHOD", ("instdisc",), "only InstDisc has a memory bank"),
)

# ---------------------------------------------------------------------------------------------
# A run's record (OUTPUT_DIR/provenance.json, pretrain.engine.provenance) holds every key but these, which
# say where or how fast, never what is trained: a run may be moved, read its masks from a pack or not, and
# use another number of loader workers (data order and augmentations do not depend on it; tested).
UNRECORDED = (
    "OUTPUT_DIR",
    "DATA.NUM_WORKERS",
    "DATA.EMBEDDED.CACHE_DIR",  # where the set is kept; the set is a function of the other DATA.EMBEDDED keys
    "COPY_PASTE.MASK_PACK",  # a cache of the masks, which are recorded themselves
    "LOG.PERIOD",
    "CHECKPOINT.KEEP_PERIOD",
)
# Keys that --resume may change, and why; any other difference from the run's record is refused. A finished
# run's result (tools/reproduce.py) must match its record in these too.
RESUMABLE = {
    "SOLVER.EPOCHS": "extends or shortens a run; the epochs trained keep their learning rates under the step "
    "schedule (a cosine schedule's curve depends on EPOCHS: there the resumed run is not a run of that length)",
    "TEST.KNN_PERIOD": "the monitor reads the model, it does not change it",
    "TEST.KNN_K": "the monitor's vote only",
    "TEST.KNN_TEMPERATURE": "the monitor's vote only",
    "TEST.IMS_PER_BATCH": "the evaluations' batch only",
    "TEST.LINEAR_PROBE": "the end-of-run evaluation only",
}
