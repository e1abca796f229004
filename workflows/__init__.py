"""Deterministic renewal orchestration: workflows, their models, policies and search attributes."""
