"""The synthetic school's staff (coachklas and mentor actions, with true effects) and the import of their
history: selection on what the school observes, the capacity, the treated and untreated hazards, a random
stream of their own, and a history import that is validated, all-or-nothing and idempotent."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import Engine, text
from typer.testing import CliRunner

from data.action_types import cached_action_types
from data.calendar import cached_school_calendar, week_monday
from data.csv_io import CsvImportError, import_files
from data.history import HISTORY_TABLES, HISTORY_USER, import_history
from data.questionnaire import Questionnaire
from data.synthetic import GeneratorConfig, generate
from data.synthetic.generator import coachklas_capacity
from data.synthetic.staff import MeasureEffect, chunk_places
from data.synthetic.writer import store_school, write_generated
from data.tables import from_generated
from data.vocabulary import ACTION_OUTCOMES, PLACEMENT_OUTCOMES
from tests.conftest import TEST_KEY
from vroegsignaal.cli import app

# A school with enough coachklas places for many placements: 1,500 students, two years, 30 places.
STAFFED = GeneratorConfig(seed=7, n_students=1500, n_years=2, coachklas_places_per_1000=20.0)
# The same school with only the coachklas (no mentor actions): every touched week is the coachklas'.
COACHKLAS_ONLY = STAFFED.model_copy(update={"action_share": 0.0, "action_effects": {}})
NO_STAFF = STAFFED.model_copy(update={"coachklas_places_per_1000": 0.0, "action_share": 0.0})
# Small, for the store tests.
SMALL_STAFFED = GeneratorConfig(seed=3, n_students=250, n_years=1, coachklas_places_per_1000=40.0)
NO_END = 10**6


@pytest.fixture(scope="module")
def staffed() -> dict[str, pd.DataFrame]:
    return generate(STAFFED)


@pytest.fixture(scope="module")
def coachklas_only() -> dict[str, pd.DataFrame]:
    return generate(COACHKLAS_ONLY)


def _untreated(truth: pd.DataFrame) -> pd.Series:
    return truth["hazard_vsv_untreated"].fillna(truth["hazard_vsv"])


def _absence_before(attendance: pd.DataFrame, week: int) -> pd.Series:
    """Unauthorised share of the scheduled hours in the 4 weeks before ``week``, per student."""
    window = attendance[(attendance["week"] >= week - 4) & (attendance["week"] < week)]
    sums = window.groupby("student_number")[["unauthorised_absence_hours", "scheduled_hours"]].sum()
    return sums["unauthorised_absence_hours"] / sums["scheduled_hours"].where(sums["scheduled_hours"] > 0)


# --- the generator's staff ------------------------------------------------------------------------------


def test_placed_students_have_higher_observed_need_and_higher_true_risk(
    staffed: dict[str, pd.DataFrame],
) -> None:
    placements, attendance, truth = (
        staffed["coachklas_placements"],
        staffed["attendance_weeks"],
        staffed["synthetic_truth"],
    )
    truth = truth.assign(untreated=_untreated(truth))
    assert placements["start_week"].nunique() >= 8
    rounds = []
    for _, group in placements.groupby("start_week"):
        week = int(group["start_week"].iloc[0])
        active = attendance.loc[attendance["week"] == week, "student_number"]
        placed = active.isin(group["student_number"]).to_numpy()
        absence = _absence_before(attendance, week).reindex(active).fillna(0.0).to_numpy()
        risk = (
            truth[truth["week"] == week].set_index("student_number")["untreated"].reindex(active).to_numpy()
        )
        rounds.append(
            {
                "absence_placed": absence[placed].mean(),
                "absence_rest": absence[~placed].mean(),
                "risk_placed": risk[placed].mean(),
                "risk_rest": risk[~placed].mean(),
                # noise: someone not placed had more absence than someone placed
                "overlap": absence[~placed].max() > absence[placed].min(),
            }
        )
    frame = pd.DataFrame(rounds)
    assert (frame["absence_placed"] > 2 * frame["absence_rest"]).all(), frame
    # the weekly hazard of one or two students placed in a round is noisy: most rounds, and on average
    assert (frame["risk_placed"] > frame["risk_rest"]).mean() >= 0.8, frame
    assert frame["risk_placed"].mean() > 3 * frame["risk_rest"].mean(), frame
    assert frame["overlap"].mean() > 0.8, "placement should be likely, not certain, for high need"


@pytest.mark.parametrize("chunk_size", [25_000, 700])
def test_the_capacity_is_never_exceeded_and_is_used(chunk_size: int) -> None:
    config = STAFFED.model_copy(update={"chunk_size": chunk_size, "n_years": 1})
    tables = generate(config)
    placements = tables["coachklas_placements"]
    capacity = coachklas_capacity(config)
    assert capacity.to_dict("records") == [
        {"from_week": 0, "capacity": 30, "reason": capacity.at[0, "reason"]}
    ]
    end = placements["end_week"].fillna(NO_END).to_numpy()
    start = placements["start_week"].to_numpy()
    taken = [int(((start <= w) & (end >= w)).sum()) for w in range(config.n_weeks)]
    assert max(taken) == 30, taken
    assert placements["student_number"].is_unique  # at most one placement per student
    intake_weeks = set(config.coachklas_intake_weeks)
    assert set(placements["start_week"] % 40) <= intake_weeks


def test_chunks_share_the_places_out_exactly() -> None:
    assert chunk_places(30, [700, 700, 700]) == [10, 10, 10]
    assert sum(chunk_places(24, [25_000, 13_000, 400])) == 24
    assert chunk_places(0, [100, 100]) == [0, 0]


def test_placements_end_as_the_student_did(staffed: dict[str, pd.DataFrame]) -> None:
    placements = staffed["coachklas_placements"]
    outcomes = staffed["outcomes"].set_index("student_number")
    assert set(placements["outcome"]) <= set(PLACEMENT_OUTCOMES)
    running = placements["end_week"].isna()
    assert (placements.loc[running, "outcome"] == "stayed").all()
    assert (placements.loc[~running, "outcome"] != "stayed").all()
    ended = placements[~running]
    length = ended["end_week"] - ended["start_week"] + 1
    assert (length >= 1).all() and (length <= 20).all()
    assert (length[ended["outcome"] == "returned"] >= 8).all()
    left = ended[ended["outcome"].isin(["left", "diploma"])]
    assert len(left) > 0
    exit_week = outcomes.loc[left["student_number"], "week"].to_numpy()
    assert (exit_week == left["end_week"].to_numpy()).all()
    how = outcomes.loc[left["student_number"], "outcome"].to_numpy()
    assert ((left["outcome"].to_numpy() == "diploma") == (how == "graduated")).all()
    assert placements["reason"].str.startswith("Bij de intake: ").all()


def test_mentor_actions_follow_need_and_carry_notes_dates_and_outcomes(
    staffed: dict[str, pd.DataFrame],
) -> None:
    actions, attendance = staffed["actions"], staffed["attendance_weeks"]
    types = cached_action_types()
    calendar = cached_school_calendar()
    assert set(actions["action"]) <= set(types.codes)
    share = len(actions) / len(attendance)
    assert 0.005 < share < 0.05, f"{share:.3f} actions per student-week: a small share"
    assert actions["note"].str.len().gt(10).all()
    follow_up = {t.code: t.follow_up for t in types.action_types}
    follows = actions["action"].map(follow_up).astype(bool)
    assert actions.loc[~follows, "follow_up_on"].eq("").all()
    dated = actions[follows]
    days = pd.to_datetime(dated["follow_up_on"]).dt.date
    mondays = dated["week"].map(lambda w: week_monday(calendar, int(w)))
    assert (days > mondays).all()
    recorded = actions["outcome"].ne("")
    assert set(actions.loc[recorded, "outcome"]) <= set(ACTION_OUTCOMES)
    assert (actions.loc[recorded, "outcome_week"] >= actions.loc[recorded, "week"]).all()
    assert actions.loc[~recorded, "outcome_week"].isna().all()
    assert 0.4 < recorded[follows].mean() < 0.95
    # higher need, more actions: students with an action had more absence that month than the rest
    week = 30
    absence = _absence_before(attendance, week)
    acted = actions.loc[actions["week"] == week, "student_number"]
    assert absence.reindex(acted).mean() > 1.5 * absence.drop(acted, errors="ignore").mean()


def test_with_effect_zero_the_hazard_is_the_untreated_one_and_nothing_else_changes() -> None:
    zero = STAFFED.model_copy(
        update={
            "n_years": 1,
            "coachklas_effect": MeasureEffect(log_hazard=0.0, weeks_after=10),
            "action_effects": {"conversation": MeasureEffect(log_hazard=0.0, weeks_after=6)},
        }
    )
    treated = generate(zero)
    truth = treated["synthetic_truth"]
    touched = truth["hazard_vsv_untreated"].notna()
    assert touched.sum() > 1000
    assert (truth.loc[touched, "hazard_vsv"] == truth.loc[touched, "hazard_vsv_untreated"]).all()
    # With no effect the staff change nothing but their own tables and the untreated column.
    untouched = generate(zero.model_copy(update={"coachklas_places_per_1000": 0.0, "action_share": 0.0}))
    assert untouched["synthetic_truth"]["hazard_vsv_untreated"].isna().all()
    assert len(untouched["coachklas_placements"]) == len(untouched["actions"]) == 0
    for name, frame in treated.items():
        if name in ("coachklas_placements", "actions"):
            continue
        if name == "synthetic_truth":
            frame = frame.drop(columns="hazard_vsv_untreated")
            other = untouched[name].drop(columns="hazard_vsv_untreated")
        else:
            other = untouched[name]
        pd.testing.assert_frame_equal(frame, other, obj=name)


def test_a_negative_effect_lowers_the_hazard_during_the_measure_and_after(
    coachklas_only: dict[str, pd.DataFrame],
) -> None:
    effect = COACHKLAS_ONLY.coachklas_effect
    truth = coachklas_only["synthetic_truth"].set_index(["student_number", "week"]).sort_index()
    placements = coachklas_only["coachklas_placements"]
    returned = placements[placements["outcome"] == "returned"]
    assert len(returned) > 20
    rows = zip(
        returned["student_number"].tolist(),
        returned["start_week"].tolist(),
        returned["end_week"].tolist(),
        strict=True,
    )
    for number, start, end in rows:
        student = truth.loc[number]
        during = student.loc[start:end]
        after = student.loc[end + 1 : end + effect.weeks_after]
        later = student.loc[end + effect.weeks_after + 1 :]
        before = student.loc[: start - 1]
        for weeks in (during, after):
            assert (weeks["hazard_vsv"] < weeks["hazard_vsv_untreated"]).all()
            ratio = weeks["hazard_vsv"] / weeks["hazard_vsv_untreated"]
            assert np.allclose(ratio, effect.factor)
        assert before["hazard_vsv_untreated"].isna().all() and later["hazard_vsv_untreated"].isna().all()


def test_the_staff_change_other_students_data_only_through_the_treated_hazard(
    staffed: dict[str, pd.DataFrame],
) -> None:
    """The staff draw from a stream of their own, and the simulation draws one value per student each week:
    students no measure touched have the very same answers, attendance, results and exit without staff."""
    without = generate(NO_STAFF)
    truth = staffed["synthetic_truth"]
    touched = set(truth.loc[truth["hazard_vsv_untreated"].notna(), "student_number"])
    assert len(touched) > 100
    for name in ("questionnaire_answers", "attendance_weeks", "progress_results", "outcomes"):
        mine = staffed[name][~staffed[name]["student_number"].isin(touched)].reset_index(drop=True)
        theirs = without[name][~without[name]["student_number"].isin(touched)].reset_index(drop=True)
        pd.testing.assert_frame_equal(mine, theirs, obj=name)
    for name in ("students", "audit_attributes", "identities"):
        pd.testing.assert_frame_equal(staffed[name], without[name], obj=name)
    # The touched students too: the same draws in every week both runs hold (until the earlier exit).
    key = ["student_number", "week"]
    both = staffed["attendance_weeks"].merge(without["attendance_weeks"], on=key, suffixes=("", "_without"))
    for column in ("present_hours", "authorised_absence_hours", "unauthorised_absence_hours"):
        assert (both[column] == both[f"{column}_without"]).all()
    # and the measures kept students from leaving as vsv
    vsv = (staffed["outcomes"]["outcome"] == "vsv").sum()
    assert vsv < (without["outcomes"]["outcome"] == "vsv").sum()


def test_unknown_action_effects_are_refused() -> None:
    config = SMALL_STAFFED.model_copy(update={"action_effects": {"koffie": MeasureEffect(log_hazard=-1.0)}})
    with pytest.raises(ValueError, match="koffie"):
        generate(config)
    with pytest.raises(ValueError, match="coachklas_intake_weeks"):
        GeneratorConfig(coachklas_intake_weeks=(3, 40))


# --- the history import ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def small_staffed_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("staffed") / "school"
    counts = write_generated(SMALL_STAFFED, out)
    assert counts["coachklas_placements"] > 0 and counts["actions"] > 0
    assert {p.name for p in (out / "staff").iterdir()} == {f"{t}.csv" for t in HISTORY_TABLES}
    return out


def _with_students(store: Engine, school: Path, questionnaire: Questionnaire) -> None:
    import_files(store, [school / "students.csv"], TEST_KEY, questionnaire)


def _history(store: Engine) -> dict[str, pd.DataFrame]:
    with store.connect() as conn:
        return {t: pd.read_sql(text(f"SELECT * FROM {t} ORDER BY 1"), conn) for t in HISTORY_TABLES}


def _import(store: Engine, folder: Path) -> dict[str, tuple[int, int, int]]:
    reports = import_history(store, folder, TEST_KEY, cached_school_calendar(), cached_action_types())
    return {r.table: (r.rows, r.inserted, r.removed) for r in reports}


def test_the_history_import_is_idempotent_and_replaces_only_its_own_rows(
    store: Engine, small_staffed_dir: Path, questionnaire: Questionnaire, tmp_path: Path
) -> None:
    _with_students(store, small_staffed_dir, questionnaire)
    staff = small_staffed_dir / "staff"
    files = {t: pd.read_csv(staff / f"{t}.csv", dtype=str, keep_default_na=False) for t in HISTORY_TABLES}
    first = _import(store, staff)
    assert {t: r[1] for t, r in first.items()} == {t: len(f) for t, f in files.items()}
    stored = _history(store)
    assert (stored["actions"]["user_name"] == HISTORY_USER).all()
    assert (
        stored["coachklas_placements"]["end_week"].isna().sum()
        == files["coachklas_placements"]["end_week"].eq("").sum()
    )

    again = _import(store, staff)
    assert all(inserted == removed == 0 for _, inserted, removed in again.values()), again
    for table, frame in _history(store).items():
        pd.testing.assert_frame_equal(frame, stored[table], obj=table)

    # A mentor's own action is never touched by a history import.
    with store.begin() as conn:
        student = stored["actions"].at[0, "student_id"]
        conn.execute(
            text(
                "INSERT INTO actions (student_id, week, action, note, user_name, at) "
                "VALUES (:s, 5, 'conversation', 'eigen gesprek', 'mentor1', CURRENT_TIMESTAMP)"
            ),
            {"s": student},
        )
    # The file is the whole history: a row gone is removed, a changed row replaced, the rest kept.
    changed = tmp_path / "changed"
    changed.mkdir()
    actions = files["actions"].iloc[1:].copy()
    actions.loc[actions.index[0], "note"] = "Gesprek verzet naar volgende week."
    actions.to_csv(changed / "actions.csv", index=False)
    report = _import(store, changed)
    assert report == {"actions": (len(files["actions"]) - 1, 1, 2)}
    after = _history(store)
    pd.testing.assert_frame_equal(after["coachklas_placements"], stored["coachklas_placements"])
    mine = after["actions"][after["actions"]["user_name"] == "mentor1"]
    assert mine["note"].tolist() == ["eigen gesprek"]
    kept = set(stored["actions"]["action_id"]) & set(after["actions"]["action_id"])
    assert len(kept) == len(files["actions"]) - 2


def test_store_school_and_the_history_files_store_the_same_rows(
    store: Engine, small_staffed_dir: Path, tmp_path: Path
) -> None:
    """The fixtures' path (frames in memory) and `vsv import-history` (files) are one code path."""
    raw, rest = from_generated(generate(SMALL_STAFFED), TEST_KEY)
    staff = {
        "coachklas_capacity": coachklas_capacity(SMALL_STAFFED),
        "coachklas_placements": rest["coachklas_placements"],
        "actions": rest["actions"],
    }
    store_school(store, raw, rest["audit_attributes"], 0, 0, truth=rest["synthetic_truth"], staff=staff)
    before = _history(store)
    assert len(before["coachklas_placements"]) == len(rest["coachklas_placements"]) > 0
    with store.connect() as conn:
        untreated = conn.execute(
            text("SELECT COUNT(*) FROM synthetic_truth WHERE hazard_vsv_untreated IS NOT NULL")
        ).scalar_one()
    assert untreated == rest["synthetic_truth"]["hazard_vsv_untreated"].notna().sum() > 0
    report = _import(store, small_staffed_dir / "staff")
    assert all(inserted == removed == 0 for _, inserted, removed in report.values()), report
    for table, frame in _history(store).items():
        pd.testing.assert_frame_equal(frame, before[table], obj=table)


def _write(folder: Path, name: str, header: str, *rows: str) -> None:
    folder.mkdir(exist_ok=True)
    (folder / f"{name}.csv").write_text("\n".join([header, *rows]) + "\n", encoding="utf-8")


def test_the_history_import_names_every_problem_and_writes_nothing(
    store: Engine, small_staffed_dir: Path, questionnaire: Questionnaire, tmp_path: Path
) -> None:
    _with_students(store, small_staffed_dir, questionnaire)
    numbers = pd.read_csv(small_staffed_dir / "students.csv")["student_number"].astype(str).tolist()
    a, b = numbers[0], numbers[1]
    bad = tmp_path / "bad"
    _write(bad, "coachklas_capacity", "from_week,capacity", "0,10", "0,12")
    _write(
        bad,
        "coachklas_placements",
        "student_number,start_week,end_week,outcome,reason",
        f"{a},10,5,returned,te vroeg geëindigd",
        "999999,3,12,returned,",
        f"{b},3,12,gebleven,",
        f"{b},20,,returned,",
        f"{a},30,,,",
        f"{a},35,,stayed,",
    )
    _write(
        bad,
        "actions",
        "student_number,week,action,note,follow_up_on,outcome,outcome_week",
        f"{a},10,koffie,,,,",
        f"{a},10,conversation,,2023-01-01,resolved,8",
        f"{a},10,conversation,,31-12-2023,,",
        f"{a},10,conversation,,,klaar,12",
        f"{a},10,conversation,,,resolved,",
        f"{b},abc,note,,,,",
    )
    with pytest.raises(CsvImportError) as caught:
        _import(store, bad)
    message = str(caught.value)
    cap, pla, act = (str(bad / f"{t}.csv") for t in HISTORY_TABLES)
    expected = [
        f"{cap}, line 3, column 'from_week': week 0 has a capacity on an earlier line already",
        f"{pla}, line 2, column 'end_week': the end week 5 is before the start week",
        f"{pla}, line 3, column 'student_number': student is not in the students table",
        f"{pla}, line 4, column 'outcome': 'gebleven' is not one of returned, stayed, left, diploma",
        f"{pla}, line 5, column 'outcome': 'returned' needs an end week",
        f"{pla}, line 7, column 'start_week': overlaps another placement of the student",
        f"{act}, line 2, column 'action': 'koffie' is not a configured action type",
        f"{act}, line 3, column 'outcome_week': the outcome week 8 is before the action's week",
        f"{act}, line 3, column 'follow_up_on': the follow-up date 2023-01-01 is before the action's week",
        f"{act}, line 4, column 'follow_up_on': '31-12-2023' is not a date (write YYYY-MM-DD)",
        f"{act}, line 5, column 'outcome': 'klaar' is not one of resolved, ongoing, referred, student_left",
        f"{act}, line 6, column 'outcome_week': an outcome needs the week it was recorded",
        f"{act}, line 7, column 'week': 'abc' is not a number",
    ]
    for line in expected:
        assert line in message, f"missing: {line}\n{message}"
    assert message.startswith("import refused, nothing was written")
    assert all(len(frame) == 0 for frame in _history(store).values())
    with pytest.raises(CsvImportError, match="no history files found"):
        _import(store, small_staffed_dir)  # the history lives in its staff/ folder


# --- the command ----------------------------------------------------------------------------------------


def test_vsv_import_history_after_the_demo_import(env: Path) -> None:
    runner = CliRunner()
    data_dir = env / "demo"
    generated = runner.invoke(app, ["generate", "--out", str(data_dir), "--students", "300", "--years", "1"])
    assert generated.exit_code == 0, generated.output
    assert "coachklas_placements" in generated.output and "actions" in generated.output
    assert runner.invoke(app, ["db", "upgrade"]).exit_code == 0
    assert runner.invoke(app, ["import", str(data_dir)]).exit_code == 0
    first = runner.invoke(app, ["import-history", str(data_dir / "staff")])
    assert first.exit_code == 0, first.output
    assert "coachklas_placements" in first.output and "0 removed" in first.output
    again = runner.invoke(app, ["import-history", str(data_dir / "staff")])
    assert again.exit_code == 0, again.output
    assert again.output.count("0 new, 0 removed") == len(HISTORY_TABLES)
    refused = runner.invoke(app, ["import-history", str(data_dir)])
    assert refused.exit_code == 2
    assert "no history files found" in refused.output
