"""The risk model as one artefact (pipeline + calibration + explainer + reason texts) and registry access."""
