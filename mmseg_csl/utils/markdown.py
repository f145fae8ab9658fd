"""Markdown tables, as the benchmarks, the demo and the analysis tools print
them."""
import math
from typing import Any, Optional, Sequence


def markdown_table(header: Sequence[Any], rows: Sequence[Sequence[Any]]) -> str:
    """A Markdown table: the header, the separator line, one line per row;
    cells as ``str`` writes them."""
    lines = ['| ' + ' | '.join(str(cell) for cell in header) + ' |',
             '|' + '---|' * len(header)]
    lines += ['| ' + ' | '.join(str(cell) for cell in row) + ' |' for row in rows]
    return '\n'.join(lines)


def number(value: Optional[float], digits: int = 2) -> str:
    """``value`` rounded to ``digits`` decimals, or ``n/a`` for None and NaN
    (a statistic of no run)."""
    if value is None or math.isnan(value):
        return 'n/a'
    return f'{value:.{digits}f}'
