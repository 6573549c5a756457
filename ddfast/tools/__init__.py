"""ddfast's tools, apart from the tracer's API: the ``ddfast`` command (``cli``: inspect headers,
compare implementations, the demo), ``ddfast-run`` (``run`` and the ``bootstrap`` it puts on
``PYTHONPATH``), and the per-request benchmark (``request_bench``) the command and ``benches/`` share."""
