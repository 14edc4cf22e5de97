"""The three check points (``sdw_updater/trust/checks.py``) through a host.

The rpm database's allowlist says why each key is there, and only Qubes'
own key files make Qubes keys; the templates check reads each SecureDrop
template's source through ``qvm-run``, shuts down what it started, and
warns once per run.  A fake host plays the templates (``helpers.trust``).
"""

from __future__ import annotations

from pathlib import Path

from helpers.trust import NOW, QUBES, QUBES_FPR, RELEASE, FakeHost, Keys, source

from sdw_updater.qubes import QubesHost
from sdw_updater.trust.anchors import APT_SOURCE, PROD
from sdw_updater.trust.checks import CheckPoints, checks_for
from sdw_updater.trust.gpg import KeyScanner
from sdw_updater.trust.report import Code


def test_only_qubes_key_files_make_qubes_keys(
    tmp_path: Path, scanner: KeyScanner, keys: Keys
) -> None:
    """The allowlist says why each key is there; only Qubes' own key files make Qubes keys."""
    host = QubesHost(root=tmp_path)
    key_dir = host.path("/etc/pki/rpm-gpg")
    key_dir.mkdir(parents=True)
    (key_dir / "RPM-GPG-KEY-qubes-4.3-primary").write_bytes(QUBES)
    (key_dir / "RPM-GPG-KEY-third-party").write_bytes(keys.other.armored)
    paths = {
        "/etc/pki/rpm-gpg/RPM-GPG-KEY-qubes-4.3-primary": "'qubes-dom0-current' in q.repo",
        "/etc/pki/rpm-gpg/RPM-GPG-KEY-third-party": "'third' in t.repo",
    }
    allowlist = CheckPoints().allowlist(host, scanner, paths, PROD)
    assert set(allowlist.why) == {QUBES_FPR, keys.other.fingerprint}
    assert allowlist.qubes == {QUBES_FPR}


def test_templates_check_reads_sd_templates_and_shuts_down_what_it_started() -> None:
    files = {("sd-small", APT_SOURCE): source(RELEASE), ("sd-large", APT_SOURCE): source(RELEASE)}
    host = FakeHost(files, halted={"sd-small", "fedora-40-xfce"})
    report = CheckPoints(clock=lambda: NOW).templates(
        host,  # type: ignore[arg-type]
        ["fedora-40-xfce", "sd-large", "sd-small"],
    )
    assert report.failures == [] and report.warnings == []
    assert [c[3] for c in host.calls if c[0] == "qvm-run"] == ["sd-large", "sd-small"]
    assert host.calls[0] == ["qvm-run", "-p", "--no-gui", "sd-large", "cat", "--", APT_SOURCE]
    assert host.calls[-1] == ["qvm-shutdown", "--wait", "sd-small"]


def test_templates_check_fails_on_a_missing_source_or_no_sd_template() -> None:
    host = FakeHost({("sd-large", APT_SOURCE): source(RELEASE)}, halted=set())
    checks = CheckPoints(clock=lambda: NOW)
    report = checks.templates(host, ["sd-large", "sd-small"])  # type: ignore[arg-type]
    assert report.codes == [Code.SOURCE_UNREADABLE] and "sd-small" in report.failures[0].text
    assert not any(c[0] == "qvm-shutdown" for c in host.calls)  # nothing was started
    report = checks.templates(host, ["fedora-40-xfce"])  # type: ignore[arg-type]
    assert report.codes == [Code.NO_SDW_TEMPLATE]


def test_warnings_are_shown_once_per_run() -> None:
    host = FakeHost({("sd-large", APT_SOURCE): source(RELEASE)}, set(), config=b"missing")
    checks = CheckPoints(clock=lambda: NOW)
    first = checks.templates(host, ["sd-large"])  # type: ignore[arg-type]
    again = checks.templates(host, ["sd-large"])  # type: ignore[arg-type]
    assert first.warning_codes == [Code.ENVIRONMENT_UNKNOWN] and again.warnings == []
    assert CheckPoints(clock=lambda: NOW).templates(host, ["sd-large"]).warnings  # type: ignore[arg-type]


def test_checks_for_returns_the_three_points() -> None:
    checks = checks_for(QubesHost())
    assert all(callable(getattr(checks, name)) for name in ("before", "after_dom0", "templates"))
