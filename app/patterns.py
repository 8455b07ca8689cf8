"""Callback name filters: Python regular expressions matched against whole names.

A filter uses Python's ``re`` syntax with ``re.fullmatch`` semantics. Patterns
are checked with ``re`` itself but matched with the ``regex`` package, which
takes a time limit: a pattern that backtracks catastrophically counts as no
match instead of holding a worker.
"""

from __future__ import annotations

import enum
import logging
import re
from bisect import bisect_left
from collections.abc import Hashable, Iterable
from dataclasses import dataclass
from functools import lru_cache
from itertools import chain
from typing import Generic, TypeVar

import regex

from app.errors import InvalidInput

try:  # The parse tree is only reachable through re's private parser module.
    from re import _parser as _re_parser
except ImportError:  # Python 3.10
    import sre_parse as _re_parser  # type: ignore[no-redef]

MAX_PATTERN_LENGTH = 256
DEFAULT_TIMEOUT = 0.005

# The regex package unrolls counted repeats when it compiles, so that
# "((a{999}){999}){999}" asks for gigabytes. Nested counts multiply; this many
# items in all is far more than names of at most 256 characters need.
MAX_UNROLLED_ITEMS = 1000

_REPEATS = frozenset(
    getattr(_re_parser, name)
    for name in ("MAX_REPEAT", "MIN_REPEAT", "POSSESSIVE_REPEAT")
    if hasattr(_re_parser, name)
)

# Conservative on purpose: only spellings that certainly match every name.
# A bare "." stops at "\n", so these match all names without a line break.
_ANY_LINE = frozenset({".*", ".*?", "(.*)", "(.*?)", "(?:.*)", "(?:.*?)"})
_ANY_NAME = frozenset({"(?s).*", "(?s).*?", "(?s:.*)", "(?s:.*?)"})

Id = TypeVar("Id", bound=Hashable)

logger = logging.getLogger("modelhooks.patterns")


def validate(pattern: object, field: str) -> None:
    """Raise ``InvalidInput`` for ``field`` unless ``pattern`` is a usable filter."""
    if not isinstance(pattern, str):
        message = f"must be a regular expression as a string; got {pattern!r}"
        raise InvalidInput.for_field(field, message)

    if len(pattern) > MAX_PATTERN_LENGTH:
        message = (
            f"must be at most {MAX_PATTERN_LENGTH} characters; "
            f"got {len(pattern)} characters"
        )
        raise InvalidInput.for_field(field, message)

    try:
        _compile(pattern)
    except ValueError as exc:
        raise InvalidInput.for_field(field, str(exc)) from None


def matches(pattern: str, name: str, timeout: float = DEFAULT_TIMEOUT) -> bool:
    """Whether ``pattern`` matches all of ``name``.

    A pattern that cannot be compiled, or that runs past ``timeout`` seconds,
    counts as no match and is logged at warning.
    """
    try:
        compiled = _compile(pattern)
    except ValueError as exc:
        logger.warning("pattern %r is unusable, counted as no match: %s", pattern, exc)
        return False
    return _fullmatch(compiled, name, timeout)


class _Kind(enum.Enum):
    ANY_NAME = "matches every name"
    ANY_LINE = "matches every name without a line break"
    LITERAL = "matches exactly the pattern's text"
    REGEX = "needs the regular expression engine"
    UNUSABLE = "matches nothing"


@dataclass(frozen=True, eq=False)
class _Filter:
    """A classified pattern; a matcher makes one per distinct pattern, so that
    identity (a cheap hash) tells filters apart."""

    kind: _Kind
    pattern: str
    # Compiled once when the matcher is built, not looked up per match: an
    # account with more distinct patterns than the compile cache holds would
    # otherwise compile them all again for every event.
    compiled: regex.Pattern[str] | None = None
    # Text every matching name starts with (regular expressions only).
    prefix: str = ""


class _Group:
    """The callbacks sharing both filters: positions in the input, and ids."""

    __slots__ = ("positions", "ids")

    def __init__(self) -> None:
        self.positions: list[int] = []
        self.ids: list = []


_Key = tuple[_Filter, _Filter]

# Up to this many callbacks outside the largest matching group are put in
# place one by one; beyond it, sorting everything is cheaper.
_FEW = 256


class Matcher(Generic[Id]):
    """The callbacks whose two filters match a model, found without a full scan.

    Built from ``(callback_id, model_pattern, project_pattern)`` tuples.
    Callbacks with the same two filters form one group, decided once per
    event: most accounts have far fewer distinct filters than callbacks.
    Filters that match everything run no regular expression; groups with a
    plain name, or a regular expression starting with plain text, are looked up
    in dicts by that text; only the rest are scanned. Each regular expression
    runs under the timeout.
    """

    def __init__(
        self,
        callbacks: Iterable[tuple[Id, str, str]],
        timeout: float = DEFAULT_TIMEOUT,
    ) -> None:
        self._timeout = timeout
        self._ids: list[Id] = []
        self._groups: dict[_Key, _Group] = {}
        # Each group is found through exactly one of these.
        self._by_model: dict[str, list[_Key]] = {}
        self._by_project: dict[str, list[_Key]] = {}
        self._by_model_prefix: dict[int, dict[str, list[_Key]]] = {}
        self._by_project_prefix: dict[int, dict[str, list[_Key]]] = {}
        self._scanned: list[_Key] = []

        filters: dict[str, _Filter] = {}
        for callback_id, model_pattern, project_pattern in callbacks:
            model = filters.get(model_pattern)
            if model is None:
                model = filters[model_pattern] = _classify(model_pattern)
            project = filters.get(project_pattern)
            if project is None:
                project = filters[project_pattern] = _classify(project_pattern)
            self._add(callback_id, model, project)

    def match(self, model_name: str, project_name: str) -> list[Id]:
        """The ids of the matching callbacks, in the order they were given."""
        seen: dict[tuple[str, str], bool] = {}

        passing = []
        for key in self._candidates(model_name, project_name):
            model, project = key
            model_passes = self._passes(model, model_name, seen)
            if model_passes and self._passes(project, project_name, seen):
                passing.append(self._groups[key])
        return self._in_given_order(passing)

    def _candidates(self, model_name: str, project_name: str) -> Iterable[_Key]:
        found = [self._by_model.get(model_name, ()),
                 self._by_project.get(project_name, ())]
        for length, table in self._by_model_prefix.items():
            found.append(table.get(model_name[:length], ()))
        for length, table in self._by_project_prefix.items():
            found.append(table.get(project_name[:length], ()))
        found.append(self._scanned)
        return chain.from_iterable(found)

    def _in_given_order(self, passing: list[_Group]) -> list[Id]:
        if not passing:
            return []
        passing.sort(key=lambda group: len(group.positions), reverse=True)
        largest, others = passing[0], passing[1:]
        if sum(len(group.positions) for group in others) > _FEW:
            # Each group is ascending: sorting the concatenation merges runs.
            positions = sorted(chain.from_iterable(g.positions for g in passing))
            return [self._ids[position] for position in positions]

        positions, ids = list(largest.positions), list(largest.ids)
        for group in others:
            for position, callback_id in zip(group.positions, group.ids, strict=True):
                at = bisect_left(positions, position)
                positions.insert(at, position)
                ids.insert(at, callback_id)
        return ids

    def _add(self, callback_id: Id, model: _Filter, project: _Filter) -> None:
        if _Kind.UNUSABLE in (model.kind, project.kind):
            return

        position = len(self._ids)
        self._ids.append(callback_id)
        key = (model, project)
        group = self._groups.get(key)
        if group is None:
            group = self._groups[key] = _Group()
            self._index(key)
        group.positions.append(position)
        group.ids.append(callback_id)

    def _index(self, key: _Key) -> None:
        model, project = key
        if model.kind is _Kind.LITERAL:
            self._by_model.setdefault(model.pattern, []).append(key)
        elif project.kind is _Kind.LITERAL:
            self._by_project.setdefault(project.pattern, []).append(key)
        elif model.prefix:
            table = self._by_model_prefix.setdefault(len(model.prefix), {})
            table.setdefault(model.prefix, []).append(key)
        elif project.prefix:
            table = self._by_project_prefix.setdefault(len(project.prefix), {})
            table.setdefault(project.prefix, []).append(key)
        else:
            self._scanned.append(key)

    def _passes(
        self, check: _Filter, name: str, seen: dict[tuple[str, str], bool]
    ) -> bool:
        if check.kind is _Kind.ANY_NAME:
            return True
        if check.kind is _Kind.ANY_LINE:
            return "\n" not in name
        if check.kind is _Kind.LITERAL:
            return name == check.pattern

        # Groups often share a pattern: run each once per name, so that a slow
        # pattern costs one timeout per event rather than one per group.
        key = (check.pattern, name)
        if key not in seen:
            seen[key] = _fullmatch(check.compiled, name, self._timeout)
        return seen[key]


def _classify(pattern: str) -> _Filter:
    if pattern in _ANY_NAME:
        return _Filter(_Kind.ANY_NAME, pattern)
    if pattern in _ANY_LINE:
        return _Filter(_Kind.ANY_LINE, pattern)
    # re.escape leaves a character alone only when it is never special.
    if re.escape(pattern) == pattern:
        return _Filter(_Kind.LITERAL, pattern)

    try:
        compiled = _compile(pattern)
    except ValueError as exc:
        logger.warning("pattern %r is unusable, matches nothing: %s", pattern, exc)
        return _Filter(_Kind.UNUSABLE, pattern)
    return _Filter(_Kind.REGEX, pattern, compiled, _literal_prefix(pattern))


def _literal_prefix(pattern: str) -> str:
    """The plain text every full match of ``pattern`` starts with, maybe ""."""
    parsed = _re_parser.parse(pattern)
    if parsed.state.flags & (re.IGNORECASE | re.VERBOSE):
        return ""
    prefix = []
    for op, argument in parsed.data:
        if op != _re_parser.LITERAL:
            break
        prefix.append(chr(argument))
    return "".join(prefix)


@lru_cache(maxsize=256)
def _compile(pattern: str) -> regex.Pattern[str]:
    """The pattern compiled for matching; ``ValueError`` says why it cannot be."""
    try:
        re.compile(pattern)
    except re.error as exc:
        raise ValueError(
            f"must be a Python regular expression ({exc}); got {pattern!r}"
        ) from None

    if _unrolled_items(_re_parser.parse(pattern)) > MAX_UNROLLED_ITEMS:
        raise ValueError(
            f"must not repeat more than {MAX_UNROLLED_ITEMS} items in all, nested "
            f"counts multiplied; got {pattern!r}"
        )

    try:
        return regex.compile(pattern)
    except regex.error as exc:
        raise ValueError(
            f"must be a regular expression the matcher accepts ({exc}); got {pattern!r}"
        ) from None


def _unrolled_items(node: object) -> int:
    """How many items compiling would unroll ``node`` into, roughly."""
    if isinstance(node, _re_parser.SubPattern):
        return sum(_item_units(op, argument) for op, argument in node.data)
    if isinstance(node, (list, tuple)):
        return sum(_unrolled_items(part) for part in node)
    return 0


def _item_units(op: object, argument: object) -> int:
    if op not in _REPEATS:
        return 1 + _unrolled_items(argument)

    low, high, body = argument
    count = low if high == _re_parser.MAXREPEAT else high
    return max(count, 1) * _unrolled_items(body)


def _fullmatch(compiled: regex.Pattern[str], name: str, timeout: float) -> bool:
    try:
        return compiled.fullmatch(name, timeout=timeout) is not None
    except TimeoutError:
        logger.warning(
            "pattern %r ran past %s s on %r, counted as no match",
            compiled.pattern,
            timeout,
            name,
        )
        return False
