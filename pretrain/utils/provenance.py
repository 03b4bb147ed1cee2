"""What made an artifact: a small record beside it (or inside it), checked by every reader before reuse.

A folder that dilo writes and later reads again (a pretraining run, a mask folder, a mask pack) holds
``provenance.json``; a file that travels alone (a probe checkpoint, a results JSON) carries the same
record inside. A record is::

    {"kind": "pretraining run",
     "fields": {"MODEL.METHOD": "instdisc", ..., "input.train_images": "3f2a9c0d41b7e655"},
     "about": {"written": "2026-12-06T23:59:00", "dilo": "0.1.0", "command": "tools/pretrain.py ..."}}

``fields`` are everything the artifact's contents depend on: settings, and digests of its inputs;
``about`` tells a person who wrote it and is never compared. A reader builds the record it would
write itself and calls :func:`check`: a difference is an error naming every key that differs, with
both values and what to do, so a rerun, a resume or a shared cache never mixes two configurations.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import time
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field
from importlib import metadata
from typing import Any

from .atomic import read_json, write_json

RECORD = "provenance.json"
ABSENT = "<absent>"


class ProvenanceError(ValueError):
    """An artifact was made by something else than what now wants to read or extend it."""


@dataclass(frozen=True)
class Record:
    """What made an artifact (see the module docstring): ``kind``, compared ``fields``, informative ``about``."""

    kind: str
    fields: Mapping[str, Any]
    about: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def of(cls, kind: str, fields: Mapping[str, Any]) -> Record:
        """A record of ``fields`` as JSON will hold them (tuples become lists), written now by this command."""
        about = {
            "written": time.strftime("%Y-%m-%dT%H:%M:%S"),
            "dilo": _version(),
            "command": " ".join([os.path.basename(sys.argv[0]), *sys.argv[1:]]) if sys.argv else "",
        }
        return cls(kind, json.loads(json.dumps(dict(fields), sort_keys=True)), about)

    def to_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "fields": dict(self.fields), "about": dict(self.about)}

    @classmethod
    def from_json(cls, obj: Any, source: str) -> Record:
        """The record in ``obj``, read from ``source`` (named by the error if it is not a record)."""
        if not (isinstance(obj, dict) and isinstance(obj.get("kind"), str) and isinstance(obj.get("fields"), dict)):
            raise ProvenanceError(f"{source} is not a dilo provenance record (no 'kind' and 'fields'): delete it")
        return cls(obj["kind"], obj["fields"], obj.get("about") or {})

    def digest(self) -> str:
        """A short digest of ``kind`` and ``fields``: how another record names this one as its input."""
        return digest([json.dumps([self.kind, self.fields], sort_keys=True)])


def digest(lines: Iterable[str]) -> str:
    """16 hex digits of SHA-256 over ``lines`` (each ended by a newline): the identity of a listing."""
    h = hashlib.sha256()
    for line in lines:
        h.update(line.encode())
        h.update(b"\n")
    return h.hexdigest()[:16]


def differences(recorded: Record, expected: Record, ignore: Collection[str] = ()) -> list[str]:
    """One line per field that differs, ``KEY: <recorded> there, <expected> here``; ``ignore``'s keys are skipped."""
    keys = sorted((set(recorded.fields) | set(expected.fields)) - set(ignore))
    return [
        f"{key}: {_shown(recorded.fields, key)} there, {_shown(expected.fields, key)} here"
        for key in keys
        if recorded.fields.get(key, ABSENT) != expected.fields.get(key, ABSENT)
    ]


def check(recorded: Record, expected: Record, where: str, remedy: str, ignore: Collection[str] = ()) -> None:
    """Raise :class:`ProvenanceError` unless ``recorded`` (the record of the artifact at ``where``) is of
    ``expected``'s kind and equal in every field outside ``ignore``; the message lists each difference and
    ends with ``remedy`` (what the user can do)."""
    if recorded.kind != expected.kind:
        raise ProvenanceError(f"{where} holds a {recorded.kind}, not a {expected.kind}: {remedy}")
    lines = differences(recorded, expected, ignore)
    if lines:
        shown = "\n  ".join(lines)
        raise ProvenanceError(f"{where} was made with other settings than this {expected.kind}:\n  {shown}\n{remedy}")


def read(folder: str) -> Record | None:
    """The record of ``folder`` (its ``provenance.json``), or None if it has none."""
    path = os.path.join(folder, RECORD)
    if not os.path.isfile(path):
        return None
    return Record.from_json(read_json(path, "provenance record"), path)


def write(folder: str, record: Record) -> None:
    """``record`` as ``folder``'s ``provenance.json``, atomically."""
    write_json(os.path.join(folder, RECORD), record.to_json())


def claim(folder: str, expected: Record, remedy: str, ignore: Collection[str] = ()) -> Record | None:
    """Check ``folder``'s record against ``expected`` (if it has one), then record ``expected`` there.

    Returns the record found (None for a folder without one). A record whose fields differ (only in
    ``ignore``'s keys, such as the epochs of a resumed run) is replaced; an equal one is kept as written.
    """
    recorded = read(folder)
    if recorded is not None:
        check(recorded, expected, folder, remedy, ignore)
    if recorded is None or recorded.fields != expected.fields:
        write(folder, expected)
    return recorded


def _shown(fields: Mapping[str, Any], key: str) -> str:
    return json.dumps(fields[key]) if key in fields else ABSENT


def _version() -> str:
    try:
        return metadata.version("dilo")
    except metadata.PackageNotFoundError:  # run from a checkout that was not installed
        return "unknown"
