"""Unit tests: pure functions and local components, no servers."""
