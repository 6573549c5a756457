"""``ddfast demo`` in-process: the spans of the three services form one trace with the right parents,
and the headers on each hop carry the client span of the service before."""

from ddfast.tools import demo


class Recorder:
    def __init__(self):
        self.traces = []
        self.stopped = False

    def write(self, spans):
        self.traces.append(list(spans))

    def flush_queue(self):
        pass

    def stop(self, timeout=None):
        self.stopped = True


def test_demo_trace_links_every_hop():
    agent = Recorder()
    spans, sent = demo.run(writer=agent)
    by_name = {(s.service, s.name): s for s in spans}
    root = by_name["demo-client", "demo.request"]
    call_store = by_name["demo-client", "http.request"]
    store = by_name["web-store", "wsgi.request"]
    call_inventory = by_name["web-store", "http.request"]
    inventory = by_name["inventory", "wsgi.request"]
    lookup = by_name["inventory", "inventory.lookup"]
    assert len(spans) == 6 and len({s.trace_id for s in spans}) == 1
    chain = [root, call_store, store, call_inventory, inventory, lookup]
    for parent, child in zip(chain, chain[1:], strict=False):
        assert child.parent_id == parent.span_id, (parent.name, child.name)
    assert int(sent[0]["x-datadog-parent-id"]) == call_store.span_id
    assert int(sent[1]["x-datadog-parent-id"]) == call_inventory.span_id
    assert store.get_tag("http.status_code") == "200" and store.resource == "GET /checkout"
    assert inventory.get_tag("span.kind") == "server" and inventory.get_tag("component") == "wsgi"
    # the writer given (as an agent writer would be) got the same three chunks, and was stopped
    assert sorted(s.span_id for t in agent.traces for s in t) == sorted(s.span_id for s in spans)
    assert agent.stopped
    assert "6 spans, 3 services" in demo.report(spans, sent)
