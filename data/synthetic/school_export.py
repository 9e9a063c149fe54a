"""The synthetic college as a college's systems hand it over: ``vsv generate --export-style school``.

The same world as the native export (:func:`data.synthetic.writer.write_generated`, same configuration
and seed), written the way a student-information system exports it:

* Dutch file names and headers, the school's own codes (``Zorg en welzijn``, ``VMBO-GT``, ``M``/``V``,
  ``J``/``N``), semicolon-separated, Windows-1252, decimal commas;
* dates instead of school weeks, through the school calendar (:func:`data.calendar.date_in_week`, which
  the import reads back to the same week): start dates day-first (``4-9-2023``), the rest ISO;
* results per assessment (``Resultaten.csv``) instead of per period: each period result becomes its units,
  each with its credits, passed or not, and a mark, dated on the weekdays of the period's last week (the
  week the generator decides them; earlier dates would tell the model what it could not yet know);
* two signals of the school's own (``Eerdere pogingen``, ``Cijfer vooropleiding``:
  :func:`data.synthetic.generator.school_extras`) as columns of the enrolment file, declared in the
  ``extensions.yaml`` written beside it;
* with ``february_intake_share`` in the configuration, two intakes a year.

Beside the files: ``mapping.yaml`` (the school's names and codes onto the contract, for
``vsv import FOLDER --mapping FOLDER/mapping.yaml``), ``extensions.yaml`` (for ``VSV_EXTENSIONS_CONFIG``)
and, apart, ``namen/`` (the names, with a mapping of their own). The staff's history and the synthetic
truth are not written: a school's export has neither.
"""

from __future__ import annotations

import shutil
from collections.abc import Mapping
from datetime import date
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd
import yaml

from data.calendar import SchoolCalendar, cached_school_calendar, date_in_week
from data.questionnaire import Questionnaire
from data.synthetic import params as P  # noqa: N812
from data.synthetic.generator import SCHOOL_EXTRAS, GeneratorConfig, generate_chunks

SEPARATOR, ENCODING, DECIMAL = ";", "cp1252", ","
DateStyle = Literal["iso", "dutch"]
NAMES_DIR = "namen"
FILES: dict[str, str] = {
    "students": "Inschrijvingen.csv",
    "audit_attributes": "Kenmerken.csv",
    "questionnaire_answers": "Vragenlijst.csv",
    "attendance_weeks": "Verzuim per week.csv",
    "assessment_results": "Resultaten.csv",
    "outcomes": "Uitschrijvingen.csv",
    "identities": "Namen.csv",
}
# Per table: the contract's column -> the school's header.
HEADERS: dict[str, dict[str, str]] = {
    "students": {
        "student_number": "Studentnummer",
        "programme": "Opleiding",
        "sector": "Sector",
        "level": "Niveau",
        "route": "Leerweg",
        "team": "Klas",
        "prior_education": "Vooropleiding",
        "start_week": "Startdatum",
        "age_at_start": "Leeftijd bij start",
        "expected_duration_years": "Opleidingsduur",
        "expected_end_week": "Verwachte einddatum",
        "previous_attempts": "Eerdere pogingen",
        "prior_grade": "Cijfer vooropleiding",
    },
    "audit_attributes": {
        "student_number": "Studentnummer",
        "gender": "Geslacht",
        "migration_background": "Migratieachtergrond",
    },
    "questionnaire_answers": {
        "student_number": "Studentnummer",
        "week": "Datum",
        "item": "Vraag",
        "value": "Antwoord",
    },
    "attendance_weeks": {
        "student_number": "Studentnummer",
        "week": "Week van",
        "scheduled_hours": "Geroosterd",
        "present_hours": "Aanwezig",
        "authorised_absence_hours": "Geoorloofd afwezig",
        "unauthorised_absence_hours": "Ongeoorloofd afwezig",
    },
    "assessment_results": {
        "student_number": "Studentnummer",
        "week": "Datum",
        "assessment": "Onderdeel",
        "credits": "Studiepunten",
        "passed": "Behaald",
        "score": "Cijfer",
    },
    "outcomes": {"student_number": "Studentnummer", "week": "Datum uitschrijving", "outcome": "Reden"},
    "identities": {
        "student_number": "Studentnummer",
        "given_name": "Roepnaam",
        "name_prefix": "Tussenvoegsel",
        "family_name": "Achternaam",
        "email": "E-mail",
    },
}
# Per table and column: the contract's value -> the school's code.
CODES: dict[str, dict[str, dict[str, str]]] = {
    "students": {
        "sector": {
            "techniek": "Techniek",
            "zorg_welzijn": "Zorg en welzijn",
            "economie": "Economie",
            "ict": "ICT",
            "horeca": "Horeca",
            "groen": "Groen",
        },
        "prior_education": {
            "vmbo_bb": "VMBO-BB",
            "vmbo_kb": "VMBO-KB",
            "vmbo_gt": "VMBO-GT",
            "havo": "HAVO",
            "pro": "PrO",
            "vso": "VSO",
            "newcomer": "ISK",
            "mbo": "MBO",
            "zonder_diploma": "Geen diploma",
        },
    },
    "audit_attributes": {
        "gender": {"man": "M", "vrouw": "V", "x": "X"},
        "migration_background": {"geen": "Nederlands", "westers": "Westers", "niet_westers": "Niet-westers"},
    },
    "assessment_results": {"passed": {"1": "J", "0": "N"}},
    "outcomes": {
        "outcome": {
            "vsv": "Voortijdig, zonder diploma",
            "switch": "Overstap andere opleiding",
            "graduated": "Diploma behaald",
            "completed_no_sq": "Afgerond zonder startkwalificatie",
        }
    },
}
EXTENSIONS = {
    "extensions": [
        {
            "name": "previous_attempts",
            "family": "context",
            "domain": "context",
            "description_nl": "eerdere pogingen aan een mbo-opleiding",
            "justification": (
                "A student who started an mbo programme before and stopped is more likely to stop again; "
                "known at enrolment and recorded for every student alike."
            ),
            "monotone": 1,
            "min": 0,
            "max": 10,
        },
        {
            "name": "prior_grade",
            "family": "context",
            "domain": "context",
            "description_nl": "gemiddeld cijfer van de vooropleiding",
            "justification": (
                "The mean mark of the prior education says how ready a student is for the level chosen; "
                "known at enrolment, the same measure for everyone."
            ),
            "fill": 6.5,
            "min": 1,
            "max": 10,
        },
    ]
}


def school_mapping(tables: tuple[str, ...]) -> dict[str, object]:
    """The mapping file (:mod:`data.mapping`) of this export's ``tables``: its file names, headers and
    codes onto the contract's."""
    return {
        "files": {FILES[t]: t for t in tables},
        "columns": {t: {school: ours for ours, school in HEADERS[t].items()} for t in tables},
        "values": {
            t: {
                column: {school: ours for ours, school in codes.items()} for column, codes in CODES[t].items()
            }
            for t in tables
            if t in CODES
        },
    }


def _text(day: date, style: DateStyle) -> str:
    return f"{day.day}-{day.month}-{day.year}" if style == "dutch" else day.isoformat()


def _dates(
    calendar: SchoolCalendar, weeks: pd.Series, weekday: pd.Series | int, style: DateStyle
) -> pd.Series:
    """Each week as a date on ``weekday`` (0 = Monday), ISO or Dutch day-first; computed per distinct pair."""
    days = pd.Series(weekday, index=weeks.index) if isinstance(weekday, int) else weekday
    key = weeks.astype("int64") * 5 + days.astype("int64")  # one number per (week, weekday)
    texts = {int(k): _text(date_in_week(calendar, int(k) // 5, int(k) % 5), style) for k in pd.unique(key)}
    return key.map(texts).astype("object")


def _coded(frame: pd.DataFrame, table: str) -> pd.DataFrame:
    out = frame.copy()
    for column, codes in CODES.get(table, {}).items():
        out[column] = out[column].astype(str).map(codes).fillna(out[column].astype(str))
    return out.rename(columns=HEADERS[table])[list(HEADERS[table].values())]


def assessments_from_periods(progress: pd.DataFrame, rng: np.random.Generator) -> pd.DataFrame:
    """Each period result as its units (:data:`data.synthetic.params.UNITS_PER_PERIOD`, each worth
    ``CREDITS_PER_UNIT``): the first ``units - units_failed`` passed. Dated on a weekday of the result's
    week; marks 5.5-9.0 when passed, 2.5-5.4 when not."""
    units = P.UNITS_PER_PERIOD
    rows = progress.loc[progress.index.repeat(units)].reset_index(drop=True)
    unit = np.tile(np.arange(units), len(progress))
    passed = unit < (units - rows["units_failed"].to_numpy(dtype=np.int64))
    mark = np.where(passed, rng.uniform(5.5, 9.0, len(rows)), rng.uniform(2.5, 5.4, len(rows)))
    return pd.DataFrame(
        {
            "student_number": rows["student_number"],
            "week": rows["week"],
            "weekday": rng.integers(0, 5, len(rows)),
            "assessment": [
                f"Periode {p} - onderdeel {u + 1}" for p, u in zip(rows["period"], unit, strict=True)
            ],
            "credits": float(P.CREDITS_PER_UNIT),
            "passed": passed.astype(int).astype(str),
            "score": mark.round(1),
        }
    )


def _school_tables(
    chunk: Mapping[str, pd.DataFrame], calendar: SchoolCalendar, rng: np.random.Generator
) -> dict[str, pd.DataFrame]:
    """One generated chunk in the school's shape, by contract table."""
    students = chunk["students"].merge(chunk[SCHOOL_EXTRAS], on="student_number", how="left")
    students["start_week"] = _dates(calendar, students["start_week"], 0, "dutch")
    students["expected_end_week"] = _dates(calendar, students["expected_end_week"], 4, "iso")
    answers = chunk["questionnaire_answers"].copy()
    answers["week"] = _dates(calendar, answers["week"], 2, "iso")
    attendance = chunk["attendance_weeks"].copy()
    attendance["week"] = _dates(calendar, attendance["week"], 0, "iso")
    assessments = assessments_from_periods(chunk["progress_results"], rng)
    assessments["week"] = _dates(calendar, assessments["week"], assessments.pop("weekday"), "iso")
    outcomes = chunk["outcomes"].copy()
    outcomes["week"] = _dates(calendar, outcomes["week"], 4, "iso")
    raw = {
        "students": students,
        "audit_attributes": chunk["audit_attributes"],
        "questionnaire_answers": answers,
        "attendance_weeks": attendance,
        "assessment_results": assessments,
        "outcomes": outcomes,
        "identities": chunk["identities"],
    }
    return {table: _coded(frame, table) for table, frame in raw.items()}


def write_school_export(
    config: GeneratorConfig,
    out_dir: Path,
    questionnaire: Questionnaire | None = None,
    calendar: SchoolCalendar | None = None,
    progress: bool = False,
) -> dict[str, int]:
    """Generate the college and write it in the school's shape (see the module docstring) into ``out_dir``,
    replacing it only when complete; returns rows per contract table. The calendar must cover the
    configured years (the weekly rows are dated through it)."""
    school_calendar = calendar or cached_school_calendar()
    if config.n_weeks - 1 > school_calendar.last_week:
        raise ValueError(
            f"the school-style export dates every week through the school calendar, which covers "
            f"{school_calendar.covered}; {config.n_years} school years need weeks 0-{config.n_weeks - 1}"
        )
    out_dir = Path(out_dir)
    tmp = out_dir.with_name(out_dir.name + ".partial")
    if tmp.exists():
        shutil.rmtree(tmp)
    (tmp / NAMES_DIR).mkdir(parents=True)
    counts = dict.fromkeys(FILES, 0)
    for chunk_no, chunk in enumerate(generate_chunks(config, questionnaire, progress=progress)):
        rng = np.random.default_rng([config.seed, chunk_no, 0x7363686F6F6C])  # "school"
        for table, frame in _school_tables(chunk, school_calendar, rng).items():
            folder = tmp / NAMES_DIR if table == "identities" else tmp
            frame.to_csv(
                folder / FILES[table],
                sep=SEPARATOR,
                decimal=DECIMAL,
                encoding=ENCODING,
                index=False,
                mode="a",
                header=chunk_no == 0,
            )
            counts[table] += len(frame)
    main = tuple(t for t in FILES if t != "identities")
    _write_yaml(tmp / "mapping.yaml", school_mapping(main))
    _write_yaml(tmp / NAMES_DIR / "mapping.yaml", school_mapping(("identities",)))
    _write_yaml(tmp / "extensions.yaml", EXTENSIONS)
    (tmp / "GENERATOR_CONFIG.json").write_text(config.model_dump_json(indent=2), encoding="utf-8")
    if out_dir.exists():
        shutil.rmtree(out_dir)
    tmp.rename(out_dir)
    return counts


def _write_yaml(path: Path, content: Mapping[str, object]) -> None:
    path.write_text(
        yaml.safe_dump(dict(content), sort_keys=False, allow_unicode=True, width=110), encoding="utf-8"
    )
