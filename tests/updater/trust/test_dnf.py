"""dom0's repositories as dnf reads them (``sdw_updater/trust/dnf.py``), judged here.

C2 of docs/trust.md.  Every test writes a dom0 configuration under a
temporary root and reads it through the real seam (``QubesHost.dnf_config``),
which runs the real dnf (python3-dnf of the system Python) in
``sdw_updater/trust/dnfprobe.py``; nothing about dnf is mocked.  Findings are
matched by their codes.  What a reader of .repo files missed (repositories
in ``dnf.conf``, another ``reposdir``, duplicate ids, dnf5's drop-ins), the
other rules, files dnf must not be handed, no dnf at all; and hostile files
and probe output, which never pass.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
from pathlib import Path

import pytest
from helpers import needs
from helpers.hostile import JSON_VALUES
from hypothesis import given, settings
from hypothesis import strategies as st

from sdw_updater.qubes import QubesHost
from sdw_updater.trust import anchors
from sdw_updater.trust import dnf as trust_dnf
from sdw_updater.trust.anchors import SDW_REPO_FILE
from sdw_updater.trust.dnf import RepoScan, check_repos, parse_probe, read_dnf_config
from sdw_updater.trust.report import Code

SDW_REPO = """\
[securedrop-workstation-dom0]
gpgcheck=1
skip_if_unavailable=False
gpgkey=file:///etc/pki/rpm-gpg/RPM-GPG-KEY-securedrop-workstation
enabled=1
baseurl=https://yum.securedrop.org/workstation/dom0/r$releasever
name=SecureDrop Workstation Qubes dom0 repo
"""
QUBES_REPO = """\
[qubes-dom0-current]
name = Qubes Dom0 Repository (updates)
baseurl = https://yum.qubes-os.org/r$releasever/current/host/fc37
enabled = 1
gpgcheck = 1
gpgkey = file:///etc/pki/rpm-gpg/RPM-GPG-KEY-qubes-$releasever-primary

[qubes-dom0-current-testing]
name = Qubes Dom0 Repository (updates-testing)
enabled = 0
gpgcheck = 0
"""
CACHED = (
    "[qubes-dom0-cached]\nname = cached\nbaseurl = file:///var/lib/qubes/updates\ngpgcheck = 1\n"
)


@pytest.fixture(autouse=True)
def system_dnf() -> None:
    """These tests run the real dnf of the system Python."""
    needs.system_dnf()


# dom0's dnf.conf as Qubes 4.2 leaves it: dom0's dnf reads only qubes-cached.repo.
DNF = "[main]\ngpgcheck=1\ninstallonly_limit=3\nreposdir=/etc/yum.real.repos.d\n"
DNF_CONF = "/etc/dnf/dnf.conf"
QUBES_PATH = "/etc/yum.repos.d/qubes-dom0.repo"
CACHED_PATH = "/etc/yum.real.repos.d/qubes-cached.repo"
LOCAL = "[local]\nname = local\nbaseurl = file:///srv\n"
ETC_DROPIN = "/etc/dnf/libdnf5.conf.d"
USR_DROPIN = "/usr/share/dnf5/libdnf.conf.d"


def dom0(root: Path, **changes: str | bytes | None) -> QubesHost:
    """A dom0 root holding the healthy files, with ``changes`` (path or short name: text)."""
    files: dict[str, str | bytes | None] = {
        SDW_REPO_FILE: SDW_REPO,
        QUBES_PATH: QUBES_REPO,
        CACHED_PATH: CACHED,
        DNF_CONF: DNF,
        "/etc/os-release": 'NAME="Qubes OS"\nVERSION_ID="4.3"\n',
    }
    short = {"sdw": SDW_REPO_FILE, "qubes": QUBES_PATH, "cached": CACHED_PATH, "dnf": DNF_CONF}
    for name, value in changes.items():
        files[short.get(name, name)] = value
    for path, value in files.items():
        target = root / path.lstrip("/")
        if value is None:
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(value.encode() if isinstance(value, str) else value)
    return QubesHost(root=root)


def put(host: QubesHost, path: str, text: str) -> None:
    target = host.path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(text)


def scan(host: QubesHost, env: str = "prod") -> RepoScan:
    config, report = read_dnf_config(host)
    assert report.failures == [], report.failures
    assert config is not None
    return check_repos(config, env)


def codes(host: QubesHost, env: str = "prod") -> list[Code]:
    return scan(host, env).report.codes


def test_healthy_repositories_pass_and_reference_the_qubes_key(tmp_path: Path) -> None:
    found = scan(dom0(tmp_path))
    assert found.report.failures == []
    assert list(found.key_paths) == ["/etc/pki/rpm-gpg/RPM-GPG-KEY-qubes-4.3-primary"]


def test_both_views_are_read(tmp_path: Path) -> None:
    """dom0's own dnf reads its reposdir; the UpdateVM's reads /etc/yum.repos.d."""
    config, _ = read_dnf_config(dom0(tmp_path))
    assert config is not None
    views = {v.name: v for v in config.views}
    assert {r.id for r in views["dom0"].repos} == {"qubes-dom0-cached"}
    assert {r.id for r in views["updatevm"].repos} == {
        "securedrop-workstation-dom0",
        "qubes-dom0-current",
        "qubes-dom0-current-testing",
    }


# ----- what a reader of .repo files missed -------------------------------------


def test_repository_defined_in_dnf_conf(tmp_path: Path) -> None:
    host = dom0(tmp_path, dnf=DNF + "\n[in-dnf-conf]\nname=x\nbaseurl=file:///srv\ngpgcheck=0\n")
    assert Code.REPO_SIGNATURES_OFF in codes(host)


def test_reposdir_elsewhere(tmp_path: Path) -> None:
    host = dom0(
        tmp_path,
        dnf=DNF.replace("reposdir=/etc/yum.real.repos.d", "reposdir=/etc/other.repos.d"),
        **{"/etc/other.repos.d/local.repo": LOCAL + "gpgcheck=0\n"},
    )
    assert codes(host) == [Code.REPO_SIGNATURES_OFF]


def test_duplicate_repository_id_dnf_keeps_the_first(tmp_path: Path) -> None:
    mirror = SDW_REPO.replace("https://yum.securedrop.org", "https://mirror.example.invalid")
    host = dom0(tmp_path, **{"/etc/yum.repos.d/00-mirror.repo": mirror})
    found = codes(host)
    assert Code.REPO_DUPLICATE_ID in found and Code.SDW_REPO_ELSEWHERE in found


def test_duplicate_id_of_any_repository(tmp_path: Path) -> None:
    host = dom0(tmp_path, **{"/etc/yum.repos.d/zz.repo": QUBES_REPO})
    assert codes(host) == [Code.REPO_DUPLICATE_ID, Code.REPO_DUPLICATE_ID]


def test_dnf5_main_dropin_is_honoured(tmp_path: Path) -> None:
    """dnf5 reads [main] from drop-ins before dnf.conf: here the only reposdir setting."""
    host = dom0(tmp_path, dnf="[main]\ngpgcheck=1\n")
    put(host, f"{USR_DROPIN}/20-qubes-dom0.conf", "[main]\nreposdir=/etc/yum.real.repos.d\n")
    assert codes(host) == []
    put(host, f"{ETC_DROPIN}/90-x.conf", "[main]\nreposdir=/etc/yum.real.repos.d,/etc/x.repos.d\n")
    put(host, "/etc/x.repos.d/local.repo", LOCAL)  # no gpgcheck of its own: [main]'s
    assert codes(host) == []
    put(host, f"{ETC_DROPIN}/95-y.conf", "[main]\ngpgcheck=0\n")  # ... but dnf.conf wins
    assert codes(host) == []
    put(host, "/etc/x.repos.d/local.repo", LOCAL + "gpgcheck=0\n")
    assert codes(host) == [Code.REPO_SIGNATURES_OFF]


def test_dnf5_dropin_in_etc_masks_the_one_in_usr_share(tmp_path: Path) -> None:
    host = dom0(tmp_path, dnf="[main]\n")
    put(host, f"{USR_DROPIN}/20-qubes-dom0.conf", "[main]\nreposdir=/etc/yum.real.repos.d\n")
    put(host, f"{ETC_DROPIN}/10-gpg.conf", "[main]\ngpgcheck=1\n")
    put(host, "/etc/yum.real.repos.d/local.repo", LOCAL)
    assert codes(host) == []
    put(host, f"{ETC_DROPIN}/20-qubes-dom0.conf", "[main]\nreposdir=/etc/x.repos.d\n")
    put(host, "/etc/x.repos.d/bad.repo", LOCAL.replace("[local]", "[bad]") + "gpgcheck=0\n")
    assert codes(host) == [Code.REPO_SIGNATURES_OFF]


def test_dnf5_repository_override_is_refused(tmp_path: Path) -> None:
    host = dom0(tmp_path)
    put(host, "/etc/dnf/repos.override.d/99-config_manager.repo", "# only a comment\n")
    assert codes(host) == []  # sets nothing
    put(host, "/usr/share/dnf5/repos.override.d/50-x.repo", "[qubes-*]\ngpgcheck=0\n")
    assert codes(host) == [Code.DNF_OVERRIDE]


def test_main_gpgcheck_off_in_a_dropin(tmp_path: Path) -> None:
    host = dom0(tmp_path, dnf="[main]\nreposdir=/etc/yum.real.repos.d\n")
    put(host, "/etc/yum.real.repos.d/local.repo", LOCAL)
    assert codes(host) == [Code.REPO_SIGNATURES_OFF]  # dnf's default is off
    put(host, f"{ETC_DROPIN}/10-gpg.conf", "[main]\ngpgcheck=1\n")
    assert codes(host) == []
    put(host, f"{ETC_DROPIN}/10-gpg.conf", "[main]\ngpgcheck=1\npkg_gpgcheck=0\n")
    assert codes(host) == [Code.REPO_AMBIGUOUS]


# ----- the other rules, through dnf --------------------------------------------------------


@pytest.mark.parametrize(
    ("changes", "code"),
    [
        ({"sdw": SDW_REPO.replace("gpgcheck=1", "gpgcheck=0")}, Code.SDW_REPO_UNSIGNED),
        ({"sdw": SDW_REPO.replace("gpgcheck=1\n", "")}, Code.SDW_REPO_UNSIGNED),  # explicit
        ({"sdw": SDW_REPO.replace("gpgcheck=1", "gpgcheck=False")}, Code.SDW_REPO_UNSIGNED),
        ({"sdw": SDW_REPO.replace("gpgcheck=1", "pkg_gpgcheck=no")}, Code.SDW_REPO_UNSIGNED),
        ({"sdw": SDW_REPO.replace("enabled=1", "enabled=0")}, Code.SDW_REPO_DISABLED),
        ({"sdw": SDW_REPO.replace("workstation\n", "workstation-test\n")}, Code.SDW_REPO_TEST_KEY),
        (
            {"sdw": SDW_REPO.replace("gpgkey=file:///etc", "gpgkey=file:///tmp")},
            Code.SDW_REPO_WRONG_KEY,
        ),
        (
            {"sdw": SDW_REPO.replace("yum.securedrop", "yum-test.securedrop")},
            Code.SDW_REPO_WRONG_URL,
        ),
        ({"sdw": SDW_REPO.replace("https://yum.", "http://yum.")}, Code.SDW_REPO_WRONG_URL),
        ({"sdw": SDW_REPO + "metalink=https://example.invalid/m\n"}, Code.SDW_REPO_REDIRECT),
        ({"sdw": SDW_REPO + "mirrorlist=https://example.invalid/m\n"}, Code.SDW_REPO_REDIRECT),
        ({"sdw": "# no repository\n"}, Code.SDW_REPO_EMPTY),
        ({"sdw": b"\xff\xfe\x00"}, Code.DNF_CONFIG_UNREADABLE),
        (
            {"qubes": QUBES_REPO.replace("enabled = 1\ngpgcheck = 1", "enabled = 1\ngpgcheck = 0")},
            Code.REPO_SIGNATURES_OFF,
        ),
        ({"cached": CACHED.replace("= 1", "= 0")}, Code.REPO_SIGNATURES_OFF),
        ({"/etc/yum.repos.d/l.repo": LOCAL + "gpgcheck=0\n"}, Code.REPO_SIGNATURES_OFF),
        (
            {"/etc/yum.repos.d/l.repo": LOCAL + "gpgcheck=off\nenabled=True\n"},
            Code.REPO_SIGNATURES_OFF,
        ),
        ({"/etc/yum.repos.d/l.repo": LOCAL + "gpgcheck=1\npkg_gpgcheck=0\n"}, Code.REPO_AMBIGUOUS),
        ({"/etc/yum.repos.d/l.repo": LOCAL + "gpgcheck=maybe\n"}, Code.DNF_CONFIG_UNREADABLE),
        ({"/etc/yum.repos.d/l.repo": LOCAL + "enabled=perhaps\n"}, Code.DNF_CONFIG_UNREADABLE),
        # dnf's parser merges a repeated section and keeps the last of a repeated key
        (
            {"/etc/yum.repos.d/l.repo": LOCAL + "gpgcheck=1\n[local]\ngpgcheck=0\n"},
            Code.REPO_SIGNATURES_OFF,
        ),
        ({"/etc/yum.repos.d/l.repo": LOCAL + "gpgcheck=1\ngpgcheck=0\n"}, Code.REPO_SIGNATURES_OFF),
        # dnf ignores GPGCHECK, and so would no other reader: refused
        (
            {"/etc/yum.repos.d/l.repo": LOCAL + "gpgcheck=1\nGPGCHECK=0\n"},
            Code.DNF_CONFIG_UNREADABLE,
        ),
        ({"/etc/yum.repos.d/l.repo": "gpgcheck=0\n[local]\n"}, Code.DNF_CONFIG_UNREADABLE),
        ({"/etc/yum.repos.d/l.repo": "[DEFAULT]\ngpgcheck=0\n"}, Code.REPO_SIGNATURES_OFF),
        ({"/etc/yum.repos.d/l.repo": "[bad id!]\nbaseurl=x\n"}, Code.DNF_CONFIG_UNREADABLE),
        (
            {"/etc/yum.repos.d/l.repo": "[x]\nname=\xe9\n".encode("latin-1")},
            Code.DNF_CONFIG_UNREADABLE,
        ),
        (
            {
                "/etc/yum.repos.d/l.repo": LOCAL
                + "gpgcheck=1\ngpgkey=file:///etc/k-workstation-test"
            },
            None,  # not a SecureDrop key name: allowed
        ),
        (
            {
                "/etc/yum.repos.d/l.repo": LOCAL
                + "gpgcheck=1\ngpgkey=file:///etc/pki/rpm-gpg/RPM-GPG-KEY-securedrop-workstation-test"
            },
            Code.REPO_TEST_KEY_ON_PROD,
        ),
    ],
)
def test_repository_problems_fail(
    tmp_path: Path, changes: dict[str, str | bytes], code: Code | None
) -> None:
    found = codes(dom0(tmp_path, **changes))
    assert (code in found) if code else found == [], found


def test_disabled_repository_may_skip_signatures(tmp_path: Path) -> None:
    host = dom0(tmp_path, **{"/etc/yum.repos.d/l.repo": LOCAL + "enabled=0\ngpgcheck=0\n"})
    assert codes(host) == []


def test_dnf_conf_supplies_the_default_gpgcheck(tmp_path: Path) -> None:
    host = dom0(tmp_path, **{"/etc/yum.repos.d/l.repo": LOCAL})
    assert codes(host) == []
    put(host, DNF_CONF, "[main]\nreposdir=/etc/yum.real.repos.d\n")  # dnf's default is off
    assert codes(host) == [Code.REPO_SIGNATURES_OFF]
    put(host, DNF_CONF, "[main]\ngpgcheck=0\nreposdir=/etc/yum.real.repos.d\n")
    report = scan(host).report
    assert report.codes == [Code.REPO_SIGNATURES_OFF]
    assert DNF_CONF in report.failures[0].text  # where it was turned off


def test_missing_securedrop_repository_fails(tmp_path: Path) -> None:
    host = dom0(tmp_path)
    host.path(SDW_REPO_FILE).unlink()
    assert codes(host) == [Code.SDW_REPO_MISSING]


def test_staging_repository_uses_the_test_key_and_host(tmp_path: Path) -> None:
    staging = SDW_REPO.replace("workstation\n", "workstation-test\n").replace("yum.", "yum-test.")
    assert codes(dom0(tmp_path / "a", sdw=staging), "staging") == []
    assert codes(dom0(tmp_path / "b"), "staging")


def test_only_local_key_files_are_allowlisted(tmp_path: Path) -> None:
    extra = (
        "[a]\nname=a\ngpgcheck=1\ngpgkey=https://example.invalid/key.asc\n"
        "[b]\nname=b\ngpgcheck=1\n"
        "gpgkey=file:///home/user/key.asc file:///etc/pki/rpm-gpg/../../tmp/k\n"
        "[c]\nname=c\ngpgcheck=1\ngpgkey=file:///etc/pki/rpm-gpg/RPM-GPG-KEY-securedrop-workstation\n"
        "[d]\nname=d\ngpgcheck=1\ngpgkey=file:///etc/pki/rpm-gpg/K-${releasever}-$basearch,"
        "file:///etc/pki/rpm-gpg/L\n"
    )
    host = dom0(tmp_path, **{"/etc/yum.repos.d/extra.repo": extra})
    found = scan(host)
    assert found.report.failures == []
    assert sorted(found.key_paths) == [
        "/etc/pki/rpm-gpg/K-4.3-x86_64",
        "/etc/pki/rpm-gpg/L",
        "/etc/pki/rpm-gpg/RPM-GPG-KEY-qubes-4.3-primary",
    ]


def test_dnf_variables_are_substituted(tmp_path: Path) -> None:
    host = dom0(tmp_path, **{"/etc/dnf/vars/keyname": "K-custom\n"})
    put(
        host,
        "/etc/yum.real.repos.d/v.repo",
        "[v]\nname=v\ngpgcheck=1\ngpgkey=file:///etc/pki/rpm-gpg/$keyname\n",
    )
    assert "/etc/pki/rpm-gpg/K-custom" in scan(host).key_paths


# ----- files dnf must not be handed ----------------------------------------------------------


def test_a_fifo_or_huge_file_is_refused_before_dnf_opens_it(tmp_path: Path) -> None:
    host = dom0(tmp_path)
    os.mkfifo(host.path("/etc/yum.repos.d/fifo.repo"))
    assert codes(host) == [Code.DNF_CONFIG_UNREADABLE]  # and the probe did not hang
    host.path("/etc/yum.repos.d/fifo.repo").unlink()
    put(host, "/etc/yum.repos.d/big.repo", "[big]\ngpgcheck=1\n" + "#" * (256 * 1024 + 1))
    assert codes(host) == [Code.DNF_CONFIG_UNREADABLE]


def test_too_many_repository_files(tmp_path: Path) -> None:
    host = dom0(tmp_path)
    for index in range(201):
        put(host, f"/etc/yum.repos.d/r{index:03}.repo", f"[r{index}]\nname=r\ngpgcheck=1\n")
    assert Code.DNF_CONFIG_UNREADABLE in codes(host)


def test_the_machines_own_configuration_is_never_read(tmp_path: Path) -> None:
    """Everything dnf reads is under the host's root: an empty root has nothing."""
    config, report = read_dnf_config(QubesHost(root=tmp_path))
    assert report.failures == [] and config is not None
    assert all(v.repos == () and v.repo_files == () for v in config.views)
    assert check_repos(config, "prod").report.codes == [Code.SDW_REPO_MISSING]


# ----- without dnf, the check fails ---------------------------------------------------------


def test_without_dnf_the_check_fails(tmp_path: Path) -> None:
    """The updater's own interpreter has no dnf: the probe says so, the check fails."""
    host = QubesHost(root=dom0(tmp_path).root, system_python=sys.executable)
    config, report = read_dnf_config(host)
    assert config is None and report.codes == [Code.DNF_UNAVAILABLE]
    assert "cannot be imported" in report.failures[0].text
    missing = QubesHost(root=tmp_path, system_python=str(tmp_path / "no-python"))
    assert read_dnf_config(missing)[1].codes == [Code.DNF_UNAVAILABLE]


@pytest.mark.parametrize(
    "stdout",
    [
        b"",
        b"not json",
        b"[]",
        b'{"views": []}',
        b'{"views": [{"name": "dom0"}], "overrides": [], "problems": []}',
        b"\xff",
    ],
)
def test_probe_output_is_parsed_strictly(stdout: bytes) -> None:
    with pytest.raises(ValueError):
        parse_probe(stdout)


def test_a_value_too_long_to_report_fails_closed(tmp_path: Path) -> None:
    host = dom0(
        tmp_path, **{"/etc/yum.repos.d/l.repo": LOCAL + "gpgcheck=1\nmirrorlist=" + "m" * 5000}
    )
    config, report = read_dnf_config(host)
    assert config is None and report.codes == [Code.DNF_UNAVAILABLE]


# ----- hostile repository files and probe output -----------------------------------------------


_INI_LINES = st.one_of(
    st.sampled_from(
        [
            "[securedrop-workstation-dom0]",
            "[qubes-dom0-current]",
            "gpgcheck=1",
            "gpgcheck=0",
            "gpgcheck = no",
            "enabled=1",
            "enabled=0",
            "baseurl=https://yum.securedrop.org.evil.example/workstation/dom0/f37",
            "baseurl=http://evil.example/",
            "gpgkey=file:///etc/pki/rpm-gpg/RPM-GPG-KEY-securedrop-workstation",
            "repo_gpgcheck=0",
            "metalink=https://evil.example/",
            "  continued",
            "",
            "# comment",
        ]
    ),
    st.text(max_size=40),
)
_INI_FILES = st.one_of(
    st.binary(max_size=400),
    st.lists(_INI_LINES, max_size=12).map(lambda lines: "\n".join(lines).encode()),
)


@settings(max_examples=40)  # each example runs the real dnf in a process of its own
@given(
    st.dictionaries(
        st.sampled_from(
            [
                "/etc/yum.repos.d/securedrop-workstation-dom0.repo",
                "/etc/yum.repos.d/qubes-dom0.repo",
                "/etc/yum.real.repos.d/qubes-cached.repo",
                "/etc/dnf/libdnf5.conf.d/90-x.conf",
            ]
        ),
        _INI_FILES,
        max_size=3,
    ),
    st.one_of(st.none(), _INI_FILES),
    st.sampled_from(anchors.ENVIRONMENTS),
)
def test_mangled_repository_files_never_pass(
    files: dict[str, bytes], dnf_conf: bytes | None, env: str
) -> None:
    """No generated file has the SecureDrop repository's real URL, so the check must fail,
    whatever dnf (the real one) makes of the files."""
    with tempfile.TemporaryDirectory() as root:
        if dnf_conf is not None:
            files = {**files, "/etc/dnf/dnf.conf": dnf_conf}
        for path, data in files.items():
            target = Path(root) / path.lstrip("/")
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)
        config, report = trust_dnf.read_dnf_config(QubesHost(root=Path(root)))
    if config is not None:
        report = trust_dnf.check_repos(config, env).report
    assert report.failures


@given(
    st.one_of(
        st.binary(max_size=300),
        JSON_VALUES.map(lambda v: json.dumps({"views": v, "overrides": [], "problems": []})),
        JSON_VALUES.map(json.dumps),
    ).map(lambda v: v if isinstance(v, bytes) else v.encode())
)
def test_dnf_probe_output_raises_only_value_error(stdout: bytes) -> None:
    try:
        trust_dnf.parse_probe(stdout)
    except ValueError:
        return
