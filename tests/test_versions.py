"""RPM and dpkg version comparison (sdw_updater.versions), never PEP 440.

The table rows are reference/signatures.md §3; the real ``rpm`` and
``dpkg`` (when installed) are the oracles for a few hundred more pairs.
"""

from __future__ import annotations

import random
import shutil
import subprocess

import pytest
from hypothesis import given
from hypothesis import strategies as st
from packaging.version import InvalidVersion, Version

from sdw_updater.versions import (
    EVR,
    compare_dpkg,
    compare_evr,
    parse_dpkg,
    parse_evr,
    rpmvercmp,
)

# (a, b, PEP 440, rpm, dpkg): reference/signatures.md §3, tested there.
TABLE = [
    ("1.8.0rc1", "1.8.0", -1, 1, 1),
    ("1.8.0~rc1", "1.8.0", "invalid", -1, -1),
    ("1.0.0", "1.0", 0, 1, 1),
    ("2.0.dev1", "2.0", -1, 1, 1),
    ("1:1.0", "2.0", "invalid", 1, 1),
]


def pep440(a: str, b: str) -> int | str:
    try:
        va, vb = Version(a), Version(b)
    except InvalidVersion:
        return "invalid"
    return (va > vb) - (va < vb)


@pytest.mark.parametrize(("a", "b", "pep", "rpm", "dpkg"), TABLE)
def test_reference_table(a: str, b: str, pep: int | str, rpm: int, dpkg: int) -> None:
    assert compare_evr(a, b) == rpm
    assert compare_evr(b, a) == -rpm
    assert compare_dpkg(a, b) == dpkg
    assert compare_dpkg(b, a) == -dpkg
    # the trap: PEP 440 orders (or rejects) these strings differently
    assert pep440(a, b) == pep
    assert pep != rpm


@pytest.mark.parametrize(
    ("a", "b", "expected"),
    [
        ("1.0", "1.0", 0),
        ("1.0-1", "1.0-2", -1),
        ("1.0-1.fc37", "1.0-1.fc41", -1),
        ("1.8.0-1.fc41", "1.8.0-1.fc41", 0),
        ("0:1.0-1", "1.0-1", 0),
        ("1.0", "1.0-5", 0),  # no release on one side: releases are not compared
        ("1.0a", "1.0", 1),
        ("1.0a", "1.0.1", -1),  # letters before numbers
        ("1.010", "1.9", 1),
        ("1.001", "1.1", 0),
        ("1.0^git1", "1.0", 1),
        ("1.0^git1", "1.0.1", -1),
        ("1.0~rc1^git1", "1.0~rc1", 1),
        ("1.0~rc1", "1.0~rc2", -1),
        ("1.0_1", "1.0.1", 0),  # separators are equal
        ("fc41", "fc37", 1),
        ("2:0.1", "1:9.9", 1),
    ],
)
def test_rpm_rules(a: str, b: str, expected: int) -> None:
    assert compare_evr(a, b) == expected
    assert compare_evr(b, a) == -expected


@pytest.mark.parametrize(
    ("a", "b", "expected"),
    [
        ("1.0", "1.0-0", 0),
        ("1.0-1", "1.0-1+deb12u1", -1),
        ("1.0~~", "1.0~", -1),
        ("1.0~", "1.0", -1),
        ("1.0", "1.0a", -1),
        ("1.0a", "1.0+", -1),  # letters sort before other characters
        ("1.0+", "1.0.1", -1),
        ("2.0.10", "2.0.9", 1),
        ("0.8.1-1", "0.8.1-1~bpo12+1", 1),
        ("1:0.1", "9.9", 1),
        ("1.2.3-4", "1.2.3-4", 0),
        ("1.0-1-2", "1.0-1-1", 1),  # the revision is after the last '-'
    ],
)
def test_dpkg_rules(a: str, b: str, expected: int) -> None:
    assert compare_dpkg(a, b) == expected
    assert compare_dpkg(b, a) == -expected


def test_parsing() -> None:
    assert parse_evr("2:1.8.0-1.fc41") == EVR(2, "1.8.0", "1.fc41")
    assert parse_evr("1.8.0") == EVR(0, "1.8.0", None)
    assert parse_dpkg("1:2.3-4+deb12u1").revision == "4+deb12u1"
    assert parse_dpkg("1.0").revision == ""


@pytest.mark.parametrize(
    "bad", ["", " 1.0", "1.0 ", "a:1.0", "1.0-", "-1", "1.0-1-", "1:", "1.0\n", "v1.0/x", "x" * 300]
)
def test_rpm_rejects_malformed(bad: str) -> None:
    with pytest.raises(ValueError):
        parse_evr(bad)
    with pytest.raises(ValueError):
        compare_evr(bad, "1.0")


@pytest.mark.parametrize(
    "bad", ["", "v1.0", "1.0 ", "a:1.0", "1.0-", "1.0-a_b", "1:", "1.0:1", ".1", "x" * 300]
)
def test_dpkg_rejects_malformed(bad: str) -> None:
    with pytest.raises(ValueError):
        parse_dpkg(bad)


def test_non_ascii_digits_are_not_numbers() -> None:
    # Python's str.isdigit() accepts '²'; rpm's C locale does not.
    assert rpmvercmp("1.²", "1.2") == rpmvercmp("1.", "1.2")


_PART = st.text(alphabet="0123456789abcz.~^", min_size=1, max_size=8).filter(
    lambda s: s[0].isalnum()
)
_DEB = st.builds(
    lambda e, u, r: (f"{e}:" if e is not None else "") + u + (f"-{r}" if r else ""),
    st.one_of(st.none(), st.integers(0, 3)),
    st.from_regex(r"[0-9][0-9a-z.+~]{0,7}", fullmatch=True),
    st.one_of(st.none(), st.from_regex(r"[0-9a-z.+~]{1,5}", fullmatch=True)),
)


@given(_PART, _PART, _PART)
def test_rpmvercmp_is_a_total_order(a: str, b: str, c: str) -> None:
    assert rpmvercmp(a, a) == 0
    assert rpmvercmp(a, b) == -rpmvercmp(b, a)
    if rpmvercmp(a, b) <= 0 and rpmvercmp(b, c) <= 0:
        assert rpmvercmp(a, c) <= 0


@given(_DEB, _DEB, _DEB)
def test_dpkg_is_a_total_order(a: str, b: str, c: str) -> None:
    assert compare_dpkg(a, a) == 0
    assert compare_dpkg(a, b) == -compare_dpkg(b, a)
    if compare_dpkg(a, b) <= 0 and compare_dpkg(b, c) <= 0:
        assert compare_dpkg(a, c) <= 0


def _random_pairs(alphabet: str, count: int, seed: int) -> list[tuple[str, str]]:
    rng = random.Random(seed)

    def one() -> str:
        epoch = f"{rng.randint(0, 2)}:" if rng.random() < 0.2 else ""
        upstream = rng.choice("0123456789") + "".join(
            rng.choice(alphabet) for _ in range(rng.randint(0, 7))
        )
        release = "-" + "".join(rng.choice("0123456789a.~") for _ in range(rng.randint(1, 4)))
        return epoch + upstream + (release if rng.random() < 0.5 else "")

    return [(one(), one()) for _ in range(count)]


@pytest.mark.skipif(shutil.which("rpm") is None, reason="rpm not installed")
def test_matches_real_rpm() -> None:
    """rpm's own comparison (its Lua ``rpm.vercmp`` parses E:V-R) over 300 pairs, one call."""
    pairs = [
        (a, b)
        for a, b in _random_pairs("0123456789az.~^_", 300, 41)
        if not a.endswith(("-", ".")) and not b.endswith(("-", "."))
    ]
    body = "".join(f'print(rpm.vercmp("{a}", "{b}")) print(",")' for a, b in pairs)
    proc = subprocess.run(
        ["rpm", "--eval", "%{lua: " + body + "}"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    answers = [int(x) for x in proc.stdout.replace("\n", "").split(",") if x.strip()]
    assert len(answers) == len(pairs)
    for (a, b), expected in zip(pairs, answers, strict=True):
        ours = compare_evr(a, b) if "-" in a and "-" in b else rpmvercmp_evr_like(a, b)
        assert ours == (expected > 0) - (expected < 0), (a, b)


def rpmvercmp_evr_like(a: str, b: str) -> int:
    """rpm.vercmp compares releases even when only one side has one ('' < '1')."""
    ea, eb = parse_evr(a), parse_evr(b)
    if ea.epoch != eb.epoch:
        return 1 if ea.epoch > eb.epoch else -1
    return rpmvercmp(ea.version, eb.version) or rpmvercmp(ea.release or "", eb.release or "")


@pytest.mark.skipif(shutil.which("dpkg") is None, reason="dpkg not installed")
def test_matches_real_dpkg() -> None:
    """``dpkg --compare-versions`` over 120 pairs."""
    for a, b in _random_pairs("0123456789az.+~", 120, 7):
        ours = compare_dpkg(a, b)
        for op, want in (("lt", ours < 0), ("eq", ours == 0)):
            proc = subprocess.run(
                ["dpkg", "--compare-versions", a, op, b],
                capture_output=True,
                timeout=30,
                check=False,
            )
            assert proc.returncode in (0, 1), proc.stderr
            assert (proc.returncode == 0) == want, (a, op, b)
