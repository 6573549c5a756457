"""Compiled twins of ``ddfast._pure`` (built from ``src/*.pyx``); absent in a pure-Python install."""
