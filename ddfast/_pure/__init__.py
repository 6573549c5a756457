"""Pure-Python twins of the compiled modules in ``src/``: the readable specification of each."""
