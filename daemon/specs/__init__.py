"""Dataset Specs: parsing untrusted spec files, run parameters, and schedules."""

from daemon.specs.errors import SpecInvalid
from daemon.specs.model import (
    Approval,
    DatasetSpec,
    Parameter,
    ParsedSpec,
    Schedule,
    SpecIssue,
    check_dataset_name,
)
from daemon.specs.params import parse_param_assignments, validate_parameters
from daemon.specs.parse import MAX_SPEC_BYTES, parse_spec
from daemon.specs.schedule import next_fire_times, next_run

__all__ = [
    "Approval",
    "MAX_SPEC_BYTES",
    "DatasetSpec",
    "Parameter",
    "ParsedSpec",
    "Schedule",
    "SpecInvalid",
    "SpecIssue",
    "check_dataset_name",
    "next_fire_times",
    "next_run",
    "parse_param_assignments",
    "parse_spec",
    "validate_parameters",
]
