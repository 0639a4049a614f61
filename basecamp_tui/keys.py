"""The key a user presses for a binding, after their ``[ui.keys]`` remaps: for hints in
the dashboard's own text ("press /", "(n N)"), which must name the key that works."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from textual.binding import Binding, BindingType


def key_hint(app: Any, binding_id: str, bindings: Iterable[BindingType]) -> str:
    """The first key bound to ``binding_id`` (remapped by ``[ui.keys]`` as
    ``App.set_keymap`` remaps it), as Textual displays it."""
    default = next(b for b in Binding.make_bindings(bindings) if b.id == binding_id)
    keys = dict(app.config.ui.keys).get(binding_id, default.key)
    return app.get_key_display(default.with_key(keys.split(",")[0].strip()))
