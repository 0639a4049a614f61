"""Turn the untrusted bytes of a spec file into plain Python data, safely.

Each step rejects one kind of hostile input before the next step can be hurt by it:
size before decoding, UTF-8 and control characters before YAML, a node budget while
composing, the expanded size of aliases ("billion laughs") and recursive aliases
before any Python object is built. The composed node tree also gives the line of every
key, so validation can point at the offending line.

Everything here raises ``SpecInvalid`` and nothing else.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, NoReturn

import yaml
from yaml.composer import Composer
from yaml.constructor import SafeConstructor
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode
from yaml.parser import Parser
from yaml.reader import Reader
from yaml.resolver import Resolver
from yaml.scanner import Scanner

from daemon.specs.errors import SpecInvalid
from daemon.specs.model import SpecIssue, dataset_name_problem

MAX_NODES = 100_000
"""Budget for YAML values, both as written and after expanding aliases."""
MAX_DEPTH = 64
"""Deepest nesting accepted, as written and after expanding aliases; a spec needs four."""

Path = tuple[str | int, ...]

_TAG = "tag:yaml.org,2002:"
_SCALAR_TAGS = {_TAG + t for t in ("str", "int", "float", "bool", "null", "timestamp")}
_KEY_KINDS = {
    _TAG + "bool": "true/false",
    _TAG + "int": "a number",
    _TAG + "float": "a number",
    _TAG + "null": "null",
    _TAG + "timestamp": "a date",
}
# Explicitly tagged values (``!!int abc``) must read as the tag says, as plain ones do.
_CHECKED_TAGS = {_TAG + t for t in ("int", "float", "bool")}
_RESOLVER = Resolver()
_NON_FINITE = re.compile(r"[-+]?\.(inf|nan)", re.IGNORECASE)
_MAX_INT_CHARS = 30
# What YAML itself refuses (PyYAML's Reader.NON_PRINTABLE), checked up front so both
# parser backends report it the same way and with a line number.
_NON_PRINTABLE = re.compile(
    "[^\x09\x0a\x0d\x20-\x7e\x85\xa0-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]"
)


class _OverBudget(Exception):
    """The document is larger or deeper than a spec can be; ``message`` says which."""

    def __init__(self, message: str, mark: yaml.Mark | None):
        super().__init__(message)
        self.message = message
        self.mark = mark


_TOO_DEEP = (f"YAML is nested too deeply (more than {MAX_DEPTH} levels); a spec needs only "
             "a few levels, flatten it")
# libyaml >= 0.2.6 (PyYAML 6.0.4's wheels) refuses deep flow nesting in its scanner,
# before our composer sees the nodes.
_LIBYAML_TOO_DEEP = "exceeded maximum nesting depth"


class _BudgetComposer(Composer):
    """Stops composing once the document has more than ``MAX_NODES`` values or nests
    deeper than ``MAX_DEPTH``.

    The depth check is ours so that every parser gives the same message: the pure-Python
    composer would hit Python's recursion limit, and newer libyaml releases refuse deep
    nesting themselves with a message of their own.
    """

    _composed = 0
    _depth = 0

    def compose_node(self, parent: Node | None, index: int) -> Node | None:
        self._composed += 1
        if self._composed > MAX_NODES:
            raise _OverBudget(
                f"file has more than {MAX_NODES:,} YAML values; a spec needs far fewer, "
                "remove the bulk data", self._next_mark())
        if self._depth >= MAX_DEPTH:
            raise _OverBudget(_TOO_DEEP, self._next_mark())
        self._depth += 1
        try:
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1

    def _next_mark(self) -> yaml.Mark | None:
        # peek_event comes from the parser half of the loader class.
        return self.peek_event().start_mark  # type: ignore[attr-defined, no-any-return]


class _TimestampsAsText(SafeConstructor):
    """Keeps YAML 1.1 timestamps (``2024-01-01``) as the text written.

    The spec stores dates as "YYYY-MM-DD" strings (JSON has no date type), so an
    unquoted date must not turn into a ``datetime.date``.
    """


_TimestampsAsText.add_constructor(  # type: ignore[type-var]
    _TAG + "timestamp", SafeConstructor.construct_scalar
)


class PurePythonLoader(Reader, Scanner, Parser, _BudgetComposer, _TimestampsAsText, Resolver):
    """yaml.SafeLoader semantics, every step in Python."""

    def __init__(self, stream: str):
        Reader.__init__(self, stream)
        Scanner.__init__(self)
        Parser.__init__(self)
        _BudgetComposer.__init__(self)
        _TimestampsAsText.__init__(self)
        Resolver.__init__(self)


try:
    from yaml._yaml import CParser
except ImportError:  # PyYAML built without libyaml
    Loader: type = PurePythonLoader
else:

    class LibyamlLoader(_BudgetComposer, CParser, _TimestampsAsText, Resolver):
        """yaml.SafeLoader semantics with libyaml's scanner and parser (~6x faster).

        Composition stays in Python on purpose: libyaml's own composer recurses in C and
        crashes the process on deeply nested input, and ours bounds depth and size.
        """

        def __init__(self, stream: str):
            CParser.__init__(self, stream)
            _BudgetComposer.__init__(self)
            _TimestampsAsText.__init__(self)
            Resolver.__init__(self)

    Loader = LibyamlLoader


@dataclass(frozen=True)
class Document:
    """A spec document as plain data, with the 1-based line of each key path."""

    data: dict[Any, Any]
    lines: dict[Path, int]

    def line(self, path: Path) -> int | None:
        """Line of ``path``, else of its nearest ancestor; None for the document itself."""
        for end in range(len(path), 0, -1):
            line = self.lines.get(path[:end])
            if line is not None:
                return line
        return None


def load_document(data: bytes, path: str, max_bytes: int) -> Document:
    """Decode, compose, check and construct one spec document."""
    if len(data) > max_bytes:
        _fail(path, f"file is {len(data):,} bytes, over the {max_bytes:,}-byte limit "
              "for a spec; shrink it (a spec is usually a few hundred bytes)")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        _fail(path, f"file is not valid UTF-8: byte 0x{data[exc.start]:02x} at offset "
              f"{exc.start} cannot be decoded; save the file as UTF-8", line)
    bad = _NON_PRINTABLE.search(text)
    if bad:
        line = text.count("\n", 0, bad.start()) + 1
        _fail(path, f"control character U+{ord(bad.group()):04X} is not allowed in YAML; "
              "remove it", line)
    root, yaml_loader = _compose(text, path)
    if root is None or (isinstance(root, ScalarNode) and root.tag == _TAG + "null"):
        _fail(path, "file is empty; a spec is a YAML mapping with at least name, owner, "
              "team and schedule")
    if not isinstance(root, MappingNode):
        _fail(path, f"the document is {_node_kind(root)}, not a mapping; a spec is a set "
              "of key: value pairs starting with name:", _line(root))
    name = _declared_name(root)
    problem = _expansion_problem(root)
    if problem:
        _fail(path, *problem, name=name)
    lines, issues = _walk(root)
    if issues:
        raise SpecInvalid(path, tuple(issues), name)
    try:
        value = yaml_loader.construct_document(root)
    except (yaml.YAMLError, ValueError, TypeError, RecursionError) as exc:
        mark = getattr(exc, "problem_mark", None)
        problem_text = getattr(exc, "problem", None) or str(exc)
        _fail(path, f"a YAML value could not be read: {problem_text}; fix the value on "
              "this line", mark.line + 1 if mark else None, name=name)
    return Document(value, lines)


def _compose(text: str, path: str) -> tuple[Node | None, Any]:
    yaml_loader = Loader(text)
    try:
        return yaml_loader.get_single_node(), yaml_loader
    except _OverBudget as exc:
        _fail(path, exc.message, exc.mark.line + 1 if exc.mark else None)
    except yaml.MarkedYAMLError as exc:
        if exc.problem == _LIBYAML_TOO_DEEP:
            _fail(path, _TOO_DEEP, exc.problem_mark.line + 1 if exc.problem_mark else None)
        _fail(path, *_syntax_problem(exc, text))
    except yaml.YAMLError as exc:
        _fail(path, f"YAML could not be read: {exc}; fix the YAML syntax")


def _syntax_problem(exc: yaml.MarkedYAMLError, text: str) -> tuple[str, int | None]:
    mark = exc.problem_mark or exc.context_mark
    line = mark.line + 1 if mark else None
    if exc.context == "expected a single document in the stream":
        return ("file holds more than one YAML document (the next one starts here); "
                "keep one spec per file and remove the extra '---'", line)
    problem = exc.problem or exc.context or "invalid YAML"
    context_line = exc.context_mark.line + 1 if exc.context_mark else None
    if exc.context and exc.problem and context_line not in (None, line):
        problem += f" ({exc.context} on line {context_line})"
    if mark and _char_at(text, mark) == "\t":
        hint = "indent with spaces, YAML does not allow tabs"
    elif "alias" in problem:
        hint = "define the anchor (&name) before using the alias (*name)"
    else:
        hint = "check the indentation, quoting and brackets on this line"
    return f"YAML syntax error: {problem}; {hint}", line


def _char_at(text: str, mark: yaml.Mark) -> str:
    lines = text.split("\n", mark.line + 1)
    if mark.line >= len(lines):
        return ""
    line = lines[mark.line]
    return line[mark.column] if mark.column < len(line) else ""


def _children(node: Node) -> list[Node]:
    if isinstance(node, SequenceNode):
        return list(node.value)
    if isinstance(node, MappingNode):
        return [n for pair in node.value for n in pair]
    return []


def _expansion_problem(root: Node) -> tuple[str, int | None] | None:
    """Expanded node count and recursion check, linear in the composed graph.

    An alias is the very node object it refers to, so memoizing by identity visits each
    node once while the sums still count every reference.
    """
    sizes: dict[int, int] = {}
    on_path = {id(root)}
    stack = [(root, iter(_children(root)))]
    while stack:
        node, pending = stack[-1]
        child = next(pending, None)
        if child is None:
            stack.pop()
            on_path.discard(id(node))
            sizes[id(node)] = 1 + sum(sizes[id(c)] for c in _children(node))
            continue
        if id(child) in sizes:
            continue
        if id(child) in on_path:
            return ("an alias refers to a value that contains it (a recursive "
                    "structure); replace the alias with the values it should hold",
                    _line(child))
        on_path.add(id(child))
        stack.append((child, iter(_children(child))))
    if sizes[id(root)] > MAX_NODES:
        return (f"aliases expand to {sizes[id(root)]:,} YAML values, more than the "
                f"{MAX_NODES:,} allowed; write the values out instead of nesting aliases",
                None)
    return None


def _walk(root: MappingNode) -> tuple[dict[Path, int], list[SpecIssue]]:
    """Record the line of every key path and collect structural problems.

    Runs on the expanded tree, which ``_expansion_problem`` has bounded. A mapping
    merged in with ``<<`` is walked at the merging mapping's path, skipping the keys
    that mapping sets itself (``shadowed``): those win, as in the constructed data.
    """
    lines: dict[Path, int] = {}
    issues: dict[tuple[str, int], None] = {}  # ordered set: merges revisit nodes
    stack: list[tuple[Path, Node, frozenset[str]]] = [((), root, frozenset())]
    while stack:
        path, node, shadowed = stack.pop()
        problem = _node_problem(node, path)
        if problem:
            issues[(problem, _line(node))] = None
        elif isinstance(node, SequenceNode):
            for index, item in enumerate(node.value):
                lines[path + (index,)] = _line(item)
                stack.append((path + (index,), item, frozenset()))
        elif isinstance(node, MappingNode):
            seen: set[str] = set()
            merges: list[Node] = []
            for key, value in node.value:
                if key.tag == _TAG + "merge":
                    merges.extend(value.value if isinstance(value, SequenceNode) else [value])
                    continue
                problem = _key_problem(key, seen)
                if problem:
                    issues[(problem, _line(key))] = None
                    continue
                seen.add(key.value)
                if key.value not in shadowed:
                    lines[path + (key.value,)] = _line(key)
                    stack.append((path + (key.value,), value, frozenset()))
            stack.extend((path, item, shadowed | seen) for item in merges)
    return lines, sorted((SpecIssue(message, line) for message, line in issues),
                         key=lambda issue: issue.line or 0)


def _node_problem(node: Node, path: Path) -> str | None:
    if len(path) > MAX_DEPTH:
        return (f"aliases nest values more than {MAX_DEPTH} levels deep; write the values "
                "out instead of nesting aliases")
    if isinstance(node, ScalarNode):
        return _scalar_problem(node)
    expected = _TAG + ("seq" if isinstance(node, SequenceNode) else "map")
    return None if node.tag == expected else _tag_problem(node.tag)


def _scalar_problem(node: ScalarNode) -> str | None:
    if node.tag not in _SCALAR_TAGS:
        return _tag_problem(node.tag)
    if node.tag in _CHECKED_TAGS and node.tag != _RESOLVER.resolve(  # type: ignore[no-untyped-call]
        ScalarNode, node.value, (True, False)
    ):
        return (f"{_short(node.value)!r} is not a valid {_tag_name(node.tag)}; fix the "
                "value or remove the tag")
    if node.tag == _TAG + "int" and len(node.value) > _MAX_INT_CHARS:
        return f"number {_short(node.value)} is too large; use a smaller number"
    if node.tag == _TAG + "float" and _NON_FINITE.fullmatch(node.value):
        return f"{node.value} is not a usable number; use a finite number"
    return None


def _key_problem(key: Node, seen: set[str]) -> str | None:
    if not isinstance(key, ScalarNode):
        return f"a key must be plain text, not {_node_kind(key)}; use a text key"
    if key.tag == _TAG + "str":
        if key.value in seen:
            return f"key {_short(key.value)!r} appears twice in this mapping; keep one"
        return None
    kind = _KEY_KINDS.get(key.tag)
    if kind is None:
        return _tag_problem(key.tag)
    shown = _short(key.value)
    return f"key {shown!r} is read by YAML as {kind}; quote it (\"{shown}\") to use it as a key"


def _tag_problem(tag: str) -> str:
    return (f"YAML tag {_short(_tag_name(tag))} is not supported; use plain text, numbers, "
            "true/false, lists and mappings")


def _tag_name(tag: str) -> str:
    return "!!" + tag[len(_TAG):] if tag.startswith(_TAG) else tag


def _declared_name(root: MappingNode) -> str | None:
    """The document's dataset name if it declares a valid one, whatever else is wrong."""
    for key, value in root.value:
        if (isinstance(key, ScalarNode) and key.tag == _TAG + "str" and key.value == "name"
                and isinstance(value, ScalarNode) and value.tag == _TAG + "str"
                and dataset_name_problem(value.value) is None):
            return str(value.value)
    return None


def _node_kind(node: Node) -> str:
    if isinstance(node, SequenceNode):
        return "a list"
    if isinstance(node, MappingNode):
        return "a mapping"
    return "a single value"


def _line(node: Node) -> int:
    return node.start_mark.line + 1


def _short(text: str, limit: int = 40) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _fail(
    path: str, message: str, line: int | None = None, *, name: str | None = None
) -> NoReturn:
    raise SpecInvalid(path, (SpecIssue(message, line),), name)
