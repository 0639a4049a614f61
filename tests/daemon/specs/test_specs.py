"""parse_spec: the spec format, every validation rule, and hostile input."""

from __future__ import annotations

import json
import textwrap

import pytest

from daemon.core.errors import UserError
from daemon.specs import (
    Approval,
    DatasetSpec,
    Parameter,
    ParsedSpec,
    Schedule,
    SpecInvalid,
    SpecIssue,
    check_dataset_name,
    loader,
    parse_spec,
)

EXAMPLE = """\
name: iceberg.analytics.daily_clicks
type: Dataset
owner: engineer@example.com
team: "@data-engineering"
description: Daily click aggregation
query_file: daily_clicks.sql
connection_id: trino_default
parameters:
  - {name: execution_date, type: string, required: true}
  - {name: limit, type: int, required: false, default: 100}
schedule:
  enabled: true
  cron: "0 9 * * *"
  timezone: "Asia/Seoul"
  retry: {max_attempts: 3, delay_seconds: 300}
  sla_minutes: 60
  notifications:
    on_failure:       [{type: slack, channel: "#data-alerts"}]
    on_source_change: [{type: slack, channel: "#data-alerts"}]
"""

MINIMAL = """\
name: ds
owner: me@example.com
team: data
schedule:
  cron: "0 9 * * *"
"""


def parse(text: str) -> ParsedSpec:
    return parse_spec(text.encode(), "spec.yaml")


def invalid(text: str | bytes, **kwargs: int) -> SpecInvalid:
    data = text.encode() if isinstance(text, str) else text
    with pytest.raises(SpecInvalid) as info:
        parse_spec(data, "spec.yaml", **kwargs)
    return info.value


def issues(text: str) -> list[tuple[int | None, str]]:
    return [(i.line, i.message) for i in invalid(text).issues]


@pytest.fixture(params=["libyaml", "pure-python"])
def each_loader(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    """Hostile-input tests run against both YAML backends."""
    if request.param == "pure-python":
        monkeypatch.setattr(loader, "Loader", loader.PurePythonLoader)
    elif not hasattr(loader, "LibyamlLoader"):
        pytest.skip("PyYAML without libyaml")


# -- valid specs -------------------------------------------------------------------


def test_example_spec_parses_into_the_model() -> None:
    parsed = parse(EXAMPLE)
    assert parsed.warnings == ()
    assert parsed.spec == DatasetSpec(
        name="iceberg.analytics.daily_clicks",
        type="Dataset",
        owner="engineer@example.com",
        team="@data-engineering",
        description="Daily click aggregation",
        query_file="daily_clicks.sql",
        connection_id="trino_default",
        parameters=(
            Parameter("execution_date", "string", True, None, ""),
            Parameter("limit", "int", False, 100, ""),
        ),
        schedule=Schedule(
            enabled=True,
            cron="0 9 * * *",
            timezone="Asia/Seoul",
            max_attempts=3,
            delay_seconds=300,
            sla_minutes=60,
            notifications={
                "on_failure": [{"type": "slack", "channel": "#data-alerts"}],
                "on_source_change": [{"type": "slack", "channel": "#data-alerts"}],
            },
        ),
        extra={},
    )


def test_defaults_for_optional_fields() -> None:
    spec = parse(MINIMAL).spec
    assert (spec.type, spec.description, spec.query_file, spec.connection_id) == (
        "Dataset", "", "", "")
    assert spec.parameters == ()
    assert spec.schedule == Schedule(True, "0 9 * * *", "UTC", 1, 300, None, {})


def test_json_round_trip_is_exact() -> None:
    text = EXAMPLE + "tags: [a, {b: 1.5}]\nowner_note: null\n"
    text = text.replace("default: 100}", "default: 100}\n  - {name: d, type: date, "
                        "default: 2024-01-01}\n  - {name: f, type: float, default: 1}")
    spec = parse(text).spec
    stored = json.loads(json.dumps(spec.to_json()))
    assert DatasetSpec.from_json(stored) == spec
    assert stored["extra"] == {"tags": ["a", {"b": 1.5}], "owner_note": None}
    assert stored["parameters"][2]["default"] == "2024-01-01"
    assert stored["parameters"][3]["default"] == 1.0


def test_to_json_returns_fresh_containers() -> None:
    spec = parse(EXAMPLE + "tags: [a]\n").spec
    data = spec.to_json()
    data["extra"]["tags"].append("b")
    data["schedule"]["notifications"]["on_failure"].clear()
    assert spec.extra == {"tags": ["a"]}
    assert spec.schedule.notifications["on_failure"]


def test_yaml_11_values_are_read_as_users_mean_them() -> None:
    spec = parse(MINIMAL.replace("schedule:\n", "schedule:\n  enabled: off\n")
                 + "parameters:\n  - {name: day, type: date, default: 2024-02-29}\n"
                 + "  - {name: flag, type: bool, required: yes}\n").spec
    assert spec.schedule.enabled is False
    assert spec.parameters[0].default == "2024-02-29"
    assert spec.parameters[1].required is True


def test_merge_keys_and_aliases_are_supported() -> None:
    text = textwrap.dedent("""\
        base: &base {cron: "0 9 * * *", timezone: Asia/Seoul}
        name: ds
        owner: o
        team: t
        schedule:
          <<: *base
          timezone: UTC
          sla_minutes: x
        """)
    assert issues(text) == [(8, "schedule.sla_minutes must be a whole number >= 1, got \"x\"")]
    spec = parse(text.replace("  sla_minutes: x\n", "")).spec
    assert (spec.schedule.cron, spec.schedule.timezone) == ("0 9 * * *", "UTC")


def test_unknown_keys_are_warnings_and_top_level_ones_are_kept() -> None:
    text = MINIMAL + "  retries: 3\nowners: [x]\n"
    parsed = parse(text)
    assert parsed.spec.extra == {"owners": ["x"]}
    assert parsed.warnings == (
        SpecIssue('unknown key "schedule.retries" is ignored; did you mean "retry"?', 6),
        SpecIssue('unknown key "owners" is kept but not used; did you mean "owner"?', 7),
    )


def test_nested_unknown_keys_are_warned_and_dropped() -> None:
    text = MINIMAL + textwrap.indent(textwrap.dedent("""\
        retry: {max_attempts: 2, backoff: 2}
        notifications:
          on_failure: [{type: slack, channel: "#a", emoji: x}]
          on_success: []
        """), "  ") + "parameters:\n  - {name: p, kind: int}\n"
    parsed = parse(text)
    assert [w.line for w in parsed.warnings] == [6, 8, 9, 11]
    assert "schedule.notifications.on_success" in parsed.warnings[2].message
    assert parsed.spec.schedule.notifications == {
        "on_failure": [{"type": "slack", "channel": "#a"}]}


def test_required_parameter_with_default_is_a_warning() -> None:
    parsed = parse(MINIMAL + "parameters:\n  - {name: p, required: true, default: x}\n")
    assert parsed.warnings == (SpecIssue(
        'parameter "p" is required, so its default is never used; remove the default '
        "or set required: false", 7),)


def test_a_required_parameter_a_schedule_cannot_supply_is_a_warning() -> None:
    params = ("parameters:\n  - {name: execution_date, type: string, required: true}\n"
              "  - {name: day, type: date, required: true}\n"
              "  - {name: limit, type: int, required: true}\n")
    parsed = parse(MINIMAL + params)
    assert parsed.warnings == (SpecIssue(
        "parameter limit is required but a scheduled run cannot supply it: give it a "
        "default or make it optional", 9),)
    assert [p.takes_logical_date for p in parsed.spec.parameters] == [True, True, False]
    unscheduled = MINIMAL.replace("schedule:\n", "schedule:\n  enabled: false\n")
    assert parse(unscheduled + params).warnings == ()


def test_webhook_target() -> None:
    text = MINIMAL + "  notifications:\n    on_failure:\n" \
        "      - {type: webhook, url: 'https://hooks.example.com/x'}\n"
    assert parse(text).spec.schedule.notifications == {
        "on_failure": [{"type": "webhook", "url": "https://hooks.example.com/x"}]}


def test_approval_gates_a_task_and_survives_the_store() -> None:
    spec = parse(MINIMAL + 'approval: {before: publish, subject: "Publish {{ ds }}?"}\n').spec
    assert spec.approval == Approval("publish", "Publish {{ ds }}?", "")
    assert DatasetSpec.from_json(json.loads(json.dumps(spec.to_json()))) == spec
    stored_before_approval = {k: v for k, v in spec.to_json().items() if k != "approval"}
    assert DatasetSpec.from_json(stored_before_approval).approval is None


@pytest.mark.parametrize(("approval", "message"), [
    ("approval: yes", "approval must be a mapping, got true; write e.g. approval: "
                      '{before: publish, subject: "Publish daily clicks?"}'),
    ("approval: {before: nowhere, subject: x}",
     "approval.before must be one of run_query, publish (the task a person approves), "
     'got "nowhere"'),
    ("approval: {before: publish}",
     'approval.subject is required: add subject: "Publish daily clicks?"'),
    ("approval: {before: publish, subject: x, body: [1]}",
     "approval.body must be text, got a list; write one text value"),
])
def test_a_bad_approval_is_an_error_with_its_line(approval: str, message: str) -> None:
    assert issues(MINIMAL + approval + "\n") == [(6, message)]


# -- validation errors: all collected, with lines ------------------------------------


def test_every_problem_is_reported_with_its_line() -> None:
    text = textwrap.dedent("""\
        name: bad name
        type: Model
        owner: 5
        team: ""
        parameters:
          - {name: 1x, type: integer}
          - {name: limit, type: int, default: abc}
          - {name: limit, type: int}
          - {name: d, type: date, default: 2024-13-01}
          - {name: f, type: float, default: yes}
          - just text
        schedule:
          enabled: maybe
          cron: "0 9 * *"
          timezone: Seoul
          retry: {max_attempts: 0, delay_seconds: true}
          sla_minutes: 0
          notifications:
            on_failure: [{type: slack}, {type: email}, {type: webhook, url: ftp://x}]
        """)
    found = issues(text)
    assert [line for line, _ in found] == [
        1, 2, 3, 4, 6, 6, 7, 8, 9, 10, 11, 13, 14, 15, 16, 16, 17, 19, 19, 19]
    messages = dict(reversed(found))  # first message per line
    assert messages[1] == ('name "bad name" is not valid: use only letters, digits, "_", '
                           '"." and "-", 1 to 200 characters (e.g. iceberg.analytics.daily_clicks)')
    assert messages[14] == ('schedule.cron "0 9 * *" is not a valid 5-field cron expression '
                            '(minute hour day-of-month month day-of-week); example: "0 9 * * *"')
    assert messages[15] == ('schedule.timezone "Seoul" is not a known IANA time zone; use a '
                            'name like "Asia/Seoul" or "UTC"')
    assert messages[8] == ('parameter "limit" is declared twice (first as parameters[1]); '
                           "rename or remove one")
    assert dict(found)[7] == ('parameters[1].default "abc" is not a valid int; use a whole '
                              "number such as 100")


def test_str_of_the_error_is_path_line_message_and_count() -> None:
    error = invalid("name: a\nowner: [x]\nteam: t\n")
    assert str(error) == ("spec.yaml:2: owner must be text, got a list; write one text value "
                          "(and 1 more)")
    assert isinstance(error, UserError)
    assert error.path == "spec.yaml"


def test_missing_required_fields() -> None:
    assert issues("description: x\n") == [
        (None, 'name is required: add "name: <dataset name>"'),
        (None, 'owner is required: add "owner: <email>"'),
        (None, 'team is required: add "team: <team>", e.g. "@data-engineering"'),
        (None, 'schedule is required and must be a mapping; add e.g. schedule: '
               '{cron: "0 9 * * *", timezone: "UTC"}'),
    ]
    assert issues("name: a\nowner: o\nteam: t\nschedule: {enabled: true}\n") == [
        (4, 'schedule.cron is required: add "cron: \\"0 9 * * *\\""')]


def test_invalid_spec_still_reports_its_name() -> None:
    assert invalid("name: my.ds\nowner: o\nteam: t\n").name == "my.ds"
    assert invalid("name: my.ds\nschedule: &a [*a]\n").name == "my.ds"
    assert invalid("name: not valid\nowner: o\n").name is None
    assert invalid("name: [x]\n").name is None


@pytest.mark.parametrize("cron, message", [
    ("0 9 * * * *", "is not a valid 5-field cron expression"),
    ("61 9 * * *", "is not a valid 5-field cron expression"),
    ("@daily", "is not a valid 5-field cron expression"),
    ("0 0 30 2 *", "never fires (no date matches it)"),
])
def test_cron_rules(cron: str, message: str) -> None:
    [(line, text)] = issues(MINIMAL.replace('"0 9 * * *"', f'"{cron}"'))
    assert line == 5 and message in text


@pytest.mark.parametrize("cron", ["*/5 * * * *", "0 9 * * 1-5", "0 0 1 jan *", "30 2 L * *"])
def test_valid_crons(cron: str) -> None:
    assert parse(MINIMAL.replace('"0 9 * * *"', f'"{cron}"')).spec.schedule.cron == cron


def test_bool_is_not_an_int() -> None:
    assert issues(MINIMAL + "  sla_minutes: true\n") == [
        (6, "schedule.sla_minutes must be a whole number >= 1, got true")]
    assert issues(MINIMAL + "parameters: [{name: n, type: int, default: true}]\n") == [
        (6, "parameters[0].default true is not a valid int; use a whole number such as 100")]


def test_type_must_be_dataset() -> None:
    assert issues(MINIMAL + "type: Model\n") == [
        (6, 'type must be "Dataset" (or left out), got "Model"')]


def test_non_string_key_is_an_error_that_says_to_quote_it() -> None:
    assert issues(MINIMAL + "on: x\n1: y\n") == [
        (6, "key 'on' is read by YAML as true/false; quote it (\"on\") to use it as a key"),
        (7, "key '1' is read by YAML as a number; quote it (\"1\") to use it as a key"),
    ]
    assert issues(MINIMAL + "? [a]\n: b\n")[0][1].startswith("a key must be plain text")


def test_duplicate_keys_are_errors() -> None:
    assert issues(MINIMAL + "owner: other\n") == [
        (6, "key 'owner' appears twice in this mapping; keep one")]


def test_unsupported_tags_and_unusable_numbers() -> None:
    assert issues(MINIMAL + "x: !!binary aGk=\ny: !custom 1\nz: .nan\nw: " + "9" * 45) == [
        (6, "YAML tag !!binary is not supported; use plain text, numbers, true/false, "
            "lists and mappings"),
        (7, "YAML tag !custom is not supported; use plain text, numbers, true/false, "
            "lists and mappings"),
        (8, ".nan is not a usable number; use a finite number"),
        (9, "number 9999999999999999999999999999999999999... is too large; use a smaller "
            "number"),
    ]


def test_explicit_tags_must_match_the_value() -> None:
    assert issues(MINIMAL + "x: !!int abc\ny: !!bool maybe\nz: !!str 5\n") == [
        (6, "'abc' is not a valid !!int; fix the value or remove the tag"),
        (7, "'maybe' is not a valid !!bool; fix the value or remove the tag"),
    ]
    assert parse(MINIMAL + "x: !!str 5\n").spec.extra == {"x": "5"}


def test_check_dataset_name() -> None:
    check_dataset_name("iceberg.analytics.daily_clicks-v2")
    check_dataset_name("a" * 200)
    for bad in ("", "a" * 201, "a b", "a/b", "ü"):
        with pytest.raises(UserError, match='use only letters, digits, "_", "." and "-"'):
            check_dataset_name(bad)


# -- hostile input: a recorded error, never a crash ----------------------------------


@pytest.mark.usefixtures("each_loader")
class TestHostileInput:
    def test_over_the_size_limit_before_decoding(self) -> None:
        error = invalid(b"\xff" * (2 * 1024 * 1024))
        assert str(error) == ("spec.yaml: file is 2,097,152 bytes, over the 1,048,576-byte "
                              "limit for a spec; shrink it (a spec is usually a few hundred "
                              "bytes)")
        assert "over the 10-byte limit" in str(invalid(MINIMAL, max_bytes=10))

    def test_invalid_utf8_names_offset_and_line(self) -> None:
        assert str(invalid(b"name: a\nowner: \xc3\x28\n")) == (
            "spec.yaml:2: file is not valid UTF-8: byte 0xc3 at offset 15 cannot be "
            "decoded; save the file as UTF-8")

    def test_control_characters(self) -> None:
        assert str(invalid("name: a\n\nowner: \x00\n")) == (
            "spec.yaml:3: control character U+0000 is not allowed in YAML; remove it")

    def test_billion_laughs_is_rejected_before_construction(self) -> None:
        rows = ['a0: &a0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
        rows += [f"a{i}: &a{i} [" + ",".join([f"*a{i - 1}"] * 10) + "]" for i in range(1, 10)]
        error = invalid("name: lol\n" + "\n".join(rows) + "\n")
        assert "aliases expand to" in str(error)
        assert "more than the 100,000 allowed" in str(error)
        assert error.name == "lol"

    def test_recursive_alias(self) -> None:
        error = invalid("name: a\nx: &x\n  y: *x\n")
        assert error.issues == (SpecIssue(
            "an alias refers to a value that contains it (a recursive structure); replace "
            "the alias with the values it should hold", 2),)

    def test_too_many_values(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setattr(loader, "MAX_NODES", 1_000)  # the real 100,000 takes seconds
        error = invalid("name: a\nx: [" + "1," * 1_000 + "]\n")
        assert str(error).startswith("spec.yaml:2: file has more than 1,000 YAML values")

    @pytest.mark.parametrize("levels", [70, 1_000, 100_000])
    def test_deep_nesting(self, levels: int) -> None:
        """Our own message and line whatever the parser (newer libyaml releases refuse
        deep nesting themselves, with a message of their own)."""
        error = invalid("name: a\nx: " + "[" * levels + "]" * levels)
        assert str(error) == (
            "spec.yaml:2: YAML is nested too deeply (more than 64 levels); a spec needs "
            "only a few levels, flatten it")

    def test_deep_block_nesting_names_its_line(self) -> None:
        text = "".join("  " * level + f"k{level}:\n" for level in range(80))
        assert invalid(text).issues[0].line == 64  # k63: its value is level 65

    def test_aliases_nesting_deeply(self) -> None:
        text = ("name: a\nx: &x " + "[" * 60 + "1" + "]" * 60
                + "\ny: " + "[" * 10 + "*x" + "]" * 10 + "\n")
        assert "aliases nest values more than 64 levels deep" in str(invalid(text))

    def test_a_list_is_not_a_spec(self) -> None:
        assert str(invalid("- a\n")) == (
            "spec.yaml:1: the document is a list, not a mapping; a spec is a set of "
            "key: value pairs starting with name:")
        assert "is a single value" in str(invalid("just text\n"))

    @pytest.mark.parametrize("text", ["", "# only a comment\n", "---\n", "~\n"])
    def test_empty_document(self, text: str) -> None:
        assert "file is empty" in str(invalid(text))

    def test_more_than_one_document(self) -> None:
        assert str(invalid(MINIMAL + "---\nname: other\n")) == (
            "spec.yaml:6: file holds more than one YAML document (the next one starts "
            "here); keep one spec per file and remove the extra '---'")

    def test_syntax_error_line(self) -> None:
        error = invalid("name: a\nowner: o\nteam: [t\nschedule: {}\n")
        assert error.issues[0].line == 4
        assert str(error).startswith("spec.yaml:4: YAML syntax error: ")
        assert "(while parsing a flow sequence on line 3)" in str(error)

    def test_tab_indentation(self) -> None:
        error = invalid("name: a\nschedule:\n\tcron: x\n")
        assert error.issues[0].line == 3
        assert str(error).endswith("indent with spaces, YAML does not allow tabs")

    def test_undefined_alias(self) -> None:
        assert str(invalid("name: *nope\n")).endswith(
            "define the anchor (&name) before using the alias (*name)")

    def test_valid_spec_parses_with_this_backend(self) -> None:
        assert parse(EXAMPLE).spec.name == "iceberg.analytics.daily_clicks"


def test_many_unknown_keys_get_one_summary_warning() -> None:
    parsed = parse(MINIMAL + "".join(f"k{i}: v\n" for i in range(25)))
    assert len(parsed.warnings) == 11
    assert parsed.warnings[-1] == SpecIssue("15 more unknown keys at the top level are kept "
                                            "but not used", 16)
    assert len(parsed.spec.extra) == 25
