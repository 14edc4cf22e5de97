"""Beside SecureDrop Workstation's own launcher: which updater the icon runs, and the switch.

A dom0 with SecureDrop Workstation 1.7 already has an updater of its own
(``securedrop-workstation-dom0-config``: ``/usr/bin/sdw-updater``,
``sdw-notify``, ``sdw-login`` and the ``sdw-notify.timer`` user unit), and
its Salt run writes the desktop icon and the login autostart entry, both
finding ``sdw-updater`` through ``PATH`` (docs/dom0-install.md, "What
SecureDrop Workstation installs"). This package installs under names of its own
(``/usr/libexec/securedrop-updater/sdw-*``) and changes nothing of that by
installing; ``securedrop-updater-switch on`` links ``/usr/local/bin/sdw-*``
(ahead of ``/usr/bin`` in a session's ``PATH``) to our programs, masks the
upstream timer and enables ours, and records what it did in a state file;
``off`` undoes exactly that (docs/dom0-install.md).

This module holds the facts both sides share and the read-only checks:
what the icon and the autostart entry run, whether the switch is on, and
whether something has undone it. The checks read a few files and follow a
few symbolic links, nothing more (no subprocess): the updater runs one on
every start, on its fast path. Everything read is untrusted: a state file
that cannot be parsed is "unknown", never "on" or "off".
"""

# No ``from __future__ import annotations`` here: under it typing.NamedTuple compiles
# every field's annotation string (about 0.2 ms a field, on the launcher's fast path).

import json
import os
import stat
from pathlib import Path
from typing import NamedTuple

from sdw_updater.contract import SWITCH_STATE_FILE
from sdw_updater.status import read_bounded

#: The programs, by the names of the command line contract (README, "Command line").
PROGRAMS = ("sdw-updater", "sdw-notify", "sdw-login")
#: Where securedrop-workstation-dom0-config installs its programs.
UPSTREAM_BIN = "/usr/bin"
#: Where this package installs its programs under the contract's names.
OUR_BIN = "/usr/libexec/securedrop-updater"
#: Where the switch puts its links: before /usr/bin in a session's PATH.
LINK_DIR = "/usr/local/bin"
#: The notifiers' timers (systemd user units).
UPSTREAM_TIMER = "sdw-notify.timer"
OUR_TIMER = "securedrop-updater-notify.timer"
#: Where ``systemctl --global`` keeps masks and enablement links for every user.
GLOBAL_USER_UNITS = "/etc/systemd/user"
#: The unit that pulls our timer in (its [Install] WantedBy=).
OUR_TIMER_WANTED_BY = "timers.target"
#: The switch's record of what it changed (written by ``securedrop-updater-switch``).
STATE_FILE = SWITCH_STATE_FILE
STATE_FORMAT = 1
#: The desktop entry SecureDrop Workstation's Salt run writes, under this name, to
#: ~/Desktop (the icon, Exec=sdw-updater) and ~/.config/autostart (Exec=/usr/bin/sdw-login).
DESKTOP_ENTRY = "press.freedom.SecureDropUpdater.desktop"
ICON_ENTRY = "Desktop/" + DESKTOP_ENTRY
AUTOSTART_ENTRY = ".config/autostart/" + DESKTOP_ENTRY
#: What a login session's PATH holds when nothing else is known (docs/dom0-install.md,
#: "Why /usr/local/bin"): the default of systemd's user manager and of Fedora's shells.
SESSION_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin"

# What the icon (or the autostart entry) runs.
OURS = "ours"
UPSTREAM = "upstream"
OTHER = "other"  # an executable that is neither (an admin's own script, say)
MISSING = "missing"  # no entry, no Exec, or its program is not found
DISABLED = "disabled"  # an autostart entry with Hidden=true

# The switch.
ON = "on"
OFF = "off"
UNKNOWN = "unknown"  # the state file exists but cannot be trusted

MAX_ENTRY_BYTES = 64 * 1024


def our_program(name: str) -> str:
    return f"{OUR_BIN}/{name}"


def link_path(name: str) -> str:
    return f"{LINK_DIR}/{name}"


def upstream_program(name: str) -> str:
    return f"{UPSTREAM_BIN}/{name}"


# ----- desktop entries ---------------------------------------------------------------


def _unescape_string(value: str) -> str:
    """The desktop entry spec's escapes of string values: \\s \\n \\t \\r \\\\."""
    out = []
    chars = iter(value)
    for char in chars:
        if char != "\\":
            out.append(char)
            continue
        following = next(chars, "")
        out.append(
            {"s": " ", "n": "\n", "t": "\t", "r": "\r", "\\": "\\"}.get(following, following)
        )
    return "".join(out)


def entry_keys(text: str) -> dict[str, str]:
    """The keys of the ``[Desktop Entry]`` group (the first of each; others ignored)."""
    keys: dict[str, str] = {}
    in_group = False
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("["):
            in_group = line == "[Desktop Entry]"
            continue
        if in_group and "=" in line:
            key, _, value = line.partition("=")
            keys.setdefault(key.strip(), value.strip())
    return keys


def exec_program(text: str) -> str | None:
    """The program an entry's ``Exec`` starts (its first word, quotes removed), or None.

    Per the desktop entry specification: string escapes first, then the
    command line's own quoting, where a quoted argument is in double quotes
    and a backslash inside them escapes the next character.
    """
    value = entry_keys(text).get("Exec")
    if not value:
        return None
    line = _unescape_string(value).lstrip()
    if line.startswith('"'):
        word = []
        chars = iter(line[1:])
        for char in chars:
            if char == "\\":
                word.append(next(chars, ""))
            elif char == '"':
                break
            else:
                word.append(char)
        else:
            return None  # no closing quote: the entry is invalid
        program = "".join(word)
    else:
        program = line.split(None, 1)[0] if line.split() else ""
    if "\0" in program:
        return None  # valid UTF-8, but no file name can hold a NUL
    return program or None


def read_entry(path: Path) -> str | None:
    """A desktop entry's text (bounded, UTF-8), or None."""
    raw = read_bounded(path, MAX_ENTRY_BYTES)
    if raw is None or len(raw) > MAX_ENTRY_BYTES:
        return None
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return None


# ----- resolving a program -----------------------------------------------------------


def _executable(path: str) -> bool:
    try:
        mode = os.stat(path).st_mode
    except (OSError, ValueError):  # ValueError: a NUL in the path
        return False
    return stat.S_ISREG(mode) and os.access(path, os.X_OK)


def which(program: str, path_env: str) -> str | None:
    """Where ``program`` is found, as a launcher finds it: absolute as is, else on PATH.

    Relative and empty PATH entries are skipped (they would depend on the
    launcher's working directory), and so is a relative program with a slash.
    """
    if "/" in program:
        return program if program.startswith("/") and _executable(program) else None
    for directory in path_env.split(os.pathsep):
        if directory.startswith("/"):
            candidate = f"{directory.rstrip('/')}/{program}"
            if _executable(candidate):
                return candidate
    return None


def classify(found: str | None, name: str, own: str | None = None) -> str:
    """Whose program ``found`` is: ours, upstream's, another's, or missing.

    Ours: it is (or leads through links to) our installed program of that
    name, or ``own``, the program running this check (a development
    checkout's console script). Upstream's: ``/usr/bin/<name>``.
    """
    real = _real(found)
    if real is None:
        return MISSING
    if real == _real(our_program(name)):
        return OURS
    if real == _real(own):
        return OURS
    if real == upstream_program(name):
        return UPSTREAM
    return OTHER


class Runs(NamedTuple):
    """What one entry runs: ``who`` (ours, upstream, other, missing, disabled) and the file."""

    who: str
    program: str | None  # the updater it ends up running (symbolic links followed), or None


def icon_runs(home: Path, path_env: str, own: str | None = None) -> Runs:
    """What a double click on ~/Desktop/press.freedom.SecureDropUpdater.desktop runs."""
    text = read_entry(home / ICON_ENTRY)
    program = exec_program(text) if text is not None else None
    found = which(program, path_env) if program is not None else None
    return Runs(classify(found, "sdw-updater", own), _real(found))


def autostart_runs(home: Path, path_env: str, own: str | None = None) -> Runs:
    """What the login autostart entry ends up running.

    Upstream's ``/usr/bin/sdw-login`` waits, then runs ``sdw-updater``
    through ``PATH`` (docs/dom0-install.md, "What SecureDrop Workstation
    installs"); ours runs the ``sdw-updater``
    installed beside it. Any other program counts as the updater itself.
    """
    text = read_entry(home / AUTOSTART_ENTRY)
    if text is None:
        return Runs(MISSING, None)
    if entry_keys(text).get("Hidden", "false").lower() == "true":
        return Runs(DISABLED, None)
    program = exec_program(text)
    found = which(program, path_env) if program is not None else None
    login = classify(found, "sdw-login")
    if login == UPSTREAM:
        updater = which("sdw-updater", path_env)
        return Runs(classify(updater, "sdw-updater", own), _real(updater))
    if login == OURS:
        return Runs(OURS, os.path.realpath(our_program("sdw-updater")))
    return Runs(classify(found, "sdw-updater", own), _real(found))


def _real(path: str | None) -> str | None:
    """``path`` with its links followed; None for no path or one no file can have (a NUL)."""
    if path is None:
        return None
    try:
        return os.path.realpath(path)
    except (ValueError, OSError):
        return None


def local_bin_first(path_env: str) -> bool:
    """Does /usr/local/bin come before /usr/bin (and /bin) in this PATH?"""
    entries = [entry.rstrip("/") for entry in path_env.split(os.pathsep)]
    if LINK_DIR not in entries:
        return False
    later = [entries.index(d) for d in (UPSTREAM_BIN, "/bin") if d in entries]
    return all(entries.index(LINK_DIR) < index for index in later)


# ----- the units ---------------------------------------------------------------------


def upstream_timer_masked() -> bool:
    """Is upstream's timer masked for every user (``systemctl --global mask``)?"""
    try:
        return os.readlink(f"{GLOBAL_USER_UNITS}/{UPSTREAM_TIMER}") == "/dev/null"
    except OSError:
        return False


def our_timer_enabled() -> bool:
    """Is our timer enabled for every user (``systemctl --global enable``)?"""
    wants = f"{GLOBAL_USER_UNITS}/{OUR_TIMER_WANTED_BY}.wants/{OUR_TIMER}"
    try:
        return stat.S_ISLNK(os.lstat(wants).st_mode)
    except OSError:
        return False


# ----- the switch's state file -------------------------------------------------------


class SwitchState(NamedTuple):
    """What ``securedrop-updater-switch on`` changed, so that ``off`` undoes that only.

    ``links``: each link it created, and its target. ``masked_upstream_timer``:
    it masked upstream's timer (it was not masked before). ``enabled_our_timer``:
    it enabled ours (it was not enabled before).
    """

    switched_on_at: str
    links: dict[str, str]
    masked_upstream_timer: bool
    enabled_our_timer: bool

    def to_json(self) -> bytes:
        data = {
            "format": STATE_FORMAT,
            "switch": ON,
            "switched_on_at": self.switched_on_at,
            "links": dict(sorted(self.links.items())),
            "masked_upstream_timer": self.masked_upstream_timer,
            "enabled_our_timer": self.enabled_our_timer,
        }
        return (json.dumps(data, indent=2) + "\n").encode("utf-8")


def parse_state(raw: bytes) -> SwitchState | None:
    """The state file's content, strictly: anything unexpected is None (untrusted)."""
    try:
        data = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        return None
    return _state_of(data) if isinstance(data, dict) else None


_STATE_KEYS = {
    "format",
    "switch",
    "switched_on_at",
    "links",
    "masked_upstream_timer",
    "enabled_our_timer",
}


def _state_of(data: dict[str, object]) -> SwitchState | None:
    links = data.get("links")
    if not isinstance(links, dict):
        return None
    allowed = {link_path(name): our_program(name) for name in PROGRAMS}
    flags = (data.get("masked_upstream_timer"), data.get("enabled_our_timer"))
    when = data.get("switched_on_at")
    valid = (
        set(data) == _STATE_KEYS
        and data["format"] == STATE_FORMAT
        and data["switch"] == ON
        and all(allowed.get(k) == v for k, v in links.items())
        and all(isinstance(flag, bool) for flag in flags)
        and isinstance(when, str)
        and len(when) <= 64
    )
    if not valid:
        return None
    return SwitchState(str(when), {str(k): str(v) for k, v in links.items()}, *map(bool, flags))


def read_state(path: str = STATE_FILE) -> tuple[str, SwitchState | None]:
    """(on, the state) | (off, None) when there is no file | (unknown, None) when untrusted."""
    try:
        os.lstat(path)
    except FileNotFoundError:
        return OFF, None
    except OSError:
        return UNKNOWN, None
    raw = read_bounded(path)
    state = parse_state(raw) if raw is not None and len(raw) <= 64 * 1024 else None
    return (ON, state) if state is not None else (UNKNOWN, None)


# ----- the report --------------------------------------------------------------------


def undone_parts(switch: str, icon: str, autostart: str, masked: bool) -> list[str]:
    """What no longer runs ours although the switch is on (empty when it is off)."""
    if switch != ON:
        return []
    parts = [
        name for name, who in (("icon", icon), ("autostart", autostart)) if who in (UPSTREAM, OTHER)
    ]
    if not masked:
        parts.append("upstream_timer")
    return parts


def report(home: Path, path_env: str, own: str | None = None) -> dict[str, object]:
    """The ``launcher`` key of ``sdw-updater --status`` (docs/dom0-install.md, "Checking which updater runs")."""
    icon = icon_runs(home, path_env, own)
    autostart = autostart_runs(home, path_env, own)
    switch, _ = read_state()
    masked = upstream_timer_masked()
    undone = undone_parts(switch, icon.who, autostart.who, masked)
    return {
        "icon": icon.who,
        "icon_runs": icon.program,
        "autostart": autostart.who,
        "switch": switch,
        "upstream_timer_masked": masked,
        "our_timer_enabled": our_timer_enabled(),
        "local_bin_first": local_bin_first(path_env),
        "undone": bool(undone),
        "undone_parts": undone,
    }


def start_notice(home: Path, path_env: str, own: str | None = None) -> str | None:
    """A line for the updater's log when the switch is on but something undid it.

    Cheap when the switch is off (one ``lstat``); a few reads and ``stat``s
    when it is on. None when there is nothing to say.
    """
    switch, _ = read_state()
    if switch == OFF:
        return None
    if switch == UNKNOWN:
        return f"The switch's state file {STATE_FILE} cannot be read; run securedrop-updater-switch status"
    icon = icon_runs(home, path_env, own)
    autostart = autostart_runs(home, path_env, own)
    undone = undone_parts(switch, icon.who, autostart.who, upstream_timer_masked())
    if not undone:
        return None
    return (
        "securedrop-updater-switch is on, but this is undone: "
        + ", ".join(_UNDONE_WORDS[part](icon, autostart) for part in undone)
        + "; see securedrop-updater-switch status"
    )


_UNDONE_WORDS = {
    "icon": lambda icon, _: f"the SecureDrop icon runs {icon.program} ({icon.who})",
    "autostart": lambda _, auto: f"the login autostart runs {auto.program} ({auto.who})",
    "upstream_timer": lambda _, __: f"{UPSTREAM_TIMER} is no longer masked",
}
