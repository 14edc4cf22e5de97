"""Reading OpenPGP keys: python-gnupg in a fresh, empty, throwaway GnuPG home.

Every decision the checks make rests on what this module reports: a key's
primary fingerprint as GnuPG lists it, with its key and subkey ids, user
ids, expiry and revocation state.  Never gpg's exit code, a status string,
a key id alone or a user id (docs/keys.md, "python-gnupg: what its results mean").

``scan_keys_mem`` is a dry-run import on GnuPG >= 2.1: the keyring stays
empty, so nothing read earlier can vouch for anything read later, and
``--no-autostart`` keeps gpg-agent (and its sockets) out of it.

python-gnupg has no timeouts.  Each gpg it starts is run under coreutils'
``timeout``, added through ``GPG.make_args`` (a public, documented method of
python-gnupg that builds every gpg command line): a gpg that hangs is
killed, the scan fails, and so does every check that needed it.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import tempfile
from dataclasses import dataclass
from typing import Any, Protocol

from sdw_updater.trust.anchors import clean

log = logging.getLogger("sdw.trust")

#: Seconds one gpg process may run.
GPG_TIMEOUT = 30
GPG_CANDIDATES = ("/usr/bin/gpg", "/usr/bin/gpg2", "/bin/gpg")
TIMEOUT_CANDIDATES = ("/usr/bin/timeout", "/bin/timeout")
#: What ``timeout --signal=KILL`` exits with when it stopped gpg (128 + SIGKILL).
KILLED_BY_TIMEOUT = 137

HEX40 = re.compile(r"[0-9A-F]{40}")
_KEY_ID = re.compile(r"[0-9A-Fa-f]{16}|[0-9A-Fa-f]{40}")


class ScanError(Exception):
    """GnuPG could not be run: every check that needed it fails."""


@dataclass(frozen=True)
class KeyInfo:
    """One primary key as GnuPG lists it (python-gnupg ``scan_keys_mem``)."""

    fingerprint: str
    ids: frozenset[str]  # 16-hex key ids and 40-hex fingerprints of the primary and subkeys
    uids: tuple[str, ...]
    created: int | None
    expires: int | None
    revoked: bool  # gpg's validity 'r': a revocation signature is in the data
    expired: bool  # gpg's validity 'e', by the real clock

    @property
    def uid(self) -> str:
        return clean(self.uids[0]) if self.uids else "(no user id)"

    def describe(self) -> str:
        return f'{self.fingerprint} ("{self.uid}")'

    @classmethod
    def named(cls, fingerprint: str, how: str) -> KeyInfo:
        """A key known only by its fingerprint (e.g. an apt ``Signed-By: FPR``)."""
        return cls(fingerprint, frozenset({fingerprint}), (how,), None, None, False, False)


#: Stands for a key gpg listed without a readable fingerprint, so that "exactly
#: one key" and "only the pinned key" still fail on it.
UNREADABLE_KEY = KeyInfo("?" * 40, frozenset(), ("(unreadable key)",), None, None, False, False)


def _epoch(value: Any) -> int | None:
    try:
        number = int(str(value))
    except ValueError:
        return None
    return number if number > 0 else None


def key_info(raw: dict[str, Any]) -> KeyInfo | None:
    """One entry of python-gnupg's listing, strictly; None without a fingerprint."""
    fingerprint = str(raw.get("fingerprint") or "").upper()
    if not HEX40.fullmatch(fingerprint):
        return None
    ids = {fingerprint, fingerprint[-16:]}
    for sub in raw.get("subkeys") or []:
        for part in sub[:3] if isinstance(sub, list | tuple) else []:
            if isinstance(part, str) and _KEY_ID.fullmatch(part):
                ids.add(part.upper())
    trust = str(raw.get("trust") or "")
    return KeyInfo(
        fingerprint=fingerprint,
        ids=frozenset(ids),
        uids=tuple(str(u) for u in raw.get("uids") or []),
        created=_epoch(raw.get("date")),
        expires=_epoch(raw.get("expires")),
        revoked=trust == "r",
        expired=trust == "e",
    )


def _executable(candidates: tuple[str, ...]) -> str | None:
    for candidate in candidates:
        if os.path.isfile(candidate) and os.access(candidate, os.X_OK):
            return candidate
    return None


class Scanner(Protocol):
    """What the checks need of a key scanner: the primary keys in some bytes."""

    def scan(self, data: bytes) -> list[KeyInfo]: ...


class KeyScanner:
    """Lists the keys in some bytes with a fresh, empty GnuPG home (see the module)."""

    def __init__(self, gpg_binary: str | None = None, timeout: float = GPG_TIMEOUT) -> None:
        self.gpg_binary = gpg_binary
        self.timeout = timeout
        self._gpg: Any = None
        self._home: str | None = None

    def __enter__(self) -> KeyScanner:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def home(self) -> str | None:
        """The throwaway GnuPG home while the scanner is open (removed by ``close``)."""
        return self._home

    def close(self) -> None:
        if self._home is not None:
            shutil.rmtree(self._home, ignore_errors=True)
            self._home = None
        self._gpg = None

    def _open(self) -> Any:
        if self._gpg is not None:
            return self._gpg
        try:
            import gnupg
        except ImportError as exc:
            raise ScanError("python-gnupg is not installed") from exc
        logging.getLogger("gnupg").addHandler(logging.NullHandler())
        binary = self.gpg_binary or _executable(GPG_CANDIDATES)
        if binary is None:
            raise ScanError("GnuPG (gpg) is not installed")
        limiter = _executable(TIMEOUT_CANDIDATES)
        if limiter is None:
            raise ScanError("coreutils' timeout is not installed, so gpg cannot be bounded")
        prefix = [limiter, "--signal=KILL", str(max(1, round(self.timeout)))]

        class BoundedGPG(gnupg.GPG):
            """Every gpg command line python-gnupg builds, run under ``timeout``."""

            def make_args(self, args: list[str], passphrase: Any) -> list[str]:
                return [*prefix, *super().make_args(args, passphrase)]

        # Short and private (0700): gpg's socket paths are limited to ~107 bytes.
        self._home = tempfile.mkdtemp(prefix="g")
        try:
            gpg = BoundedGPG(gpgbinary=binary, gnupghome=self._home, options=["--no-autostart"])
        except (OSError, ValueError, RuntimeError) as exc:
            self.close()
            raise ScanError(f"GnuPG could not be run ({clean(str(exc), 200)})") from exc
        if tuple(gpg.version or (0,)) < (2, 1):
            self.close()
            raise ScanError("GnuPG 2.1 or later is required")
        self._gpg = gpg
        return gpg

    def scan(self, data: bytes) -> list[KeyInfo]:
        """The primary keys in ``data`` (armored or binary); garbage gives []."""
        gpg = self._open()
        try:
            found = gpg.scan_keys_mem(data)
        except (OSError, ValueError, UnicodeError) as exc:
            raise ScanError(f"GnuPG failed ({clean(str(exc), 200)})") from exc
        if getattr(found, "returncode", None) == KILLED_BY_TIMEOUT:
            log.error("gpg ran longer than %d s and was killed", self.timeout)
            raise ScanError(f"gpg did not finish within {self.timeout:g} s and was stopped")
        keys = []
        for raw in found:
            if raw.get("type") not in ("pub", "sec"):
                continue
            keys.append(key_info(raw) or UNREADABLE_KEY)
        return keys
