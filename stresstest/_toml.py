"""Strict reading of the TOML input files (scenarios, plans): one-line errors that name the
file, the element and the field, and never a silently ignored key."""

from __future__ import annotations

import difflib
import math
import tomllib
from pathlib import Path


def closest(word: str, candidates, n: int = 3) -> str:
    """``"; did you mean 'a', 'b'?"`` or ``""`` (difflib ratio >= 0.5)."""
    cands = [str(c) for c in candidates]
    lower = {c.lower(): c for c in cands}
    hits = difflib.get_close_matches(str(word).lower(), list(lower), n=n, cutoff=0.5)
    if not hits:
        return ""
    return "; did you mean " + ", ".join(repr(lower[h]) for h in hits) + "?"


def library_path(name_or_path, library: dict, kind: str, error) -> Path:
    """The file of a built-in ``kind`` (``library`` maps names to paths) or a ``.toml`` path;
    raises ``error`` naming the file, or the unknown name with the closest names."""
    if not isinstance(name_or_path, (str, Path)):
        raise error(f"{kind} must be a name or a .toml path, got {type(name_or_path).__name__}")
    key = str(name_or_path)
    path = Path(key)
    if key.endswith(".toml") or path.exists() or "/" in key:
        if not path.is_file():
            raise error(f"{key}: no such file")
        return path
    if key not in library:
        raise error(f"{kind} {key!r}: no such built-in {kind}{closest(key, library)} "
                    f"(available: {', '.join(sorted(library)) or 'none'})")
    return library[key]


def validate_library_file(path, load, compile_):
    """``load`` a scenario or plan file and ``compile_`` it against the default economy
    (``china31``) when it is built; returns the loaded object."""
    from .economy import builtin_economies, load_economy

    obj = load(path if str(path).endswith(".toml") else Path(path))
    if "china31" in builtin_economies():
        compile_(obj, load_economy("china31", validate=False))
    return obj


def read_toml_text(path: Path, error) -> str:
    """The text of a file, or ``error`` naming it when it is missing or unreadable."""
    try:
        return Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise error(f"{path}: no such file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise error(f"{path}: cannot read ({exc})") from None


def parse_toml(text: str, source: str, error) -> dict:
    """``tomllib.loads`` with syntax errors (line and column) re-raised as ``error``."""
    if not isinstance(text, str):
        raise error(f"{source}: expected TOML text, got {type(text).__name__}")
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise error(f"{source}: TOML syntax error: {exc}") from None


def _show(value) -> str:
    if isinstance(value, str):
        return repr(value)
    if isinstance(value, (dict, list)):
        s = repr(value)
        return s if len(s) <= 60 else s[:57] + "..."
    return str(value)


class Fields:
    """Typed access to one TOML table; every failure raises ``error`` naming ``where.key``."""

    def __init__(self, table, where: str, error, allowed=None, required=()):
        self.where = where
        self.error = error
        if not isinstance(table, dict):
            self.fail(f"{where}: expected a table, got {type(table).__name__} {_show(table)}")
        self.table = table
        for key in required:
            if key not in table:
                self.fail(f"{self._at(key)}: required field is missing")
        if allowed is not None:
            for key in table:
                if key not in allowed:
                    self.fail(f"{self._at(key)}: unknown field{closest(key, allowed)} "
                              f"(allowed: {', '.join(sorted(allowed))})")

    def _at(self, key: str) -> str:
        sep = "" if self.where.endswith(": ") else "."
        return f"{self.where}{sep}{key}"

    def at(self, key: str) -> str:
        """The location string of ``key`` (file: table.key)."""
        return self._at(key)

    def fail(self, msg: str):
        raise self.error(msg)

    def bad(self, key, value, what: str):
        self.fail(f"{self._at(key)}: {_show(value)} {what}")

    def has(self, key: str) -> bool:
        return key in self.table

    def get(self, key, default=None):
        return self.table.get(key, default)

    def string(self, key, default=None, choices=None) -> str | None:
        if key not in self.table:
            return default
        value = self.table[key]
        if not isinstance(value, str):
            self.bad(key, value, f"must be a string, not {type(value).__name__}")
        if choices is not None and value not in choices:
            self.bad(key, value, "is not one of " + ", ".join(choices) + closest(value, choices))
        return value

    def boolean(self, key, default=None) -> bool | None:
        if key not in self.table:
            return default
        value = self.table[key]
        if not isinstance(value, bool):
            self.bad(key, value, f"must be true or false, not {type(value).__name__}")
        return value

    def number(self, key, default=None, lo=None, hi=None) -> float | None:
        """A finite int or float in ``[lo, hi]`` (either bound optional)."""
        if key not in self.table:
            return default
        value = self.table[key]
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            self.bad(key, value, f"must be a number, not {type(value).__name__}")
        value = float(value)
        if not math.isfinite(value):
            self.bad(key, value, "must be a finite number")
        if lo is not None and hi is not None and not lo <= value <= hi:
            self.bad(key, value, f"is outside [{lo:g}, {hi:g}]")
        if lo is not None and value < lo:
            self.bad(key, value, f"must be >= {lo:g}")
        if hi is not None and value > hi:
            self.bad(key, value, f"must be <= {hi:g}")
        return value

    def share(self, key, default=None) -> float | None:
        return self.number(key, default, 0.0, 1.0)

    def integer(self, key, default=None, lo=None) -> int | None:
        """A whole number of days (``5`` or ``5.0``; ``5.5`` is refused) ``>= lo``."""
        if key not in self.table:
            return default
        value = self.table[key]
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            self.bad(key, value, f"must be a whole number, not {type(value).__name__}")
        if isinstance(value, float) and not (math.isfinite(value) and value.is_integer()):
            self.bad(key, value, "must be a whole number of days")
        value = int(value)
        if lo is not None and value < lo:
            self.bad(key, value, f"must be >= {lo}")
        return value

    def selector(self, key, default=None):
        """A selector: a non-empty string or a non-empty list of non-empty strings."""
        if key not in self.table:
            return default
        value = self.table[key]
        if isinstance(value, str):
            if not value.strip():
                self.bad(key, value, "is an empty selection")
            return value
        if isinstance(value, list):
            if not value:
                self.bad(key, value, "is an empty selection")
            for i, item in enumerate(value):
                if not isinstance(item, str) or not item.strip():
                    self.fail(f"{self._at(key)}[{i}]: {_show(item)} must be a non-empty string")
            return list(value)
        self.bad(key, value, f"must be a string or a list of strings, not {type(value).__name__}")

    def table_list(self, key) -> list:
        """An array of tables (``[[key]]``), empty when absent."""
        if key not in self.table:
            return []
        value = self.table[key]
        if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
            self.bad(key, value, f"must be an array of tables ([[{key}]])")
        return value
