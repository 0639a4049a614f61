"""Strict validation of run parameters given on the command line (``-p key=value``).

Only declared parameters are accepted, required ones must be given, values are coerced
to the declared type, and optional parameters that are not given take their default.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable

from daemon.core.errors import UserError
from daemon.specs.model import DatasetSpec
from daemon.specs.parse import parse_date

_INT = re.compile(r"[+-]?\d+")
_BOOLS = {"true": True, "1": True, "yes": True, "false": False, "0": False, "no": False}


def parse_param_assignments(items: list[str]) -> dict[str, str]:
    """``["limit=10", "d=2024-01-01"]`` → ``{"limit": "10", "d": "2024-01-01"}``."""
    result: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise UserError(f"Invalid parameter '{item}': expected key=value")
        if key in result:
            raise UserError(f"Parameter '{key}' is given more than once; give it once")
        result[key] = value
    return result


def validate_parameters(spec: DatasetSpec, given: dict[str, str], *,
                        backfill: bool = False) -> dict[str, object]:
    """Typed parameter values for a run, in declaration order.

    Optional parameters that are not given take their default; those without a default
    are left out. In a backfill the parameters that take the logical date are filled per
    run (by basecamp on Airflow 2, by the DAG factory on Airflow 3), so they are neither
    required nor accepted here.
    """
    declared = {p.name: p for p in spec.parameters}
    for name in given:
        if name not in declared:
            raise UserError(f"Unknown parameter '{name}'. {_allowed(spec)}")
        if backfill and declared[name].takes_logical_date:
            raise UserError(f"Parameter '{name}' is each backfilled run's logical date; "
                            "leave it out")
    missing = [p.name for p in spec.parameters if p.required and p.name not in given
               and not (backfill and p.takes_logical_date)]
    if missing:
        noun = "parameter" if len(missing) == 1 else "parameters"
        raise UserError(f"Missing required {noun}: {', '.join(missing)}")
    result: dict[str, object] = {}
    for parameter in spec.parameters:
        if parameter.name in given:
            result[parameter.name] = _coerce(parameter.name, parameter.type,
                                             given[parameter.name])
        elif parameter.default is not None:
            result[parameter.name] = parameter.default
    return result


def _allowed(spec: DatasetSpec) -> str:
    if not spec.parameters:
        return "This workflow takes no parameters."
    names = ", ".join(f"{p.name} ({'required' if p.required else 'optional'})"
                      for p in spec.parameters)
    return f"Allowed parameters: {names}"


def _coerce(name: str, kind: str, text: str) -> object:
    value = _COERCIONS[kind](text)
    if value is None:
        raise UserError(f"Parameter '{name}' must be {_EXPECTED[kind]}, got '{text}'")
    return value


def _to_int(text: str) -> int | None:
    return int(text) if _INT.fullmatch(text.strip()) and len(text) <= 30 else None


def _to_float(text: str) -> float | None:
    try:
        value = float(text)
    except ValueError:
        return None
    return value if math.isfinite(value) and "_" not in text else None


def _to_date(text: str) -> str | None:
    return text if parse_date(text) else None


_COERCIONS: dict[str, Callable[[str], object | None]] = {
    "string": lambda text: text,
    "int": _to_int,
    "float": _to_float,
    "bool": lambda text: _BOOLS.get(text.strip().lower()),
    "date": _to_date,
}
_EXPECTED = {
    "string": "a string",
    "int": "an int",
    "float": "a float",
    "bool": "a bool (true/false/1/0/yes/no)",
    "date": "a date (YYYY-MM-DD)",
}
