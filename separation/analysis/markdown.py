"""Markdown for the study report: table rows, numbers as the report prints them, and plain-text helpers.

Every section of REPORT.md (`separation.analysis.report` and the `report_*`
modules it assembles) formats through these, so a number reads the same
wherever it appears: two decimals, "n/a" for a missing value, "not reached"
for an infinite time to target.
"""

from __future__ import annotations

import numpy as np


def number(value, digits: int = 2) -> str:
    try:
        value = float(value)
    except (TypeError, ValueError):
        return "n/a"
    if np.isnan(value):
        return "n/a"
    if np.isinf(value):
        return "not reached" if value > 0 else "-inf"
    return f"{value:.{digits}f}"


def seconds(value) -> str:
    value = float(value)
    if np.isnan(value):
        return "n/a"
    return "not reached" if np.isinf(value) else f"{value:.3g}"


def escape(text) -> str:
    return str(text).replace("|", "\\|")


def table(header: list[str], rows: list[list]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(escape(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def median_iqr_text(median: float, q25: float, q75: float) -> str:
    if not np.isfinite(median):
        return "n/a"
    return f"{median:.2f} [{q25:.2f}, {q75:.2f}]"


def hours(seconds: float) -> str:
    return f"{seconds / 3600:.2f} h" if seconds >= 3600 else f"{seconds / 60:.1f} min"


def score_text(values: tuple[float, float, float], digits: int) -> str:
    median, q25, q75 = values
    return "n/a" if not np.isfinite(median) else f"{median:.{digits}f} [{q25:.{digits}f}, {q75:.{digits}f}]"


def distinct(values) -> list:
    return list(dict.fromkeys(v for v in values if v not in (None, "")))
