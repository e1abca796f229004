"""The terminal of a VOS CLI session: line discipline over the raw bytes of an SSH PTY.

A real node reads its terminal in raw mode and edits the line itself. What the client types is
kept until the CLI reads it, so commands typed ahead (sent in one burst, or while a command
still runs) run one after another, in order. CR, LF and a CR LF pair each end one line
(cucm-interfaces.md §16 S29): a client that sends ``\\r\\n`` presses Enter once. Output lines
end with CR LF, as a terminal needs, and the ``admin:`` prompt starts a line of its own after
the command's output (S29). When typed-ahead input is echoed is not public:
:data:`lab.facts.CLI_TYPEAHEAD_ECHOED_WHEN_READ` decides.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable

from lab import facts

_ENTER = "\r\n"
_ERASE = "\x7f\b"
_INTERRUPT = "\x03"
_ESC = "\x1b"


class LineTerminal:
    """A :class:`~lab.frontends.cli_session.Terminal` over a raw character stream.

    The transport calls :meth:`feed` with what the client sends and :meth:`close` at end of
    input; the CLI calls :meth:`write` and :meth:`readline`.
    """

    def __init__(self, send: Callable[[str], None]) -> None:
        """Start an empty terminal.

        Args:
            send: Writes text to the client as is (CR LF line ends already in place).
        """
        self._send = send
        self._typed: deque[str] = deque()
        self._more = asyncio.Event()
        self._eof = False
        self._after_cr = False
        self._escape = ""
        self.at_line_start = True

    # -- input from the client --------------------------------------------------------

    def feed(self, data: str) -> None:
        """Keep what the client typed until the CLI reads it."""
        if not facts.CLI_TYPEAHEAD_ECHOED_WHEN_READ:
            self._emit(data.replace("\r\n", "\n").replace("\r", "\n"))
        self._typed.extend(data)
        self._more.set()

    def interrupt(self) -> None:
        """A break or interrupt signal: the line being typed is dropped (as Ctrl+C)."""
        self.feed(_INTERRUPT)

    def close(self) -> None:
        """End of input: :meth:`readline` returns what is left, then None."""
        self._eof = True
        self._more.set()

    # -- the CLI's side -----------------------------------------------------------------

    def write(self, text: str) -> None:
        """Write text; ``\\n`` ends a line (sent as CR LF)."""
        self._emit(text)

    def start_line(self) -> None:
        """Go to the start of a new line unless the cursor is already at one."""
        if not self.at_line_start:
            self._emit("\n")

    async def readline(self) -> str | None:
        """The next line the client typed, without its end; None when input has ended.

        Raises nothing on odd input: control characters other than Enter, erase and
        interrupt are ignored, and so are escape sequences (arrow keys).
        """
        line: list[str] = []
        echo: list[str] = []
        try:
            while True:
                if not self._typed:
                    if self._eof:
                        return "".join(line) if line else None
                    self._flush(echo)
                    self._more.clear()
                    await self._more.wait()
                    continue
                ch = self._typed.popleft()
                if self._after_cr and ch == "\n":
                    self._after_cr = False
                    continue
                self._after_cr = ch == "\r"
                if self._escape or ch == _ESC:
                    self._skip_escape(ch)
                elif ch in _ENTER:
                    echo.append("\n")
                    return "".join(line)
                elif ch in _ERASE:
                    if line:
                        line.pop()
                        echo.append("\b \b")
                elif ch == _INTERRUPT:
                    echo.append("^C\n")
                    return ""
                elif ch.isprintable():
                    line.append(ch)
                    echo.append(ch)
        finally:
            self._flush(echo)

    # -- helpers ------------------------------------------------------------------------

    def _skip_escape(self, ch: str) -> None:
        # ESC [ ... final byte, or ESC O x (cursor keys in application mode).
        self._escape += ch
        seq = self._escape
        ended = len(seq) >= 3 and (seq[1] == "O" or "@" <= ch <= "~")
        if ended or (len(seq) == 2 and seq[1] not in "[O"):
            self._escape = ""

    def _flush(self, echo: list[str]) -> None:
        if echo and facts.CLI_TYPEAHEAD_ECHOED_WHEN_READ:
            self._emit("".join(echo))
        echo.clear()

    def _emit(self, text: str) -> None:
        if not text:
            return
        self._send(text.replace("\r\n", "\n").replace("\n", "\r\n"))
        self.at_line_start = text.endswith("\n")
