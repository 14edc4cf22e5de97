"""The journal: one JSON line per tool call and per changing ``qubesadmin`` action.

Records appear in the order the calls STARTED, even when calls overlap or
never end.  So a record is appended (under ``flock``) when the call starts,
with a fixed-width ``"exit": null`` placeholder, and the exit code is written
over those bytes in place when the call ends.  JSON allows the padding
spaces, so a killed call simply keeps ``null`` (or the signal number the
tool managed to write before dying).
"""

from __future__ import annotations

import fcntl
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TypedDict

EXIT_WIDTH = 11  # len("-2147483648"): any exit code fits in the placeholder
_PLACEHOLDER = "null".ljust(EXIT_WIDTH)


@dataclass(frozen=True)
class Record:
    """Where a started call's exit code goes in the journal file."""

    path: Path
    offset: int

    def finish(self, code: int | None) -> None:
        """Write the exit code over the placeholder (safe from a signal handler)."""
        text = ("null" if code is None else str(int(code))).ljust(EXIT_WIDTH)[:EXIT_WIDTH]
        try:
            fd = os.open(self.path, os.O_WRONLY | os.O_CLOEXEC)
        except OSError:
            return
        try:
            os.pwrite(fd, text.encode("ascii"), self.offset)
        finally:
            os.close(fd)


def start(path: Path, tool: str, argv: list[str]) -> Record:
    """Append the record of a call that starts now; return where to finish it."""
    head = json.dumps({"tool": tool, "argv": list(argv)}, ensure_ascii=True)
    prefix = head[:-1] + ', "exit": '
    line = (prefix + _PLACEHOLDER + "}\n").encode("ascii")
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        end = os.fstat(fd).st_size
        view = memoryview(line)
        while view:
            view = view[os.write(fd, view) :]
    finally:
        os.close(fd)
    return Record(path, end + len(prefix))


def record(path: Path, tool: str, argv: list[str], code: int | None) -> None:
    """A call that starts and ends at once."""
    start(path, tool, argv).finish(code)


class Entry(TypedDict):
    """One journal line: the tool (its name, or "qubesadmin"), its arguments, how it ended."""

    tool: str
    argv: list[str]
    exit: int | None


def read_journal(path: Path) -> list[Entry]:
    """Every record so far (an unreadable or malformed line is skipped: tests want the rest)."""
    try:
        text = Path(path).read_text("ascii")
    except FileNotFoundError:
        return []
    records: list[Entry] = []
    for line in text.splitlines():
        try:
            item = json.loads(line)
        except ValueError:
            continue
        if not isinstance(item, dict):
            continue
        tool, argv, code = item.get("tool"), item.get("argv"), item.get("exit")
        if (
            isinstance(tool, str)
            and isinstance(argv, list)
            and all(isinstance(a, str) for a in argv)
            and (code is None or (isinstance(code, int) and not isinstance(code, bool)))
        ):
            records.append(Entry(tool=tool, argv=argv, exit=code))
    return records
