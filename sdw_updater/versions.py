"""RPM and Debian version comparison, each with its own rules.

dom0 packages are ordered by RPM's ``rpmvercmp`` on epoch, version and
release; template packages by dpkg's ``verrevcmp``.  PEP 440
(``packaging.Version``) orders the same strings differently (``1.8.0rc1``
is *newer* than ``1.8.0`` for RPM and dpkg, older for PEP 440) or rejects
them, so it must never see an RPM or Debian version.  See
reference/signatures.md §3.

Every function returns -1 (a is older), 0 (same) or +1 (a is newer) and
raises ``ValueError`` on a string that is not a version: the inputs may come
from untrusted tool output, and a malformed one must not compare as
anything.
"""

from __future__ import annotations

import re
from typing import NamedTuple

__all__ = [
    "EVR",
    "DebVersion",
    "compare_dpkg",
    "compare_evr",
    "parse_dpkg",
    "parse_evr",
    "rpmvercmp",
]

MAX_VERSION = 256

# rpm: version and release may hold letters, digits and . _ + ~ ^ (no '-').
_RPM_PART = re.compile(r"[A-Za-z0-9._+~^]+")
_EPOCH = re.compile(r"[0-9]{1,10}")
# Debian policy 5.6.12: upstream starts with a digit; revision has no '-' or ':'.
_DEB_UPSTREAM = re.compile(r"[0-9][A-Za-z0-9.+~-]*")
_DEB_REVISION = re.compile(r"[A-Za-z0-9.+~]+")


def _sign(value: int) -> int:
    return (value > 0) - (value < 0)


# rpm and dpkg use the C locale's classes: ASCII only ('²'.isdigit() is True in Python).
def _digit(char: str) -> bool:
    return "0" <= char <= "9"


def _alpha(char: str) -> bool:
    return "a" <= char <= "z" or "A" <= char <= "Z"


def _alnum(char: str) -> bool:
    return _digit(char) or _alpha(char)


# ----- RPM ------------------------------------------------------------------


class EVR(NamedTuple):
    """An RPM epoch:version-release; a missing epoch is 0, a missing release None."""

    epoch: int
    version: str
    release: str | None


def rpmvercmp(a: str, b: str) -> int:
    """Compare two RPM version (or release) strings as rpm 4.18's ``rpmvercmp``.

    Segments are runs of digits or of letters; everything else separates
    them.  ``~`` sorts before anything (even the end: ``1.0~rc1 < 1.0``),
    ``^`` after the end but before anything else (``1.0 < 1.0^git1 < 1.0.1``).
    Numbers compare as numbers, letters as bytes, and a number beats letters.
    """
    if a == b:
        return 0
    i = j = 0
    la, lb = len(a), len(b)
    while i < la or j < lb:
        while i < la and not (_alnum(a[i]) or a[i] in "~^"):
            i += 1
        while j < lb and not (_alnum(b[j]) or b[j] in "~^"):
            j += 1
        ca = a[i] if i < la else ""
        cb = b[j] if j < lb else ""
        if ca == "~" or cb == "~":
            if ca != "~":
                return 1
            if cb != "~":
                return -1
            i += 1
            j += 1
            continue
        if ca == "^" or cb == "^":
            if not ca:
                return -1
            if not cb:
                return 1
            if ca != "^":
                return 1
            if cb != "^":
                return -1
            i += 1
            j += 1
            continue
        if not (ca and cb):
            break
        numeric = _digit(ca)
        wanted = _digit if numeric else _alpha
        si, sj = i, j
        while i < la and wanted(a[i]):
            i += 1
        while j < lb and wanted(b[j]):
            j += 1
        seg_a, seg_b = a[si:i], b[sj:j]
        if not seg_b:
            # a number against letters: the number is newer
            return 1 if numeric else -1
        if numeric:
            seg_a = seg_a.lstrip("0")
            seg_b = seg_b.lstrip("0")
            if len(seg_a) != len(seg_b):
                return 1 if len(seg_a) > len(seg_b) else -1
        if seg_a != seg_b:
            return 1 if seg_a > seg_b else -1
    if i >= la and j >= lb:
        return 0
    return -1 if i >= la else 1


def _split_epoch(text: str, kind: str) -> tuple[int, str]:
    """Check the length and split off ``epoch:`` (missing = 0); both formats agree here."""
    if not isinstance(text, str) or not 0 < len(text) <= MAX_VERSION:
        raise ValueError(f"not {'an' if kind == 'RPM' else 'a'} {kind} version: {text!r}")
    head, colon, tail = text.partition(":")
    if not colon:
        return 0, text
    if not _EPOCH.fullmatch(head):
        raise ValueError(f"bad epoch in {kind} version: {text!r}")
    return int(head), tail


def parse_evr(text: str) -> EVR:
    """Split ``[E:]V[-R]`` as rpm does (release after the last '-'); strict."""
    epoch, rest = _split_epoch(text, "RPM")
    version, dash, release = rest.rpartition("-")
    if not dash:
        version, release_opt = rest, None
    else:
        release_opt = release
        if not _RPM_PART.fullmatch(release):
            raise ValueError(f"bad release in RPM version: {text!r}")
    if not _RPM_PART.fullmatch(version):
        raise ValueError(f"bad version in RPM version: {text!r}")
    return EVR(epoch, version, release_opt)


def compare_evr(a: str | EVR, b: str | EVR) -> int:
    """Compare two RPM ``[E:]V[-R]`` strings (as ``rpm.labelCompare``).

    Epoch first (missing = 0), then version, then release.  When either side
    has no release, releases are not compared (``1.0`` matches ``1.0-3``),
    as rpm does for a dependency without a release.
    """
    ea = a if isinstance(a, EVR) else parse_evr(a)
    eb = b if isinstance(b, EVR) else parse_evr(b)
    if ea.epoch != eb.epoch:
        return 1 if ea.epoch > eb.epoch else -1
    result = rpmvercmp(ea.version, eb.version)
    if result or ea.release is None or eb.release is None:
        return result
    return rpmvercmp(ea.release, eb.release)


# ----- Debian ---------------------------------------------------------------


class DebVersion(NamedTuple):
    """A Debian ``[epoch:]upstream[-revision]``; a missing revision is ''."""

    epoch: int
    upstream: str
    revision: str


def parse_dpkg(text: str) -> DebVersion:
    """Split a Debian version (revision after the last '-'); strict, per policy."""
    epoch, rest = _split_epoch(text, "Debian")
    upstream, dash, revision = rest.rpartition("-")
    if not dash:
        upstream, revision = rest, ""
    elif not _DEB_REVISION.fullmatch(revision):
        raise ValueError(f"bad revision in Debian version: {text!r}")
    if not _DEB_UPSTREAM.fullmatch(upstream):
        raise ValueError(f"bad upstream version in Debian version: {text!r}")
    return DebVersion(epoch, upstream, revision)


def _order(char: str) -> int:
    """dpkg's weight of one non-digit character ('' is the end of the string)."""
    if not char or _digit(char):
        return 0
    if _alpha(char):
        return ord(char)
    if char == "~":
        return -1
    return ord(char) + 256


def verrevcmp(a: str, b: str) -> int:
    """dpkg's ``verrevcmp``: alternate non-digit and digit runs.

    In non-digit runs letters sort before other characters and ``~`` before
    everything, even the end of the string; digit runs compare as numbers.
    """
    i = j = 0
    la, lb = len(a), len(b)
    while i < la or j < lb:
        first_diff = 0
        while (i < la and not _digit(a[i])) or (j < lb and not _digit(b[j])):
            ac = _order(a[i] if i < la else "")
            bc = _order(b[j] if j < lb else "")
            if ac != bc:
                return _sign(ac - bc)
            i += 1
            j += 1
        while i < la and a[i] == "0":
            i += 1
        while j < lb and b[j] == "0":
            j += 1
        while i < la and j < lb and _digit(a[i]) and _digit(b[j]):
            if not first_diff:
                first_diff = ord(a[i]) - ord(b[j])
            i += 1
            j += 1
        if i < la and _digit(a[i]):
            return 1
        if j < lb and _digit(b[j]):
            return -1
        if first_diff:
            return _sign(first_diff)
    return 0


def compare_dpkg(a: str | DebVersion, b: str | DebVersion) -> int:
    """Compare two Debian versions as ``dpkg --compare-versions``."""
    da = a if isinstance(a, DebVersion) else parse_dpkg(a)
    db = b if isinstance(b, DebVersion) else parse_dpkg(b)
    if da.epoch != db.epoch:
        return 1 if da.epoch > db.epoch else -1
    return verrevcmp(da.upstream, db.upstream) or verrevcmp(da.revision, db.revision)
