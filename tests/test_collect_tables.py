"""A report regenerated from its tables reads its added axes back as the text its runs gave them."""

from pathlib import Path

from separation.analysis.collect import collect_tables

ROOT = Path(__file__).resolve().parents[1]


def test_added_axes_keep_their_none_values():
    """enhance_objectives varies objective.args ('' or None), model.args.hard_mask (None or True) and model.args.n_src
    (None or 3): read as NaN, 'None' vanished and the axes left Setup and the figures' panels."""
    study = collect_tables(ROOT / "results" / "enhance_objectives", ROOT / "experiments" / "enhance_objectives.yaml")
    assert {"objective.args", "model.args.hard_mask", "model.args.n_src"} <= set(study.varying)
    assert set(study.trials["model.args.hard_mask"]) == {"None", "True"}
    assert set(study.trials["model.args.n_src"]) == {"None", "3"}
    assert set(study.trials["objective.args"]) == {"", "None"}
