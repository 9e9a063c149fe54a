"""Synthetic mbo cohorts with known true risk, and the scenarios that change their world."""

from data.synthetic.generator import GeneratorConfig, generate, generate_chunks, generate_states
from data.synthetic.oracle import ORACLE_FUTURE, oracle_future_column, oracle_future_risk, oracle_risk
from data.synthetic.present_oracle import ORACLE_PRESENT, oracle_present, present_oracle_column

__all__ = [
    "ORACLE_FUTURE",
    "ORACLE_PRESENT",
    "GeneratorConfig",
    "generate",
    "generate_chunks",
    "generate_states",
    "oracle_future_column",
    "oracle_future_risk",
    "oracle_present",
    "oracle_risk",
    "present_oracle_column",
]
