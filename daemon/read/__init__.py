"""The one read API of the CLI and the dashboard: rows shaped for display and JSON."""
