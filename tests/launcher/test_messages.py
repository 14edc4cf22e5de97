"""What the outcome screens say (``launcher/messages.py``), without Qt.

What failed and that a restart is owed, who holds the lock, which notices
reach the journalist and which only the administrator, and the run's
summary (extra templates as their own group, retries marked) with its help:
the cause for the journalist, the fix for the admin.
"""

from __future__ import annotations

import subprocess
import sys

from helpers.summary import sample

from launcher import messages
from launcher import strings as S
from launcher.flow import Button, Flow, Origin, RunSummary, Screen
from sdw_updater.contract import ExitCode
from sdw_updater.events import Notice, TemplateState
from sdw_updater.events import TemplateState as T
from sdw_updater.freshness import Action
from sdw_updater.lastrun import TemplateOutcome
from sdw_updater.result import RunResult
from sdw_updater.steps import Step


def test_messages_never_import_qt() -> None:
    code = "import sys, launcher.messages; print(sorted(m for m in sys.modules if 'Qt' in m))"
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    assert out.stdout.strip() == "[]"


def test_a_failure_says_what_failed_and_that_a_restart_is_owed() -> None:
    flow = Flow()
    flow.start_updates()
    result = RunResult(
        ExitCode.FAILED,
        "qubes-vm-update exited with code 1",
        failed_step=Step.TEMPLATES,
        templates={"tpl-b": TemplateState.FAILED, "tpl-a": TemplateState.DONE},
        dom0_updated=True,
    )
    flow.run_ended(RunSummary(result.outcome, result.dom0_updated))
    text = messages.outcome_text(flow, result)
    assert S.step_words("templates") in text.body
    assert "tpl-b" in text.body and "tpl-a" not in text.body
    assert S.tr(S.RESTART_OWED_TOO) in text.body
    assert text.technical == result.message and text.show_log


def test_another_updater_is_named_for_the_administrator() -> None:
    flow = Flow.opening(Action.RUN_UPDATER, Origin.ICON, other_updater=True)
    text = messages.outcome_text(flow, None, holder="sdw-updater --cli (process 7)")
    assert text.body == S.tr(S.LOCKED_BODY_AT_START)
    assert "sdw-updater --cli (process 7)" in text.technical


def test_a_lock_file_that_cannot_be_used_is_its_own_screen() -> None:
    """Not "another update is running": nobody runs, and only an administrator can mend it."""
    for action in (Action.RUN_UPDATER, Action.REBOOT_PENDING):
        for origin in Origin:
            flow = Flow.opening(action, origin, lock_unusable=True)
            assert flow.screen is Screen.LOCK_UNUSABLE
            assert not flow.starts_at_once  # the notifier's hand-over starts nothing either
            assert flow.buttons() == (Button.CLOSE,)
            assert flow.exit_code is ExitCode.LOCKED
            assert not flow.start_updates()
            assert flow.screen is Screen.LOCK_UNUSABLE and flow.busy is None
    refusal = (
        "The updater's lock file /run/user/1000/sdw-updater.lock cannot be used (it is a directory)"
    )
    flow = Flow.opening(Action.RUN_UPDATER, Origin.ICON, lock_unusable=True)
    text = messages.outcome_text(flow, None, lock_refusal=refusal)
    assert text.body == S.tr(S.LOCK_UNUSABLE_BODY)
    assert "administrator" in text.body and "already running" not in text.body
    assert text.technical == refusal and text.show_log
    assert "already running" not in S.tr(S.LOCK_UNUSABLE_TITLE)


def test_notices_split_between_journalist_and_administrator() -> None:
    far = Notice("key expires in 174 days", days_left=174)
    near = Notice("key expires in 12 days", days_left=12)
    hint = Notice("config.json names no environment")
    result = RunResult(ExitCode.OK, warnings=[far.text])
    admin, journalist = messages.notices(result, [far, near, hint], notice_days=30)
    assert admin == [far.text, near.text, hint.text]
    assert journalist == [S.key_expiry(12)]
    assert messages.notices(None, [near], notice_days=7) == ([near.text], [])


# ----- the run's summary and its help ------------------------------------------------


def test_the_window_summary_groups_extras_and_marks_retries() -> None:
    from launcher import messages

    text = messages.summary_text(sample())
    assert text is not None
    assert [row[0] for row in text.rows] == ["a", "b", "d", "e"]
    assert [row[0] for row in text.extras] == ["c"]
    words = dict((name, said) for name, said, _ in text.rows)
    assert words["d"] == "Already up to date (on a second try)"
    assert words["e"] == "Not reached"
    assert (
        text.counts
        == "1 updated, 1 already up to date, 1 failed, 1 stopped (no progress), 1 not reached"
    )
    assert text.not_back.startswith("Did not start again: sd-log")
    assert text.time == "Time taken: 4 minutes"
    # a run that did not reach the templates has no summary
    assert messages.summary_text(sample(steps=((Step.NETCHECK, "ok"),))) is None
    assert messages.summary_text(None) is None


def test_the_window_help_is_the_cause_for_the_journalist_and_the_fix_for_the_admin() -> None:
    from launcher import messages

    cause, fixes = messages.help_text(sample())
    assert cause == "full"
    assert fixes == ["b: `df`"]
    assert messages.help_text(sample(advice=())) == ("", [])


def test_the_window_summary_says_which_templates_a_retry_added() -> None:
    """A retry also updated templates the attempt it retried did not fail: each row says so."""
    retried = sample(
        outcome=ExitCode.OK,
        failed_step=None,
        templates=(
            TemplateOutcome("a", T.DONE, kept=True),
            TemplateOutcome("b", T.DONE),
            TemplateOutcome("new", T.NO_UPDATES, added="not in the earlier attempt"),
            TemplateOutcome(
                "old", T.DONE, added="its result is from an attempt more than a day ago"
            ),
            TemplateOutcome("x", T.DONE, "extras", added="not in the earlier attempt (sd-extras)"),
        ),
    )
    text = messages.summary_text(retried)
    assert text is not None
    words = {name: said for name, said, _ in text.rows + text.extras}
    assert words == {
        "a": "Updated (earlier)",
        "b": "Updated",
        "new": "Already up to date (added to this retry)",
        "old": "Updated (added to this retry)",
        "x": "Updated (added to this retry)",
    }
