"""The product's one vocabulary: the codes the data contract accepts, the bands the model gives, and the
Dutch words staff read for each. Templates, CSS classes, the contract, the generator, the features and the
model all take their words from here; nothing else defines them.
"""

from __future__ import annotations

# What every enumeration of the data contract accepts besides its listed codes: a value the school has
# that is none of them (``overig``) and a value the school does not know (``onbekend``). The generator
# draws from the listed codes only; real exports bring the other two (issue 17).
OTHER, UNKNOWN = "overig", "onbekend"
OTHER_UNKNOWN_NL = {OTHER: "overig", UNKNOWN: "onbekend"}

LEVELS = (1, 2, 3, 4)
LEVEL_NL = {1: "entree (niveau 1)", 2: "niveau 2", 3: "niveau 3", 4: "niveau 4"}

# The regional yearly vsv targets 2025-2029 per level (shared/DOMAIN.md; national figures are similar): the
# figures a college compares its own yearly rates with, and the rates the synthetic school is calibrated to.
REGIONAL_VSV_TARGETS = {1: 0.20, 2: 0.085, 3: 0.045, 4: 0.040}

ROUTES = ("BOL", "BBL")
ROUTE_NL = {"BOL": "BOL (school met stages)", "BBL": "BBL (werken en leren)", UNKNOWN: "onbekend"}
ROUTE_CODES = (*ROUTES, UNKNOWN)  # a route is BOL or BBL: "overig" does not exist

SECTORS = ("techniek", "zorg_welzijn", "economie", "ict", "horeca", "groen")
SECTOR_NL = {
    "techniek": "techniek",
    "zorg_welzijn": "zorg en welzijn",
    "economie": "economie",
    "ict": "ICT",
    "horeca": "horeca",
    "groen": "groen",
    **OTHER_UNKNOWN_NL,
}
SECTOR_CODES = (*SECTORS, OTHER, UNKNOWN)

PRIOR_EDUCATION = ("vmbo_bb", "vmbo_kb", "vmbo_gt", "havo", "pro", "vso", "newcomer", "mbo", "zonder_diploma")
PRIOR_EDUCATION_NL = {
    "vmbo_bb": "vmbo basisberoepsgerichte leerweg",
    "vmbo_kb": "vmbo kaderberoepsgerichte leerweg",
    "vmbo_gt": "vmbo gemengde of theoretische leerweg",
    "havo": "havo",
    "pro": "praktijkonderwijs",
    "vso": "voortgezet speciaal onderwijs",
    "newcomer": "nieuwkomer (Nederlands als tweede taal)",
    "mbo": "eerdere mbo-opleiding",
    "zonder_diploma": "zonder diploma",
    **OTHER_UNKNOWN_NL,
}
PRIOR_EDUCATION_CODES = (*PRIOR_EDUCATION, OTHER, UNKNOWN)

# How an enrolment ended. ``completed_no_sq``: the programme was completed without a startkwalificatie
# (exams failed, or an entree diploma, which is not one) and the student left education: by the
# definition of vsv (shared/DOMAIN.md) that is leaving without a startkwalificatie, so the label counts it
# as vsv (:data:`VSV_OUTCOMES`). A student who goes on to another programme is a switch.
COMPLETED_NO_SQ = "completed_no_sq"
OUTCOMES = ("vsv", "switch", "graduated", COMPLETED_NO_SQ)
VSV_OUTCOMES = ("vsv", COMPLETED_NO_SQ)
OUTCOME_NL = {
    "vsv": "voortijdig vertrokken zonder startkwalificatie",
    "switch": "overgestapt naar een andere opleiding",
    "graduated": "diploma gehaald",
    COMPLETED_NO_SQ: "opleiding afgerond zonder startkwalificatie, daarna vertrokken",
}

# Coachklas intake decisions (stored codes) and how staff read them.
DECISION_PLACED, DECISION_NOT_PLACED, DECISION_LATER = "placed", "not_placed", "later"
DECISIONS = (DECISION_PLACED, DECISION_NOT_PLACED, DECISION_LATER)
DECISION_NL = {
    DECISION_PLACED: "Geplaatst",
    DECISION_NOT_PLACED: "Niet geplaatst",
    DECISION_LATER: "Later opnieuw bekijken",
}

# What came of a mentor's action (recorded later), and how a coachklas placement ended.
ACTION_OUTCOMES = ("resolved", "ongoing", "referred", "student_left")
ACTION_OUTCOME_NL = {
    "resolved": "opgelost",
    "ongoing": "loopt nog",
    "referred": "doorverwezen",
    "student_left": "student gestopt",
}
PLACEMENT_OUTCOMES = ("returned", "stayed", "left", "diploma")
PLACEMENT_OUTCOME_NL = {
    "returned": "terug in de klas",
    "stayed": "gebleven",
    "left": "gestopt",
    "diploma": "diploma gehaald",
}
# The measure name of the coachklas in `vsv effect` (the other measures are the configured action types).
MEASURE_COACHKLAS = "coachklas"

# Audit-only attributes: used to audit the model for fairness, never as inputs or reasons.
GENDERS = ("man", "vrouw", "x")
MIGRATION = ("geen", "westers", "niet_westers")
# Each audit attribute may be unknown on its own (a school that records gender but not a migration
# background): "onbekend", reported by the fairness audit as a group of its own. Gender's "x" already
# covers a value other than man or vrouw.
GENDER_CODES = (*GENDERS, UNKNOWN)
MIGRATION_CODES = (*MIGRATION, UNKNOWN)

BAND_LOW, BAND_ELEVATED, BAND_HIGH, BAND_INSUFFICIENT = "laag", "verhoogd", "hoog", "onvoldoende gegevens"
BANDS = (BAND_HIGH, BAND_ELEVATED, BAND_LOW, BAND_INSUFFICIENT)
# The CSS class of each band (serving/web/static: .band-hoog, .band-verhoogd, .band-laag, .band-onbekend).
BAND_CSS = {BAND_HIGH: "hoog", BAND_ELEVATED: "verhoogd", BAND_LOW: "laag"}
BAND_CSS_UNKNOWN = "onbekend"


def band_css(band: str | None) -> str:
    """The CSS class of a band (``onbekend`` for no band or too little data)."""
    return BAND_CSS.get(band or "", BAND_CSS_UNKNOWN)


# The audit attributes and their groups in words (fairness tables, the monitoring report, the model card).
ATTRIBUTE_NL: dict[str, str] = {
    "gender": "geslacht",
    "migration_background": "migratieachtergrond",
    "level": "niveau",
    "age_group": "leeftijdsgroep",
}
GROUP_NL: dict[str, str] = {"niet_westers": "niet-westers", UNKNOWN: "onbekend"}
