"""Core: configuration, errors, paths, naming and logging shared by every layer."""
