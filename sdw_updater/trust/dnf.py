"""C2, signature enforcement: dom0's repositories as dnf itself reads them.

What dnf installs from is decided by dnf's reading of its configuration,
not by anyone else's: repositories defined in ``dnf.conf``, a ``reposdir=``
elsewhere, the first of two repositories with one id, dnf5's drop-in
directories.  So the configuration is read by dnf's own Python API, in a
separate process of the system Python (``dnfprobe.py``, through the host
seam's ``dnf_config``), and judged here.  If dnf cannot be run at all, the
check fails: there is no second, hand-written reader to fall back on.

Two views are judged (``dnfprobe`` explains them): dom0's own dnf, and the
UpdateVM's, which resolves dom0's updates from ``/etc/yum.repos.d``.  In both:

- the SecureDrop repository is defined only in its own file, enabled, with
  an explicit ``gpgcheck=1``, exactly the pinned key file and the
  environment's URL, and no metalink or mirrorlist;
- no enabled repository turns package signature checking off;
- no repository id is defined twice (dnf would use one of them, and dnf 4
  and dnf5 do not order the files alike);
- no dnf5 repository override file changes anything (refused: dnf 4's API
  cannot apply them, and applying them by hand is what this check avoids);
- no enabled repository uses a SecureDrop test key on prod.

It also returns the key files enabled, signature-checking repositories
other than SecureDrop's reference: the rpm database allowlist (C1).
"""

from __future__ import annotations

import json
import posixpath
from dataclasses import dataclass, field
from typing import Any

from sdw_updater.host import Host
from sdw_updater.trust.anchors import (
    KEY_DIR,
    KEY_FILES,
    PROD,
    SDW_REPO_FILE,
    SDW_REPO_HOSTS,
    SDW_REPO_ID,
    TEST_KEY_NAME,
    clean,
)
from sdw_updater.trust.report import Code, TrustReport

#: What the probe may print (its JSON for a few hundred repositories).
PROBE_OUTPUT_LIMIT = 1024 * 1024
_TRUE = frozenset({"1", "yes", "true", "on"})
_FALSE = frozenset({"0", "no", "false", "off"})


def parse_bool(value: str) -> bool | None:
    """dnf's booleans; anything else is None (unreadable, fails closed)."""
    lowered = value.strip().lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    return None


@dataclass(frozen=True)
class Repo:
    """One repository as dnf keeps it (first definition of its id)."""

    id: str
    file: str
    enabled: bool
    gpgcheck: bool  # dnf's effective value (its own, else [main]'s)
    gpgcheck_raw: str | None  # as written in its section, if it is
    pkg_gpgcheck_raw: str | None  # dnf5's name for gpgcheck (dnf 4 ignores it)
    gpgkeys: tuple[str, ...]
    baseurls: tuple[str, ...]
    metalink: str
    mirrorlist: str

    @property
    def label(self) -> str:
        return f"'{clean(self.id, 60)}' in {clean(self.file, 120)}"


@dataclass(frozen=True)
class View:
    """One dnf's reading of the configuration (dom0's own, or the UpdateVM's)."""

    name: str
    gpgcheck: bool  # [main]'s, as dnf reads it
    gpgcheck_set_in: str | None  # the last [main] file that sets gpgcheck
    pkg_gpgcheck: str | None  # [main]'s dnf5 pkg_gpgcheck, as written
    repo_files: tuple[str, ...]
    repos: tuple[Repo, ...]
    duplicates: tuple[tuple[str, tuple[str, ...]], ...]
    problems: tuple[str, ...]


@dataclass(frozen=True)
class DnfConfig:
    """Everything the probe reported."""

    views: tuple[View, ...]
    overrides: tuple[str, ...]
    problems: tuple[str, ...]


@dataclass
class RepoScan:
    """What C2 found: its report and the key files enabled repositories reference."""

    report: TrustReport = field(default_factory=TrustReport)
    key_paths: dict[str, str] = field(default_factory=dict)  # path -> repository label


# ----- the probe's answer -----------------------------------------------------------------


def _str(value: Any, limit: int = 4096) -> str:
    if not isinstance(value, str) or len(value) > limit:
        raise ValueError("a string was expected")
    return value


def _opt_str(value: Any) -> str | None:
    return None if value is None else _str(value)


def _strs(value: Any) -> tuple[str, ...]:
    if not isinstance(value, list):
        raise ValueError("a list was expected")
    return tuple(_str(v) for v in value)


def _bool(value: Any) -> bool:
    if not isinstance(value, bool):
        raise ValueError("true or false was expected")
    return value


def _repo(raw: Any) -> Repo:
    if not isinstance(raw, dict):
        raise ValueError("a repository was expected")
    return Repo(
        id=_str(raw.get("id")),
        file=_str(raw.get("file")),
        enabled=_bool(raw.get("enabled")),
        gpgcheck=_bool(raw.get("gpgcheck")),
        gpgcheck_raw=_opt_str(raw.get("gpgcheck_raw")),
        pkg_gpgcheck_raw=_opt_str(raw.get("pkg_gpgcheck_raw")),
        gpgkeys=_strs(raw.get("gpgkey")),
        baseurls=_strs(raw.get("baseurl")),
        metalink=_str(raw.get("metalink")),
        mirrorlist=_str(raw.get("mirrorlist")),
    )


def _view(raw: Any) -> View:
    if not isinstance(raw, dict) or not isinstance(raw.get("duplicates"), list):
        raise ValueError("a view was expected")
    duplicates = []
    for entry in raw["duplicates"]:
        if not isinstance(entry, dict):
            raise ValueError("a duplicate was expected")
        duplicates.append((_str(entry.get("id")), _strs(entry.get("files"))))
    repos = raw.get("repos")
    if not isinstance(repos, list):
        raise ValueError("repositories were expected")
    return View(
        name=_str(raw.get("name")),
        gpgcheck=_bool(raw.get("gpgcheck")),
        gpgcheck_set_in=_opt_str(raw.get("gpgcheck_set_in")),
        pkg_gpgcheck=_opt_str(raw.get("pkg_gpgcheck")),
        repo_files=_strs(raw.get("repo_files")),
        repos=tuple(_repo(r) for r in repos),
        duplicates=tuple(duplicates),
        problems=_strs(raw.get("problems")),
    )


def parse_probe(stdout: bytes) -> DnfConfig:
    """The probe's JSON, checked field by field (ValueError on anything else)."""
    try:
        data = json.loads(stdout.decode("utf-8"))
    except (UnicodeDecodeError, RecursionError) as exc:
        raise ValueError(str(exc)) from exc
    if not isinstance(data, dict) or not isinstance(data.get("views"), list):
        raise ValueError("not the probe's report")
    views = tuple(_view(v) for v in data["views"])
    if sorted(v.name for v in views) != ["dom0", "updatevm"]:
        raise ValueError("the probe did not report both views")
    return DnfConfig(views, _strs(data.get("overrides")), _strs(data.get("problems")))


def read_dnf_config(host: Host) -> tuple[DnfConfig | None, TrustReport]:
    """Run dnf's own reading of dom0's configuration (fails closed without dnf)."""
    report = TrustReport()
    result = host.dnf_config(host.dom0_release() or "", PROBE_OUTPUT_LIMIT)
    if result.stdout_overflow:
        report.fail(Code.DNF_CONFIG_UNREADABLE, "dnf's reading of the repositories is too large")
        return None, report
    if not result.ok:
        why = result.describe()
        try:
            error = json.loads(result.stdout_head.decode("utf-8")).get("error")
        except (ValueError, UnicodeDecodeError, AttributeError, RecursionError):
            error = None
        if isinstance(error, str):
            why = clean(error, 300)
        report.fail(
            Code.DNF_UNAVAILABLE,
            f"dnf's repository configuration could not be read with dnf itself ({why})",
        )
        return None, report
    try:
        return parse_probe(result.stdout_head), report
    except ValueError as exc:
        report.fail(
            Code.DNF_UNAVAILABLE,
            f"dnf's reading of the repositories could not be understood ({clean(str(exc), 100)})",
        )
        return None, report


# ----- the policy ----------------------------------------------------------------------------


def check_repos(config: DnfConfig, env: str) -> RepoScan:
    """C2 over both views (see the module); the allowlist's key files on the side."""
    scan = RepoScan()
    report = scan.report
    for problem in config.problems:
        report.fail(Code.DNF_CONFIG_UNREADABLE, problem)
    for path in config.overrides:
        report.fail(
            Code.DNF_OVERRIDE,
            f"the dnf5 repository override file {clean(path, 120)} changes repositories after "
            "they are read; the updater cannot verify what dnf5 makes of them, so it refuses "
            "the file (move its settings into the repository files)",
        )
    for view in config.views:
        _check_view(view, env, scan)
    unique = TrustReport()
    for failure in report.failures:
        if failure not in unique.failures:
            unique.failures.append(failure)
    scan.report = unique
    return scan


def _check_view(view: View, env: str, scan: RepoScan) -> None:
    report = scan.report
    for problem in view.problems:
        report.fail(Code.DNF_CONFIG_UNREADABLE, problem)
    for repo_id, files in view.duplicates:
        report.fail(
            Code.REPO_DUPLICATE_ID,
            f"repository '{clean(repo_id, 60)}' is defined more than once "
            f"({', '.join(clean(f, 120) for f in files)}); dnf uses only one of them, and "
            "dnf 4 and dnf5 do not pick the same one",
        )
    if view.name == "updatevm" and SDW_REPO_FILE not in view.repo_files:
        report.fail(
            Code.SDW_REPO_MISSING, f"the SecureDrop repository file {SDW_REPO_FILE} is missing"
        )
    shadowed = any(SDW_REPO_FILE in files for _, files in view.duplicates)
    if SDW_REPO_FILE in view.repo_files and not any(r.file == SDW_REPO_FILE for r in view.repos):
        if not view.problems and not shadowed:
            report.fail(
                Code.SDW_REPO_EMPTY,
                f"the SecureDrop repository ({SDW_REPO_FILE}) defines no repository",
            )
    for repo in view.repos:
        if repo.file == SDW_REPO_FILE:
            _check_sdw_repo(repo, view, env, report)
            continue
        if repo.id == SDW_REPO_ID:
            report.fail(
                Code.SDW_REPO_ELSEWHERE,
                f"the SecureDrop repository '{SDW_REPO_ID}' is defined in {clean(repo.file, 120)} "
                f"instead of {SDW_REPO_FILE}, so dnf would take SecureDrop packages from there",
            )
        _check_other_repo(repo, view, env, scan)


def signatures_enforced(repo: Repo, view: View) -> tuple[Code | None, str]:
    """Whether dnf, 4 and 5 alike, checks this repository's package signatures.

    Returns None when it does, else the failure's code and what is wrong.
    dnf 4 computes ``gpgcheck`` (the repository's own, else ``[main]``'s);
    dnf5 also reads ``pkg_gpgcheck``, which dnf 4 ignores, so that one is
    read as written and must agree.
    """
    if repo.gpgcheck_raw is not None or repo.pkg_gpgcheck_raw is not None:
        written = {"gpgcheck": repo.gpgcheck_raw, "pkg_gpgcheck": repo.pkg_gpgcheck_raw}
    else:
        written = {"pkg_gpgcheck": view.pkg_gpgcheck}
    values = {}
    for name, raw in written.items():
        if raw is None:
            continue
        values[name] = parse_bool(raw)
        if values[name] is None:
            return Code.REPO_AMBIGUOUS, f"{name}={clean(raw, 40)} is not a yes/no value"
    if any(value is not repo.gpgcheck for value in values.values()):
        return Code.REPO_AMBIGUOUS, "gpgcheck and pkg_gpgcheck disagree"
    if repo.gpgcheck:
        return None, ""
    if repo.gpgcheck_raw is not None:
        return Code.REPO_SIGNATURES_OFF, "gpgcheck=0"
    if view.gpgcheck_set_in is not None:
        return Code.REPO_SIGNATURES_OFF, f"gpgcheck=0 in {view.gpgcheck_set_in}"
    return Code.REPO_SIGNATURES_OFF, "gpgcheck is not set, and dnf's default is off"


def _check_other_repo(repo: Repo, view: View, env: str, scan: RepoScan) -> None:
    """Any repository but SecureDrop's: signatures on when enabled; its key files."""
    if not repo.enabled:
        return
    code, why = signatures_enforced(repo, view)
    if code is Code.REPO_AMBIGUOUS:
        scan.report.fail(code, f"repository {repo.label}: {why}")
        return
    if code is not None:
        scan.report.fail(
            code, f"repository {repo.label} turns package signature checking off ({why})"
        )
        return
    if env == PROD:
        for key in repo.gpgkeys:
            if TEST_KEY_NAME.search(key):
                scan.report.fail(
                    Code.REPO_TEST_KEY_ON_PROD,
                    f"repository {repo.label} uses the SecureDrop TEST key ({clean(key, 100)}) "
                    "on a production workstation",
                )
    for key in repo.gpgkeys:
        local = local_key_path(key)
        if local is not None and local not in KEY_FILES.values():
            scan.key_paths.setdefault(local, repo.label)


def local_key_path(url: str) -> str | None:
    """A ``file://`` key under /etc/pki/rpm-gpg, normalised; anything else is None."""
    if not url.startswith("file://"):
        return None
    path = posixpath.normpath(url[len("file://") :])
    if not path.startswith(KEY_DIR + "/") or "\x00" in path:
        return None
    return path


def _check_sdw_repo(repo: Repo, view: View, env: str, report: TrustReport) -> None:
    """The SecureDrop repository's own lines, as the keyring package writes them."""
    name = f"the SecureDrop repository ({SDW_REPO_FILE}), section '{clean(repo.id, 60)}',"
    if not repo.enabled:
        report.fail(
            Code.SDW_REPO_DISABLED,
            f"{name} is disabled, so the workstation gets no SecureDrop updates",
        )
    code, _why = signatures_enforced(repo, view)
    if code is not None or (repo.gpgcheck_raw is None and repo.pkg_gpgcheck_raw is None):
        report.fail(
            Code.SDW_REPO_UNSIGNED,
            f"{name} does not enforce package signatures (gpgcheck=1 is required)",
        )
    keys = list(repo.gpgkeys)
    if env == PROD and any(TEST_KEY_NAME.search(key) for key in keys):
        report.fail(
            Code.SDW_REPO_TEST_KEY,
            f"{name} uses the SecureDrop TEST key on a production workstation",
        )
    expected_key = f"file://{KEY_FILES[env]}"
    if keys != [expected_key]:
        shown = ", ".join(clean(k, 100) for k in keys) or "nothing"
        report.fail(
            Code.SDW_REPO_WRONG_KEY,
            f"{name} points at {shown} instead of the pinned key file {expected_key}",
        )
    host = SDW_REPO_HOSTS[env]
    urls = list(repo.baseurls)
    if not urls or any(not url.startswith(f"https://{host}/") for url in urls):
        shown = ", ".join(clean(u, 100) for u in urls) or "nothing"
        report.fail(
            Code.SDW_REPO_WRONG_URL,
            f"{name} downloads from {shown}; the {env} repository is https://{host}/",
        )
    for other, value in (("metalink", repo.metalink), ("mirrorlist", repo.mirrorlist)):
        if value:
            report.fail(
                Code.SDW_REPO_REDIRECT, f"{name} sets {other}, which can send dnf elsewhere"
            )
