"""The manual pages (``launcher/manpage.py``): written from the parsers, so they cannot drift.

Every page is rendered with the real ``groff`` and ``man`` and read as an
admin would read it; each option the parser accepts must be there, with the
help text ``--help`` prints, and neither tool may warn.  The pages as the
package installs them, and the generator on parsers it has not seen.
"""

from __future__ import annotations

import argparse
import importlib
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import ROOT, needs

from launcher import manpage
from sdw_updater.contract import ExitCode
from sdw_updater.version import __version__

EPOCH = "1767225600"  # 2026-01-01 00:00:00 UTC
DATE = "2026-01-01"

needs_groff = pytest.mark.usefixtures("groff")

needs_man = pytest.mark.usefixtures("man_db")


@pytest.fixture
def groff() -> None:
    needs.tool("groff")


@pytest.fixture
def man_db() -> None:
    needs.tool("man")
    needs.tool("lexgrog")


def run(argv: list[str], **kwargs) -> subprocess.CompletedProcess[str]:
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "LANG": "C.UTF-8",
        "HOME": "/nonexistent",
    }
    env.update(kwargs.pop("env", {}))
    return subprocess.run(
        argv, capture_output=True, text=True, timeout=60, check=False, env=env, **kwargs
    )


def render(source: str) -> str:
    """The page as plain text, one paragraph a line (very wide, so nothing is hyphenated)."""
    proc = run(["groff", "-man", "-Tutf8", "-ww", "-rLL=2000n", "-P-cbou"], input=source)
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == "", proc.stderr
    # groff's utf8 device may draw hyphens and minus signs as typographic ones.
    return proc.stdout.replace("\u2010", "-").replace("\u2212", "-")


def sections(text: str) -> dict[str, str]:
    """Section title -> its text with whitespace collapsed (titles are the unindented lines)."""
    found: dict[str, list[str]] = {}
    current: list[str] = []
    lines = text.strip().splitlines()
    for line in lines[1:-1]:  # between the running header and footer
        if line and not line[0].isspace():
            current = found.setdefault(line.strip(), [])
        else:
            current.append(line)
    return {title: " ".join(" ".join(lines).split()) for title, lines in found.items()}


def page_name(command: str) -> str:
    return f"{command}.{manpage.section_of(command)}"


def parser_of(command: str) -> argparse.ArgumentParser:
    return importlib.import_module(manpage.COMMANDS[command]).build_parser()


def help_of(command: str) -> str:
    """What ``COMMAND --help`` prints, from the parser itself, on a terminal wide
    enough that argparse breaks no line (it would break at hyphens)."""
    parser = parser_of(command)
    parser.formatter_class = lambda prog: argparse.HelpFormatter(prog, width=1000)
    return parser.format_help()


@pytest.fixture(scope="module", params=sorted(manpage.COMMANDS))
def command(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture(scope="module")
def written(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The pages as the package build writes them: the module's command line."""
    out = tmp_path_factory.mktemp("man") / "man1"
    proc = run(
        [sys.executable, "-E", "-s", "-B", "-m", "launcher.manpage", "--output", str(out)],
        cwd=ROOT,
        env={"SOURCE_DATE_EPOCH": EPOCH},
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == [str(out / page_name(name)) for name in manpage.COMMANDS]
    return out


def test_the_build_writes_one_page_per_installed_command(written: Path) -> None:
    assert sorted(p.name for p in written.iterdir()) == sorted(
        ["sdw-updater.1", "sdw-notify.1", "sdw-login.1", "securedrop-updater-switch.8"]
    )
    # The RPM installs a script per command from the same table (rpm/command.py.in),
    # the sdw-* ones under names of their own.
    spec = (ROOT / "rpm" / "securedrop-updater.spec").read_text(encoding="utf-8")
    for name, module in manpage.COMMANDS.items():
        if name in manpage.INSTALLED_NAMES:
            assert f"{name}:{module}:{manpage.INSTALLED_NAMES[name]}" in spec
        else:
            assert f"s/@COMMAND@/{name}/g" in spec and f"s/@MODULE@/{module}/g" in spec


@needs_groff
def test_every_option_the_parser_has_is_on_the_page_with_its_help(
    written: Path, command: str
) -> None:
    parser = parser_of(command)
    page = sections(render((written / page_name(command)).read_text(encoding="ascii")))
    usage = " ".join(help_of(command).split())
    # Every option --help shows, read from its text...
    shown = set(re.findall(r"(?<![\w-])(--?[A-Za-z][\w-]*)", usage))
    assert shown, command
    for option in shown:
        assert option in page["SYNOPSIS"], (command, option)
        assert option in page["OPTIONS"], (command, option)
    # ...and every argument the parser holds (argparse has no public name for its list).
    options = [action for action in parser._actions if action.help is not argparse.SUPPRESS]
    assert {o for action in options for o in action.option_strings} == shown
    for action in options:
        for option in action.option_strings:
            assert option in page["SYNOPSIS"], (command, option)
            assert option in page["OPTIONS"], (command, option)
            assert option in usage, (command, option)
        # The same words as --help, which wraps them: compare without line breaks.
        help_words = " ".join(manpage.help_text(parser, action).split())
        assert help_words, (command, action.dest)
        assert help_words[1:] in page["OPTIONS"], (command, help_words)
        assert help_words[1:] in usage, (command, help_words)
        if isinstance(action.metavar, str):
            assert action.metavar in page["OPTIONS"], (command, action.metavar)
    assert page["NAME"].startswith(f"{command} - ")
    assert page["SYNOPSIS"].startswith(command)


@needs_groff
def test_the_updaters_page_explains_every_exit_code(written: Path) -> None:
    page = sections(render((written / "sdw-updater.1").read_text(encoding="ascii")))
    status = page["EXIT STATUS"]
    codes = [int(word) for word in re.findall(r"(?:^|\. )(\d+) ", status)]
    assert codes == [int(code) for code in ExitCode]
    assert "~/.securedrop_updater/sdw-update-status" in page["FILES"]
    assert page["SEE ALSO"] == "sdw-notify(1), sdw-login(1), securedrop-updater-switch(8)"


@needs_groff
def test_every_page_has_exit_status_files_and_see_also(written: Path, command: str) -> None:
    page = sections(render((written / page_name(command)).read_text(encoding="ascii")))
    assert list(page)[:4] == ["NAME", "SYNOPSIS", "DESCRIPTION", "OPTIONS"]
    for title in ("EXIT STATUS", "FILES", "SEE ALSO"):
        assert page.get(title), (command, title)
    others = sorted(set(manpage.COMMANDS) - {command})
    for other in others:
        assert f"{other}({manpage.section_of(other)})" in page["SEE ALSO"]


@needs_groff
@needs_man
def test_groff_and_man_render_every_page_without_a_warning(written: Path, command: str) -> None:
    path = written / page_name(command)
    proc = run(["groff", "-man", "-Tutf8", "-ww", "-z", str(path)])
    assert (proc.returncode, proc.stderr) == (0, "")
    # What rpmlint runs for its manual-page-warning check, and what admins run.
    proc = run(["man", "--warnings", "-E", "UTF-8", "-l", "-Tutf8", "-Z", str(path)])
    assert (proc.returncode, proc.stderr) == (0, "")
    proc = run(["man", "-l", str(path)], env={"MANWIDTH": "80", "MANPAGER": "cat"})
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""
    assert f"{command.upper()}({manpage.section_of(command)})" in proc.stdout.splitlines()[0]
    # mandb reads the NAME line for whatis and apropos.
    proc = run(["lexgrog", str(path)])
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.startswith(f'{path}: "{command} - ')


def test_pages_are_ascii_dated_by_source_date_epoch_and_reproducible(
    written: Path, tmp_path: Path
) -> None:
    again = tmp_path / "again"
    proc = run(
        [sys.executable, "-m", "launcher.manpage", "--output", str(again)],
        cwd=ROOT,
        env={"SOURCE_DATE_EPOCH": EPOCH, "TZ": "Pacific/Kiritimati", "COLUMNS": "33"},
    )
    assert proc.returncode == 0, proc.stderr
    for name in manpage.COMMANDS:
        first = (written / page_name(name)).read_bytes()
        assert (again / page_name(name)).read_bytes() == first
        first.decode("ascii")
        header = first.decode("ascii").splitlines()[0]
        assert header == (
            f'.TH "{name.upper().replace("-", chr(92) + "-")}" "{manpage.section_of(name)}" '
            f'"{DATE}" '
            f'"securedrop\\-updater {__version__}" "SecureDrop Workstation"'
        )


def test_a_bad_source_date_epoch_is_a_usage_error(tmp_path: Path) -> None:
    proc = run(
        [sys.executable, "-m", "launcher.manpage", "--output", str(tmp_path)],
        cwd=ROOT,
        env={"SOURCE_DATE_EPOCH": "yesterday"},
    )
    assert proc.returncode == 2
    assert "SOURCE_DATE_EPOCH" in proc.stderr
    assert list(tmp_path.iterdir()) == []


def test_make_man_writes_the_pages(tmp_path: Path) -> None:
    needs.tool("make")
    out = tmp_path / "man"
    proc = run(["make", "-s", "man", f"MAN_DIR={out}"], cwd=ROOT, env={"SOURCE_DATE_EPOCH": EPOCH})
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert sorted(p.name for p in out.iterdir()) == sorted(map(page_name, manpage.COMMANDS))
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    assert re.search(r"^MAN_DIR \?= build/man$", makefile, re.MULTILINE)


# ----- the pages as the package installs them -------------------------------------------


@needs_groff
@needs_man
def test_installed_pages_are_under_the_packages_names_and_say_which_program(
    tmp_path: Path,
) -> None:
    """``--installed``: securedrop-updater.1 and the rest, never a name of SecureDrop
    Workstation's (docs/dom0-install.md); each says which sdw-* program it is."""
    out = tmp_path / "installed"
    proc = run(
        [sys.executable, "-m", "launcher.manpage", "--installed", "--output", str(out)],
        cwd=ROOT,
        env={"SOURCE_DATE_EPOCH": EPOCH},
    )
    assert proc.returncode == 0, proc.stderr
    assert sorted(p.name for p in out.iterdir()) == [
        "securedrop-updater-login.1",
        "securedrop-updater-notify.1",
        "securedrop-updater-switch.8",
        "securedrop-updater.1",
    ]
    for command in manpage.COMMANDS:
        name = manpage.installed_name(command)
        path = out / f"{name}.{manpage.section_of(command)}"
        page = sections(render(path.read_text(encoding="ascii")))
        assert page["NAME"].startswith(f"{name} - "), page["NAME"]
        assert page["SYNOPSIS"].startswith(name)
        assert "sdw-" not in page["SEE ALSO"], page["SEE ALSO"]
        if command != name:
            assert (
                f"{name} is the program SecureDrop Workstation knows as {command}."
                in (page["DESCRIPTION"])
            )
        proc = run(["lexgrog", str(path)])
        assert proc.stdout.startswith(f'{path}: "{name} - '), proc.stdout
    updater = sections(render((out / "securedrop-updater.1").read_text(encoding="ascii")))
    assert updater["SEE ALSO"] == (
        "securedrop-updater-notify(1), securedrop-updater-login(1), securedrop-updater-switch(8)"
    )


# ----- the generator on parsers it has not seen -----------------------------------------


def odd_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="odd-tool", description="Exercise the generator.")
    parser.add_argument("target", help=".starts with a dot, has a \\ backslash and \u2265 sign")
    parser.add_argument("-n", "--count", type=int, default=3, help="how many (default %(default)s)")
    parser.add_argument("--pick", choices=["a", "b"], help="one of %(choices)s")
    parser.add_argument("--maybe", nargs="?", metavar="X", help="optional value")
    parser.add_argument("--many", nargs="*", help="any number")
    parser.add_argument("--pair", nargs=2, metavar=("K", "V"), help="a key and a value")
    parser.add_argument("--secret", help=argparse.SUPPRESS)
    return parser


ODD_MANUAL = {
    "DESCRIPTION": (("", "'quoted first, then a second line\n.and a dotted third"),),
    "EXIT STATUS": (("0", "fine"),),
    "SEE ALSO": (("", "odd-tool(5), not a reference"),),
}


@needs_groff
def test_the_generator_escapes_roff_and_shows_every_argument_form() -> None:
    source = manpage.render(odd_parser(), ODD_MANUAL, DATE)
    source.encode("ascii")
    page = sections(render(source))
    assert page["SYNOPSIS"] == (
        "odd-tool [-h|--help] target [-n|--count COUNT] [--pick PICK] [--maybe [X]] "
        "[--many [MANY ...]] [--pair K V]"
    )
    options = page["OPTIONS"]
    assert "target .starts with a dot, has a \\ backslash and \u2265 sign." in options
    assert "-n, --count COUNT How many (default 3)." in options
    assert "One of a, b." in options
    assert "--secret" not in options
    assert "'quoted first, then a second line .and a dotted third" in page["DESCRIPTION"]
    assert page["SEE ALSO"] == "odd-tool(5), not a reference"


@pytest.mark.parametrize("title", ["OPTIONS", "Files", "NAME"])
def test_a_manual_cannot_replace_or_misname_a_section(title: str) -> None:
    with pytest.raises(ValueError, match="MANUAL section"):
        manpage.render(odd_parser(), {title: (("", "text"),)}, DATE)
