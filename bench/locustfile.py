"""Locust scenario for the mixed weekly traffic of Vroegsignaal (run by :func:`bench.load.run_locust`).

Each virtual user is one mentor (two mentors share every team, so their writes meet) and paces itself with
``constant_throughput``: users x rate per user = the offered rate. The mix per user: the team's risk list
(4), one student's stored score (3), recording an action for a student (2), and an on-demand score with
explanation under the data team's token (1). A response with another status than the expected one is a
failure, with its status and message.

``OnDemandScorer`` is the closed loop of ``bench/bench_serving.py``: only on-demand scores, each user sending
the next one as soon as the previous one answered (no pacing). :func:`bench.load.run_locust` and
:func:`bench.load.run_closed_loop` name the class to run on Locust's command line.

The plan (tokens, teams, students, a feature row) comes from the JSON file named by ``VSV_LOAD_PLAN``;
every failure of the run is written as JSON to ``VSV_LOAD_ERRORS`` when Locust quits.
"""

from __future__ import annotations

import itertools
import json
import os
import random
import uuid
from pathlib import Path
from typing import Any

from locust import FastHttpUser, constant, constant_throughput, events, task
from locust.env import Environment

PLAN: dict[str, Any] = json.loads(Path(os.environ["VSV_LOAD_PLAN"]).read_text(encoding="utf-8"))
RATE_PER_USER = float(os.environ.get("VSV_LOAD_RATE_PER_USER", "nan"))  # NaN: closed loop, no pacing
ACTIONS = ("conversation", "referral_onderwijsmakelaar", "referral_coachklas", "nothing_needed")
ERRORS_FILE = os.environ.get("VSV_LOAD_ERRORS")
_next_user = itertools.count()
_environment: list[Environment] = []


def _keep_environment(environment: Environment, **_: Any) -> None:
    _environment.append(environment)


def _save_errors(**_: Any) -> None:
    """Every failure of the whole run (Locust's own CSV only has what was flushed before the stop)."""
    if ERRORS_FILE and _environment:
        errors = _environment[0].stats.serialize_errors()
        Path(ERRORS_FILE).write_text(json.dumps(list(errors.values())), encoding="utf-8")


events.init.add_listener(_keep_environment)  # type: ignore[no-untyped-call]
events.quit.add_listener(_save_errors)  # type: ignore[no-untyped-call]


class Mentor(FastHttpUser):
    """A mentor on the service (FastHttpUser: a cheap client, so the load generator leaves the CPU to the
    service it shares the machine with)."""

    wait_time = constant_throughput(RATE_PER_USER)

    def on_start(self) -> None:
        number = next(_next_user)
        self.mentor: dict[str, Any] = PLAN["mentors"][number % len(PLAN["mentors"])]
        self.rng = random.Random(number)
        self.auth = {"Authorization": f"Bearer {self.mentor['token']}"}

    def _expect(self, response: Any, status: int) -> None:
        if response.status_code != status:
            response.failure(f"{response.status_code}: {response.text[:200]}")
        else:
            response.success()

    @task(4)
    def risk_list(self) -> None:
        path = f"/api/v1/risk-lists/{self.mentor['team']}/{PLAN['week']}"
        with self.client.get(path, headers=self.auth, name="risk list", catch_response=True) as r:
            self._expect(r, 200)

    @task(3)
    def student_score(self) -> None:
        student = self.rng.choice(self.mentor["students"])
        path = f"/api/v1/students/{student}/scores/{PLAN['week']}"
        with self.client.get(path, headers=self.auth, name="student score", catch_response=True) as r:
            self._expect(r, 200)

    @task(2)
    def record_action(self) -> None:
        student = self.rng.choice(self.mentor["students"])
        body = {"week": PLAN["week"], "action": self.rng.choice(ACTIONS), "note": f"load {uuid.uuid4()}"}
        path = f"/api/v1/students/{student}/actions"
        with self.client.post(
            path, json=body, headers=self.auth, name="record action", catch_response=True
        ) as r:
            self._expect(r, 201)

    @task(1)
    def score_on_demand(self) -> None:
        _score_on_demand(self)


def _score_on_demand(user: FastHttpUser) -> None:
    """One on-demand score with explanation of the plan's feature row, under the data team's token."""
    body = {"features": PLAN["features"]}
    headers = {"Authorization": f"Bearer {PLAN['data_token']}"}
    with user.client.post(
        "/api/v1/scores", json=body, headers=headers, name="on-demand score", catch_response=True
    ) as r:
        if r.status_code != 200:
            r.failure(f"{r.status_code}: {r.text[:200]}")
        else:
            r.success()


class OnDemandScorer(FastHttpUser):
    """Closed loop (as wrk runs): on-demand scores only, the next sent as soon as the previous answered."""

    wait_time = constant(0)

    @task
    def score_on_demand(self) -> None:
        _score_on_demand(self)
