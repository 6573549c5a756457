"""What a test run on a free-threaded CPython (3.13t, 3.14t) leaves out, and why: the one list that the
matrix's ft leg and the release configuration (cibuildwheel's free-threaded wheels) both read.

Some test dependencies have no free-threaded build (neither a wheel for it nor a source build that
works there): they are not installed, and the tests that need them are left out by name.

    python .ci/freethreaded.py requirements   the test extras of pyproject.toml less those dependencies
    python .ci/freethreaded.py pip-args       pip's options for them: --prefer-binary (a package whose
                                              newest release is compiled without a free-threaded wheel,
                                              as hypothesis, comes as its newest pure-Python release),
                                              and --only-binary for the packages named in ONLY_BINARY
    python .ci/freethreaded.py pytest-args [CHECKOUT]
                                              --deselect/--ignore arguments for the tests that need them
    python .ci/freethreaded.py why            what is left out and why, for the log
"""

import pathlib
import re
import sys
import tomllib

# dependency -> why it cannot be installed on a free-threaded CPython
SKIP_DEPS = {
    "ddtrace": "compiled (C, C++, Rust) with no free-threaded wheel; the behaviour reference of the differential tests",
    "gevent": "compiled with no free-threaded wheel, and greenlet does not support free threading",
    "ddapm-test-agent": "needs grpcio, which has no free-threaded wheel (its source build needs C++ and takes long)",
    "confluent-kafka": "no free-threaded wheel for 3.13t (its source build needs librdkafka's headers)",
    "aiokafka": "compiled with no free-threaded wheel",
    "grpcio": "no free-threaded wheel (its source build needs C++ and takes long)",
    "moto": "its server needs cryptography, whose cffi does not build for free-threaded 3.13",
}

# compiled packages taken only as wheels: pip then picks the newest release that has a free-threaded wheel
# (fastapi's pydantic pins a pydantic-core whose newest release may have none, and needs Rust to build)
ONLY_BINARY = ("pydantic-core",)

# test file or node id -> the dependency it needs
LEFT_OUT = {
    # import ddtrace at the top: the differential tests against ddtrace, the encoders' comparison with
    # ddtrace's encoders, ddtrace patched by ddfast
    "tests/test_encoding.py": "ddtrace",
    "tests/test_patch_ddtrace.py": "ddtrace",
    "tests/test_propagation_differential.py": "ddtrace",
    "tests/test_sampling_differential.py": "ddtrace",
    # compare with ddtrace's own functions or run ddtrace
    "tests/test_sampling.py::test_glob": "ddtrace",
    "tests/test_sampling.py::test_format_rate": "ddtrace",
    "tests/test_client_ip.py::test_the_address_is_resolved_as_ddtrace_resolves_it": "ddtrace",
    "tests/test_http_query_string.py::test_the_default_pattern_obfuscates_as_ddtrace_does": "ddtrace",
    "tests/test_propagation_robustness.py::test_inject_accepts_ddtrace_context_and_span": "ddtrace",
    "tests/test_settings.py::test_environment_parses_as_ddtrace_does": "ddtrace",
    "tests/test_request_bench.py::test_reference_rounds_continue_the_trace[ddtrace]": "ddtrace",
    "tests/test_request_bench.py::test_compare_keeps_ddtrace_logs_off_the_terminal_and_restores_its_handlers": (
        "ddtrace"
    ),
    "tests/test_cli.py::test_bench_measures_every_tracer": "ddtrace",
    "tests/test_bench_headroom.py::test_measure_and_report": "ddtrace",
    "tests/test_bench_counts.py::test_every_operation_runs_rounds[inject-ddtrace]": "ddtrace",
    "tests/test_bench_counts.py::test_every_operation_runs_rounds[extract-ddtrace]": "ddtrace",
    "tests/test_bench_counts.py::test_every_operation_runs_rounds[span-ddtrace]": "ddtrace",
    "tests/test_bench_counts.py::test_every_operation_runs_rounds[request-datadog-ddtrace]": "ddtrace",
    "tests/test_bench_counts.py::test_every_operation_runs_rounds[request-default-ddtrace]": "ddtrace",
    "tests/test_bench_counts.py::test_every_operation_runs_rounds[sample-ddtrace]": "ddtrace",
    "tests/test_bench_counts.py::test_every_operation_runs_rounds[encode-v04-ddtrace]": "ddtrace",
    "tests/test_bench_counts.py::test_every_operation_runs_rounds[encode-v05-ddtrace]": "ddtrace",
    "tests/test_bench_counts.py::test_every_operation_runs_rounds[extract-environ-ddtrace]": "ddtrace",
    # a traced Kafka produce and poll, counted (confluent-kafka's Message; ddtrace's integration beside)
    "tests/test_bench_counts.py::test_every_operation_runs_rounds[kafka-produce-cython]": "confluent-kafka",
    "tests/test_bench_counts.py::test_every_operation_runs_rounds[kafka-produce-python]": "confluent-kafka",
    "tests/test_bench_counts.py::test_every_operation_runs_rounds[kafka-produce-ddtrace]": "confluent-kafka",
    "tests/test_bench_counts.py::test_every_operation_runs_rounds[kafka-consume-cython]": "confluent-kafka",
    "tests/test_bench_counts.py::test_every_operation_runs_rounds[kafka-consume-python]": "confluent-kafka",
    "tests/test_bench_counts.py::test_every_operation_runs_rounds[kafka-consume-ddtrace]": "confluent-kafka",
    # Kafka's clients (and the broker, librdkafka's mock cluster in confluent-kafka's wheel)
    "tests/test_contrib_kafka.py": "confluent-kafka",
    # a service under ddfast-run, its traces read back from the test agent
    "tests/test_ddfast_run.py::test_an_unmodified_service_is_traced_under_ddfast_run": "ddapm-test-agent",
    # Celery against ddtrace's producer and worker (run in subprocesses)
    "tests/test_contrib_celery.py::test_ddtrace_producer_to_ddfast_worker": "ddtrace",
    "tests/test_contrib_celery.py::test_ddfast_producer_to_ddtrace_worker": "ddtrace",
    "tests/test_contrib_celery.py::test_spans_are_ddtrace_s": "ddtrace",
    "tests/test_contrib_celery.py::test_beat_spans_are_ddtrace_s": "ddtrace",
    # gRPC against real grpcio servers and clients, and ddtrace on the other side
    "tests/test_contrib_grpc.py": "grpcio",
    # spans compared with ddtrace's (run in subprocesses)
    "tests/test_ddtrace_span_parity.py": "ddtrace",
    # AWS through a moto server (and ddtrace on the other side)
    "tests/test_contrib_botocore.py": "moto",
}


def requirements():
    project = tomllib.loads((pathlib.Path(__file__).parent.parent / "pyproject.toml").read_text())
    for req in project["project"]["optional-dependencies"]["test"]:
        if re.match(r"[A-Za-z0-9_.-]+", req).group(0).lower() not in SKIP_DEPS:
            yield req


def pip_args():
    """pip's options for installing ``requirements()`` on a free-threaded CPython."""
    yield "--prefer-binary"
    yield "--only-binary=" + ",".join(ONLY_BINARY)


def pytest_args(root=""):
    """``--ignore`` takes a path (under ``root``, the checkout, when the tests run from elsewhere);
    ``--deselect`` a node id, relative to the checkout wherever they run."""
    for target in LEFT_OUT:
        if "::" in target:
            yield "--deselect=" + target
        else:
            yield "--ignore=" + (str(pathlib.Path(root, target)) if root else target)


if __name__ == "__main__":
    what = sys.argv[1] if len(sys.argv) > 1 else ""
    if what == "requirements":
        print("\n".join(requirements()))
    elif what == "pip-args":
        print(" ".join(pip_args()))
    elif what == "pytest-args":
        print(" ".join(pytest_args(*sys.argv[2:3])))
    elif what == "why":
        for name, reason in SKIP_DEPS.items():
            print("== not installed: %s (%s)" % (name, reason))
        for target, name in LEFT_OUT.items():
            print("== left out: %s (needs %s)" % (target, name))
    else:
        sys.exit("usage: freethreaded.py requirements|pip-args|pytest-args [CHECKOUT]|why")
