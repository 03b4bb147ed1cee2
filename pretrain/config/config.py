"""Building a config from defaults, a YAML file and command-line overrides."""

from __future__ import annotations

import ast
import os
from collections.abc import Collection, Mapping, Sequence
from typing import Any

import yaml
from fvcore.common.config import BASE_KEY, CfgNode

from .defaults import _C, COMBINATIONS, RULES
from .rules import OneOf, Requires, Within, check_config


def get_cfg() -> CfgNode:
    """A fresh, mutable copy of the defaults."""
    return _C.clone()


def _check_keys(node: CfgNode, keys: Sequence[str], renamed: Mapping[str, str]) -> None:
    """fvcore's own message for an unknown key is terse; name the key and the nearest valid ones.

    A key of an older vocabulary (``renamed``: old name -> new name) names its new name instead.
    """
    for key in keys:
        if key in renamed:
            raise KeyError(f"config key {key!r} was renamed {renamed[key]}: use {renamed[key]}")
        sub = node
        parts = key.split(".")
        for depth, part in enumerate(parts):
            if not isinstance(sub, CfgNode) or part not in sub:
                parent = ".".join(parts[:depth]) or "<root>"
                valid = sorted(sub.keys()) if isinstance(sub, CfgNode) else []
                raise KeyError(f"unknown config key {key!r}: {parent} has no {part!r} (valid: {valid})")
            sub = sub[part]


def config_fields(cfg: CfgNode, leave_out: Collection[str] = ()) -> dict[str, Any]:
    """``{"A.B": value}`` for every key of ``cfg`` but ``leave_out``: the config's part of a provenance record."""
    return {key: _default(cfg, key) for key in _flatten(cfg) if key not in leave_out}


def check_bases(config_file: str, inheriting: tuple[str, ...] = ()) -> None:
    """Refuse a ``_BASE_`` loop: fvcore would follow it to Python's recursion limit (a 3,000-line traceback).

    Bases (a path or a list of them) are resolved as fvcore resolves them; the error names the loop.
    """
    chain = (*inheriting, config_file)
    with open(config_file) as f:
        loaded = yaml.safe_load(f)
    bases = loaded.get(BASE_KEY) if isinstance(loaded, dict) else None
    for base in [bases] if isinstance(bases, str) else bases or []:
        base = os.path.expanduser(base)
        if base.startswith(("https://", "http://")):
            continue
        base = base if base.startswith("/") else os.path.join(os.path.dirname(config_file), base)
        if os.path.realpath(base) in map(os.path.realpath, chain):
            raise ValueError(f"config files inherit in a loop through {BASE_KEY}: {' -> '.join([*chain, base])}")
        check_bases(base, chain)


def _flatten(node: dict, prefix: str = "") -> list[str]:
    keys = []
    for k, v in node.items():
        if k == "_BASE_":
            continue
        keys += _flatten(v, f"{prefix}{k}.") if isinstance(v, dict) else [f"{prefix}{k}"]
    return keys


def _default(cfg: CfgNode, key: str) -> Any:
    for part in key.split("."):
        cfg = cfg[part]
    return cfg


def _int_as_float(default: Any, value: Any) -> Any:
    """``0`` where the default is a float means ``0.0``: fvcore would reject it as a type change."""
    if not isinstance(default, float):
        return value
    if isinstance(value, str):
        try:
            parsed = ast.literal_eval(value)
        except (ValueError, SyntaxError):
            return value
        return repr(float(parsed)) if type(parsed) is int else value
    return float(value) if type(value) is int else value


def _ints_as_floats(cfg: CfgNode, loaded: dict) -> dict:
    """A YAML file's values with :func:`_int_as_float` applied against the defaults."""
    out = {}
    for k, v in loaded.items():
        if isinstance(v, dict) and isinstance(cfg.get(k), CfgNode):
            out[k] = _ints_as_floats(cfg[k], v)
        else:
            out[k] = _int_as_float(cfg.get(k), v)
    return out


def load_config(
    config_file: str = "",
    opts: Sequence[str] = (),
    defaults: CfgNode | None = None,
    rules: Mapping[str, OneOf | Within] | None = None,
    renamed: Mapping[str, str] | None = None,
    combinations: Sequence[Requires] | None = None,
) -> CfgNode:
    """Defaults <- ``config_file`` (with ``_BASE_`` chains) <- ``KEY VALUE`` ``opts``, checked and frozen.

    Any key that the defaults do not define is an error naming that key, and so is a value
    that breaks its rule (a choice or a range), and so is a combination of values that
    ``combinations`` forbids; a key of ``renamed`` (old name -> new name) says what it is called
    now. ``defaults``, ``rules`` and ``combinations`` are pretraining's unless another job (the
    probes) passes its own.
    """
    cfg = get_cfg() if defaults is None else defaults.clone()
    if config_file:
        check_bases(config_file)
        loaded = CfgNode.load_yaml_with_base(config_file, allow_unsafe=False)
        try:
            _check_keys(cfg, _flatten(loaded), renamed or {})
        except KeyError as e:
            raise KeyError(f"{config_file}: {e.args[0]}") from None
        cfg.merge_from_other_cfg(CfgNode(_ints_as_floats(cfg, loaded)))
    if len(opts) % 2:
        raise ValueError(f"overrides come in KEY VALUE pairs, got an odd number: {list(opts)}")
    _check_keys(cfg, opts[0::2], renamed or {})
    values = [_int_as_float(_default(cfg, key), value) for key, value in zip(opts[0::2], opts[1::2], strict=True)]
    cfg.merge_from_list([x for pair in zip(opts[0::2], values, strict=True) for x in pair])
    if combinations is None:
        combinations = COMBINATIONS if defaults is None else ()
    check_config(cfg, RULES if rules is None else rules, config_file, combinations)
    cfg.freeze()
    return cfg
