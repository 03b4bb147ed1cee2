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


@pytest.mark.parametrize("value", ["1e999", "-1e999"])
def test_an_infinite_override_is_refused(value):
    """The issue's ``SOLVER.BASE_LR 1e999``: it trained to the end on NaN losses with exit status 0."""
    with pytest.raises(ValueError, match=r"SOLVER\.BASE_LR must be a finite number, got -?inf"):
        load_config("", ["SOLVER.BASE_LR", value])


def test_nan_in_a_yaml_file_is_refused_in_ruled_and_unruled_keys(tmp_path):
    f = tmp_path / "nan.yaml"
    f.write_text("SOLVER:\n  BASE_LR: .nan\nINPUT:\n  MEAN: [.nan, 0.456, 0.406]\n")
    with pytest.raises(ValueError) as e:
        load_config(str(f))
    assert "SOLVER.BASE_LR must be a finite number, got nan" in str(e.value)
    assert "INPUT.MEAN must be finite, got (nan, 0.456, 0.406)" in str(e.value)
    with pytest.raises(ValueError, match="SOLVER.BASE_LR must be a finite number"):
        load_probe_config(str(f))


@pytest.mark.parametrize("key", ["SEED", "DATA.EMBEDDED.SEED"])
def test_a_negative_seed_is_refused_at_load(key):
    """``SEED -1`` was accepted, then crashed after setup."""
    with pytest.raises(ValueError, match=rf"{key} must be >= 0, got -1"):
        load_config("", [key, "-1"])
    if key == "SEED":
        with pytest.raises(ValueError, match="SEED must be >= 0, got -1"):
            load_probe_config("", ["SEED", "-1"])
