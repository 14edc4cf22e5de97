"""The trust checks' one report type (``sdw_updater/trust/report.py``): typed codes, merged."""

from __future__ import annotations

from sdw_updater.trust.report import Code, TrustReport


def test_report_codes_and_merging() -> None:
    first, second = TrustReport(), TrustReport()
    first.fail(Code.KEY_EXPIRED, "a")
    second.warn(Code.KEY_EXPIRES_SOON, "b", days_left=3)
    merged = TrustReport().add(first).add(second)
    assert merged.codes == [Code.KEY_EXPIRED] and merged.days_left == {"b": 3}
