"""Benchmarks run by hand (not tests): each module prints its figures."""
