"""Speech scores by speaker pair and by the two speakers' relative level, when the corpus says who and how loud.

A corpus whose LibriMix csv (`metadata/mixture_<split>_<mixture>.csv`) carries
`speaker_1`, `speaker_2` and `relative_level_db` columns (`separation data
realmix` writes them) is scored per group as well as over all: a mean that
hides one hard pair of voices, or the mixtures where one speaker is much
quieter, shows in these tables. Corpora without the columns get no groups.
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from separation.errors import UserError

# |relative level| bands in dB, lower edge inclusive; the last band is open above.
LEVEL_BANDS = ((0.0, 2.5), (2.5, 5.0), (5.0, 10.0))
ABOVE = f">={LEVEL_BANDS[-1][1]:g}"
COLUMNS = ("speaker_1", "speaker_2", "relative_level_db")
GROUP_BY = (("speaker_pair", "by_speaker_pair"), ("relative_level", "by_relative_level"))


def level_band(relative_db: float) -> str:
    """'0-2.5', '2.5-5', '5-10' or '>=10' for the size of a relative level in dB; 'unknown' when not finite."""
    if not math.isfinite(relative_db):
        return "unknown"
    size = abs(relative_db)
    for low, high in LEVEL_BANDS:
        if low <= size < high:
            return f"{low:g}-{high:g}"
    return ABOVE


def speaker_pair(first: str, second: str) -> str:
    """The unordered pair, names sorted and joined by '+' (s1/s2 order is drawn, not a property of the pair)."""
    return "+".join(sorted((first, second)))


def mixture_groups(metadata: str | Path) -> dict[str, dict[str, str]] | None:
    """`{mixture_ID: {"speaker_pair": ..., "relative_level": band}}` from a LibriMix csv; None without the columns.

    None also when the file is absent: a LibriMix folder need not hold its csv files.
    """
    path = Path(metadata)
    if not path.is_file():
        return None
    try:
        with open(path, newline="") as handle:
            reader = csv.DictReader(handle)
            if not set(COLUMNS) <= set(reader.fieldnames or ()):
                return None
            groups = {}
            for row in reader:
                try:
                    relative = float(row["relative_level_db"])
                except (TypeError, ValueError):
                    relative = math.nan
                groups[row["mixture_ID"]] = {"speaker_pair": speaker_pair(row["speaker_1"], row["speaker_2"]),
                                             "relative_level": level_band(relative)}
    except (OSError, UnicodeDecodeError, csv.Error, KeyError) as error:
        raise UserError(f"{path}: unreadable mixture metadata ({type(error).__name__}: {error})") from None
    return groups


def librimix_metadata(mixture_file: str | Path, split: str, mixture: str = "mix_clean") -> Path:
    """Where LibriMix keeps the csv of a split: `<mode folder>/metadata/mixture_<split>_<mixture>.csv`."""
    return Path(mixture_file).parents[2] / "metadata" / f"mixture_{split}_{mixture}.csv"


def _band_order(name: str) -> int:
    order = [f"{low:g}-{high:g}" for low, high in LEVEL_BANDS] + [ABOVE, "unknown"]
    return order.index(name)


def grouped_stats(rows: Sequence[dict], groups: Mapping[str, Mapping[str, str]],
                  stats: Callable[[list[dict]], dict]) -> dict[str, dict[str, dict]]:
    """`{"by_speaker_pair": {pair: stats}, "by_relative_level": {band: stats}}` of the rows (by their `id`).

    `stats(rows)` gives one group's statistics; a row missing from `groups` counts as 'unknown'.
    """
    result = {}
    for key, name in GROUP_BY:
        members: dict[str, list[dict]] = {}
        for row in rows:
            members.setdefault(groups.get(row["id"], {}).get(key, "unknown"), []).append(row)
        order = sorted(members, key=_band_order) if key == "relative_level" else sorted(members)
        result[name] = {group: {"count": len(members[group]), **stats(members[group])} for group in order}
    return result


def group_means_csv(table: Sequence[tuple[str, str, dict]], metrics: Sequence[str]) -> str:
    """summary.csv's format, shared with the enhancement evaluation: one row per (group_by, group, stats),
    the group's count and the mean of every metric."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["group_by", "group", "count", *metrics])
    for group_by, group, values in table:
        means = [values[m]["mean"] for m in metrics]
        writer.writerow([group_by, group, values["count"], *("" if v is None else f"{v:.4f}" for v in means)])
    return buffer.getvalue()


def summary_csv(overall: dict, grouped: Mapping[str, Mapping[str, dict]], metrics: Sequence[str]) -> str:
    """One row per group (`all`, each speaker pair, each level band): count and the mean of every metric."""
    table = [("all", "all", overall)]
    for key, name in GROUP_BY:
        table += [(key, group, values) for group, values in grouped[name].items()]
    return group_means_csv(table, metrics)
