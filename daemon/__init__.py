"""basecamp's daemon side: configuration, the store, spec stores and the sync engines.

Nothing in this package imports Textual or ``basecamp_tui``.
"""
