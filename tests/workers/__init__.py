"""Tests of the Temporal plumbing: binaries, dev server, converter, settings, secrets."""
