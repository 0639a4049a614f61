"""The daemon process: the main loop (``daemon``), the components it builds from the
config (``components``) and its systemd integration (``systemd``)."""
