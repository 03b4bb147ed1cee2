"""The paper's Table 2 ablations as config overrides, its numbers, and the small-scale presets.

Every setting is a list of ``KEY VALUE`` overrides on top of a base config (the demo's by
default: the embedded set, a quarter-width ResNet-18 at 64 px). Copy-paste settings other than
the saliency row use RBD masks, p 0.5, gray backgrounds and no blending unless they ablate one of
these, as in the paper. The embedded set is a function of ``DATA.EMBEDDED.*`` only (its own
``SEED``), so the training ``SEED`` varies weights, data order and augmentations, never the images.
"""

from __future__ import annotations

from dataclasses import dataclass, field

_PASTE = ("COPY_PASTE.PROB", "0.5", "DATA.EMBEDDED.MASKS", "rbd")

# setting name -> overrides. "texture" needs COPY_PASTE.TEXTURE_ROOT, added by the runner.
SETTINGS: dict[str, tuple[str, ...]] = {
    "baseline": ("COPY_PASTE.PROB", "0.0"),
    "gs": ("COPY_PASTE.PROB", "0.5", "DATA.EMBEDDED.MASKS", "gs"),
    "mc": ("COPY_PASTE.PROB", "0.5", "DATA.EMBEDDED.MASKS", "mc"),
    "rbd": _PASTE,
    "true": ("COPY_PASTE.PROB", "0.5", "DATA.EMBEDDED.MASKS", "true"),
    "p0.2": ("COPY_PASTE.PROB", "0.2", "DATA.EMBEDDED.MASKS", "rbd"),
    "p0.8": ("COPY_PASTE.PROB", "0.8", "DATA.EMBEDDED.MASKS", "rbd"),
    "p1.0": ("COPY_PASTE.PROB", "1.0", "DATA.EMBEDDED.MASKS", "rbd"),
    "texture": (*_PASTE, "COPY_PASTE.BACKGROUND", "texture"),
    "image": (*_PASTE, "COPY_PASTE.BACKGROUND", "image"),
    "gaussian": (*_PASTE, "COPY_PASTE.BLEND", "gaussian"),
    "mix": (*_PASTE, "COPY_PASTE.BLEND", "mix"),
}


@dataclass(frozen=True)
class Column:
    """One column of a Table 2 panel: its label, the setting it reads, the paper's number."""

    label: str
    setting: str
    paper: float  # ImageNet linear top-1 (%), ResNet-50, K 4096


@dataclass(frozen=True)
class Panel:
    title: str
    columns: tuple[Column, ...]


# The paper's Table 2 (ImageNet linear top-1, ResNet-50). "true masks" stand in for BASNet, a
# strong supervised saliency; (b)-(d) vary one knob of the RBD p 0.5 gray no-blend setting.
TABLE2: tuple[Panel, ...] = (
    Panel(
        "(a) saliency estimation",
        (
            Column("InstDisc", "baseline", 56.5),
            Column("GS", "gs", 57.8),
            Column("MC", "mc", 58.1),
            Column("RBD", "rbd", 59.3),
            Column("true masks (BASNet)", "true", 62.9),
        ),
    ),
    Panel(
        "(b) copy-paste ratio",
        (
            Column("20%", "p0.2", 59.3),
            Column("50%", "rbd", 59.3),
            Column("80%", "p0.8", 57.5),
            Column("100%", "p1.0", 44.5),
        ),
    ),
    Panel(
        "(c) background",
        (
            Column("texture", "texture", 57.1),
            Column("image crops", "image", 59.2),
            Column("grayscale", "rbd", 59.3),
        ),
    ),
    Panel(
        "(d) blending",
        (
            Column("none", "rbd", 59.3),
            Column("Gaussian", "gaussian", 58.9),
            Column("mix", "mix", 59.3),
        ),
    ),
)


DATASETS = ("embedded", "caltech20")


@dataclass(frozen=True)
class Preset:
    """A schedule for every setting: epochs per data set, overrides shared by all runs, seeds, parallel runs.

    Caltech-20 has 800 training images (12 steps of 64 a epoch) against the embedded set's 2,000
    (31 steps), so it gets 2.5x the epochs: the same number of steps, the same time a run.
    ``settings`` (data set -> settings) runs those data sets with those settings; empty: Table 2's
    settings on the data set asked for.
    """

    epochs: dict[str, int]
    opts: tuple[str, ...]
    seeds: tuple[int, ...]
    jobs: int
    about: str
    settings: dict[str, tuple[str, ...]] = field(default_factory=dict)

    @property
    def datasets(self) -> tuple[str, ...]:
        """The data sets a run of the preset covers when none is named."""
        return tuple(self.settings) or ("embedded",)


PRESETS: dict[str, Preset] = {
    # 30 epochs, shorter than the demo's 36: Table 2's 24 runs are meant for a 2-core CPU (docs/benchmarks.md).
    "reduced": Preset(
        {"embedded": 30, "caltech20": 75},
        ("TEST.KNN_PERIOD", "0"),
        (0, 1),
        1,
        "R18 x0.25, 64 px, 30 epochs of the demo set (2,000 images) or 75 of caltech20 (800), 2 seeds, one at a time",
    ),
    # Meant for one H100 machine: a small run's step is launch-bound, so several share the GPU at once.
    "full": Preset(
        {"embedded": 100, "caltech20": 250},
        ("TEST.KNN_PERIOD", "0", "MODEL.BACKBONE.WIDTH", "0.5", "DATA.NUM_WORKERS", "2"),
        (0, 1, 2),
        6,
        "R18 x0.5, 64 px, 100 epochs of the demo set or 250 of caltech20, 3 seeds, 6 runs at a time",
    ),
    # The main command: both arms of the demo on the same draws, side by side (one seed: an anecdote,
    # the evidence preset has the interval).
    "demo": Preset(
        {"embedded": 36},
        ("TEST.KNN_PERIOD", "0"),
        (0,),
        2,
        "the demo (R18 x0.25, 64 px, 36 epochs), InstDisc and RBD copy-paste on the same draws, side by side",
        {"embedded": ("baseline", "rbd")},
    ),
    # The claim and its control, paired over 5 seeds, sized for a 2-core CPU (docs/benchmarks.md): 25
    # demo-sized runs, two at a time on one core each (small convolutions gain little from a second thread).
    "evidence": Preset(
        {"embedded": 36, "caltech20": 90},
        ("TEST.KNN_PERIOD", "0"),
        (0, 1, 2, 3, 4),
        2,
        "the demo (R18 x0.25, 64 px, 36 epochs; 90 on caltech20), 5 paired seeds, 2 runs at a time",
        {"embedded": ("baseline", "rbd", "true"), "caltech20": ("baseline", "rbd")},
    ),
}


def epoch_opts(epochs: int) -> list[str]:
    """The demo's schedule shape (lr x0.1 at 75% and 90% of training) for any length."""
    if epochs < 1:
        raise ValueError(f"--epochs must be at least 1, got {epochs}")
    return ["SOLVER.EPOCHS", str(epochs), "SOLVER.STEPS", f"({round(0.75 * epochs)}, {round(0.9 * epochs)})"]


def preset_opts(preset: Preset, dataset: str) -> list[str]:
    """A preset's overrides for one data set: its schedule, then the shared ones."""
    if dataset not in preset.epochs:
        raise ValueError(f"unknown dataset {dataset!r}; known: {list(preset.epochs)}")
    return [*epoch_opts(preset.epochs[dataset]), *preset.opts]


def setting_masks(setting: str) -> str | None:
    """The embedded mask kind a copy-paste setting reads (``DATA.EMBEDDED.MASKS``), None for the baseline."""
    opts = SETTINGS[setting]
    keys = opts[::2]
    return opts[2 * keys.index("DATA.EMBEDDED.MASKS") + 1] if "DATA.EMBEDDED.MASKS" in keys else None


def select_panels(settings: list[str], panels: tuple[Panel, ...] = TABLE2) -> tuple[Panel, ...]:
    """The panels cut to ``settings``' columns; a panel left with fewer than two columns compares nothing."""
    cut = (Panel(p.title, tuple(c for c in p.columns if c.setting in settings)) for p in panels)
    return tuple(p for p in cut if len(p.columns) >= 2)


def table_settings(panels: tuple[Panel, ...] = TABLE2) -> list[str]:
    """Every setting the panels read, once, in the order they first appear."""
    return list(dict.fromkeys(c.setting for p in panels for c in p.columns))
