"""WBO Console benchmarks: ``python -m bench [names...]`` (see ``bench/README.md``).

Kept empty on purpose: the measured child processes are started as ``python -m
bench.<child>``, so anything imported here would be charged to every measurement.
"""
