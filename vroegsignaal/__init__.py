"""Vroegsignaal: early warning for dropout risk (vsv) in Dutch mbo.

This package holds what every room shares: settings and the `vsv` command line.
"""
