"""Config read at the edges: the library's lower packages take plain values or small frozen dataclasses.

Builders (``data/build.py``, ``engine/``, the probes' launcher, the tools) read a config and pass values down;
each entry of ``BUILDERS`` is a lower package and what in it may take a config (a parameter annotated
``CfgNode`` or named ``cfg``): function names, or a whole file. Any other such parameter fails, naming file,
line and function.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

# package (relative to the repository root) -> the functions, or files (*.py), that may take a config
BUILDERS: dict[str, frozenset[str]] = {
    "pretrain/augment": frozenset(),
    "pretrain/data": frozenset({"build.py"}),
    "pretrain/instdisc": frozenset(),
    "pretrain/models": frozenset({"build_model"}),
    "pretrain/moco": frozenset(),
    "pretrain/saliency": frozenset(),
    "pretrain/utils": frozenset(),
}


def config_parameters(source: str, filename: str = "<source>") -> list[tuple[str, int, str]]:
    """(filename, line, function) of every function (methods and nested ones included) with a config parameter."""
    found = []
    for node in ast.walk(ast.parse(source, filename)):
        if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda):
            continue
        a = node.args
        params = [*a.posonlyargs, *a.args, *a.kwonlyargs, *filter(None, (a.vararg, a.kwarg))]
        if any(p.arg == "cfg" or (p.annotation and "CfgNode" in ast.unparse(p.annotation)) for p in params):
            found.append((filename, node.lineno, getattr(node, "name", "<lambda>")))
    return found


def test_the_checker_finds_annotated_and_named_configs():
    source = "def a(cfg): ...\nclass C:\n    def b(self, x: 'CfgNode | None' = None): ...\ndef c(width: float): ..."
    assert [name for _, _, name in config_parameters(source)] == ["a", "b"]


@pytest.mark.parametrize("package", sorted(BUILDERS))
def test_only_build_functions_take_a_config(package):
    files = sorted((ROOT / package).rglob("*.py"))
    assert files, f"no Python files under {package}"
    offenders = [
        f"{Path(path).relative_to(ROOT)}:{line} {name}"
        for file in files
        for path, line, name in config_parameters(file.read_text(), str(file))
        if name not in BUILDERS[package] and file.name not in BUILDERS[package]
    ]
    assert not offenders, f"take plain values or a frozen dataclass, not a config: {offenders}"
