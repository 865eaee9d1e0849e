"""Run the allocator on a JSON file (pure code: no Flask, no database).

``flask --app app admissions allocate-file IN.json OUT.json`` calls :func:`run_file`. The output
file appears only when everything succeeded: it is written to a temporary file next to it,
flushed to disk and renamed over ``OUT.json`` in one step, so a reader never sees half a file
and a rejected input leaves no output behind.

Exit codes: 0 allocated; 2 the input is unreadable, not JSON or not a valid instance (the
message names the record); 1 the output could not be written.
"""

from __future__ import annotations

import contextlib
import gc
import json
import os
import sys
import tempfile
from pathlib import Path

import orjson  # parses and writes the 100+ MB files of a city-wide round several times faster

from .instance import InstanceError, validate_instance
from .solver import allocate_instance

__all__ = ["EXIT_BAD_INPUT", "EXIT_OK", "EXIT_WRITE_FAILED", "load_instance", "run_file"]

EXIT_OK = 0
EXIT_WRITE_FAILED = 1
EXIT_BAD_INPUT = 2


class _BadInput(Exception):
    pass


def _reject_constant(name: str):
    raise ValueError(f"{name} is not valid JSON")


def _parse(raw: bytes, label: str):
    if raw.startswith(b"\xef\xbb\xbf"):  # a UTF-8 byte order mark, as some editors write
        raw = raw[3:]
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        pass  # let the standard parser explain (and accept integers beyond 64 bits)
    try:
        return json.loads(raw.decode("utf-8"), parse_constant=_reject_constant)
    except UnicodeDecodeError as exc:
        raise _BadInput(
            f"{label}: not valid JSON: not UTF-8 text ({exc.reason} at byte {exc.start})"
        ) from None
    except ValueError as exc:
        raise _BadInput(f"{label}: not valid JSON: {exc}") from None


def _read(in_path) -> bytes:
    try:
        return Path(in_path).read_bytes()
    except OSError as exc:
        raise _BadInput(f"{os.fspath(in_path)}: cannot read: {exc.strerror or exc}") from None


def load_instance(in_path) -> object:
    """Read and parse a JSON file; raise ``_BadInput`` with a message naming the file."""
    return _parse(_read(in_path), os.fspath(in_path))


def _explain(in_path, exc: InstanceError) -> str:
    """Re-check a rejected file with the standard parser for the most precise message.

    orjson turns integers beyond 64 bits into floats, so a huge lottery number would otherwise
    be reported as "got 1.2e+29"; only rejected files pay for this second parse.
    """
    try:
        text = _read(in_path).removeprefix(b"\xef\xbb\xbf").decode("utf-8")
        validate_instance(json.loads(text, parse_constant=_reject_constant))
    except InstanceError as precise:
        return str(precise)
    except (_BadInput, ValueError):
        pass
    return str(exc)


def _dump(result: dict) -> bytes:
    return orjson.dumps(result) + b"\n"


def _write_atomically(out_path, data: bytes) -> None:
    target = Path(out_path)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent or ".")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def run_file(in_path, out_path, *, stdout=None, stderr=None) -> int:
    """Allocate ``in_path`` (school-allocation-instance/1) into ``out_path``; return an exit code.

    On success print one summary line to ``stdout`` and return 0. On a bad input print the
    problem (naming the record) to ``stderr``, write nothing and return 2.
    """
    stdout = sys.stdout if stdout is None else stdout
    stderr = sys.stderr if stderr is None else stderr
    # Parsing a city-wide file creates millions of dicts and lists; with the cyclic GC running,
    # its collections walk the growing object graph again and again (about 5x slower at 1M
    # students). Nothing here forms reference cycles, so pause it for the run.
    gc_was_enabled = gc.isenabled()
    gc.disable()
    try:
        return _run_file(in_path, out_path, stdout, stderr)
    finally:
        if gc_was_enabled:
            gc.enable()


def _run_file(in_path, out_path, stdout, stderr) -> int:
    label = os.fspath(in_path)
    try:
        instance = load_instance(in_path)
        result = allocate_instance(instance)
    except _BadInput as exc:
        print(f"error: {exc}", file=stderr)
        return EXIT_BAD_INPUT
    except InstanceError as exc:
        print(f"error: {label}: invalid allocation instance: {_explain(in_path, exc)}", file=stderr)
        return EXIT_BAD_INPUT
    del instance
    try:
        _write_atomically(out_path, _dump(result))
    except OSError as exc:
        print(f"error: {os.fspath(out_path)}: cannot write: {exc.strerror or exc}", file=stderr)
        return EXIT_WRITE_FAILED
    stats = result["stats"]
    print(
        f"allocated {stats['assigned']} of {stats['students']} students "
        f"({stats['unassigned']} unassigned) in {stats['rounds']} round"
        f"{'' if stats['rounds'] == 1 else 's'} -> {os.fspath(out_path)}",
        file=stdout,
    )
    return EXIT_OK
