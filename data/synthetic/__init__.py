"""Synthetic mbo cohorts with known true risk, and the scenarios that change their world."""

from data.synthetic.generator import GeneratorConfig, generate, generate_chunks
from data.synthetic.oracle import oracle_risk

__all__ = ["GeneratorConfig", "generate", "generate_chunks", "oracle_risk"]
