"""Finding the line of a key in a TOML file, for error messages (tomllib has no positions)."""

import re

_KEY_PART = re.compile(r"""\s*([A-Za-z0-9_-]+|"(?:[^"\\]|\\.)*"|'[^']*')\s*""")
_STRING = re.compile(r""""(?:[^"\\]|\\.)*"|'[^']*'""")


def _read_key(line: str, pos: int) -> tuple[tuple[str, ...], int] | None:
    """Read a (dotted, possibly quoted) TOML key at ``pos``; return parts and end."""
    parts: list[str] = []
    while match := _KEY_PART.match(line, pos):
        part, pos = match.group(1), match.end()
        if part[0] == '"':
            part = part[1:-1].replace('\\"', '"').replace("\\\\", "\\")
        elif part[0] == "'":
            part = part[1:-1]
        parts.append(part)
        if not line.startswith(".", pos):
            return tuple(parts), pos
        pos += 1
    return None


def _bracket_depth(text: str) -> int:
    """Net ``[`` minus ``]`` in a line, ignoring strings and comments."""
    code = _STRING.sub("", text).split("#", 1)[0]
    return code.count("[") - code.count("]")


class LineLocator:
    """Maps (key path, array element index) to the line where it is written.

    tomllib reports no positions, so this scans the raw text tracking the current
    ``[table]`` / ``[[array]]`` header and the element index of the array. Good enough
    for error messages: it skips multi-line strings and arrays, and lookups fall back
    to the nearest enclosing key or header.
    """

    def __init__(self, text: str) -> None:
        self._lines: dict[tuple[tuple[str, ...], int | None], int] = {}
        table: tuple[str, ...] = ()
        index: int | None = None
        array_counts: dict[tuple[str, ...], int] = {}
        current_array: tuple[str, ...] | None = None
        in_string = ""
        array_depth = 0
        for number, line in enumerate(text.splitlines(), start=1):
            stripped = line.strip()
            if in_string:
                if stripped.count(in_string) % 2:
                    in_string = ""
                continue
            if array_depth > 0:
                array_depth += _bracket_depth(stripped)
                continue
            if stripped.startswith("["):
                is_array = stripped.startswith("[[")
                header = _read_key(stripped, 2 if is_array else 1)
                closing = "]]" if is_array else "]"
                if header is None or not stripped[header[1] :].startswith(closing):
                    continue
                table = header[0]
                if is_array:
                    array_counts[table] = array_counts.get(table, 0) + 1
                    current_array, index = table, array_counts[table] - 1
                elif current_array is None or table[: len(current_array)] != current_array:
                    current_array, index = None, None
                self._record(table, index, number)
                continue
            key = _read_key(stripped, 0) if stripped and stripped[0] != "#" else None
            if key is None or not stripped[key[1] :].startswith("="):
                continue
            self._record(table + key[0], index, number)
            value = stripped[key[1] + 1 :]
            for quote in ('"""', "'''"):
                if value.count(quote) % 2:
                    in_string = quote
            if not in_string:
                array_depth = max(_bracket_depth(value), 0)

    def _record(self, path: tuple[str, ...], index: int | None, line: int) -> None:
        for length in range(1, len(path) + 1):  # ancestors too: a.b = 1 defines [a]
            self._lines.setdefault((path[:length], index), line)

    def line_of(self, path: tuple[str, ...], index: int | None) -> int | None:
        """Line of ``path`` or, failing that, of its nearest written ancestor."""
        for length in range(len(path), 0, -1):
            line = self._lines.get((path[:length], index))
            if line is not None:
                return line
        return None
