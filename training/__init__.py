"""Training: temporal splits, fit, evaluation against the oracle and baselines, model card, MLflow."""
