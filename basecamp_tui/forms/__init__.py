"""Dialogs and forms the dashboard shows before it queues an action."""

from basecamp_tui.forms.backfill import BackfillForm, BackfillRequest
from basecamp_tui.forms.dialogs import ConfirmDialog, MarkDialog, StopDialog
from basecamp_tui.forms.params import ParameterFields
from basecamp_tui.forms.trigger import TriggerForm, TriggerRequest

__all__ = [
    "BackfillForm",
    "BackfillRequest",
    "ConfirmDialog",
    "MarkDialog",
    "ParameterFields",
    "StopDialog",
    "TriggerForm",
    "TriggerRequest",
]
