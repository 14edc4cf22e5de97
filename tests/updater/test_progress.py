"""``qubes-vm-update``'s progress (``sdw_updater/progress.py``) against real, malformed and hostile lines.

A template's result comes only from a well-formed ``done`` line, the first
one final; nothing a stream holds can fake a success.  Each template's own
output and quiet time feed the stall decision; a stopped tool tells the
stalled, the templates in flight and those never started apart.
"""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sdw_updater.events import TemplateState as T
from sdw_updater.progress import Activity, TemplateTracker, parse_output_line, parse_progress_line


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


# ----- per-template activity and the stall decision --------------------------------------


def test_output_lines_belong_to_their_template_only() -> None:
    assert parse_output_line(b"sd-viewer:out: Get:1 \x1b[1mx") == ("sd-viewer", "Get:1 x")
    assert parse_output_line(b"sd-viewer updating 10.0") is None
    assert parse_output_line(b"../x:out: y") is None


def test_a_template_is_stalled_only_after_the_limit_of_silence() -> None:
    activity = Activity(("a", "b"))
    activity.alive("a", 100.0)
    activity.alive("b", 100.0)
    assert activity.stalled(["a", "b"], 150.0, 60.0) == []
    activity.output(b"b:out: Get:2 http://x", 140.0)
    assert activity.stalled(["a", "b"], 160.0, 60.0) == ["a"]
    assert activity.quiet("b", 160.0) == 20.0
    assert activity.last_line("b") == "Get:2 http://x"
    assert activity.stalled(["b"], 160.0, 60.0) == []
    activity.output(b"zzz:out: not ours", 170.0)
    assert "zzz" not in activity.last


def test_stopped_tool_tells_stalled_in_flight_and_never_started_apart() -> None:
    tracker = TemplateTracker(("a", "b", "c", "d"))
    tracker.feed(b"a done success")
    tracker.feed(b"b updating 40.0")
    tracker.feed(b"c updating 10.0")
    final = tracker.finish(None, stalled=["c"])
    assert final == {"a": T.DONE, "b": T.FAILED, "c": T.STALLED, "d": T.NOT_REACHED}
    # a tool that ended by itself: a template with no done line failed
    assert TemplateTracker(("x",)).finish(0) == {"x": T.FAILED}
