"""The probes speak pretraining's vocabulary: the same key names for the same things, old names refused by name."""

import pytest

from pretrain.config import get_cfg
from pretrain.probe.defaults import RENAMED, get_probe_cfg, load_probe_config


def _has(cfg, key: str) -> bool:
    for part in key.split("."):
        if part not in cfg:
            return False
        cfg = cfg[part]
    return True


@pytest.mark.parametrize(("old", "new"), sorted(RENAMED.items()))
def test_an_old_key_on_the_command_line_names_its_new_name(old, new):
    with pytest.raises(KeyError, match=f"{old}' was renamed {new}"):
        load_probe_config("", [old, "1"])


def test_an_old_key_in_a_yaml_file_names_its_new_name_and_the_file(tmp_path):
    f = tmp_path / "old.yaml"
    f.write_text("MODEL:\n  ARCH: resnet18\nKNN:\n  K: 20\n")
    with pytest.raises(KeyError, match=r"old\.yaml: config key 'MODEL\.ARCH' was renamed MODEL\.BACKBONE\.NAME"):
        load_probe_config(str(f))


def test_new_names_are_pretrainings_and_load():
    pretraining = get_cfg()
    for new in RENAMED.values():
        assert _has(get_probe_cfg(), new), new
        if new != "TEST.KNN_FEATURES":  # the probes' own choice of space; pretraining's monitor uses the embedding
            assert _has(pretraining, new), new
    cfg = load_probe_config("", ["MODEL.BACKBONE.NAME", "resnet18", "DATA.TRAIN_ROOT", "a", "TEST.KNN_K", "20"])
    assert (cfg.MODEL.BACKBONE.NAME, cfg.DATA.TRAIN_ROOT, cfg.TEST.KNN_K) == ("resnet18", "a", 20)
