"""Strict run-parameter validation (seed 001 §3.4) and ``-p key=value`` parsing."""

from __future__ import annotations

import pytest

from daemon.core.errors import UserError
from daemon.specs import (
    DatasetSpec,
    Parameter,
    Schedule,
    parse_param_assignments,
    validate_parameters,
)


def make_spec(*parameters: Parameter) -> DatasetSpec:
    return DatasetSpec(
        name="ds", type="Dataset", owner="o", team="t", description="", query_file="",
        connection_id="", parameters=parameters, schedule=Schedule(True, "0 9 * * *"),
    )


SPEC = make_spec(
    Parameter("execution_date", "string", True, None, ""),
    Parameter("limit", "int", False, 100, ""),
)


def test_valid_parameters_get_defaults() -> None:
    assert validate_parameters(SPEC, {"execution_date": "2024-01-01"}) == {
        "execution_date": "2024-01-01", "limit": 100}
    assert validate_parameters(SPEC, {"limit": "5", "execution_date": "x"}) == {
        "execution_date": "x", "limit": 5}


def test_a_backfill_fills_the_logical_date_itself() -> None:
    assert validate_parameters(SPEC, {}, backfill=True) == {"limit": 100}
    with pytest.raises(UserError) as info:
        validate_parameters(SPEC, {"execution_date": "2024-01-01"}, backfill=True)
    assert str(info.value) == ("Parameter 'execution_date' is each backfilled run's logical "
                               "date; leave it out")
    with pytest.raises(UserError, match="Missing required parameter: execution_date"):
        validate_parameters(SPEC, {})


def test_unknown_parameter_lists_the_allowed_ones() -> None:
    with pytest.raises(UserError) as info:
        validate_parameters(SPEC, {"execution_date": "x", "undefined_param": "v"})
    assert str(info.value) == ("Unknown parameter 'undefined_param'. Allowed parameters: "
                               "execution_date (required), limit (optional)")


def test_unknown_parameter_when_there_are_none() -> None:
    with pytest.raises(UserError) as info:
        validate_parameters(make_spec(), {"x": "1"})
    assert str(info.value) == "Unknown parameter 'x'. This workflow takes no parameters."


def test_missing_required_parameter() -> None:
    with pytest.raises(UserError) as info:
        validate_parameters(SPEC, {"limit": "1"})
    assert str(info.value) == "Missing required parameter: execution_date"
    two = make_spec(Parameter("a", "int", True, None, ""), Parameter("b", "int", True, None, ""))
    with pytest.raises(UserError, match=r"^Missing required parameters: a, b$"):
        validate_parameters(two, {})


def test_optional_without_default_is_left_out() -> None:
    spec = make_spec(Parameter("note", "string", False, None, ""))
    assert validate_parameters(spec, {}) == {}


TYPED = make_spec(
    Parameter("i", "int", False, None, ""),
    Parameter("f", "float", False, None, ""),
    Parameter("b", "bool", False, None, ""),
    Parameter("d", "date", False, None, ""),
    Parameter("s", "string", False, None, ""),
)


@pytest.mark.parametrize("name, text, value", [
    ("i", "42", 42), ("i", "-7", -7), ("f", "0.5", 0.5), ("f", "3", 3.0),
    ("b", "true", True), ("b", "FALSE", False), ("b", "1", True), ("b", "0", False),
    ("b", "yes", True), ("b", "No", False), ("d", "2024-02-29", "2024-02-29"),
    ("s", "any text = fine", "any text = fine"), ("s", "", ""),
])
def test_coercion(name: str, text: str, value: object) -> None:
    result = validate_parameters(TYPED, {name: text})
    assert result == {name: value} and type(result[name]) is type(value)


@pytest.mark.parametrize("name, text, message", [
    ("i", "abc", "Parameter 'i' must be an int, got 'abc'"),
    ("i", "1.5", "Parameter 'i' must be an int, got '1.5'"),
    ("i", "1_000", "Parameter 'i' must be an int, got '1_000'"),
    ("f", "x", "Parameter 'f' must be a float, got 'x'"),
    ("f", "nan", "Parameter 'f' must be a float, got 'nan'"),
    ("b", "maybe", "Parameter 'b' must be a bool (true/false/1/0/yes/no), got 'maybe'"),
    ("d", "2024-02-30", "Parameter 'd' must be a date (YYYY-MM-DD), got '2024-02-30'"),
    ("d", "20240101", "Parameter 'd' must be a date (YYYY-MM-DD), got '20240101'"),
])
def test_type_errors_name_the_parameter(name: str, text: str, message: str) -> None:
    with pytest.raises(UserError) as info:
        validate_parameters(TYPED, {name: text})
    assert str(info.value) == message


def test_parse_param_assignments() -> None:
    assert parse_param_assignments(["a=1", "b=x=y", "c="]) == {"a": "1", "b": "x=y", "c": ""}
    assert parse_param_assignments([]) == {}


@pytest.mark.parametrize("item", ["novalue", "=1", ""])
def test_parse_param_assignments_rejects_bad_items(item: str) -> None:
    with pytest.raises(UserError) as info:
        parse_param_assignments([item])
    assert str(info.value) == f"Invalid parameter '{item}': expected key=value"


def test_parse_param_assignments_rejects_repeats() -> None:
    with pytest.raises(UserError, match="given more than once"):
        parse_param_assignments(["a=1", "a=2"])
