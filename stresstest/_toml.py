"""Strict reading of the TOML input files (scenarios, plans): every problem of a file, one line
each naming the file, the element and the field (collected in a :class:`Problems` and raised
together as one error), and never a silently ignored key."""

from __future__ import annotations

import difflib
import math
import re
import tomllib
from pathlib import Path


#: Similarity (difflib ratio, case-insensitive) a name needs to be suggested; short words (up to
#: 4 characters) need :data:`SUGGEST_SHORT`. Suggestions are also kept within
#: :data:`SUGGEST_SPREAD` of the best one, so "Atlantis" suggests nothing and "Sichaun" suggests
#: "Sichuan" only.
SUGGEST_CUTOFF = 0.75
SUGGEST_SHORT = 0.66
SUGGEST_SPREAD = 0.1


def suggestions(word: str, candidates, n: int = 3) -> list[str]:
    """Up to ``n`` candidates close to ``word``: difflib ratio >= :data:`SUGGEST_CUTOFF` (or
    :data:`SUGGEST_SHORT` for words of up to 4 characters) and within
    :data:`SUGGEST_SPREAD` of the best, or a candidate that starts with ``word`` (at least 3
    characters) or that ``word`` starts with (at least 4), best first."""
    word = str(word).lower()
    if not word:
        return []
    cands = list(dict.fromkeys(str(c) for c in candidates))
    cutoff = SUGGEST_SHORT if len(word) <= 4 else SUGGEST_CUTOFF
    scored = []
    for c in cands:
        low = c.lower()
        r = difflib.SequenceMatcher(None, word, low).ratio()
        prefix = ((len(word) >= 3 and low.startswith(word))
                  or (len(low) >= 4 and word.startswith(low)))
        if r >= cutoff or prefix:
            scored.append((max(r, 0.8) if prefix else r, c))
    if not scored:
        return []
    scored.sort(key=lambda t: -t[0])
    best = scored[0][0]
    return [c for r, c in scored if r >= best - SUGGEST_SPREAD][:n]


def closest(word: str, candidates, n: int = 3) -> str:
    """``"; did you mean 'a', 'b'?"`` or ``""`` (see :func:`suggestions`)."""
    hits = suggestions(word, candidates, n)
    if not hits:
        return ""
    return "; did you mean " + ", ".join(repr(h) for h in hits) + "?"


class Problems:
    """Collects the problems of one input, one line each, in order without duplicates;
    :meth:`check` raises them as one ``error`` (a :class:`~stresstest.errors.ProblemsError`)."""

    def __init__(self, error):
        self.error = error
        self.items: list[str] = []

    def add(self, msg: str) -> None:
        msg = str(msg)
        if msg not in self.items:
            self.items.append(msg)

    def extend(self, msgs) -> None:
        for m in msgs:
            self.add(m)

    def __bool__(self) -> bool:
        return bool(self.items)

    def __len__(self) -> int:
        return len(self.items)

    def catch(self, fn, *args, **kwargs):
        """``fn(*args, **kwargs)``, or ``None`` after recording the problems of an ``error`` it
        raises."""
        try:
            return fn(*args, **kwargs)
        except self.error as exc:
            self.extend(getattr(exc, "problems", None) or [str(exc)])
            return None

    def check(self, order=()) -> None:
        """Raise every problem as one ``error`` (sorted by :func:`sort_problems` with
        ``order``) if there is any."""
        if self.items:
            raise self.error(*sort_problems(self.items, order))


_ELEMENT = re.compile(r": ([A-Za-z_]+)\[(\d+)\]")


def sort_problems(items, order=()) -> list[str]:
    """Problems in file order: top-level fields first (as found), then the elements of each
    array of tables in ``order`` (e.g. ``("events",)``) by index; stable otherwise."""
    rank = {k: i for i, k in enumerate(order)}

    def key(msg):
        m = _ELEMENT.search(msg)
        if not m or m.group(1) not in rank:
            return (0, 0, 0)
        return (1, rank[m.group(1)], int(m.group(2)))

    return sorted(items, key=key)


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
    """Typed access to one TOML table. A failure records one problem naming ``where.key`` in
    ``problems`` (a :class:`Problems`) and the accessor returns ``None``; ``ok`` says whether
    this table had none. ``aliases`` maps likely mistakes to the field meant (``duration`` ->
    ``horizon``) for the unknown-field hint."""

    def __init__(self, table, where: str, problems: Problems, allowed=None, required=(),
                 aliases=None):
        self.where = where
        self.problems = problems
        self.errors = 0
        if not isinstance(table, dict):
            self.fail(f"{where.rstrip(': ')}: expected a table, got {type(table).__name__} "
                      f"{_show(table)}")
            table = {}
        self.table = table
        aliases = aliases or {}
        for key in required:
            if key not in table:
                meant = [k for k in table if (allowed is not None and k not in allowed)
                         and (aliases.get(k) == key or (k not in aliases and key in
                                                        suggestions(k, allowed)))]
                hint = f" (is {meant[0]!r} meant to be {key!r}?)" if meant else ""
                self.fail(f"{self._at(key)}: required field is missing{hint}")
        if allowed is not None:
            for key in table:
                if key not in allowed:
                    hint = (f"; did you mean {aliases[key]!r}?" if key in aliases
                            else closest(key, allowed))
                    self.fail(f"{self._at(key)}: unknown field{hint} "
                              f"(allowed: {', '.join(sorted(allowed))})")

    @property
    def ok(self) -> bool:
        """No problem recorded for this table."""
        return self.errors == 0

    def _at(self, key: str) -> str:
        sep = "" if self.where.endswith(": ") else "."
        return f"{self.where}{sep}{key}"

    def at(self, key: str) -> str:
        """The location string of ``key`` (file: table.key)."""
        return self._at(key)

    def fail(self, msg: str) -> None:
        self.errors += 1
        self.problems.add(msg)

    def bad(self, key, value, what: str) -> None:
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
            return self.bad(key, value, f"must be a string, not {type(value).__name__}")
        if choices is not None and value not in choices:
            return self.bad(key, value, "is not one of " + ", ".join(choices)
                            + closest(value, choices))
        return value

    def boolean(self, key, default=None) -> bool | None:
        if key not in self.table:
            return default
        value = self.table[key]
        if not isinstance(value, bool):
            return self.bad(key, value, f"must be true or false, not {type(value).__name__}")
        return value

    def number(self, key, default=None, lo=None, hi=None) -> float | None:
        """A finite int or float in ``[lo, hi]`` (either bound optional)."""
        if key not in self.table:
            return default
        value = self.table[key]
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return self.bad(key, value, f"must be a number, not {type(value).__name__}")
        value = float(value)
        if not math.isfinite(value):
            return self.bad(key, value, "must be a finite number")
        if lo is not None and hi is not None and not lo <= value <= hi:
            return self.bad(key, value, f"is outside [{lo:g}, {hi:g}]")
        if lo is not None and value < lo:
            return self.bad(key, value, f"must be >= {lo:g}")
        if hi is not None and value > hi:
            return self.bad(key, value, f"must be <= {hi:g}")
        return value

    def share(self, key, default=None) -> float | None:
        return self.number(key, default, 0.0, 1.0)

    def ranged(self, key, lo=None, hi=None, whole=False, default=None):
        """A value or an uncertainty range ``[low, high]`` (low <= high, both in ``[lo, hi]``):
        ``(value, None)`` or ``(midpoint, (low, high))``; whole days for ``whole`` (the
        midpoint rounded half up). ``(None, None)`` after recording a problem."""
        if key not in self.table:
            return default, None
        value = self.table[key]
        if not isinstance(value, list):
            got = self.integer(key, lo=lo) if whole else self.number(key, lo=lo, hi=hi)
            return got, None
        if len(value) != 2:
            self.bad(key, value, "must be a number or a range [low, high] of two numbers")
            return None, None
        sub = Fields({"low": value[0], "high": value[1]}, self._at(key), self.problems)
        pair = [sub.integer(k, lo=lo) if whole else sub.number(k, lo=lo, hi=hi)
                for k in ("low", "high")]
        self.errors += sub.errors
        if None in pair:
            return None, None
        if pair[0] > pair[1]:
            self.bad(key, value, "is a range [low, high] with low > high")
            return None, None
        mid = (pair[0] + pair[1]) / 2
        return (int(math.floor(mid + 0.5)) if whole else round(mid, 12)), (pair[0], pair[1])

    def integer(self, key, default=None, lo=None) -> int | None:
        """A whole number of days (``5`` or ``5.0``; ``5.5`` is refused) ``>= lo``."""
        if key not in self.table:
            return default
        value = self.table[key]
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return self.bad(key, value, f"must be a whole number, not {type(value).__name__}")
        if isinstance(value, float) and not (math.isfinite(value) and value.is_integer()):
            return self.bad(key, value, "must be a whole number of days")
        value = int(value)
        if lo is not None and value < lo:
            return self.bad(key, value, f"must be >= {lo}")
        return value

    def selector(self, key, default=None):
        """A selector: a non-empty string or a non-empty list of non-empty strings."""
        if key not in self.table:
            return default
        value = self.table[key]
        if isinstance(value, str):
            if not value.strip():
                return self.bad(key, value, "is an empty selection")
            return value
        if isinstance(value, list):
            if not value:
                return self.bad(key, value, "is an empty selection")
            bad = [i for i, item in enumerate(value)
                   if not isinstance(item, str) or not item.strip()]
            if bad:
                more = (f" (so are items {', '.join(map(str, bad[1:]))})" if len(bad) > 1
                        else "")
                return self.fail(f"{self._at(key)}[{bad[0]}]: {_show(value[bad[0]])} must be a "
                                 f"non-empty string{more}")
            return list(value)
        return self.bad(key, value, "must be a string or a list of strings, not "
                        f"{type(value).__name__}")

    def table_list(self, key) -> list:
        """An array of tables (``[[key]]``), empty when absent (or invalid)."""
        if key not in self.table:
            return []
        value = self.table[key]
        if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
            self.bad(key, value, f"must be an array of tables ([[{key}]])")
            return []
        return value
