"""The daemon process: the main loop, its workers, and systemd integration."""
