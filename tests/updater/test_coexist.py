"""Beside SecureDrop Workstation's launcher (``sdw_updater/coexist.py``): what the icon runs.

An entry's ``Exec`` as a desktop reads it, the program a name finds on
``PATH``, where the switch's links lead, and the switch's record as written
and read back (untrusted unless it is exactly ours).  Entries and links on
this machine's filesystem, in a temporary directory.  The switch's plan is
in tests/launcher/test_switch.py; the switch as installed, with the real
systemctl and rpm, in the box tier (tests/box/test_box_switch.py).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from sdw_updater import coexist
from sdw_updater.coexist import OTHER, OURS, UPSTREAM, SwitchState


def entry(exec_line: str, *extra: str) -> str:
    return "\n".join(["[Desktop Entry]", "Type=Application", "Name=SecureDrop", exec_line, *extra])


# ----- reading an entry's Exec ---------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "program"),
    [
        (entry("Exec=sdw-updater"), "sdw-updater"),
        (entry("Exec=/usr/bin/sdw-login --wait 5"), "/usr/bin/sdw-login"),
        (entry("Exec =  sdw-updater %U"), "sdw-updater"),
        (entry('Exec="/opt/with space/sdw-updater" --cli'), "/opt/with space/sdw-updater"),
        (entry('Exec="/opt/q\\\\"uote/x"'), '/opt/q"uote/x'),
        # \s is a space in string values, and an unquoted space ends the program
        (entry("Exec=/opt/a\\sb"), "/opt/a"),
        (entry('Exec="/opt/unclosed'), None),
        (entry("Exec="), None),
        # A NUL is valid UTF-8, but no file name holds one.
        (entry("Exec=sdw-up\0dater"), None),
        (entry('Exec="/usr/bin/sdw\0login" --now'), None),
        (entry("Name[de]=x"), None),
        # Only the [Desktop Entry] group counts, and its first Exec.
        (
            "[Desktop Action x]\nExec=evil\n[Desktop Entry]\nExec=sdw-updater\nExec=other",
            "sdw-updater",
        ),
        ("Exec=sdw-updater\n", None),  # no group at all
    ],
)
def test_exec_program(text: str, program: str | None) -> None:
    assert coexist.exec_program(text) == program


def executable(path: Path, text: str = "#!/bin/sh\n") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    path.chmod(0o755)
    return path


def test_which_follows_path_order_and_skips_what_a_launcher_would(tmp_path: Path) -> None:
    first = executable(tmp_path / "first" / "sdw-updater")
    second = executable(tmp_path / "second" / "sdw-updater")
    (tmp_path / "plain").mkdir()
    (tmp_path / "plain" / "sdw-updater").write_text("not executable")
    path_env = os.pathsep.join(
        ["relative", "", str(tmp_path / "plain"), str(first.parent), str(second.parent)]
    )
    assert coexist.which("sdw-updater", path_env) == str(first)
    assert coexist.which(str(second), "") == str(second)  # absolute: as is
    assert coexist.which("first/sdw-updater", str(tmp_path)) is None  # relative with a slash
    assert coexist.which("sdw-updater", "relative") is None


def test_classify_by_where_the_links_lead(tmp_path: Path) -> None:
    own = executable(tmp_path / "venv" / "bin" / "sdw-updater")
    link = tmp_path / "local" / "sdw-updater"
    link.parent.mkdir()
    link.symlink_to(own)
    assert coexist.classify(str(link), "sdw-updater", str(own)) == OURS
    assert coexist.classify(str(link), "sdw-updater") == OTHER  # not ours without knowing it
    assert coexist.classify("/usr/bin/sdw-updater", "sdw-updater") == UPSTREAM
    assert coexist.classify(None, "sdw-updater") == coexist.MISSING
    assert coexist.classify("/usr/bin/sdw-up\0dater", "sdw-updater") == coexist.MISSING


def test_local_bin_first() -> None:
    assert coexist.local_bin_first(coexist.SESSION_PATH)
    assert coexist.local_bin_first("/home/u/.local/bin:/usr/local/bin/:/usr/bin:/bin")
    assert not coexist.local_bin_first("/usr/bin:/usr/local/bin")
    assert not coexist.local_bin_first("/sbin:/bin:/usr/sbin:/usr/bin")  # Fedora's sudo


# ----- the switch's record --------------------------------------------------------------


LINKS = {coexist.link_path(n): coexist.our_program(n) for n in coexist.PROGRAMS}


def test_the_record_reads_back_as_written() -> None:
    state = SwitchState("2026-01-01 10:00:00", LINKS, True, False)
    assert coexist.parse_state(state.to_json()) == state


@pytest.mark.parametrize(
    "change",
    [
        {"format": 2},
        {"switch": "off"},
        {"links": {"/usr/local/bin/sdw-updater": "/tmp/evil"}},
        {"links": {"/usr/bin/sdw-updater": coexist.our_program("sdw-updater")}},
        {"links": ["/usr/local/bin/sdw-updater"]},
        {"masked_upstream_timer": "yes"},
        {"enabled_our_timer": 1},
        {"switched_on_at": "x" * 65},
        {"extra": True},
    ],
)
def test_a_record_that_is_not_exactly_ours_is_untrusted(change: dict[str, object]) -> None:
    data = json.loads(SwitchState("now", LINKS, True, True).to_json())
    data.update(change)
    assert coexist.parse_state(json.dumps(data).encode()) is None


@pytest.mark.parametrize("raw", [b"", b"{", b"[]", b"\xff\xfe", b"[" * 100000])
def test_garbage_is_untrusted(raw: bytes) -> None:
    assert coexist.parse_state(raw) is None


def test_undone_only_counts_when_the_switch_is_on() -> None:
    assert coexist.undone_parts("off", UPSTREAM, UPSTREAM, False) == []
    assert coexist.undone_parts("on", OURS, OURS, True) == []
    assert coexist.undone_parts("on", coexist.MISSING, coexist.DISABLED, True) == []
    assert coexist.undone_parts("on", UPSTREAM, OTHER, False) == [
        "icon",
        "autostart",
        "upstream_timer",
    ]
