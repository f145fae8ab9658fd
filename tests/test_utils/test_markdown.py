import math

from mmseg_csl.utils import markdown_table, number


def test_table_has_a_header_a_separator_and_a_line_per_row():
    assert markdown_table(['a', 'b'], [[1, 'x'], [2.5, None]]).splitlines() == [
        '| a | b |', '|---|---|', '| 1 | x |', '| 2.5 | None |']
    assert markdown_table(['only'], []) == '| only |\n|---|'


def test_numbers_are_rounded_and_missing_ones_said_so():
    assert number(3.14159) == '3.14'
    assert number(3.14159, 4) == '3.1416'
    assert number(None) == 'n/a'
    assert number(math.nan) == 'n/a'
