"""The progress parser against real, malformed and hostile lines."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sdw_updater.events import TemplateState
from sdw_updater.facts import parse_connectivity, parse_os_release, parse_release, parse_uptime
from sdw_updater.progress import TemplateTracker, parse_progress_line

T = TemplateState


@pytest.mark.parametrize(
    ("line", "name", "status", "percent"),
    [
        (b"fedora-42 updating 0.0\n", "fedora-42", "updating", 0.0),
        (b"fedora-42 updating 0", "fedora-42", "updating", 0.0),
        (b"debian-12 updating 33.33", "debian-12", "updating", 33.33),
        (b"debian-12 updating 100.0", "debian-12", "updating", 100.0),
        (b"debian-12 pending None", "debian-12", "pending", 0.0),
        (b"sd-large-bookworm-template done success", "sd-large-bookworm-template", "done", 100.0),
    ],
)
def test_well_formed_lines(line: bytes, name: str, status: str, percent: float) -> None:
    parsed = parse_progress_line(line)
    assert parsed is not None
    assert (parsed.name, parsed.status, parsed.percent) == (name, status, percent)


@pytest.mark.parametrize(
    "line",
    [
        b"",
        b"\n",
        b"fedora-42 updating",
        b"fedora-42 updating nan",
        b"fedora-42 updating inf",
        b"fedora-42 updating -1.0",
        b"fedora-42 updating 101.0",
        b"fedora-42 updating 1e2",
        b"fedora-42  updating 1.0",
        b"fedora-42 updating 1.0 extra",
        b"fedora-42 done succes",
        b"fedora-42 done success!",
        b"fedora-42 unknown None",
        b"fedora-42 pending 5",
        b"-evil updating 5.0",
        b"fedora-42:out: done success",
        b"fedora-42 done success\x1b[31m",
        b"f\xc3\xa9dora done success",
        b"a" * 40 + b" done success",
        b"fedora-42 updating " + b"9" * 10000,
    ],
    ids=lambda line: repr(line[:30]),
)
def test_malformed_lines_are_rejected(line: bytes) -> None:
    assert parse_progress_line(line) is None


def test_snapshots_keep_latest_and_first_done_is_final() -> None:
    tracker = TemplateTracker(("a", "b"))
    for line in [
        b"a updating 0.0",
        b"b pending None",
        b"a updating 50.0",
        b"b pending None",
        b"a done success",
        b"b updating 10.0",
        b"a done success",
        b"b done no_updates",
    ]:
        tracker.feed(line)
    assert tracker.finish(0) == {"a": T.DONE, "b": T.NO_UPDATES}


def test_missing_done_line_means_failed() -> None:
    tracker = TemplateTracker(("a", "b"))
    tracker.feed(b"a updating 90.0")
    tracker.feed(b"b done success")
    assert tracker.finish(0) == {"a": T.FAILED, "b": T.DONE}


def test_contradicting_done_lines_mean_failed() -> None:
    tracker = TemplateTracker(("a",))
    tracker.feed(b"a done success")
    tracker.feed(b"a done error")
    assert tracker.finish(0) == {"a": T.FAILED}


def test_unknown_vm_lines_cannot_fake_success() -> None:
    tracker = TemplateTracker(("a",))
    tracker.feed(b"b done success")
    tracker.feed(b"A done success")
    assert tracker.finish(0) == {"a": T.FAILED}
    assert tracker.ignored_lines == 2


@pytest.mark.parametrize("code", [2, 64])
def test_exit_codes_that_mean_nothing_updated(code: int) -> None:
    tracker = TemplateTracker(("a",))
    tracker.feed(b"a done success")
    assert tracker.finish(code) == {"a": T.FAILED}


def test_a_timeout_blames_only_the_templates_still_in_flight() -> None:
    """Hardening #13: a template that printed ``done success`` keeps it when the tool is stopped."""
    tracker = TemplateTracker(("a", "b", "c"))
    tracker.feed(b"a done success")
    tracker.feed(b"b done no_updates")
    tracker.feed(b"c updating 40.0")
    assert tracker.finish(None) == {"a": T.DONE, "b": T.NO_UPDATES, "c": T.FAILED}


def test_error_and_cancelled_are_failures() -> None:
    tracker = TemplateTracker(("a", "b"))
    tracker.feed(b"a done error")
    tracker.feed(b"b done cancelled")
    assert tracker.finish(130) == {"a": T.FAILED, "b": T.FAILED}


def test_fraction_never_goes_backwards_for_a_template() -> None:
    tracker = TemplateTracker(("a",))
    tracker.feed(b"a updating 60.0")
    tracker.feed(b"a updating 20.0")
    assert tracker.fraction() == pytest.approx(0.6)


@given(st.lists(st.binary(max_size=80), max_size=50))
def test_hostile_streams_never_fake_success(lines: list[bytes]) -> None:
    tracker = TemplateTracker(("sd-small",))
    for line in lines:
        tracker.feed(line)
    result = tracker.finish(0)["sd-small"]
    if result is not T.FAILED:
        assert any(
            line.rstrip(b"\r\n") in (b"sd-small done success", b"sd-small done no_updates")
            for line in lines
        )
    assert 0.0 <= tracker.fraction() <= 1.0


@given(
    st.lists(
        st.tuples(
            st.sampled_from(["a", "b", "c", "zz"]),
            st.sampled_from(["pending", "updating", "done", "bogus"]),
            st.one_of(
                st.floats(allow_nan=True, allow_infinity=True).map(str),
                st.sampled_from(["None", "success", "error", "no_updates", "cancelled", "unknown"]),
            ),
        ),
        max_size=60,
    )
)
def test_structured_fuzz(events: list[tuple[str, str, str]]) -> None:
    tracker = TemplateTracker(("a", "b", "c"))
    for name, status, info in events:
        tracker.feed(f"{name} {status} {info}".encode())
    for name, state in tracker.finish(0).items():
        if state is T.DONE:
            assert (name, "done", "success") in events


@pytest.mark.parametrize(
    ("raw", "word"),
    [(b"full\n", "full"), (b"full", "full"), (b"none\n", "none"), (b"limited\n", "limited")],
)
def test_connectivity(raw: bytes, word: str) -> None:
    assert parse_connectivity(raw) == word


@pytest.mark.parametrize(
    "raw", [b"", b"FULL\n", b"full\nfull\n", b" full", b"fullx", b"full" * 100]
)
def test_connectivity_rejects(raw: bytes) -> None:
    assert parse_connectivity(raw) is None


def test_release_parsing() -> None:
    assert parse_release("4.2") == "4.2"
    assert parse_release("4.2.3 (R4.2)") == "4.2"
    assert parse_release("") is None
    assert parse_release("R") is None
    assert parse_os_release(b'NAME=Qubes\nVERSION_ID="4.2.3"\n') == "4.2"
    assert parse_os_release(b"NAME=Ubuntu\nVERSION_ID=24.04\n") is None
    assert parse_os_release(b"\xff") is None


@pytest.mark.parametrize(
    ("raw", "value"),
    [(b"7200.5 100.0\n", 7200.5), (b"", None), (b"abc", None), (b"-5 1", None), (b"nan 1", None)],
)
def test_uptime(raw: bytes, value: float | None) -> None:
    assert parse_uptime(raw) == value
