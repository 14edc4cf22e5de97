"""Benchmarks and the failure trials shared with the tests (``make bench``, ``make bench-quick``).

``run.py`` measures the project's speed and memory goals on this machine and writes them to
BENCHMARKS.md; ``crash.py`` and ``flood.py`` hold the crash-consistency
trials and the output-flood runs that the tests also use, so the figures in
BENCHMARKS.md and the assertions in ``tests/`` come from the same code.
"""
