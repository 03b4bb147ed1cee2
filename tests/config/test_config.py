import glob
import os

import pytest

from pretrain.config import get_cfg, load_config

CONFIGS = sorted(
    glob.glob(
        os.path.join(os.path.dirname(__file__), "..", "..", "configs", "pretrain", "**", "*.yaml"), recursive=True
    )
)


def test_defaults_are_the_paper_setting():
    cfg = get_cfg()
    assert cfg.INSTDISC.TEMPERATURE == 0.07
    assert cfg.INSTDISC.NUM_NEGATIVES == 4096
    assert cfg.INSTDISC.BANK_MOMENTUM == 0.5
    assert cfg.MODEL.EMBED_DIM == 128
    assert (cfg.SOLVER.BASE_LR, cfg.SOLVER.EPOCHS, tuple(cfg.SOLVER.STEPS)) == (0.03, 200, (120, 160))


@pytest.mark.parametrize("path", CONFIGS, ids=os.path.basename)
def test_every_config_loads(path):
    cfg = load_config(path)
    assert cfg.is_frozen()


def test_base_inheritance_and_overrides():
    path = next(p for p in CONFIGS if p.endswith("instdisc_R50_K65536.yaml"))
    cfg = load_config(path, ["SOLVER.EPOCHS", "3"])
    assert cfg.INSTDISC.NUM_NEGATIVES == 65536  # own
    assert cfg.MODEL.BACKBONE.NAME == "resnet50"  # from instdisc_R50.yaml
    assert cfg.SOLVER.STEPS == (120, 160)  # from Base-InstDisc.yaml
    assert cfg.SOLVER.EPOCHS == 3  # command line


def test_unknown_override_names_the_key():
    with pytest.raises(KeyError, match="SOLVER.EPOCH'.*no 'EPOCH'"):
        load_config("", ["SOLVER.EPOCH", "3"])


def test_unknown_yaml_key_names_file_and_key(tmp_path):
    f = tmp_path / "bad.yaml"
    f.write_text("INSTDISC:\n  NUM_NEGATIVE: 10\n")
    with pytest.raises(KeyError, match=r"bad.yaml.*INSTDISC.NUM_NEGATIVE"):
        load_config(str(f))


def test_odd_number_of_overrides():
    with pytest.raises(ValueError, match="KEY VALUE pairs"):
        load_config("", ["SOLVER.EPOCHS"])


def test_dilo_configs_are_the_paper_settings():
    main = load_config(next(p for p in CONFIGS if p.endswith("/dilo_R50_rbd.yaml")))
    cp = main.COPY_PASTE
    assert (cp.PROB, cp.BACKGROUND, cp.BLEND, main.INSTDISC.NUM_NEGATIVES) == (0.5, "gray", "none", 4096)
    w2 = load_config(next(p for p in CONFIGS if p.endswith("/dilo_R50w2_rbd_K65536.yaml")))
    assert (w2.MODEL.BACKBONE.NAME, w2.INSTDISC.NUM_NEGATIVES, w2.COPY_PASTE.PROB) == ("resnet50w2", 65536, 0.5)
    ablations = [load_config(p) for p in CONFIGS if "/ablations/" in p]
    assert sorted(c.COPY_PASTE.PROB for c in ablations if c.COPY_PASTE.PROB != 0.5) == [0.2, 0.8, 1.0]
    assert {c.COPY_PASTE.BACKGROUND for c in ablations} == {"gray", "texture", "image"}
    assert {c.COPY_PASTE.BLEND for c in ablations} == {"none", "gaussian", "mix"}


def test_integer_where_a_float_is_expected(tmp_path):
    (tmp_path / "c.yaml").write_text("COPY_PASTE:\n  PROB: 1\n")
    assert load_config(str(tmp_path / "c.yaml")).COPY_PASTE.PROB == 1.0
    cfg = load_config("", ["COPY_PASTE.PROB", "0", "SOLVER.BASE_LR", "1"])
    assert cfg.COPY_PASTE.PROB == 0.0 and isinstance(cfg.COPY_PASTE.PROB, float)
    assert cfg.SOLVER.BASE_LR == 1.0 and isinstance(cfg.SOLVER.BASE_LR, float)
    assert load_config("", ["SOLVER.EPOCHS", "3"]).SOLVER.EPOCHS == 3  # ints stay ints


def test_a_base_loop_is_named_in_one_line(tmp_path):
    """fvcore followed it into a 3,000-line RecursionError."""
    (tmp_path / "a.yaml").write_text("_BASE_: b.yaml\nSOLVER:\n  EPOCHS: 3\n")
    (tmp_path / "b.yaml").write_text("_BASE_: [c.yaml, ./a.yaml]\n")
    (tmp_path / "c.yaml").write_text("SEED: 1\n")
    with pytest.raises(ValueError, match=r"inherit in a loop through _BASE_: .*a\.yaml -> .*b\.yaml -> .*a\.yaml$"):
        load_config(str(tmp_path / "a.yaml"))
    (tmp_path / "b.yaml").write_text("_BASE_: [c.yaml, c.yaml]\n")  # a base twice is no loop
    assert load_config(str(tmp_path / "a.yaml")).SEED == 1
