"""Monitoring: drift and data quality (Evidently), questionnaire response, performance on matured labels,
fairness (Fairlearn), list stability, and a weekly status with reasons; HTML and JSON reports.

Pure functions, DataFrame in and result out; :func:`monitoring.weekly.monitor_week` wires them for one
week, :func:`monitoring.weekly.list_reports` lists what was written. Nothing runs on import.
"""
