"""Parsers of what dom0 and its VMs say about themselves.  Every byte is untrusted.

Pure functions: bytes in, a value or ``None`` out.  ``None`` always means
"no trustworthy answer", and each caller decides what that costs (an
unknown boot is not a reboot; an unknown connectivity is no network).
"""

from __future__ import annotations

import math
import re


def parse_connectivity(stdout: bytes) -> str | None:
    """Read ``nmcli networking connectivity check`` output: one known word, or ``None``."""
    if len(stdout) > 64:
        return None
    text = stdout.strip(b"\n")
    if text in (b"full", b"limited", b"portal", b"none", b"unknown"):
        return text.decode("ascii")
    return None


# Patterns, not compiled objects: ``re`` compiles (and caches) them on first use, so
# importing this module (the launcher and the notifier do) costs no compilation.
_RELEASE = r"([0-9]{1,3})\.([0-9]{1,3})"


def parse_release(text: str | None) -> str | None:
    """Normalise a Qubes release ("4.2", "4.2.3", "R4.2") to "major.minor"; None if absent."""
    if not text or len(text) > 64:
        return None
    match = re.search(_RELEASE, text)
    if match is None:
        return None
    return f"{int(match.group(1))}.{int(match.group(2))}"


def parse_os_release(raw: bytes) -> str | None:
    """dom0's Qubes release from os-release: NAME must say Qubes; VERSION_ID gives it."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        return None
    fields: dict[str, str] = {}
    for line in text.splitlines()[:200]:
        key, sep, value = line.partition("=")
        if sep and key.isidentifier():
            fields[key] = value.strip().strip('"').strip("'")
    if "qubes" not in fields.get("NAME", "").lower():
        return None
    return parse_release(fields.get("VERSION_ID") or fields.get("VERSION"))


def parse_uptime(raw: bytes) -> float | None:
    """First field of /proc/uptime as a positive finite float, else None."""
    try:
        first = raw.decode("ascii").split()[0]
        value = float(first)
    except (UnicodeDecodeError, IndexError, ValueError):
        return None
    if not math.isfinite(value) or value < 0 or value > 10 * 365 * 86400:
        return None
    return value


_BOOT_ID = rb"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\n?"


def parse_boot_id(raw: bytes) -> str | None:
    """The kernel's boot id (``/proc/sys/kernel/random/boot_id``): a UUID, else None."""
    if len(raw) > 64 or re.fullmatch(_BOOT_ID, raw) is None:
        return None
    return raw.strip().decode("ascii")
