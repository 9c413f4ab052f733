"""How a sweep's rows are written: the CSV's cells."""

from __future__ import annotations

import pytest

from rulebot.sweep.output import spreadsheet_safe


@pytest.mark.parametrize(
    ("value", "written"),
    [
        ('=HYPERLINK("http://x")', '\'=HYPERLINK("http://x")'),
        ("+cmd|' /C calc'!A0", "'+cmd|' /C calc'!A0"),
        ("-2+3", "'-2+3"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\t=1+1", "'\t=1+1"),
        ("\r=1+1", "'\r=1+1"),
        ("plain", "plain"),
        ("", ""),
        ("-12.50", "-12.50"),  # net_pnl_exact: a number written as text
        ("+1E-8", "+1E-8"),
        (-5, -5),
        (-0.25, -0.25),
        (None, None),
    ],
)
def test_a_text_that_a_spreadsheet_would_run_gets_a_leading_quote_and_a_number_does_not(value, written):
    assert spreadsheet_safe(value) == written
