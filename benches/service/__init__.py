"""What tracing costs a real web service: the service benchmark (``make bench-service``).

``python -m benches.service`` starts, on loopback, an untraced downstream (``downstream``), an agent
sink (``agent_sink``) and the service under test (``app_flask`` on gunicorn, ``app_starlette`` on
uvicorn) once per tracer variant, and measures the service process: instructions per request under
callgrind, and CPU time, throughput, latency and memory under ``wrk`` load. ``run`` is the driver.
"""
