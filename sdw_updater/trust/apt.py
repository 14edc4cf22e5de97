"""The SecureDrop apt source of a template: it trusts only the pinned key.

SecureDrop's Salt state writes a deb822 ``.sources`` file whose ``Signed-By``
holds the armored key inline, so apt trusts only that key for this source
(docs/keys.md, "How the keys are pinned today").  dom0 cannot confirm what
apt in a template really does; this catches a source changed to trust more
than the pinned key, or to accept unsigned, weakly signed or stale data.

Everything is read through ``qvm-run``: the template answers, so its answer
is untrusted, bounded in size and time and parsed strictly.
"""

from __future__ import annotations

import base64
import binascii
import logging
import re
from collections.abc import Callable, Iterable

from sdw_updater.host import Host
from sdw_updater.trust.anchors import APT_SOURCE, PINNED, REVOKED, clean, key_name
from sdw_updater.trust.gpg import HEX40, KeyInfo, Scanner
from sdw_updater.trust.report import Code, TrustReport

log = logging.getLogger("sdw.trust")

VM_FILE_LIMIT = 256 * 1024

_DEB822_FIELD = re.compile(r"[A-Za-z0-9][A-Za-z0-9-]{0,63}")
_APT_TRUE = frozenset({"yes", "true", "with", "on", "enable", "1"})
_APT_FALSE = frozenset({"no", "false", "without", "off", "disable", "0"})
_ARMOR = "-----BEGIN PGP PUBLIC KEY BLOCK-----"
#: Options that make apt accept what it should refuse, and what they mean.
_INSECURE = (
    ("trusted", "accepts unsigned data (Trusted)"),
    ("allow-insecure", "accepts unsigned repositories (Allow-Insecure)"),
    ("allow-weak", "accepts weak signatures (Allow-Weak)"),
    ("allow-downgrade-to-insecure", "accepts unsigned data (Allow-Downgrade-To-Insecure)"),
)
_FRESHNESS = ("check-valid-until", "check-date")

KeyReader = Callable[[str], bytes | None]


def parse_deb822(text: str) -> list[dict[str, str]]:
    """Parse a deb822 ``.sources`` file strictly (ValueError on anything odd).

    Field names are case-insensitive (kept lower case); a continuation line
    ``.`` is an empty line, as in an inline ``Signed-By`` key.
    """
    stanzas: list[dict[str, str]] = []
    current: dict[str, str] = {}
    last: str | None = None
    for number, raw in enumerate(text.split("\n"), 1):
        line = raw.rstrip("\r")
        if line.startswith("#"):
            continue
        if not line.strip():
            if current:
                stanzas.append(current)
            current, last = {}, None
            continue
        if line[0] in " \t":
            if last is None:
                raise ValueError(f"line {number}: a continuation line without a field")
            piece = line.strip()
            current[last] += "\n" + ("" if piece == "." else piece)
            continue
        name, colon, value = line.partition(":")
        if not colon or not _DEB822_FIELD.fullmatch(name):
            raise ValueError(f"line {number}: not a 'Field: value' line")
        key = name.lower()
        if key in current:
            raise ValueError(f"line {number}: {name} appears twice in one entry")
        current[key] = value.strip()
        last = key
    if current:
        stanzas.append(current)
    return stanzas


def check_apt_source(
    template: str,
    data: bytes | None,
    env: str,
    scanner: Scanner,
    *,
    read_key: KeyReader,
    now: float,
    revoked: Iterable[str] = REVOKED,
) -> TrustReport:
    """The SecureDrop apt source of one template trusts only the pinned key.

    Every enabled entry needs ``Signed-By`` (an inline key, key file paths
    read through ``read_key``, or fingerprints) resolving to exactly the
    pinned fingerprint, and none of the options that make apt accept
    unsigned, weakly signed or stale data.
    """
    report = TrustReport()
    where = f"the SecureDrop package source of {template} ({APT_SOURCE})"
    if data is None:
        report.fail(Code.SOURCE_UNREADABLE, f"{where} is missing, unreadable or too large")
        return report
    try:
        stanzas = parse_deb822(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        report.fail(Code.SOURCE_UNPARSEABLE, f"{where} cannot be parsed ({clean(str(exc), 120)})")
        return report
    enabled = []
    for stanza in stanzas:
        flag = stanza.get("enabled", "yes").strip().lower()
        if flag in _APT_FALSE:
            continue
        if flag not in _APT_TRUE:
            report.fail(Code.SOURCE_BAD_ENABLED, f"{where} has an unreadable Enabled value")
        enabled.append(stanza)
    if not enabled:
        report.fail(Code.SOURCE_NO_ENTRY, f"{where} has no enabled entry")
    for stanza in enabled:
        _check_entry(
            report,
            where,
            stanza,
            env,
            scanner=scanner,
            read_key=read_key,
            now=now,
            denied=set(revoked),
        )
    return report


def _check_entry(
    report: TrustReport,
    where: str,
    stanza: dict[str, str],
    env: str,
    *,
    scanner: Scanner,
    read_key: KeyReader,
    now: float,
    denied: set[str],
) -> None:
    """One enabled entry: no insecure option, and Signed-By exactly the pin."""
    pinned = PINNED[env]
    for option, meaning in _INSECURE:
        if option in stanza and stanza[option].strip().lower() not in _APT_FALSE:
            report.fail(Code.SOURCE_INSECURE, f"{where} {meaning}")
    for option in _FRESHNESS:
        if option in stanza and stanza[option].strip().lower() not in _APT_TRUE:
            report.fail(
                Code.SOURCE_NOT_FRESH, f"{where} turns off apt's freshness check ({option})"
            )
    signed_by = stanza.get("signed-by", "").strip()
    if not signed_by:
        report.fail(
            Code.SOURCE_NO_SIGNED_BY,
            f"{where} has no Signed-By, so apt trusts every key installed in the template",
        )
        return
    keys, problems = signers_of(signed_by, scanner, read_key)
    for problem in problems:
        report.fail(Code.SOURCE_BAD_SIGNED_BY, f"{where} {problem}")
    for key in keys:
        if key.fingerprint != pinned:
            report.fail(Code.SOURCE_OTHER_KEY, f"{where} also trusts another key, {key.describe()}")
        elif key.fingerprint in denied or key.revoked:
            report.fail(
                Code.SOURCE_REVOKED_KEY,
                f"{where} trusts {key_name(pinned)}, which has been revoked",
            )
        elif key.expires is not None and key.expires <= now:
            report.fail(
                Code.SOURCE_EXPIRED_KEY,
                f"{where} holds a copy of {key_name(pinned)} that has expired",
            )
    if not problems and pinned not in {k.fingerprint for k in keys}:
        report.fail(
            Code.SOURCE_PIN_MISSING, f"{where} does not trust {key_name(pinned)} ({pinned})"
        )


def signers_of(
    value: str, scanner: Scanner, read_key: KeyReader
) -> tuple[list[KeyInfo], list[str]]:
    """The keys a ``Signed-By`` value names: inline key, key files or fingerprints."""
    if _ARMOR in value:
        inline = scanner.scan(value.encode("utf-8"))
        return inline, [] if inline else ["has an inline Signed-By key that holds no key"]
    keys: list[KeyInfo] = []
    problems = []
    for token in [part for part in re.split(r"[\s,]+", value) if part]:
        bare = token.rstrip("!").upper()
        if HEX40.fullmatch(bare):
            keys.append(KeyInfo.named(bare, "named by fingerprint"))
        elif token.startswith("/"):
            data = read_key(token)
            found = scanner.scan(data) if data is not None else []
            if not found:
                problems.append(
                    f"names the key file {clean(token, 100)}, which holds no readable key"
                )
            keys.extend(found)
        else:
            problems.append(
                f"has a Signed-By entry that is neither a key nor a key file: {clean(token, 60)}"
            )
    return keys, problems


def read_vm_file(
    host: Host, vm: str, path: str, binary: bool = False
) -> tuple[bytes | None, str | None]:
    """Read a file in a VM through ``qvm-run``: untrusted, bounded in size and time.

    Text is read with ``cat``; key files, which may be binary, with
    ``base64`` (line-based output, decoded strictly here).  Returns the
    bytes or a reason.
    """
    result = host.read_vm_file(vm, path, VM_FILE_LIMIT, binary=binary)
    if result.stdout_overflow:
        return None, f"larger than {VM_FILE_LIMIT // 1024} KiB"
    if not result.ok:
        return None, result.describe()
    if not binary:
        return result.stdout_head, None
    try:
        return base64.b64decode(b"".join(result.stdout_lines), validate=True), None
    except (binascii.Error, ValueError):
        return None, "not base64"


def key_reader(host: Host, template: str) -> KeyReader:
    """Reads key files a template's ``Signed-By`` names, inside that template."""

    def read(path: str) -> bytes | None:
        found, why = read_vm_file(host, template, path, binary=True)
        if why:
            log.error("Could not read %s in %s: %s", path, template, why)
        return found

    return read
