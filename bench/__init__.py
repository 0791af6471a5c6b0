"""Benchmarks that print figures; never part of the test run (run them as scripts, see the Makefile)."""
