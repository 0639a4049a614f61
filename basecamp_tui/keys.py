"""The key a user presses for a binding, after their ``[ui.keys]`` remaps: for hints in
the dashboard's own text ("press /", "(n N)"), which must name the key that works."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from textual.binding import Binding, BindingType


def bound_keys(app: Any, binding: Binding) -> list[str]:
    """The keys of ``binding`` after the ``[ui.keys]`` remaps (as ``App.set_keymap``
    remaps them: by binding id), as Textual displays them."""
    keys = dict(app.config.ui.keys).get(binding.id, binding.key) if binding.id else binding.key
    return [app.get_key_display(binding.with_key(key.strip())) for key in keys.split(",")]


def key_hint(app: Any, binding_id: str, bindings: Iterable[BindingType]) -> str:
    """The first key bound to ``binding_id``, as Textual displays it."""
    return bound_keys(app, next(b for b in Binding.make_bindings(bindings) if b.id == binding_id))[0]
