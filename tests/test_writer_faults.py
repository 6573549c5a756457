"""The writer against an agent that fails as real agents do (``fault_scenarios``): absent, 5xx, 429,
resetting connections for 10 s at 1,000 traces a second, an answer that dribbles or never comes,
413 for large payloads, SIGTERM with the default handler, a 10,000-span trace, a 1 MiB tag, a fork.
Every trace the application made arrives (twice only where the agent took a payload whose answer came
too late), no exception reaches the application, and its thread never waits for the writer's lock more
than a millisecond. Each scenario runs in its own process, on both twins; they run side by side."""

import os

import pytest
from conftest import compiled_required
from fault_scenarios import SCENARIOS
from fault_scenarios import run_all

KINDS = ("cython", "python")


@pytest.fixture(scope="module")
def results():
    if not compiled_required():
        try:
            import ddfast._ext.span  # noqa: F401
        except ImportError:
            pytest.skip("the compiled core is not built")
    return run_all([(s.name, kind) for s in SCENARIOS for kind in KINDS], workers=min(8, 3 * (os.cpu_count() or 1)))


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("scenario", SCENARIOS, ids=lambda s: s.name)
def test_no_trace_lost(results, scenario, kind):
    r = results[(scenario.name, kind)]
    assert r["implementation"] == kind
    assert r["errors"] == []  # nothing raised into the application
    made = set(r["made"])
    expected_drops = sum(scenario.dropped.values())
    assert r["lost"] == expected_drops, r["stderr"][-2000:]
    assert r["unknown"] == 0
    if not scenario.duplicates:
        assert r["duplicates"] == 0
    if scenario.name == "sigterm_absent":  # the flush's bound holds, and what it could not send is said
        assert r["exit_seconds"] < 3.0
        (line,) = [line for line in r["stderr"].splitlines() if "not sent to the agent" in line]
        assert line.startswith("ddfast: 500 trace(s) not sent to the agent at http://127.0.0.1:")
        assert r["returncode"] == -15
        return
    assert r["drops"] == scenario.dropped
    spans = {t: r["spans"][t] for t in made if t in r["spans"]}
    if scenario.name == "huge_trace":
        assert spans.pop(r["made"][0]) == 10000
    assert set(spans.values()) == {2}  # every trace whole
    # the application's thread never waited for the writer more than a millisecond (the lock is the
    # application's own: the sender only tries it, to seal an idle application's payload)
    assert r["lock_wait"] < 0.001, r["lock_contended"]
    # a call that waited on the network would take at least the agent timeout (2 s): the bound is set
    # well below it, and well above what a loaded shared machine's preemption costs a call
    assert r["longest_call"] < 1.5
    if scenario.sigterm:
        assert r["returncode"] == -15  # the default action still ends the process, after the flush
    else:
        assert r["returncode"] == 0, r["stderr"][-2000:]
