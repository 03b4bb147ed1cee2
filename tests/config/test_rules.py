import pytest

from pretrain.config import load_config
from pretrain.probe.defaults import load_probe_config


@pytest.mark.parametrize(
    ("key", "value", "says"),
    [
        ("SOLVER.EPOCHS", "0", "SOLVER.EPOCHS must be >= 1, got 0"),
        ("COPY_PASTE.PROB", "1.5", "COPY_PASTE.PROB must be >= 0 and <= 1, got 1.5"),
        ("INPUT.CROP_SCALE", "(0.9, 0.2)", "INPUT.CROP_SCALE must be in ascending order"),
        ("INSTDISC.TEMPERATURE", "0.0", "INSTDISC.TEMPERATURE must be > 0"),
        ("COPY_PASTE.BLEND", "gausian", "COPY_PASTE.BLEND must be one of ('none', 'gaussian', 'mix'), got 'gausian'"),
        ("INPUT.BACKEND", "tpu", "INPUT.BACKEND must be one of ('cpu', 'gpu', 'resident')"),
        ("SOLVER.AMP.DTYPE", "float8", "SOLVER.AMP.DTYPE must be one of ('bfloat16', 'float16')"),
    ],
)
def test_bad_values_are_refused_at_load_naming_key_and_what_is_allowed(key, value, says):
    with pytest.raises(ValueError) as e:
        load_config("", [key, value])
    assert says in str(e.value)


def test_every_violation_is_reported_at_once_with_the_file(tmp_path):
    f = tmp_path / "bad.yaml"
    f.write_text("SOLVER:\n  EPOCHS: -3\nCOPY_PASTE:\n  BACKGROUND: noise\n")
    with pytest.raises(ValueError, match=r"bad\.yaml: invalid config values: .*COPY_PASTE\.BACKGROUND.*SOLVER\.EPOCHS"):
        load_config(str(f))


def test_probe_configs_have_the_same_rules():
    with pytest.raises(ValueError, match=r"TEST\.KNN_FEATURES must be one of \('auto', 'embedding', 'penultimate'\)"):
        load_probe_config("", ["TEST.KNN_FEATURES", "logits"])
    with pytest.raises(ValueError, match=r"FAST\.SOLVER must be one of"):
        load_probe_config("", ["FAST.SOLVER", "adam"])
    with pytest.raises(ValueError, match=r"SOLVER\.EPOCHS must be >= 1"):
        load_probe_config("", ["SOLVER.EPOCHS", "0"])


def test_boundaries_are_allowed():
    cfg = load_config("", ["COPY_PASTE.PROB", "1.0", "SOLVER.EPOCHS", "1", "SOLVER.STEPS", "()"])
    assert (cfg.COPY_PASTE.PROB, cfg.SOLVER.EPOCHS) == (1.0, 1)
