"""``ddfast.patch(botocore=True)`` against real AWS APIs (moto's server, started by these tests on a free
loopback port): SQS, SNS -> SQS, EventBridge -> SQS and Kinesis carry the producer's context to the
consumer in ddtrace 4.16's ``_datadog`` layouts, linked both ways with ddtrace (run in a subprocess), and
on both twins; the services' limits hold, and hostile contexts give no parent without raising."""

import base64
import json
import os
import subprocess
import sys
import time
import uuid

import pytest
from integration_helpers import free_port

import ddfast.propagation

DRIVER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "aws_driver.py")
REQUIRED = os.environ.get("DDFAST_REQUIRE_COMPONENTS", "").strip().lower() in ("1", "true", "yes")
CREDENTIALS = {"region_name": "us-east-1", "aws_access_key_id": "testing", "aws_secret_access_key": "testing"}


def _missing(what):
    if REQUIRED:
        pytest.fail("%s is required (DDFAST_REQUIRE_COMPONENTS=1) but missing" % what)
    pytest.skip("%s is not installed" % what)


@pytest.fixture(scope="module")
def endpoint():
    """moto's server (every AWS service on one port), started for this module."""
    try:
        import boto3  # noqa: F401
        import moto.server  # noqa: F401
    except ImportError as exc:
        _missing("moto[server] and boto3 (%s)" % exc)
    import urllib.request

    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)  # fmt: skip
    url = "http://127.0.0.1:%d" % port
    deadline = time.monotonic() + 60
    while True:
        try:
            urllib.request.urlopen(url + "/moto-api/", timeout=2).read()
            break
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                raise RuntimeError("moto's server did not start: " + proc.stderr.read().decode()[-2000:]) from None
            time.sleep(0.1)
    try:
        yield url
    finally:
        proc.terminate()
        proc.wait(10)


@pytest.fixture
def aws(endpoint):
    """``aws(service)``: a boto3 client of the moto server."""
    import boto3

    return lambda service: boto3.client(service, endpoint_url=endpoint, **CREDENTIALS)


@pytest.fixture
def patching(traced):
    """``patching(**kwargs)``: ddfast's botocore patch on the tracer under test (settings read now)."""
    from ddfast.contrib import botocore as contrib

    def patch(**kwargs):
        contrib.unpatch()
        contrib.patch(tracer=traced, **kwargs)

    yield patch
    contrib.unpatch()


@pytest.fixture
def patched(patching):
    patching()


def _queue(aws, name=None):
    sqs = aws("sqs")
    url = sqs.create_queue(QueueName=name or "q-" + uuid.uuid4().hex[:12])["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    return url, arn


def _spans(traced):
    return [span for trace in traced.writer.pop_traces() for span in trace]


def _one(spans, resource):
    (span,) = [s for s in spans if s.resource == resource]
    return span


def _errors():
    return sum(v for k, v in ddfast.propagation.ERRORS.items() if k.startswith("aws_"))


def _core_errors(prop):
    """What the propagation core under test counted, and what the integration API counted for it."""
    shared = ddfast.propagation.ERRORS
    other = 0 if shared is prop.ERRORS else sum(v for k, v in shared.items() if not k.startswith("aws_"))
    return sum(v for k, v in prop.ERRORS.items() if not k.startswith("aws_")) + other


def _capture_params(client, operation):
    """The parameters botocore serializes for ``operation`` (after the patch wrote into them)."""
    seen = []
    event = "before-parameter-build.%s.%s" % (client.meta.service_model.endpoint_prefix, operation)
    client.meta.events.register(event, lambda params, **kw: seen.append(json.loads(json.dumps(params, default=repr))))
    return seen


# -- SQS ------------------------------------------------------------------------------------------------------


def test_sqs_send_and_receive_continue_the_trace(traced, patched, aws):
    url, _ = _queue(aws)
    sqs = aws("sqs")
    attributes = {"color": {"DataType": "String", "StringValue": "blue"}}
    with traced.trace("producer"):
        sqs.send_message(QueueUrl=url, MessageBody="hello", MessageAttributes=attributes)
    assert list(attributes) == ["color"]  # the caller's dict is not written into
    spans = _spans(traced)
    send = _one(spans, "sqs.sendmessage")
    assert (send.name, send.service, send.span_type) == ("sqs.command", "aws.sqs", "http")
    assert send.parent_id == _one(spans, "producer").span_id
    tags = send.get_tags()
    assert {k: tags[k] for k in ("component", "span.kind", "aws.operation", "aws.region", "aws_service", "queuename",
                                 "aws.sqs.queue_name", "http.status_code", "region", "aws.partition")} == {
        "component": "botocore", "span.kind": "client", "aws.operation": "SendMessage", "aws.region": "us-east-1",
        "aws_service": "sqs", "queuename": url.rsplit("/", 1)[1], "aws.sqs.queue_name": url.rsplit("/", 1)[1],
        "http.status_code": "200", "region": "us-east-1", "aws.partition": "aws"}  # fmt: skip
    assert tags["aws.requestid"] and send.get_metric("_dd.measured") == 1

    message = sqs.receive_message(QueueUrl=url, WaitTimeSeconds=1, MessageAttributeNames=["color"])["Messages"][0]
    assert message["Body"] == "hello"  # the body is not touched
    attribute = message["MessageAttributes"]["_datadog"]  # asked for by the patch
    assert attribute["DataType"] == "String"
    assert json.loads(attribute["StringValue"])["x-datadog-parent-id"] == str(send.span_id)
    assert message["MessageAttributes"]["color"]["StringValue"] == "blue"
    receive = _one(_spans(traced), "sqs.receivemessage")
    assert (receive.trace_id, receive.parent_id) == (send.trace_id, send.span_id)
    assert receive.get_tag("aws.operation") == "ReceiveMessage"


def test_a_batch_is_injected_per_message(traced, patched, aws):
    url, _ = _queue(aws)
    sqs = aws("sqs")
    entries = [{"Id": str(i), "MessageBody": "m%d" % i} for i in range(3)]
    with traced.trace("batch"):
        sqs.send_message_batch(QueueUrl=url, Entries=entries)
    assert all("MessageAttributes" not in e for e in entries)  # the caller's entries are not written into
    send = _one(_spans(traced), "sqs.sendmessagebatch")
    messages = []
    while len(messages) < 3:
        messages += sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1).get("Messages", [])
    assert sorted(m["Body"] for m in messages) == ["m0", "m1", "m2"]
    for message in messages:
        assert json.loads(message["MessageAttributes"]["_datadog"]["StringValue"])["x-datadog-parent-id"] == str(
            send.span_id
        )
    for receive in [s for s in _spans(traced) if s.resource == "sqs.receivemessage"]:
        assert receive.parent_id == send.span_id and not receive._span_links  # one context: no link


def test_a_receive_of_several_producers_links_them(traced, patched, aws):
    url, _ = _queue(aws)
    sqs = aws("sqs")
    for name in ("first", "second"):
        with traced.trace(name):
            sqs.send_message(QueueUrl=url, MessageBody=name)
    sends = {s.span_id for s in _spans(traced) if s.resource == "sqs.sendmessage"}
    # craft one ReceiveMessage answer with both messages, in order, as SQS may return them
    messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1)["Messages"]
    while len(messages) < 2:
        messages += sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1)["Messages"]
    receives = [s for s in _spans(traced) if s.resource == "sqs.receivemessage"]
    if len(receives) == 1:  # both came in one receive: child of the first, linked to the other
        (receive,) = receives
        assert receive.parent_id in sends
        assert {link.span_id for link in receive._span_links} == sends - {receive.parent_id}
    else:
        assert {r.parent_id for r in receives} == sends


def test_the_attribute_limit_and_the_size_limit_leave_the_message_alone(traced, patched, aws):
    url, _ = _queue(aws)
    sqs = aws("sqs")
    seen = _capture_params(sqs, "SendMessage")
    ten = {"a%d" % i: {"DataType": "String", "StringValue": "v"} for i in range(10)}
    before = _errors()
    sqs.send_message(QueueUrl=url, MessageBody="full", MessageAttributes=ten)
    big = "x" * (256 * 1024 - 50)  # fits alone, not with the context
    sqs.send_message(QueueUrl=url, MessageBody=big)
    assert "_datadog" not in seen[0]["MessageAttributes"] and "MessageAttributes" not in seen[1]
    assert _errors() == before + 2
    nine = {"a%d" % i: {"DataType": "String", "StringValue": "v"} for i in range(9)}
    sqs.send_message(QueueUrl=url, MessageBody="room", MessageAttributes=nine)
    assert "_datadog" in seen[2]["MessageAttributes"]
    # a batch counts as one 256 KiB payload
    seen = _capture_params(sqs, "SendMessageBatch")
    half = "y" * (128 * 1024 - 20)
    sqs.send_message_batch(QueueUrl=url, Entries=[{"Id": "1", "MessageBody": half}, {"Id": "2", "MessageBody": half}])
    assert ["_datadog" in e.get("MessageAttributes", {}) for e in seen[0]["Entries"]] == [True, False]


def test_receive_asks_for_the_context_without_changing_the_callers_list(traced, patched, aws):
    url, _ = _queue(aws)
    sqs = aws("sqs")
    seen = _capture_params(sqs, "ReceiveMessage")
    names = ["color"]
    sqs.receive_message(QueueUrl=url, MessageAttributeNames=names)
    sqs.receive_message(QueueUrl=url, MessageAttributeNames=["All"])
    assert names == ["color"]
    assert seen[0]["MessageAttributeNames"] == ["color", "_datadog"]
    assert seen[1]["MessageAttributeNames"] == ["All", "_datadog"]
    (empty, _) = [s for s in _spans(traced) if s.resource == "sqs.receivemessage"]
    assert empty.parent_id is None  # an empty poll is traced by default, as in ddtrace


HOSTILE = [
    "not json",
    '{"x-datadog-trace-id": "12',  # truncated
    "[1, 2]",
    '"a string"',
    '{"x-datadog-trace-id": {"nested": 1}, "x-datadog-parent-id": [2]}',
    '{"x-datadog-trace-id": "abc", "x-datadog-parent-id": "-1"}',
    "[" * 100000 + "]" * 100000,  # nested past the parser's depth
    json.dumps({"x-datadog-trace-id": "1", "x-datadog-parent-id": "2", "pad": "p" * 20000}),  # oversized
]


def test_hostile_contexts_give_no_parent_and_never_raise(traced, patching, aws, prop):
    url, _ = _queue(aws)
    sqs = aws("sqs")
    for value in HOSTILE:
        sqs.send_message(QueueUrl=url, MessageBody="hostile",
                         MessageAttributes={"_datadog": {"DataType": "String", "StringValue": value}})  # fmt: skip
    sqs.send_message(QueueUrl=url, MessageBody="binary junk",
                     MessageAttributes={"_datadog": {"DataType": "Binary", "BinaryValue": b"\xff\xfe{"}})  # fmt: skip
    envelope = {"Type": "Notification", "Message": "m",
                "MessageAttributes": {"_datadog": {"Type": "Binary", "Value": "!!not base64!!"}}}  # fmt: skip
    sqs.send_message(QueueUrl=url, MessageBody=json.dumps(envelope))
    patching()
    before, core_before = _errors(), _core_errors(prop)
    received = 0
    while received < len(HOSTILE) + 2:
        messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=1, WaitTimeSeconds=1).get("Messages", [])
        received += len(messages)
    receives = [s for s in _spans(traced) if s.resource == "sqs.receivemessage"]
    assert len(receives) == len(HOSTILE) + 2
    assert all(s.parent_id is None and not s._span_links for s in receives)
    # every one is counted: not JSON, truncated, not an object, too deep, too big, not UTF-8, not base64 here;
    # the two with header values the propagation core rejects, there
    assert _errors() - before == len(HOSTILE)
    assert _core_errors(prop) - core_before >= 2


# -- SNS -> SQS -----------------------------------------------------------------------------------------------


def test_sns_to_sqs_continues_the_trace_through_the_envelope(traced, patched, aws):
    url, arn = _queue(aws)
    sns = aws("sns")
    topic = sns.create_topic(Name="t-" + uuid.uuid4().hex[:12])["TopicArn"]
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=arn)
    seen = _capture_params(sns, "Publish")
    with traced.trace("producer"):
        sns.publish(TopicArn=topic, Message="hello")
    publish = _one(_spans(traced), "sns.publish")
    assert publish.get_tag("topicname") == topic.rsplit(":", 1)[1] and publish.name == "sns.command"
    assert seen[0]["MessageAttributes"]["_datadog"]["DataType"] == "Binary"
    (message,) = aws("sqs").receive_message(QueueUrl=url, WaitTimeSeconds=1)["Messages"]
    body = json.loads(message["Body"])
    assert body["Message"] == "hello" and body["MessageAttributes"]["_datadog"]["Type"] == "Binary"
    assert json.loads(base64.b64decode(body["MessageAttributes"]["_datadog"]["Value"]))["x-datadog-parent-id"] == str(
        publish.span_id
    )
    receive = _one(_spans(traced), "sqs.receivemessage")
    assert (receive.trace_id, receive.parent_id) == (publish.trace_id, publish.span_id)


def test_sns_publish_batch_writes_every_entry(traced, patched, aws):
    url, arn = _queue(aws)
    sns = aws("sns")
    topic = sns.create_topic(Name="t-" + uuid.uuid4().hex[:12])["TopicArn"]
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=arn)
    seen = _capture_params(sns, "PublishBatch")
    entries = [{"Id": "1", "Message": "one"}, {"Id": "2", "Message": "two"}]
    with traced.trace("producer"):
        sns.publish_batch(TopicArn=topic, PublishBatchRequestEntries=entries)
    assert all("MessageAttributes" not in e for e in entries)
    publish = _one(_spans(traced), "sns.publishbatch")
    assert [e["MessageAttributes"]["_datadog"]["DataType"] for e in seen[0]["PublishBatchRequestEntries"]] == [
        "Binary",
        "Binary",
    ]
    messages = []
    while len(messages) < 2:
        messages += aws("sqs").receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1)["Messages"]
    for receive in [s for s in _spans(traced) if s.resource == "sqs.receivemessage"]:
        assert (receive.trace_id, receive.parent_id) == (publish.trace_id, publish.span_id)


def test_json_members_are_added_to_the_text(kind):
    from ddfast.contrib import botocore as contrib

    member = '{"x-datadog-trace-id":"1"}'
    for text, expected in [
        ("{}", '{"_datadog":%s}' % member),
        ('{ "a": 1 }\n', '{ "a": 1,"_datadog":%s}\n' % member),
        ('{"a": {"b": []}}', '{"a": {"b": []},"_datadog":%s}' % member),
    ]:
        assert contrib._add_member(text, json.loads(text), member) == expected
    # an existing member is replaced, not repeated
    replaced = contrib._add_member('{"_datadog": {"old": 1}, "a": 2}', {"_datadog": {"old": 1}, "a": 2}, member)
    assert json.loads(replaced) == {"_datadog": {"x-datadog-trace-id": "1"}, "a": 2}
    assert replaced.count("_datadog") == 1
    for data in ("[1]", '"{}"', "{", b"\xff{}", 42, 10**12, None, "  "):
        assert contrib._json_object(data) == (None, None)


def test_raw_delivery_binary_attribute_is_read(traced, patched):
    """With raw message delivery SNS hands the Binary attribute on as the SQS message's own (moto's server
    cannot answer a receive of such a message, so the received message is built here)."""
    from ddfast.contrib import botocore as contrib

    with traced.trace("publisher") as publisher:
        pass
    headers = {}
    integ = contrib.Integration("botocore", traced)
    integ.inject(publisher, headers)
    attribute = {"DataType": "Binary", "BinaryValue": json.dumps(headers).encode()}
    message = {"Body": "raw", "MessageAttributes": {"_datadog": attribute}}
    context = contrib._sqs_message_context(integ, message, {})
    assert (context.trace_id, context.span_id) == (publisher.trace_id, publisher.span_id)


# -- EventBridge -> SQS ---------------------------------------------------------------------------------------


def test_eventbridge_detail_carries_the_context_to_an_sqs_target(traced, patched, aws):
    url, arn = _queue(aws)
    events = aws("events")
    rule = "r-" + uuid.uuid4().hex[:12]
    source = "ddfast." + rule
    events.put_rule(Name=rule, EventPattern=json.dumps({"source": [source]}))
    events.put_targets(Rule=rule, Targets=[{"Id": "1", "Arn": arn}])
    seen = _capture_params(events, "PutEvents")
    entries = [{"Source": source, "DetailType": "order", "Detail": '{"order": 7,\n "items": [1, 2]}'},
               {"Source": source, "DetailType": "order", "Detail": "not json"},
               {"Source": source, "DetailType": "order", "Detail": "x" * (256 * 1024 - 100)}]  # fmt: skip
    before = _errors()
    with traced.trace("producer"):
        events.put_events(Entries=entries[:2])
        events.put_events(Entries=entries[2:])
    assert entries[0]["Detail"] == '{"order": 7,\n "items": [1, 2]}'  # the caller's entry is not written into
    assert _errors() == before + 2  # not JSON; too big with the context
    sent = seen[0]["Entries"]
    assert sent[0]["Detail"].startswith('{"order": 7,\n "items": [1, 2],"_datadog":{')
    assert sent[1]["Detail"] == "not json" and seen[1]["Entries"][0]["Detail"] == entries[2]["Detail"]
    put = [s for s in _spans(traced) if s.resource == "events.putevents"][0]
    (message,) = aws("sqs").receive_message(QueueUrl=url, WaitTimeSeconds=1)["Messages"]
    detail = json.loads(message["Body"])["detail"]
    assert detail["order"] == 7 and detail["_datadog"]["x-datadog-parent-id"] == str(put.span_id)
    receive = _one(_spans(traced), "sqs.receivemessage")
    assert (receive.trace_id, receive.parent_id) == (put.trace_id, put.span_id)


# -- Kinesis ----------------------------------------------------------------------------------------------------


@pytest.fixture
def stream(aws):
    """``stream()``: a new Kinesis stream's name and ``records()``, what it holds."""
    kinesis = aws("kinesis")

    def make():
        name = "s-" + uuid.uuid4().hex[:12]
        kinesis.create_stream(StreamName=name, ShardCount=1)
        shard = kinesis.describe_stream(StreamName=name)["StreamDescription"]["Shards"][0]["ShardId"]

        def records():
            iterator = kinesis.get_shard_iterator(StreamName=name, ShardId=shard,
                                                  ShardIteratorType="TRIM_HORIZON")["ShardIterator"]  # fmt: skip
            return kinesis.get_records(ShardIterator=iterator)["Records"]

        return name, records

    return make


def test_kinesis_records_carry_the_context_in_their_json(traced, patched, aws, stream):
    name, records = stream()
    kinesis = aws("kinesis")
    _spans(traced)
    with traced.trace("producer"):
        kinesis.put_record(StreamName=name, Data=b'{"n": 1}\n', PartitionKey="k")
        kinesis.put_records(StreamName=name, Records=[{"Data": b"plain text", "PartitionKey": "k"},
                                                      {"Data": "{}", "PartitionKey": "k"}])  # fmt: skip
        kinesis.put_record(StreamName=name, Data=b'{"big": "' + b"z" * (1024 * 1024 - 20) + b'"}', PartitionKey="k")
    spans = sorted(_spans(traced), key=lambda s: s.start_ns)
    put = _one(spans, "kinesis.putrecords")
    single = [s for s in spans if s.resource == "kinesis.putrecord"][0]
    assert single.get_tag("streamname") == name and single.name == "kinesis.command"
    got = records()
    first = got[0]["Data"]
    assert first.startswith(b'{"n": 1,"_datadog":{') and first.endswith(b"}\n")  # the text kept, newline too
    assert json.loads(first)["_datadog"]["x-datadog-parent-id"] == str(single.span_id)
    assert got[1]["Data"] == b"plain text"  # not JSON: left alone
    assert json.loads(got[2]["Data"])["_datadog"]["x-datadog-parent-id"] == str(put.span_id)
    assert b"_datadog" not in got[3]["Data"]  # past 1 MiB with the context: left alone
    receive = _one(_spans(traced), "kinesis.getrecords")
    assert (receive.trace_id, receive.parent_id) == (single.trace_id, single.span_id)
    assert {link.span_id for link in receive._span_links} == {put.span_id}


# -- settings and errors ----------------------------------------------------------------------------------------


def test_settings(traced, patching, aws, monkeypatch):
    url, _ = _queue(aws)
    sqs = aws("sqs")
    monkeypatch.setenv("DD_BOTOCORE_PROPAGATION_ENABLED", "false")
    monkeypatch.setenv("DD_BOTOCORE_EMPTY_POLL_ENABLED", "false")
    monkeypatch.setenv("DD_BOTOCORE_SERVICE", "shop-aws")
    patching()
    sqs.receive_message(QueueUrl=url)  # empty: no span
    assert _spans(traced) == []
    with traced.trace("producer"):
        sqs.send_message(QueueUrl=url, MessageBody="m")  # still injected
    send = _one(_spans(traced), "sqs.sendmessage")
    assert send.service == "shop-aws.sqs"
    (message,) = sqs.receive_message(QueueUrl=url, WaitTimeSeconds=1)["Messages"]
    assert "_datadog" not in message.get("MessageAttributes", {})  # not asked for
    assert _one(_spans(traced), "sqs.receivemessage").parent_id is None
    monkeypatch.setenv("DD_BOTOCORE_DISTRIBUTED_TRACING", "false")
    patching()
    seen = _capture_params(sqs, "SendMessage")
    sqs.send_message(QueueUrl=url, MessageBody="m")
    assert "MessageAttributes" not in seen[0]


def test_client_errors_are_errors_only_for_server_statuses(traced, patched, aws):
    import botocore.exceptions

    sqs = aws("sqs")
    with pytest.raises(botocore.exceptions.ClientError):
        sqs.send_message(QueueUrl=_queue(aws)[0] + "-missing", MessageBody="m")
    (span,) = [s for s in _spans(traced) if s.resource == "sqs.sendmessage"]
    assert span.get_tag("http.status_code") == "400" and not span.error  # as ddtrace: a 4xx is the caller's


def test_schema_v1_names(traced, patching, aws, monkeypatch):
    monkeypatch.setenv("DD_TRACE_SPAN_ATTRIBUTE_SCHEMA", "v1")
    patching()
    url, _ = _queue(aws)
    aws("sqs").send_message(QueueUrl=url, MessageBody="m")
    aws("sqs").receive_message(QueueUrl=url, WaitTimeSeconds=1)
    names = {s.resource: (s.name, s.service) for s in _spans(traced)}
    assert names["sqs.createqueue"][0] == "aws.sqs.request"
    assert names["sqs.sendmessage"][0] == "aws.sqs.send" and names["sqs.receivemessage"][0] == "aws.sqs.receive"
    assert names["sqs.sendmessage"][1] == traced._state.service


def test_ddfast_run_patches_botocore(tmp_path, kind):
    runner = os.path.join(os.path.dirname(sys.executable), "ddfast-run")
    env = dict(os.environ)
    env.pop("DDFAST_NO_EXTENSIONS", None)
    if kind == "python":
        env["DDFAST_NO_EXTENSIONS"] = "1"
    code = "import botocore.client\nprint(hasattr(botocore.client.BaseClient._make_api_call, '__ddfast_original__'))"
    out = subprocess.run([runner, sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60)
    assert out.stdout.strip() == "True", out.stderr


# -- interop with ddtrace 4.16 ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def ddtrace_side(endpoint):
    """ddtrace 4.16 with its botocore integration, in a subprocess kept for the module (reading contexts:
    ``DD_BOTOCORE_PROPAGATION_ENABLED=true``, off by default in ddtrace)."""
    env = dict(os.environ, DD_BOTOCORE_PROPAGATION_ENABLED="true", DD_TRACE_ENABLED="true",
               DD_INSTRUMENTATION_TELEMETRY_ENABLED="false", DD_REMOTE_CONFIGURATION_ENABLED="false")  # fmt: skip
    proc = subprocess.Popen([sys.executable, DRIVER, "ddtrace", "serve", endpoint], env=env, stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)  # fmt: skip
    try:
        assert proc.stdout.readline().strip() == "ready"

        def run(action, **args):
            proc.stdin.write(json.dumps({"action": action, "args": args}) + "\n")
            proc.stdin.flush()
            line = proc.stdout.readline()
            assert line, "ddtrace's side ended"
            return json.loads(line)

        yield run
    finally:
        proc.stdin.close()
        proc.wait(30)


def _their(out, resource):
    (span,) = [s for s in out["spans"] if s["resource"] == resource]
    return span


#: the tags whose values ddfast's spans share with ddtrace's
COMPARED = ("component", "span.kind", "aws.operation", "aws.region", "region", "aws.partition", "aws_service",
            "aws.agent", "queuename", "aws.sqs.queue_name", "aws_account", "topicname", "aws.sns.topic_arn",
            "streamname", "aws.kinesis.stream_name", "rulename", "http.status_code")  # fmt: skip


def _assert_same_span(ours, theirs):
    assert (ours.name, ours.service, ours.resource, ours.span_type) == (
        theirs["name"], theirs["service"], theirs["resource"], theirs["type"])  # fmt: skip
    tags = ours.get_tags()
    assert {k: tags.get(k) for k in COMPARED} == {k: theirs["tags"].get(k) for k in COMPARED}
    assert ours.get_metric("_dd.measured") == theirs["metrics"].get("_dd.measured")
    assert ours.get_metric("retry_attempts") == theirs["metrics"].get("retry_attempts")


def test_ddtrace_sqs_producer_to_ddfast_consumer(traced, patched, aws, ddtrace_side):
    url, _ = _queue(aws)
    out = ddtrace_side("sqs_send", queue_url=url, body="from ddtrace")
    theirs = _their(out, "sqs.sendmessage")
    aws("sqs").receive_message(QueueUrl=url, WaitTimeSeconds=1)
    receive = _one(_spans(traced), "sqs.receivemessage")
    assert (receive.trace_id, receive.parent_id) == (theirs["trace_id"], theirs["span_id"])
    with traced.trace("producer"):
        aws("sqs").send_message(QueueUrl=url, MessageBody="m")
    _assert_same_span(_one(_spans(traced), "sqs.sendmessage"), theirs)


def test_ddfast_sqs_producer_to_ddtrace_consumer(traced, patched, aws, ddtrace_side):
    url, _ = _queue(aws)
    aws("sqs").receive_message(QueueUrl=url)  # empty
    ours_receive = _one(_spans(traced), "sqs.receivemessage")
    with traced.trace("producer"):
        aws("sqs").send_message_batch(QueueUrl=url, Entries=[{"Id": "1", "MessageBody": "a"}])
    send = _one(_spans(traced), "sqs.sendmessagebatch")
    out = ddtrace_side("sqs_receive", queue_url=url)
    theirs = _their(out, "sqs.receivemessage")
    assert (theirs["trace_id"], theirs["parent_id"]) == (send.trace_id, send.span_id)
    _assert_same_span(ours_receive, theirs)


def test_sns_to_sqs_both_ways_with_ddtrace(traced, patched, aws, ddtrace_side):
    url, arn = _queue(aws)
    sns = aws("sns")
    topic = sns.create_topic(Name="t-" + uuid.uuid4().hex[:12])["TopicArn"]
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=arn)
    out = ddtrace_side("sns_publish", topic_arn=topic, message="from ddtrace")
    theirs = _their(out, "sns.publish")
    aws("sqs").receive_message(QueueUrl=url, WaitTimeSeconds=1)
    receive = _one(_spans(traced), "sqs.receivemessage")
    assert (receive.trace_id, receive.parent_id) == (theirs["trace_id"], theirs["span_id"])
    with traced.trace("producer"):
        sns.publish(TopicArn=topic, Message="from ddfast")
    publish = _one(_spans(traced), "sns.publish")
    _assert_same_span(publish, theirs)
    out = ddtrace_side("sqs_receive", queue_url=url)
    theirs = _their(out, "sqs.receivemessage")
    assert (theirs["trace_id"], theirs["parent_id"]) == (publish.trace_id, publish.span_id)


def test_kinesis_both_ways_with_ddtrace(traced, patched, aws, ddtrace_side, stream):
    name, records = stream()
    out = ddtrace_side("kinesis_put", stream=name, data='{"from": "ddtrace"}')
    theirs = _their(out, "kinesis.putrecord")
    records()
    receive = _one(_spans(traced), "kinesis.getrecords")
    assert (receive.trace_id, receive.parent_id) == (theirs["trace_id"], theirs["span_id"])
    name, records = stream()
    with traced.trace("producer"):
        aws("kinesis").put_record(StreamName=name, Data=b'{"from": "ddfast"}', PartitionKey="k")
    put = _one(_spans(traced), "kinesis.putrecord")
    theirs["tags"]["streamname"] = theirs["tags"]["aws.kinesis.stream_name"] = name
    _assert_same_span(put, theirs)
    out = ddtrace_side("kinesis_get", stream=name)
    theirs = _their(out, "kinesis.getrecords")
    assert (theirs["trace_id"], theirs["parent_id"]) == (put.trace_id, put.span_id)


def test_ddtrace_eventbridge_producer_to_ddfast_consumer(traced, patched, aws, ddtrace_side):
    url, arn = _queue(aws)
    events = aws("events")
    rule = "r-" + uuid.uuid4().hex[:12]
    events.put_rule(Name=rule, EventPattern=json.dumps({"source": ["ddfast.test"]}))
    events.put_targets(Rule=rule, Targets=[{"Id": "1", "Arn": arn}])
    out = ddtrace_side("events_put", detail='{"order": 1}')
    theirs = _their(out, "events.putevents")
    aws("sqs").receive_message(QueueUrl=url, WaitTimeSeconds=1)
    receive = _one(_spans(traced), "sqs.receivemessage")
    assert (receive.trace_id, receive.parent_id) == (theirs["trace_id"], theirs["span_id"])
    with traced.trace("producer"):
        events.put_events(Entries=[{"Source": "ddfast.test", "DetailType": "order", "Detail": '{"order": 2}'}])
    _assert_same_span(_one(_spans(traced), "events.putevents"), theirs)
