"""Fixed parameters of the synthetic world, with their sources.

Rates are taken from ``shared/DOMAIN.md`` (regional vsv targets 2025-2029). The level intercepts were
calibrated with :func:`data.synthetic.calibrate.calibrate_intercepts` so that the yearly vsv rate per level
of a baseline population matches :data:`TARGET_YEARLY_VSV`; rerun it after changing the hazard model.
"""

from __future__ import annotations

import numpy as np

from data.questionnaire import LatentName

# The vocabulary is the contract's (data/vocabulary.py); re-exported for the generator's `P.` names.
from data.vocabulary import GENDERS as GENDERS
from data.vocabulary import MIGRATION as MIGRATION
from data.vocabulary import PRIOR_EDUCATION as PRIOR_EDUCATION
from data.vocabulary import REGIONAL_VSV_TARGETS
from data.vocabulary import SECTORS as SECTORS

LEVELS = (1, 2, 3, 4)  # 1 = entree
LEVEL_NAMES = {1: "entree", 2: "niveau 2", 3: "niveau 3", 4: "niveau 4"}
LEVEL_SHARES = np.array([0.06, 0.22, 0.27, 0.45])
DURATION_YEARS = {1: 1, 2: 2, 3: 3, 4: 3}
BBL_SHARE = {1: 0.12, 2: 0.33, 3: 0.28, 4: 0.12}
TARGET_YEARLY_VSV = REGIONAL_VSV_TARGETS
TARGET_YEARLY_SWITCH = 0.06

SECTOR_SHARES = np.array([0.25, 0.25, 0.20, 0.10, 0.10, 0.10])
SECTOR_MALE_SHARE = np.array([0.88, 0.15, 0.50, 0.85, 0.55, 0.50])
PROGRAMMES = {
    "techniek": ("Elektrotechniek", "Installatietechniek", "Bouw en infra"),
    "zorg_welzijn": ("Verzorgende", "Pedagogisch werk", "Maatschappelijke zorg"),
    "economie": ("Commercie", "Logistiek", "Secretariaat"),
    "ict": ("Software development", "ICT-support"),
    "horeca": ("Kok", "Gastheer-gastvrouw"),
    "groen": ("Dierverzorging", "Hoveniers"),
}

# Rows: level 1..4; columns in the order of PRIOR_EDUCATION.
PRIOR_BY_LEVEL = np.array(
    [
        [0.22, 0.00, 0.00, 0.00, 0.22, 0.14, 0.22, 0.00, 0.20],
        [0.52, 0.14, 0.02, 0.00, 0.05, 0.06, 0.08, 0.13, 0.00],
        [0.03, 0.47, 0.25, 0.03, 0.00, 0.03, 0.04, 0.15, 0.00],
        [0.00, 0.10, 0.64, 0.12, 0.00, 0.01, 0.03, 0.10, 0.00],
    ]
)
NON_WESTERN_BY_LEVEL = {1: 0.35, 2: 0.28, 3: 0.20, 4: 0.16}

# The latent state: 0 wellbeing, 1 fit with the programme, 2 personal problems, 3 pull of paid work.
LATENT: tuple[LatentName, ...] = ("wellbeing", "fit", "problems", "work_pull")
PHI = 0.9
SHOCK_SD = 0.25
LIFE_EVENT_RATE = 0.008

HOURS_BOL = 24
HOURS_BBL = 8
UNITS_PER_PERIOD = 5
CREDITS_PER_UNIT = 3

# Weekly vsv hazard: log h = intercept[level] + coefficients below (see generator._hazards).
VSV_INTERCEPT = {1: -7.404, 2: -8.271, 3: -8.534, 4: -8.377}
SWITCH_INTERCEPT = -7.1
# Tuned so that students with several problems at the start of a year leave as vsv about four times as
# often that year as students without (DOMAIN.md); the weekly hazard factor is larger because states change.
MULTI_PROBLEM_FACTOR = 6.0

# Safeguarding answers. A zorgteam handles tens of new signals a week, not thousands (DOMAIN.md), so the
# alarming answers are rare: about 0.3% of respondents a week ask to talk (about 7 a week at a college
# of 2,500), more often with personal problems and low wellbeing; with the bottom answers below, about 0.75%
# of respondents a week raise a zorgmelding (about 18 a week). Measured by `python -m bench.bench_zorg`
# (the answer-rate table). The talk intercept was -3.2 (7% a week), which flooded the queue.
TALK_INTERCEPT = -6.4
# The bottom answer of a scale (1: "heel slecht") needs a more extreme state than the other answers: the cut
# point between 1 and 2 lies this much lower than the even cut points (without it 7-8% of respondents
# answered 1 on wellbeing and on home each week, and each such answer raises a zorgmelding).
BOTTOM_CUT_SHIFT = 1.5

# --- Staff: the coachklas and the mentors' actions (data/synthetic/staff.py) ----------------------------
# The observed need index the staff act on is built only from what the school sees (never the latent state
# or the true hazard): unauthorised absence over the last 4 weeks (share of scheduled hours), the streak of
# whole weeks absent, the student's latest questionnaire answers (how worrying, 0-1, and "wil praten"),
# and the credits deficit of the school year. Weights put each signal on a comparable footing; the centre
# makes a typical student's index about 0.
NEED_WEIGHTS = {"absence": 5.0, "streak": 0.35, "answers": 4.0, "talk": 1.0, "credits": 2.0}
NEED_STREAK_CAP = 4
NEED_CENTRE = {"absence": 0.05, "answers": 0.42, "credits": 0.15}
# Answers of a student who never answered count as this worrying (the middle of the scale).
NEED_ANSWERS_UNKNOWN = 0.5
# Noise on the need index when the coordinator ranks candidates (the same scale as the index): people
# weigh what they see differently, so placement is likely, not certain, for high need.
NEED_NOISE_SD = 1.0
# Mentor actions: the log-odds of an action rise with the need index by this much per unit.
ACTION_NEED_SLOPE = 0.7
# Relative frequency of each action type (codes of data/action_types.yaml; a configured type not listed
# here gets ACTION_WEIGHT_OTHER), and how the signals shift it.
ACTION_WEIGHTS = {
    "conversation": 0.40,
    "contact_parents": 0.08,
    "referral_zorgteam": 0.06,
    "referral_smw": 0.04,
    "referral_onderwijsmakelaar": 0.04,
    "referral_coachklas": 0.03,
    "absence_report": 0.04,
    "note": 0.22,
    "nothing_needed": 0.09,
}
ACTION_WEIGHT_OTHER = 0.02
# Under 18 the mentor contacts the parents more often; with 16 hours of unauthorised absence in 4 weeks
# (under 18, the legal reporting threshold) or 4 weeks absent in a row the mentor reports it; worrying
# answers or "wil praten" send a student to the zorgteam or school social work.
PARENTS_UNDER_18_FACTOR = 3.0
ABSENCE_REPORT_FACTOR = 12.0
ZORG_FACTOR = 3.0
LEGAL_HOURS_4_WEEKS = 16
LEGAL_WEEKS_ABSENT = 4
WORRYING_ANSWERS = 0.6
# Follow-up: 1-3 weeks later, on a weekday. Outcome: recorded 1-6 weeks after the action, sometimes never.
FOLLOW_UP_WEEKS = (1, 3)
OUTCOME_DELAY_WEEKS = (1, 6)
NO_OUTCOME_SHARE = 0.15
# Outcome codes (data.vocabulary.ACTION_OUTCOMES) of an action that is followed up, for referrals and for
# the other types; "student_left" when the student left before the outcome was recorded.
OUTCOME_SHARES_REFERRAL = {"resolved": 0.30, "ongoing": 0.20, "referred": 0.50}
OUTCOME_SHARES_OTHER = {"resolved": 0.60, "ongoing": 0.28, "referred": 0.12}
