"""The botocore integration's cost per message, ddfast compiled (``cython``) vs pure (``python``) vs
ddtrace 4.16's integration, in one run: the traced ``BaseClient._make_api_call`` of a real boto3 SQS
client, the AWS call itself replaced by a stub that answers at once (no HTTP, no parsing), so that what
is measured is the tracing: the span, its tags, the context written into the message (``SendMessage``,
``SendMessageBatch`` of 10) or read from the messages received (``ReceiveMessage`` of 1 and of 10),
the trace finished and handed to a writer that drops it. Per message: a batch's time over 10.
"""

import json

import pytest

from benches.conftest import NullWriter
from benches.conftest import twin
from ddfast.tools import request_bench

URL = "https://sqs.us-east-1.amazonaws.com/123456789012/orders"
META = {"RequestId": "9f1c0a7e-5d0b-5b55-9a6e-3a1b2c3d4e5f", "HTTPStatusCode": 200, "HTTPHeaders": {},
        "RetryAttempts": 0}  # fmt: skip
#: a ddtrace producer's context with the default styles (datadog, tracecontext, baggage)
CONTEXT = json.dumps(
    {k: v for k, v in request_bench.HEADER_SETS["default"][0].items() if k.startswith(("x-datadog", "trace"))}
)
BATCH = 10


def _received(count):
    return {
        "Messages": [
            {
                "MessageId": "m%d" % i,
                "ReceiptHandle": "r%d" % i,
                "MD5OfBody": "0" * 32,
                "Body": "order %d" % i,
                "MessageAttributes": {"_datadog": {"DataType": "String", "StringValue": CONTEXT}},
            }  # fmt: skip
            for i in range(count)
        ],
        "ResponseMetadata": META,
    }


SENT = {"MessageId": "m0", "MD5OfMessageBody": "0" * 32, "ResponseMetadata": META}
SENT_BATCH = {"Successful": [{"Id": str(i), "MessageId": "m%d" % i} for i in range(BATCH)], "ResponseMetadata": META}
ANSWERS = {"SendMessage": SENT, "SendMessageBatch": SENT_BATCH}


#: the answers to ReceiveMessage, made once: what is timed is the tracing, not the making of the answer
RECEIVED = {1: _received(1), BATCH: _received(BATCH)}


def _stub(client, operation, params):
    answer = ANSWERS.get(operation)
    if answer is None:
        count = params.get("MaxNumberOfMessages", 1)
        answer = RECEIVED.get(count) or _received(count)
    return answer


@pytest.fixture(scope="module")
def client():
    boto3 = pytest.importorskip("boto3")
    return boto3.client("sqs", endpoint_url="http://127.0.0.1:9", region_name="us-east-1",
                        aws_access_key_id="testing", aws_secret_access_key="testing")  # fmt: skip


@pytest.fixture
def call(impl, client):
    """``call(operation, params)``: the traced ``_make_api_call`` of ``impl`` over the stub."""
    if impl == "ddtrace":
        import botocore
        from ddtrace.contrib.internal.botocore import patch as dd_botocore
        from ddtrace.internal.settings._config import config
        from ddtrace.trace import tracer

        tracer._span_aggregator.writer = NullWriter()
        dd_botocore.patch()
        saved = config.botocore["propagation_enabled"]
        config.botocore["propagation_enabled"] = True  # ddtrace reads contexts only when asked to
        traced = dd_botocore.patched_api_call(botocore)

        def bound(operation, params):
            return _stub(client, operation, params)

        yield lambda operation, params: traced(bound, client, (operation, params), {})
        config.botocore["propagation_enabled"] = saved
        dd_botocore.unpatch()
        return
    import botocore.exceptions

    from ddfast.contrib import botocore as contrib
    from ddfast.contrib.integration import Integration
    from ddfast.tracer import Tracer

    span, sampling, propagation = twin("span", impl), twin("sampling", impl), twin("propagation", impl)
    tracer = Tracer(writer=NullWriter(), sampler=sampling.DatadogSampler(rules=[]), _core=(span, sampling, propagation))
    saved = propagation.active_settings()
    styles = request_bench.DEFAULT_STYLES
    propagation.configure(propagation.Settings(extract_styles=styles, inject_styles=styles))
    traced = contrib._Traced(Integration("botocore", tracer), None, botocore.exceptions.ClientError).make(_stub)
    yield lambda operation, params: traced(client, operation, params)
    propagation.configure(saved)


def test_send_message(benchmark, call):
    benchmark.group = "botocore: SendMessage (inject), per message"
    benchmark(lambda: call("SendMessage", {"QueueUrl": URL, "MessageBody": "order 1"}))
    params = {"QueueUrl": URL, "MessageBody": "order 1"}
    call("SendMessage", params)
    assert "_datadog" in params["MessageAttributes"]


def test_send_message_batch(benchmark, call):
    benchmark.group = "botocore: SendMessageBatch of %d (inject), per call" % BATCH
    entries = [{"Id": str(i), "MessageBody": "order %d" % i} for i in range(BATCH)]
    benchmark(lambda: call("SendMessageBatch", {"QueueUrl": URL, "Entries": entries}))
    params = {"QueueUrl": URL, "Entries": entries}
    call("SendMessageBatch", params)
    assert all("_datadog" in e["MessageAttributes"] for e in params["Entries"])


@pytest.mark.parametrize("count", [1, BATCH])
def test_receive_message(benchmark, call, count):
    benchmark.group = "botocore: ReceiveMessage of %d (extract + span), per call" % count
    benchmark(lambda: call("ReceiveMessage", {"QueueUrl": URL, "MaxNumberOfMessages": count}))
    assert RECEIVED[count] == _received(count)  # no integration changed the answer it read
