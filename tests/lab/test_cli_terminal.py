"""The CLI's terminal like a real node's: Enter, typed-ahead input, prompt after the output.

Raw SSH sessions write bytes and read the whole transcript, as a terminal would show it
(cucm-interfaces.md §16 S29: a CR LF pair is one Enter; the ``admin:`` prompt appears at the
start of a line after the command's output). Typed-ahead input is echoed when the CLI reads
it ([INF] ``lab.facts.CLI_TYPEAHEAD_ECHOED_WHEN_READ``), so a burst gives one exact transcript.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import asyncssh
import pytest

from lab import facts
from lab.frontends.cli_terminal import LineTerminal
from lab.server import Lab
from lab.timing import FAST, ServiceTiming
from tests.lab.conftest import LabHandle, lab_spec

TOMCAT = "Cisco Tomcat"
PROMPT = "admin:"


class RawShell:
    """An interactive PTY shell that writes bytes and keeps everything it reads."""

    def __init__(self, proc: asyncssh.SSHClientProcess[bytes]) -> None:
        self.proc = proc
        self.transcript = ""

    def send(self, data: bytes) -> None:
        self.proc.stdin.write(data)

    async def until(self, pattern: str, timeout: float = 5.0) -> str:
        """Read until ``pattern`` (a regex) matches the transcript; return the transcript."""
        regex = re.compile(pattern)
        async with asyncio.timeout(timeout):
            while not regex.search(self.transcript):
                chunk = await self.proc.stdout.read(65536)
                assert chunk, f"session closed; transcript so far: {self.transcript!r}"
                self.transcript += chunk.decode()
        return self.transcript

    async def quiet(self, seconds: float = 0.3) -> str:
        """Whatever else arrives within ``seconds``."""
        try:
            async with asyncio.timeout(seconds):
                while chunk := await self.proc.stdout.read(65536):
                    self.transcript += chunk.decode()
        except TimeoutError:
            pass
        return self.transcript


@asynccontextmanager
async def raw_shell(lab: LabHandle, host: str = "cucm-pub") -> AsyncIterator[RawShell]:
    async with lab.ssh(host) as conn:
        proc = await conn.create_process(term_type="vt100", encoding=None)
        try:
            yield RawShell(proc)
        finally:
            proc.close()


def after_banner(transcript: str) -> str:
    """The transcript from the first prompt on."""
    return transcript[transcript.index("\r\n" + PROMPT) + 2 :]


# -- over SSH ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("typed", "transcript"),
    [
        (  # CR LF: one Enter, so one empty line and one more prompt, not two
            [b"\r\n", b"set cli pagination off\r\n"],
            f"admin:\r\nadmin:set cli pagination off\r\n{facts.CLI_PAGINATION_OFF}\r\nadmin:",
        ),
        (  # CR alone and LF alone are each one Enter too
            [b"set cli pagination off\r", b"set cli pagination on\n"],
            f"admin:set cli pagination off\r\n{facts.CLI_PAGINATION_OFF}\r\n"
            f"admin:set cli pagination on\r\n{facts.CLI_PAGINATION_ON}\r\nadmin:",
        ),
    ],
)
async def test_enter_is_cr_lf_cr_or_lf(lab: LabHandle, typed: list[bytes], transcript: str) -> None:
    last_output = transcript.split("\r\n")[-2]
    async with raw_shell(lab) as shell:
        await shell.until(PROMPT + "$")
        for data in typed:
            shell.send(data)
        await shell.until(re.escape(last_output) + r"\r\nadmin:$")
        text = after_banner(await shell.quiet())
    assert text == transcript
    assert "admin:admin:" not in text


async def test_lines_typed_ahead_of_the_banner_run_in_order(tmp_path: Path) -> None:
    timing = FAST.model_copy(update={"cli_banner_delay": 0.3})
    async with Lab(lab_spec(), tmp_path / "lab", timing) as running:
        lab = LabHandle(running)
        async with raw_shell(lab) as shell:
            # Sent at once, before the CLI is ready (netSSL waits a fixed time, not the prompt).
            shell.send(b"set cli pagination off\r\nshow cert list own\r\nset cli pagination on\r\n")
            await shell.until(re.escape(facts.CLI_PAGINATION_ON) + r"\r\nadmin:$")
            text = after_banner(await shell.quiet())
        own = running.cluster.node("cucm-pub").own
    listing = "".join(f"{unit}/{unit}.pem: {kc.description}\r\n" for unit, kc in own.items())
    assert text == (
        "admin:set cli pagination off\r\n"
        f"{facts.CLI_PAGINATION_OFF}\r\n"
        "admin:show cert list own\r\n"
        f"{listing}"
        "admin:set cli pagination on\r\n"
        f"{facts.CLI_PAGINATION_ON}\r\n"
        "admin:"
    )
    commands = [e.data["command"] for e in running.journal.entries("cli.command")]
    assert commands == ["set cli pagination off", "show cert list own", "set cli pagination on"]


async def test_prompt_waits_for_slow_output_and_typed_ahead_line(tmp_path: Path) -> None:
    timing = FAST.model_copy(
        update={"services": {TOMCAT: ServiceTiming(stopping=0.2, starting=0.4)}}
    )
    async with Lab(lab_spec(), tmp_path / "lab", timing) as running:
        lab = LabHandle(running)
        async with raw_shell(lab) as shell:
            await shell.until(PROMPT + "$")
            shell.send(f"utils service restart {TOMCAT}\r\n".encode())
            await shell.until(re.escape(f"{TOMCAT}[STOPPING]"))
            # Typed while the restart still streams its states.
            shell.send(b"set cli pagination off\r\n")
            await shell.until(re.escape(facts.CLI_PAGINATION_OFF) + r"\r\nadmin:$")
            text = after_banner(await shell.quiet())
    lines = text.split("\r\n")
    assert lines[0] == f"admin:utils service restart {TOMCAT}"
    started = lines.index(f"{TOMCAT}[STARTED]")
    assert [i for i, line in enumerate(lines) if line.startswith(PROMPT)] == [
        0,
        started + 1,
        len(lines) - 1,
    ]
    assert lines[started + 1 :] == [
        "admin:set cli pagination off",
        facts.CLI_PAGINATION_OFF,
        "admin:",
    ]
    assert "admin:" not in "\r\n".join(lines[1 : started + 1])


async def test_question_answered_by_a_typed_ahead_line(lab: LabHandle) -> None:
    async with raw_shell(lab) as shell:
        await shell.until(PROMPT + "$")
        shell.send(b"utils sso disable\r\nno\r\n")
        await shell.until(re.escape(facts.SSO_DISABLE_ABORTED) + r"\r\nadmin:$")
        text = after_banner(await shell.quiet())
    assert f"{facts.SSO_DISABLE_PROMPT}no\r\n{facts.SSO_DISABLE_ABORTED}\r\nadmin:" in text
    assert lab.lab.cluster.sso_enabled


# -- the line discipline itself -----------------------------------------------------------


def terminal() -> tuple[LineTerminal, list[str]]:
    sent: list[str] = []
    return LineTerminal(sent.append), sent


async def test_line_editing_keys_and_escape_sequences() -> None:
    term, sent = terminal()
    term.feed("shw\x7f\x7fhow\x1b[A\x1bOB ctl\t\r")
    term.feed("\nnext\x1b[1;5C line\r")
    assert await term.readline() == "show ctl"
    assert await term.readline() == "next line"
    assert "".join(sent) == "shw\b \b\b \bhow ctl\r\nnext line\r\n"


async def test_cr_and_lf_split_across_packets_are_one_enter() -> None:
    term, _ = terminal()
    term.feed("a\r")
    assert await term.readline() == "a"
    term.feed("\nb\n")
    assert await term.readline() == "b"
    term.feed("\r\r")
    assert await term.readline() == ""
    assert await term.readline() == ""


async def test_interrupt_drops_the_line_and_end_of_input() -> None:
    term, sent = terminal()
    term.feed("utils ser")
    term.interrupt()
    term.feed("tail")
    term.close()
    assert await term.readline() == ""
    assert await term.readline() == "tail"
    assert await term.readline() is None
    assert "".join(sent) == "utils ser^C\r\ntail"


async def test_readline_waits_for_more_input() -> None:
    term, _ = terminal()
    reading = asyncio.ensure_future(term.readline())
    term.feed("show ")
    await asyncio.sleep(0.01)
    assert not reading.done()
    term.feed("ctl\n")
    assert await asyncio.wait_for(reading, 1) == "show ctl"


async def test_output_lines_end_with_cr_lf_and_start_line() -> None:
    term, sent = terminal()
    term.start_line()
    term.write("Include OU in CSR (yes|no)?")
    term.start_line()
    term.write("one\ntwo\n")
    term.start_line()
    assert "".join(sent) == "Include OU in CSR (yes|no)?\r\none\r\ntwo\r\n"


async def test_typed_ahead_echo_on_arrival_when_the_fact_says_so(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(facts, "CLI_TYPEAHEAD_ECHOED_WHEN_READ", False)
    term, sent = terminal()
    term.feed("show ctl\r\nshow")
    assert "".join(sent) == "show ctl\r\nshow"
    assert await term.readline() == "show ctl"
    assert "".join(sent) == "show ctl\r\nshow"
