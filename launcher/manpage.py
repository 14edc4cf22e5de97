"""Manual pages for ``sdw-updater``, ``sdw-notify``, ``sdw-login`` and ``securedrop-updater-switch``.

Each page is written from the command's own ``build_parser()``, the source
``--help`` prints, so the two cannot disagree: the synopsis and the OPTIONS
section list every argument the parser accepts, with its help text. What a
parser cannot say (the exit status, the files, related pages) sits beside it
as the module's ``MANUAL``: section title to ``(term, text)`` pairs, where an
empty term makes a plain paragraph.

Run at package build time (``rpm/securedrop-updater.spec``) and by ``make
man``::

    python3 -m launcher.manpage --output build/man

The package installs the programs under names of their own, beside
SecureDrop Workstation's ``sdw-*`` (docs/dom0-install.md): with
``--installed`` the pages are written under those names
(``securedrop-updater.1``, ...), each saying which ``sdw-*`` program it is.

Only the standard library and the entry modules are imported (no Qt,
nothing from dom0). The output is plain ASCII roff for the ``man`` macros;
its only date comes from ``SOURCE_DATE_EPOCH`` when set, so a reproducible
build gives the same bytes.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

from sdw_updater.version import __version__

#: Section title -> (term, text) pairs; the shape of each entry module's ``MANUAL``.
Manual = Mapping[str, Sequence[tuple[str, str]]]

#: Every command the package installs, and the module holding its parser and manual.
COMMANDS: dict[str, str] = {
    "sdw-updater": "launcher.entry",
    "sdw-notify": "sdw_notify.entry",
    "sdw-login": "sdw_notify.login",
    "securedrop-updater-switch": "launcher.switch",
}
#: Manual sections other than 1 (user commands): 8, system administration.
SECTIONS: dict[str, str] = {"securedrop-updater-switch": "8"}
#: The names the package installs the ``sdw-*`` programs under (the others keep theirs).
INSTALLED_NAMES: dict[str, str] = {
    "sdw-updater": "securedrop-updater",
    "sdw-notify": "securedrop-updater-notify",
    "sdw-login": "securedrop-updater-login",
}

PACKAGE = "securedrop-updater"
MANUAL_NAME = "SecureDrop Workstation"
#: Sections the generator writes itself; a MANUAL adds paragraphs to DESCRIPTION only.
GENERATED = ("NAME", "SYNOPSIS", "OPTIONS")


def escape(text: str) -> str:
    """Text as roff input: literal backslashes and hyphens, ASCII only.

    Every ``-`` becomes ``\\-`` so options and paths copied from the
    rendered page are typed with the ASCII hyphen-minus they need.
    """
    out = []
    for char in text.replace("\\", "\\e").replace("-", "\\-"):
        out.append(char if ord(char) < 128 else f"\\[u{ord(char):04X}]")
    return "".join(out)


def text_lines(text: str) -> list[str]:
    """Escaped text, one input line per source line, none read as a request."""
    lines = []
    for line in escape(text).splitlines() or [""]:
        stripped = line.strip()
        lines.append("\\&" + stripped if stripped.startswith((".", "'")) else stripped)
    return lines


def bold(text: str) -> str:
    return f"\\fB{escape(text)}\\fR"


def italic(text: str) -> str:
    return f"\\fI{escape(text)}\\fR"


def metavars(action: argparse.Action) -> tuple[str, ...]:
    """The argument names shown for an action, as argparse names them."""
    if isinstance(action.metavar, tuple):
        return tuple(str(name) for name in action.metavar)
    if action.metavar is not None:
        return (str(action.metavar),)
    return (action.dest.upper() if action.option_strings else action.dest,)


def arguments(action: argparse.Action) -> str:
    """What follows the option string: ``METAVAR``, ``[METAVAR]``, nothing for a flag."""
    names = metavars(action)
    nargs = action.nargs
    if nargs == 0:
        return ""
    if nargs is None or nargs == 1:
        return italic(names[0])
    if nargs == argparse.OPTIONAL:
        return f"[{italic(names[0])}]"
    if nargs == argparse.ZERO_OR_MORE:
        return f"[{italic(names[0])} ...]"
    if nargs == argparse.ONE_OR_MORE:
        return f"{italic(names[0])} [{italic(names[0])} ...]"
    if isinstance(nargs, int):
        return " ".join(italic(names[i % len(names)]) for i in range(nargs))
    return italic(names[0])  # argparse.REMAINDER and the like: one placeholder


def usage(action: argparse.Action, separator: str) -> str:
    """An action as written on a command line: its option strings, then its arguments."""
    words = arguments(action)
    if not action.option_strings:
        return words
    names = separator.join(bold(option) for option in action.option_strings)
    return f"{names} {words}" if words else names


def help_text(parser: argparse.ArgumentParser, action: argparse.Action) -> str:
    """The action's help with its ``%(...)s`` fields filled in, as ``--help`` prints it."""
    if not action.help:
        return ""
    params = {key: value for key, value in vars(action).items() if value is not argparse.SUPPRESS}
    params["prog"] = parser.prog
    for key, value in list(params.items()):
        if callable(value) and hasattr(value, "__name__"):
            params[key] = value.__name__
    if params.get("choices") is not None:
        params["choices"] = ", ".join(str(choice) for choice in params["choices"])
    return action.help % params


def sentence(text: str) -> str:
    """Capital first letter, full stop at the end."""
    text = text.strip()
    if not text:
        return text
    text = text[0].upper() + text[1:]
    return text if text.endswith((".", "!", "?")) else text + "."


def summary(parser: argparse.ArgumentParser) -> str:
    """The NAME line's description: the parser's, lower case first, no full stop."""
    text = (parser.description or "").strip().rstrip(".")
    if len(text) > 1 and text[0].isupper() and text[1].islower():
        text = text[0].lower() + text[1:]
    return text


def visible(parser: argparse.ArgumentParser) -> list[argparse.Action]:
    """The parser's actions that ``--help`` shows (all but suppressed ones).

    ``_actions`` is argparse's own list, in the order ``--help`` prints it;
    argparse offers no public name for it.
    """
    return [action for action in parser._actions if action.help is not argparse.SUPPRESS]


def title_date(environ: Mapping[str, str] = os.environ) -> str:
    """``SOURCE_DATE_EPOCH`` as YYYY-MM-DD (UTC); today without it."""
    epoch = environ.get("SOURCE_DATE_EPOCH")
    if epoch is None or epoch == "":
        return time.strftime("%Y-%m-%d", time.gmtime())
    if not epoch.isdigit():
        raise ValueError(f"SOURCE_DATE_EPOCH is not a whole number of seconds: {epoch!r}")
    return time.strftime("%Y-%m-%d", time.gmtime(int(epoch)))


def section_of(command: str) -> str:
    """The manual section of a command's page (of its contract or installed name)."""
    contract = {v: k for k, v in INSTALLED_NAMES.items()}.get(command, command)
    return SECTIONS.get(contract, "1")


def installed_name(command: str) -> str:
    return INSTALLED_NAMES.get(command, command)


def render(parser: argparse.ArgumentParser, manual: Manual, date: str, volume: str = "1") -> str:
    """The whole page, roff source for the ``man`` macros."""
    prog = parser.prog
    for title in manual:
        if title in GENERATED or title != title.upper():
            raise ValueError(
                f"{prog}: MANUAL section {title!r} must be upper case and not one of {GENERATED}"
            )
    lines = [
        f'.TH "{escape(prog.upper())}" "{volume}" "{date}" '
        f'"{escape(PACKAGE)} {escape(__version__)}" "{MANUAL_NAME}"',
        ".SH NAME",
        f"{escape(prog)} \\- {escape(summary(parser))}",
        ".SH SYNOPSIS",
        f".B {escape(prog)}",
    ]
    actions = visible(parser)
    for action in actions:
        word = usage(action, "|")
        lines.append(f"[{word}]" if action.option_strings else word)
    lines += [".SH DESCRIPTION", *text_lines(sentence(parser.description or ""))]
    for term, text in manual.get("DESCRIPTION", ()):
        lines += section("DESCRIPTION", [(term, text)])
    lines.append(".SH OPTIONS")
    for action in actions:
        lines += [".TP", usage(action, ", "), *text_lines(sentence(help_text(parser, action)))]
    for title, entries in manual.items():
        if title != "DESCRIPTION":
            lines.append(f'.SH "{escape(title)}"')
            lines += section(title, entries)
    return "\n".join(lines) + "\n"


def section(title: str, entries: Sequence[tuple[str, str]]) -> list[str]:
    """A MANUAL section: paragraphs, and tagged paragraphs for entries with a term.

    Files are set in italics, other terms in bold; in SEE ALSO every
    ``name(N)`` of a comma-separated list is set in bold, as man pages do.
    """
    lines: list[str] = []
    for term, text in entries:
        if title == "SEE ALSO" and not term:
            refs = [ref.strip() for ref in text.split(",")]
            lines += [".PP", ",\n".join(see_also(ref) for ref in refs)]
        elif not term:
            lines += [".PP", *text_lines(text)]
        else:
            lines += [".TP", italic(term) if title == "FILES" else bold(term), *text_lines(text)]
    return lines


def see_also(ref: str) -> str:
    """``name(N)`` with the name in bold; anything else as plain text."""
    name, paren, rest = ref.partition("(")
    if paren and rest.endswith(")") and rest[:-1].isalnum() and name and " " not in name:
        return f"{bold(name)}({escape(rest)}"
    return text_lines(ref)[0]


def page(command: str, date: str, installed: bool = False) -> str:
    """The page of one command, from its module's parser and MANUAL.

    ``installed``: under the name the package installs it as, with the
    other pages it names renamed the same way, and a paragraph saying which
    ``sdw-*`` program it is.
    """
    module = importlib.import_module(COMMANDS[command])
    parser: argparse.ArgumentParser = module.build_parser()
    if parser.prog != command:
        raise ValueError(
            f"{COMMANDS[command]}.build_parser() is for {parser.prog!r}, not {command!r}"
        )
    manual: Manual = module.MANUAL
    if installed:
        parser.prog = installed_name(command)
        manual = renamed(manual, command)
    return render(parser, manual, date, section_of(command))


def renamed(manual: Manual, command: str) -> Manual:
    """A MANUAL for the installed page: SEE ALSO by installed names, and where it stands."""
    out: dict[str, list[tuple[str, str]]] = {title: list(e) for title, e in manual.items()}
    see_also = []
    for term, text in out.get("SEE ALSO", []):
        refs = text
        for contract, renamed_to in INSTALLED_NAMES.items():
            refs = refs.replace(f"{contract}(", f"{renamed_to}(")
        see_also.append((term, refs))
    if see_also:
        out["SEE ALSO"] = see_also
    name = INSTALLED_NAMES.get(command)
    if name is not None:
        where = (
            f"{name} is the program SecureDrop Workstation knows as {command}. Installing "
            f"the {PACKAGE} package changes nothing of SecureDrop Workstation's own "
            f"{command}; securedrop-updater-switch on links /usr/local/bin/{command} to "
            f"this one, so that SecureDrop Workstation's icon, login autostart and menu run it."
        )
        out["DESCRIPTION"] = [*out.get("DESCRIPTION", []), ("", where)]
    return out


def write_all(output: Path, date: str, installed: bool = False) -> list[Path]:
    """Write ``NAME.SECTION`` for every command into ``output``; return the paths."""
    output.mkdir(parents=True, exist_ok=True)
    written = []
    for command in COMMANDS:
        name = installed_name(command) if installed else command
        path = output / f"{name}.{section_of(command)}"
        path.write_text(page(command, date, installed), encoding="ascii")
        written.append(path)
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python3 -m launcher.manpage",
        description="Write the manual pages of sdw-updater, sdw-notify, sdw-login and "
        "securedrop-updater-switch.",
    )
    parser.add_argument(
        "--output",
        type=Path,
        default=Path("build/man"),
        metavar="DIR",
        help="(default %(default)s)",
    )
    parser.add_argument(
        "--installed",
        action="store_true",
        help="under the names the package installs the programs as (securedrop-updater, ...)",
    )
    args = parser.parse_args(argv)
    try:
        date = title_date()
    except ValueError as exc:
        parser.error(str(exc))
    for path in write_all(args.output, date, args.installed):
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
