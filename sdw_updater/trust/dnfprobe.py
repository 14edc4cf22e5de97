"""Ask dnf itself which repositories dom0 has: run by the system Python, JSON out.

The trust checks must judge the repository configuration as dnf reads it:
repositories defined in ``dnf.conf``, a ``reposdir=`` elsewhere, the first
of two repositories with one id, dnf5's drop-in directories.  Reading the
files by hand gets each of those wrong, so this script reads them through
dnf's own Python API (``dnf.conf.Conf.read``, ``dnf.Base.read_all_repos``).

dnf's Python module belongs to the system Python (python3-dnf; dom0 has it,
Debian too), not to the updater's interpreter, so the updater runs this file
as a separate process: ``/usr/bin/python3 -I dnfprobe.py --root ROOT
--releasever X`` (``sdw_updater.qubes.QubesHost.dnf_config``, with a timeout
and bounded output).  It imports only the standard library and dnf, reads
only files under ROOT (``/`` in dom0, the simulator's root otherwise),
writes nothing, and prints one JSON object.  Exit 0 with the report; exit 3
when dnf cannot be imported (the trust check then fails: no fallback).

Two views are reported, because dom0's repository files serve two dnfs:

* ``dom0``: dom0's own dnf.  ``[main]`` from dnf5's drop-in directories
  (``/usr/share/dnf5/libdnf.conf.d``, ``/etc/dnf/libdnf5.conf.d``, by name,
  ``/etc`` masking ``/usr/share``) and then ``/etc/dnf/dnf.conf``, as dnf5
  loads them (dnf 4 reads only the latter; reading both is the stricter
  view); repositories from ``dnf.conf`` and every ``reposdir`` (when no file
  sets ``reposdir``: dnf 4's and dnf5's defaults together).
* ``updatevm``: what ``qubes-dom0-update`` sends the UpdateVM: ``dnf.conf``
  and ``/etc/yum.repos.d`` (its dnf runs with ``--setopt=reposdir=`` that
  copy).

dnf5's repository overrides (``/usr/share/dnf5/repos.override.d``,
``/etc/dnf/repos.override.d``) change repositories after they are read, and
dnf 4 has no API for them: every such file that sets anything is listed, and
the check refuses it.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import stat
import sys
from typing import Any

FILE_LIMIT = 256 * 1024
MAX_FILES = 200
MAX_REPOS = 1000
DNF_CONF = "/etc/dnf/dnf.conf"
MAIN_DROPINS = ("/usr/share/dnf5/libdnf.conf.d", "/etc/dnf/libdnf5.conf.d")
OVERRIDE_DIRS = ("/usr/share/dnf5/repos.override.d", "/etc/dnf/repos.override.d")
UPDATEVM_REPOSDIR = "/etc/yum.repos.d"
#: dnf 4's default reposdir, then what dnf5's adds.
DEFAULT_REPOSDIRS = (
    "/etc/yum.repos.d",
    "/etc/yum/repos.d",
    "/etc/distro.repos.d",
    "/usr/share/dnf5/repos.d",
)
#: Variable directories of dnf 4 and dnf5.
VARSDIRS = ("/etc/dnf/vars", "/etc/yum/vars", "/usr/share/dnf5/vars.d")
#: Options whose spelling must be exactly this (dnf's names are case-sensitive;
#: ``GPGCHECK=0`` is ignored by dnf 4, and no other reader may see it).
WATCHED = frozenset(
    {
        "enabled",
        "gpgcheck",
        "pkg_gpgcheck",
        "repo_gpgcheck",
        "localpkg_gpgcheck",
        "gpgkey",
        "baseurl",
        "metalink",
        "mirrorlist",
        "reposdir",
    }
)
EXIT_NO_DNF = 3


class Probe:
    """Reads one dom0 root through dnf; collects what it finds and what is wrong."""

    def __init__(self, root: str, releasever: str) -> None:
        self.root = os.path.abspath(root)
        self.releasever = releasever
        self.problems: list[str] = []

    # ----- paths under the root ------------------------------------------------------

    def real(self, path: str) -> str:
        """The file behind a dom0 path (under the root)."""
        return os.path.join(self.root, path.lstrip("/"))

    def dom0(self, real: str) -> str:
        """The dom0 path of a file under the root."""
        relative = os.path.relpath(real, self.root)
        return "/" + relative if not relative.startswith("..") else real

    def listing(self, directory: str, suffix: str, problems: list[str]) -> list[str]:
        """Names ending in ``suffix`` in a dom0 directory (sorted; bounded)."""
        try:
            names = sorted(n for n in os.listdir(self.real(directory)) if n.endswith(suffix))
        except OSError:
            return []
        if len(names) > MAX_FILES:
            problems.append(f"{directory} holds more than {MAX_FILES} {suffix} files")
            names = names[:MAX_FILES]
        return names

    def readable(self, path: str, what: str, problems: list[str]) -> bool:
        """A regular UTF-8 file of at most FILE_LIMIT bytes (anything else would hang,
        flood or crash dnf's parser, so it is refused before dnf opens it)."""
        try:
            info = os.stat(self.real(path))
            if not stat.S_ISREG(info.st_mode):
                problems.append(f"the {what} {path} is not a regular file")
                return False
            if info.st_size > FILE_LIMIT:
                problems.append(f"the {what} {path} is larger than {FILE_LIMIT // 1024} KiB")
                return False
            with open(self.real(path), "rb") as handle:
                handle.read(FILE_LIMIT + 1).decode("utf-8")
        except UnicodeDecodeError:
            problems.append(f"the {what} {path} is not UTF-8 text")
            return False
        except OSError as exc:
            problems.append(f"the {what} {path} is unreadable ({exc.strerror})")
            return False
        return True

    def sections(
        self, path: str, what: str, problems: list[str]
    ) -> dict[str, dict[str, str]] | None:
        """A file's sections and options as dnf's own ini parser reads them."""
        import libdnf.conf

        parser = libdnf.conf.ConfigParser()
        try:
            parser.read(self.real(path))
            data = {
                str(section): {
                    str(name): str(parser.getValue(section, name))
                    for name in parser.options(section)
                }
                for section in parser.getData()
            }
        except (RuntimeError, TypeError, ValueError, UnicodeError) as exc:
            first = (str(exc).splitlines() or [type(exc).__name__])[0]
            first = first.replace(self.real(path), path)
            problems.append(f"the {what} {path} cannot be parsed ({first[:200]})")
            return None
        for section, options in data.items():
            for name in options:
                if name != name.lower() and name.lower() in WATCHED:
                    problems.append(
                        f"the {what} {path}, section [{section[:60]}], spells {name[:40]} "
                        f"differently from dnf ({name.lower()})"
                    )
        return data

    def dropins(self, directories: tuple[str, ...], suffix: str, problems: list[str]) -> list[str]:
        """dnf5's drop-in order: by file name; a name in the later (/etc) directory masks
        the same name in the earlier (/usr/share) one."""
        chosen: dict[str, str] = {}
        for directory in directories:
            for name in self.listing(directory, suffix, problems):
                chosen[name] = f"{directory}/{name}"
        return [chosen[name] for name in sorted(chosen)]

    # ----- the views -----------------------------------------------------------------

    def main_sections(
        self, main_files: list[str], problems: list[str]
    ) -> tuple[dict[str, str], str | None]:
        """The [main] options of the configuration files, in order, and where gpgcheck is set."""
        raw_main: dict[str, str] = {}
        gpgcheck_set_in = None
        for path in main_files:
            if not self.readable(path, "dnf configuration", problems):
                continue
            main = (self.sections(path, "dnf configuration", problems) or {}).get("main", {})
            raw_main.update(main)
            if "gpgcheck" in main:
                gpgcheck_set_in = path
        return raw_main, gpgcheck_set_in

    def declared(
        self, paths: list[str], conf: Any, problems: list[str]
    ) -> list[tuple[str, str, dict[str, str]]]:
        """Every repository section of ``paths``: (id as dnf substitutes it, file, options)."""
        import libdnf.conf

        found: list[tuple[str, str, dict[str, str]]] = []
        for path in paths:
            if path != DNF_CONF and not self.readable(path, "repository file", problems):
                continue
            for section, options in (
                self.sections(path, "repository file", problems) or {}
            ).items():
                if section != "main":
                    repo_id = libdnf.conf.ConfigParser.substitute(section, conf.substitutions)
                    found.append((str(repo_id), path, options))
        return found

    def view(self, name: str, main_files: list[str], forced_reposdir: list[str] | None) -> Any:
        import dnf
        import dnf.conf

        problems: list[str] = []
        raw_main, gpgcheck_set_in = self.main_sections(main_files, problems)
        result: dict[str, Any] = {
            "name": name,
            "main_files": main_files,
            "gpgcheck": False,
            "gpgcheck_set_in": gpgcheck_set_in,
            "pkg_gpgcheck": raw_main.get("pkg_gpgcheck"),
            "reposdir": [],
            "repo_files": [],
            "repos": [],
            "duplicates": [],
            "problems": problems,
        }
        if problems:
            return result  # dnf is not run on files it could choke on
        conf = dnf.conf.Conf()
        conf.substitutions["releasever"] = self.releasever
        for path in main_files:
            conf.read(self.real(path), priority=dnf.conf.PRIO_MAINCONFIG)
        has_conf = DNF_CONF in main_files
        conf.config_file_path = self.real(DNF_CONF) if has_conf else os.devnull
        if forced_reposdir is not None:
            reposdir = forced_reposdir
        elif "reposdir" in raw_main:
            reposdir = [str(d) for d in conf.reposdir]
        else:
            reposdir = list(DEFAULT_REPOSDIRS)
        for directory in reposdir:
            if not directory.startswith("/"):
                problems.append(f"reposdir names {directory[:100]}, which is not an absolute path")
        conf.reposdir = [self.real(d) for d in reposdir]
        if name == "dom0":
            self.variables(conf, problems)
        repo_files = [f"{d}/{n}" for d in reposdir for n in self.listing(d, ".repo", problems)]
        declared = self.declared(([DNF_CONF] if has_conf else []) + repo_files, conf, problems)
        result.update(gpgcheck=bool(conf.gpgcheck), reposdir=reposdir, repo_files=repo_files)
        if problems:
            return result
        if len(declared) > MAX_REPOS:
            problems.append(f"more than {MAX_REPOS} repositories are defined")
            return result
        base = dnf.Base(conf)
        try:
            base.read_all_repos()
            repos = {str(r.id): r for r in base.repos.values()}
        finally:
            base.close()
        result["repos"], result["duplicates"] = self.judge(declared, repos, problems)
        return result

    def variables(self, conf: Any, problems: list[str]) -> None:
        """dnf's variable files (``$name`` in repository files), read by dnf when none is
        too large (dnf opens only the regular files among them)."""
        for directory in VARSDIRS:
            for entry in self.listing(directory, "", problems):
                try:
                    info = os.stat(self.real(f"{directory}/{entry}"))
                except OSError:
                    continue
                if stat.S_ISREG(info.st_mode) and info.st_size > FILE_LIMIT:
                    problems.append(
                        f"the dnf variable file {directory}/{entry} is larger than "
                        f"{FILE_LIMIT // 1024} KiB"
                    )
        if not problems:
            conf.substitutions.update_from_etc(self.root, varsdir=VARSDIRS)

    def judge(
        self,
        declared: list[tuple[str, str, dict[str, str]]],
        repos: dict[str, Any],
        problems: list[str],
    ) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        """What dnf made of every section: the repositories it kept, the ones it dropped."""
        by_id: dict[str, list[str]] = {}
        options_of: dict[tuple[str, str], dict[str, str]] = {}
        for repo_id, path, options in declared:
            by_id.setdefault(repo_id, []).append(path)
            options_of.setdefault((repo_id, path), {}).update(options)
            if repo_id not in repos:
                problems.append(f"dnf refuses the repository [{repo_id[:60]}] in {path}")
        duplicates = [
            {"id": repo_id, "files": paths} for repo_id, paths in by_id.items() if len(paths) > 1
        ]
        kept = []
        for repo_id, repo in repos.items():
            path = self.dom0(str(repo.repofile))
            options = options_of.get((repo_id, path), {})
            kept.append(
                {
                    "id": repo_id,
                    "file": path,
                    "enabled": bool(repo.enabled),
                    "gpgcheck": bool(repo.gpgcheck),
                    "gpgcheck_raw": options.get("gpgcheck"),
                    "pkg_gpgcheck_raw": options.get("pkg_gpgcheck"),
                    "gpgkey": [str(k) for k in repo.gpgkey],
                    "baseurl": [str(u) for u in repo.baseurl],
                    "metalink": str(repo.metalink or ""),
                    "mirrorlist": str(repo.mirrorlist or ""),
                }
            )
        return kept, duplicates

    def overrides(self) -> list[str]:
        """dnf5's repository override files that set anything (the check refuses them)."""
        found = []
        for path in self.dropins(OVERRIDE_DIRS, ".repo", self.problems):
            if not self.readable(path, "dnf5 repository override file", self.problems):
                continue
            sections = self.sections(path, "dnf5 repository override file", self.problems)
            if sections is None or any(sections.values()):
                found.append(path)
        return found

    def run(self) -> dict[str, Any]:
        main_files = [
            *self.dropins(MAIN_DROPINS, ".conf", self.problems),
            *([DNF_CONF] if os.path.lexists(self.real(DNF_CONF)) else []),
        ]
        updatevm_main = [DNF_CONF] if os.path.lexists(self.real(DNF_CONF)) else []
        return {
            "views": [
                self.view("dom0", main_files, None),
                self.view("updatevm", updatevm_main, [UPDATEVM_REPOSDIR]),
            ],
            "overrides": self.overrides(),
            "problems": self.problems,
        }


class _Errors(logging.Handler):
    """dnf logs a value it rejects (``Invalid configuration value``) as an error and
    carries on with the default: each such record is a problem."""

    def __init__(self, problems: list[str], root: str) -> None:
        super().__init__(logging.ERROR)
        self.problems = problems
        self.root = root

    def emit(self, record: logging.LogRecord) -> None:
        text = record.getMessage().replace(self.root.rstrip("/") + "/", "/")
        self.problems.append(f"dnf: {text[:300]}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", required=True)
    parser.add_argument("--releasever", required=True)
    args = parser.parse_args(argv)
    # dnf reads DNF_VAR_* from the environment; dom0's dnf runs under sudo, which drops them.
    for key in [k for k in os.environ if k.startswith("DNF")]:
        del os.environ[key]
    try:
        import dnf
        import dnf.conf
        import libdnf.conf  # noqa: F401
    except ImportError as exc:
        json.dump({"error": f"dnf's Python module cannot be imported ({exc})"}, sys.stdout)
        return EXIT_NO_DNF
    probe = Probe(args.root, args.releasever)
    dnf_log = logging.getLogger("dnf")
    dnf_log.addHandler(_Errors(probe.problems, probe.root))
    dnf_log.propagate = False
    report = probe.run()
    report["dnf"] = str(getattr(dnf, "VERSION", "?"))
    # One value a line: the updater keeps output lines up to 4 KiB (a longer value
    # is cut, the JSON no longer parses, and the check fails).
    json.dump(report, sys.stdout, indent=0)
    return 0


if __name__ == "__main__":
    sys.exit(main())
