"""The error every part of the twin answers a refused request with."""

from __future__ import annotations


class LabError(Exception):
    """A request the twin refuses, with the HTTP status a REST frontend would answer.

    Attributes:
        status: HTTP status.
        message: Human text, as CUCM would word it.
        code: Short machine code (``bad-service``, ``not-activated``...).
    """

    def __init__(self, status: int, message: str, code: str = "error") -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.code = code
