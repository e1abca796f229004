"""Process wiring: settings, the shared data converter, Temporal binaries, the dev server."""
