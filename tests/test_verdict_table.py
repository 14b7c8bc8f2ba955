"""scripts/verdict_table.py: each early claim against the same comparison at a longer budget (held / flipped / unresolved)."""

from pathlib import Path

import pandas as pd
import pytest
import yaml

from conftest import load_script
from separation.analysis.verdict_table import Difference, build_table, read_difference, read_plan, verdict
from separation.errors import UserError

ROOT = Path(__file__).resolve().parents[1]
COLUMNS = ["a", "b", "metric", "median_a", "median_b", "n_a", "n_b", "diverged_a", "diverged_b",
           "difference", "ci_low", "ci_high", "resolved", "p_a_better"]


def _study(results, name, rows):
    """rows: (a, b, difference, ci_low, ci_high) on test, as a report's comparisons.csv holds them."""
    folder = results / name
    folder.mkdir(parents=True)
    table = [{"a": a, "b": b, "metric": "test", "median_a": 1.0 + d, "median_b": 1.0, "n_a": 5, "n_b": 5,
              "diverged_a": 0, "diverged_b": 0, "difference": d, "ci_low": low, "ci_high": high,
              "resolved": bool(low > 0 or high < 0), "p_a_better": 0.5} for a, b, d, low, high in rows]
    pd.DataFrame(table, columns=COLUMNS).to_csv(folder / "comparisons.csv", index=False)
    return folder


def _claims(path, claims, early="results_early", long="results_long"):
    path.write_text(yaml.safe_dump({
        "early": {"label": "256 steps", "results": str(path.parent / early)},
        "long": {"label": "2,048 steps", "results": str(path.parent / long)},
        "claims": [{"claim": text, "early": {"study": "short", "a": a, "b": b},
                    "long": {"study": "long", "a": a, "b": b}} for text, a, b in claims],
    }, sort_keys=False))
    return path


def _row(table: str, claim: str) -> list[str]:
    line = next(line for line in table.splitlines() if line.startswith(f"| {claim} |"))
    return [cell.strip() for cell in line.strip("|").split("|")]


@pytest.fixture
def two_budgets(tmp_path):
    early = [("sched plateau", "sched step", 0.30, 0.10, 0.50),   # resolved for plateau
             ("clip norm 5", "clip none", 0.20, 0.05, 0.40),
             ("rmsprop", "adam", 0.40, 0.20, 0.60),
             ("warmup", "none", 0.10, -0.05, 0.25)]                # not resolved
    long = [("sched plateau", "sched step", 0.25, 0.05, 0.45),    # same side: held
            ("clip norm 5", "clip none", -0.30, -0.50, -0.10),    # other side: flipped
            ("rmsprop", "adam", 0.05, -0.10, 0.20),               # contains 0: unresolved
            ("warmup", "none", 0.20, 0.10, 0.30)]                 # now resolved, same side
    _study(tmp_path / "results_early", "short", early)
    _study(tmp_path / "results_long", "long", long)
    return _claims(tmp_path / "claims.yaml", [("plateau beats step", "sched plateau", "sched step"),
                                              ("clipping helps", "clip norm 5", "clip none"),
                                              ("rmsprop beats adam", "rmsprop", "adam"),
                                              ("warmup helps", "warmup", "none")])


def test_held_flipped_and_unresolved(two_budgets):
    table = build_table(read_plan(two_budgets))
    assert "| claim | early (256 steps): A - B [95% CI] dB | long (2,048 steps): A - B [95% CI] dB | verdict |" in table
    assert _row(table, "plateau beats step") == ["plateau beats step", "+0.30 [+0.10, +0.50], resolved",
                                                 "+0.25 [+0.05, +0.45], resolved", "held"]
    assert _row(table, "clipping helps")[2:] == ["-0.30 [-0.50, -0.10], resolved", "flipped"]
    assert _row(table, "rmsprop beats adam")[2:] == ["+0.05 [-0.10, +0.20], not resolved", "unresolved"]
    assert _row(table, "warmup helps")[1:] == ["+0.10 [-0.05, +0.25], not resolved",
                                               "+0.20 [+0.10, +0.30], resolved", "held (now resolved)"]
    assert "*flipped* where it excludes 0 on the other side" in table  # the rule is printed with the table


def test_the_rule_follows_the_early_direction_not_the_claims_wording():
    early_against = Difference(-0.3, -0.5, -0.1)  # the early study found B better
    assert verdict(early_against, Difference(-0.2, -0.4, -0.05)) == "held"
    assert verdict(early_against, Difference(0.2, 0.05, 0.4)) == "flipped"
    assert verdict(Difference(-0.1, -0.3, 0.1), Difference(0.2, 0.05, 0.4)) == "flipped (now resolved)"
    nan = float("nan")
    assert verdict(early_against, Difference(0.5, nan, nan)) == "unresolved"  # too few seeds: no interval
    assert verdict(Difference(0.2, 0.1, 0.3), Difference(0.1, 0.0, 0.2)) == "unresolved"  # touching 0 is not excluding it
    assert verdict(Difference(nan, nan, nan), Difference(0.2, 0.05, 0.4)) == "resolved, no early direction"


def test_a_pair_stored_the_other_way_round_is_flipped_in_sign_and_interval(tmp_path):
    folder = _study(tmp_path, "study", [("adam", "rmsprop", -0.5, -0.8, -0.2)])
    assert read_difference(folder, "rmsprop", "adam") == Difference(0.5, 0.2, 0.8)
    assert read_difference(folder, "adam", "rmsprop") == Difference(-0.5, -0.8, -0.2)


def test_the_interval_counting_lost_seeds_is_the_one_used_where_there_is_one(tmp_path):
    folder = _study(tmp_path, "study", [("rmsprop", "adam", 0.5, 0.2, 0.8)])
    table = pd.read_csv(folder / "comparisons.csv")
    table["difference_conservative"], table["ci_low_conservative"], table["ci_high_conservative"] = 0.4, -0.1, 0.7
    table.to_csv(folder / "comparisons.csv", index=False)
    assert read_difference(folder, "rmsprop", "adam") == Difference(0.4, -0.1, 0.7)
    assert read_difference(folder, "adam", "rmsprop") == Difference(-0.4, -0.7, 0.1)


def test_a_missing_cell_or_study_or_bad_key_is_one_line_and_exit_2(two_budgets, tmp_path, capsys):
    main = load_script("verdict_table").main
    claims = yaml.safe_load(two_budgets.read_text())

    claims["claims"][0]["long"]["a"] = "sched cosine"
    two_budgets.write_text(yaml.safe_dump(claims))
    assert main([str(two_budgets)]) == 2
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and str(tmp_path / "results_long" / "long") in error and "'sched cosine'" in error

    claims["claims"][0]["long"].update(a="sched plateau", study="nowhere")
    two_budgets.write_text(yaml.safe_dump(claims))
    assert main([str(two_budgets)]) == 2
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and "nowhere: no such study folder" in error

    claims["claims"][0]["long"]["study"] = "long"
    claims["claims"][0]["early"]["cell"] = "x"
    two_budgets.write_text(yaml.safe_dump(claims))
    assert main([str(two_budgets)]) == 2
    assert "claims[0].early: unknown key 'cell'; allowed: study, a, b" in capsys.readouterr().err

    two_budgets.write_text("early: {label: a, results: r}\nearly: {label: b, results: r}\n")
    assert main([str(two_budgets)]) == 2  # duplicate keys are refused, not silently overwritten
    assert "key 'early' appears twice" in capsys.readouterr().err


def test_the_table_is_written_to_a_file(two_budgets, tmp_path, capsys):
    out = tmp_path / "out" / "VERDICTS.md"
    assert load_script("verdict_table").main([str(two_budgets), "-o", str(out)]) == 0
    assert _row(out.read_text(), "clipping helps")[3] == "flipped"
    assert f"`.venv/bin/python scripts/verdict_table.py {two_budgets} -o {out}`" in out.read_text()  # what made it


def test_the_committed_studies_against_themselves(tmp_path):
    """Early side as the long side: resolved early claims hold, the others stay unresolved. Reads the real
    files, and computes a pair the report did not compare (clip norm 1 vs clip none) from its tables."""
    results = str(ROOT / "results")
    path = tmp_path / "claims.yaml"
    pairs = [("plateau beats step", "svoice_schedulers_v2", "sched plateau", "sched step"),
             ("clipping at norm 1 helps", "svoice_clipping", "clip norm 1", "clip none"),
             ("clipping at norm 5 helps", "svoice_clipping", "clip norm 5", "clip none"),
             ("rmsprop beats adam", "svoice_optimizers", "rmsprop, lr 0.001", "adam, lr 0.001")]
    path.write_text(yaml.safe_dump({
        "early": {"label": "256 steps", "results": results}, "long": {"label": "256 steps again", "results": results},
        "claims": [{"claim": text, "early": {"study": study, "a": a, "b": b}, "long": {"study": study, "a": a, "b": b}}
                   for text, study, a, b in pairs]}))
    table = build_table(read_plan(path))
    # sched step vs sched plateau is stored the other way round: -0.03 [-0.24, +4.51] flipped in sign.
    assert _row(table, "plateau beats step")[1:] == ["+0.03 [-4.51, +0.24], not resolved"] * 2 + ["unresolved"]
    assert _row(table, "clipping at norm 5 helps")[1:] == ["+0.31 [-0.01, +0.43], not resolved"] * 2 + ["unresolved"]
    assert _row(table, "rmsprop beats adam")[1:] == ["+0.16 [+0.02, +0.34], resolved"] * 2 + ["held"]
    # Not in comparisons.csv: computed from trials.csv as `separation compare` computes it (a seeded bootstrap).
    assert _row(table, "clipping at norm 1 helps")[1:] == ["+0.32 [+0.03, +0.51], resolved"] * 2 + ["held"]
    with pytest.raises(UserError, match=r"svoice_clipping: no cell 'clip norm 7'; its cells: clip none; clip norm 1"):
        read_difference(ROOT / "results" / "svoice_clipping", "clip norm 7", "clip none")


def test_pending_lists_a_claim_whose_study_is_not_reported_yet(two_budgets, tmp_path, capsys):
    plan = yaml.safe_load(two_budgets.read_text())
    plan["claims"].append({"claim": "a later phase's claim", "early": {"study": "short", "a": "rmsprop", "b": "adam"},
                           "long": {"study": "phase_3", "a": "clip norm 1", "b": "clip none"}})
    two_budgets.write_text(yaml.safe_dump(plan, sort_keys=False))
    script = load_script("verdict_table")
    assert script.main([str(two_budgets)]) == 2  # without --pending it stops, naming the study
    assert "phase_3: no such study folder" in capsys.readouterr().err
    out = tmp_path / "VERDICTS.md"
    assert script.main([str(two_budgets), "-o", str(out), "--pending"]) == 0
    text = out.read_text()
    assert _row(text, "clipping helps")[3] == "flipped" and not any(l.startswith("| a later phase") for l in text.splitlines())
    assert "- a later phase's claim: " in text.split("Not computed yet")[1] and "phase_3: no such study folder" in text
    assert f"verdict_table.py {two_budgets} -o {out} --pending`" in text
