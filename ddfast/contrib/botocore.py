"""``patch()``: every AWS API call made through botocore (boto3's clients) gets ddtrace's client span, and
the messaging calls carry the trace to their consumers in ddtrace 4.16's wire layout, so that traces link
with ddtrace (and the other Datadog tracers) in both directions.

Spans, as ddtrace's botocore integration names them (default naming schema): name
``<endpoint>.command`` (``sqs.command``), service ``aws.<endpoint>`` (``DD_BOTOCORE_SERVICE`` replaces
``aws``), resource ``<endpoint>.<operation in lower case>`` (``sqs.sendmessage``), type ``http``, tags
``component`` ``botocore``, ``span.kind`` ``client``, ``aws.operation``, ``aws.region``, ``region``,
``aws.partition``, ``aws.agent``, ``aws_service``, the call's own (``queuename``, ``aws.sqs.queue_name``,
``topicname``, ``streamname``, ``rulename``, ``aws_account``... unless ``DD_AWS_TAG_NO_PARAMS``), and
from the response ``http.status_code``, ``retry_attempts`` and ``aws.requestid``. A ``ClientError`` marks
the span an error only when its status is a server error (``DD_TRACE_HTTP_SERVER_ERROR_STATUSES``), as
in ddtrace. ``DD_TRACE_SPAN_ATTRIBUTE_SCHEMA=v1`` names them ``aws.<endpoint>.request`` and the messaging
calls ``aws.sqs.send``, ``aws.sqs.receive``, ``aws.sns.send``, ``aws.events.send``, ``aws.kinesis.send``.

What the producer writes (the active span's context, in the configured styles, as a JSON object of
headers named ``_datadog``):

- SQS ``SendMessage``, ``SendMessageBatch``: a message attribute ``_datadog`` of DataType ``String``;
- SNS ``Publish``, ``PublishBatch``: a message attribute ``_datadog`` of DataType ``Binary`` (the JSON as
  bytes); SNS hands it on to an SQS subscriber inside its notification envelope (the SQS body's
  ``MessageAttributes._datadog``, ``Type`` ``Binary``, ``Value`` base64) or, with raw message delivery, as
  the SQS message's own attribute;
- EventBridge ``PutEvents``: a member ``_datadog`` of each entry's ``Detail`` JSON object;
- Kinesis ``PutRecord``, ``PutRecords``: a member ``_datadog`` of the record's ``Data``, when ``Data`` is a
  JSON object (str or bytes; other data is left as it is).

A message never grows past its service's limits for it: an SQS or SNS message with 10 attributes already,
or that the attribute would take past 256 KiB (a batch: past 256 KiB together), an EventBridge entry past
256 KiB (the request too), a Kinesis record past 1 MiB (``PutRecords``: 5 MiB), goes unchanged (counted in
``ddfast.propagation.ERRORS``). The SQS message body is never touched, and neither are the caller's own
dicts and lists: what is changed is a copy, given to botocore.

What the consumer reads: SQS ``ReceiveMessage`` asks for the ``_datadog`` attribute
(``MessageAttributeNames``, as ddtrace does) and reads each message's context from its ``_datadog``
attribute (String or Binary), else from an SNS notification envelope in its body, else from the
``detail._datadog`` of an EventBridge event in its body (ddtrace writes that one but reads it nowhere);
Kinesis ``GetRecords`` reads the records' ``Data``. The receive span is a child of the first message's
context and links the contexts of the other messages that differ from it; it starts when the call did
(ddtrace starts an SQS receive span when the call has returned). A ``_datadog`` value that is missing,
not JSON, truncated, not an object, larger than 16 KiB or with values that do not parse gives no parent
(counted), never an exception.

Settings, read when ``patch()`` runs: ``DD_BOTOCORE_DISTRIBUTED_TRACING`` (else
``DD_TRACE_DISTRIBUTED_TRACING``; ``patch(distributed_tracing=...)``) turns writing and reading contexts
on or off; ``DD_BOTOCORE_PROPAGATION_ENABLED=false`` turns reading off (ddtrace reads only when it is
``true``; ddfast reads by default); ``DD_BOTOCORE_EMPTY_POLL_ENABLED=false`` leaves receives that got
nothing untraced; ``DD_BOTOCORE_SERVICE``; ``DD_AWS_TAG_NO_PARAMS``.

Where ddfast differs from ddtrace on purpose: ddtrace writes the caller's ``MessageAttributes`` dict and
``Entries`` in place (a dict reused for the next message then already has ``_datadog``, which counts
towards its 10), and replaces base64-encoded Kinesis data by the decoded JSON (a consumer decoding base64
then fails): ddfast does neither. ddtrace reformats a Kinesis record's or an EventBridge entry's JSON
(``json.dumps``); ddfast adds the member and keeps the rest of the text as it was. ddtrace does not check
SQS's and SNS's 256 KiB, which fails the send. ddtrace also writes the context into the HTTP headers of
every AWS request, into Lambda ``Invoke``'s client context and Step Functions' input, and adds span
pointers for S3 and DynamoDB: ddfast does not.
"""

import base64
import json
import time

from ddfast.contrib import _http
from ddfast.contrib import _patch
from ddfast.contrib.integration import ACTIVE
from ddfast.contrib.integration import Integration
from ddfast.contrib.integration import record as _record
from ddfast.settings import asbool

#: the longest ``_datadog`` value read; longer ones are not looked into
MAX_CONTEXT_BYTES = 16 * 1024
#: the services' limits: SQS and SNS messages (and batches), EventBridge entries (and requests), Kinesis
#: records and PutRecords requests
SQS_MAX_BYTES = 256 * 1024
EVENTS_MAX_BYTES = 256 * 1024
KINESIS_RECORD_MAX_BYTES = 1024 * 1024
KINESIS_REQUEST_MAX_BYTES = 5 * 1024 * 1024
MAX_MESSAGE_ATTRIBUTES = 10

_KEY = "_datadog"
_compact = json.JSONEncoder(separators=(",", ":")).encode
_loads = json.loads


def _make_encode():
    """``_compact`` without building an encoder per call: the json module's C encoder, made once (where
    it is there and answers as ``_compact`` does), else ``_compact``."""
    try:
        from json.encoder import c_make_encoder
        from json.encoder import encode_basestring_ascii

        encoder = c_make_encoder(None, None, encode_basestring_ascii, None, ":", ",", False, False, True)

        def encode(headers):
            return "".join(encoder(headers, 0))

        sample = {"x-datadog-trace-id": "1", "tracestate": 'dd=s:1,a="\\\u00e9'}
        if encode(sample) == _compact(sample):
            return encode
    except Exception:
        pass
    return _compact


_encode = _make_encode()


def patch(tracer=None, distributed_tracing=None, service=None):
    """Trace ``botocore.client.BaseClient._make_api_call``; a second call changes nothing."""
    import botocore.client
    import botocore.exceptions

    tracer = _http.global_tracer(tracer)
    integ = Integration("botocore", tracer, distributed_tracing=distributed_tracing)
    traced = _Traced(integ, service, botocore.exceptions.ClientError)
    return _patch.wrap(botocore.client.BaseClient, "_make_api_call", traced.make)


def unpatch():
    import botocore.client

    _patch.unwrap(botocore.client.BaseClient, "_make_api_call")


class _Traced:
    """What the patched ``_make_api_call`` runs, with every setting read once."""

    def __init__(self, integ, service, client_error):
        import os

        env = os.environ
        self.integ = integ
        self.state = integ.http.state
        self.inject_on = integ.distributed
        self.extract_on = integ.distributed and asbool(env.get("DD_BOTOCORE_PROPAGATION_ENABLED"), True)
        self.empty_poll = asbool(env.get("DD_BOTOCORE_EMPTY_POLL_ENABLED"), True)
        self.tag_params = not asbool(env.get("DD_AWS_TAG_NO_PARAMS"), False)
        self.v1 = _http.schema_v1()
        base = service or (env.get("DD_BOTOCORE_SERVICE") or "").strip() or "aws"
        self.base_service = base if _http._integration_services() else None
        self.client_error = client_error
        self._names = {}  # (endpoint, operation) -> (name, service, resource, producer)
        self._tags = {}  # (region, endpoint, operation, the parameters tagged) -> the tags

    def names(self, endpoint, operation):
        key = (endpoint, operation)
        found = self._names.get(key)
        if found is None:
            producer = _PRODUCERS.get(key) if self.inject_on else None
            if self.v1:
                name = _V1_NAMES.get(key) or ("aws.%s.request" % endpoint)
                if key in _V1_WHEN_INJECTING and not self.inject_on:
                    name = "aws.%s.request" % endpoint
            else:
                name = "%s.command" % endpoint
            service = None if self.base_service is None else "%s.%s" % (self.base_service, endpoint)
            found = (name, service, "%s.%s" % (endpoint, operation.lower()), producer)
            self._names[key] = found
        return found

    def make(self, original):
        state, integ, in_client_call = self.state, self.integ, _http._in_client_call

        def _make_api_call(client, operation_name, api_params):
            if not state.enabled:
                return original(client, operation_name, api_params)
            try:
                endpoint = client._endpoint._endpoint_prefix
            except AttributeError:
                return original(client, operation_name, api_params)
            name, service, resource, producer = self.names(endpoint, operation_name)
            consumer = _CONSUMERS.get((endpoint, operation_name))
            if consumer is not None:
                return self.receive(consumer, original, client, operation_name, api_params, name, service, resource)
            span = self.start(name, service, resource, client, endpoint, operation_name, api_params, True)
            if producer is not None and type(api_params) is dict:
                try:
                    producer(integ, span, api_params)
                except Exception as exc:  # never into the caller's send
                    _record("aws_inject", "%s: %s" % (type(exc).__name__, exc))
            token = in_client_call.set(True)  # an HTTP integration below does not trace it again
            try:
                result = original(client, operation_name, api_params)
            except Exception as exc:
                in_client_call.reset(token)
                self.failed(span, exc)
                raise
            in_client_call.reset(token)
            _tag_response(span, result)
            span.finish()
            return result

        return _make_api_call

    def receive(self, consumer, original, client, operation, params, name, service, resource):
        """``ReceiveMessage``, ``GetRecords``: the call first, then the span (started when the call did)
        under the first message's context."""
        integ, endpoint = self.integ, consumer[0]
        if self.extract_on and endpoint == "sqs" and type(params) is dict:
            _ask_for_context(params)
        start_ns = time.time_ns()
        token = _http._in_client_call.set(True)
        try:
            result = original(client, operation, params)
        except Exception as exc:
            _http._in_client_call.reset(token)
            span = self.start(name, service, resource, client, endpoint, operation, params, False)
            span.start_ns = start_ns
            self.failed(span, exc)
            raise
        _http._in_client_call.reset(token)
        messages = result.get(consumer[1]) if type(result) is dict else None
        if not messages and not self.empty_poll:
            return result
        parent = None
        contexts = ()
        if messages and self.extract_on:
            seen = {}  # the messages of one send carry one context: read once
            read = consumer[2]
            if endpoint == "sqs":
                contexts = []
                for m in messages:
                    try:  # the usual batch: the messages of one send, their context read already
                        contexts.append(seen[m["MessageAttributes"][_KEY]["StringValue"]])
                    except Exception:
                        contexts.append(read(integ, m, seen))
            else:
                contexts = [read(integ, m, seen) for m in messages]
            parent = contexts[0]
        span = self.start(name, service, resource, client, endpoint, operation, params, False, parent)
        span.start_ns = start_ns
        for context in contexts[1:]:
            # a context read once is one object: the messages of the parent's send are skipped first
            if context is not None and context is not parent and context.span_id and not _same(context, parent):
                span.link_span(context)
        _tag_response(span, result)
        span.finish()
        return result

    def start(self, name, service, resource, client, endpoint, operation, params, activate, parent=None):
        """The call's span, child of ``parent`` (default: the active span), with its tags."""
        span = self.integ.start_span(name, ACTIVE if parent is None else parent, resource, "http", service, None,
                                     activate)  # fmt: skip
        # the tags are text under keys with no special meaning (what set_tags would check one by one)
        span._meta.update(self.tags(client, endpoint, operation, params))
        span.set_metric("_dd.measured", 1)
        return span

    def tags(self, client, endpoint, operation, params):
        """The span's tags (ddtrace's), made once per region, call and queue, topic or stream."""
        region = getattr(getattr(client, "meta", None), "region_name", None)
        keys = _PARAM_KEYS.get(endpoint, ())
        try:
            key = (
                (region, endpoint, operation) + tuple([params.get(k) for k in keys])
                if keys
                else (region, endpoint, operation)
            )
            tags = self._tags.get(key)
        except Exception:  # parameters of unexpected types: made each time
            key = tags = None
        if tags is None:
            tags = self._make_tags(region, endpoint, operation, params)
            if key is not None:
                if len(self._tags) >= 1024:
                    self._tags.clear()
                self._tags[key] = tags
        return tags

    def _make_tags(self, region, endpoint, operation, params):
        tags = {"component": "botocore", "span.kind": "client", "aws_service": endpoint, "aws.agent": "botocore",
                "aws.operation": operation}  # fmt: skip
        if self.tag_params and type(params) is dict:
            tagger = _PARAM_TAGS.get(endpoint)
            if tagger is not None:
                try:
                    tagger(tags, params)
                except Exception:  # a parameter of an unexpected type: untagged
                    pass
        if region is not None:
            tags["aws.region"] = tags["region"] = region
            tags["aws.partition"] = (
                "aws-cn" if region.startswith("cn-") else "aws-us-gov" if region.startswith("us-gov-") else "aws"
            )
        return {k: v if type(v) is str else str(v) for k, v in tags.items()}

    def failed(self, span, exc):
        """End ``span`` for a call that raised: a ``ClientError`` is the service's answer, an error when its
        status is a server error; anything else (no answer) is one."""
        if isinstance(exc, self.client_error):
            response = getattr(exc, "response", None)
            _tag_response(span, response)
            status = _status(response)
            if status is not None and status not in _http.error_statuses["server"]:
                span.finish()
                return
        self.integ.finish(span, exc)


def _status(response):
    try:
        return int(response["ResponseMetadata"]["HTTPStatusCode"])
    except Exception:
        return None


def _tag_response(span, result):
    if type(result) is not dict:
        return
    meta = result.get("ResponseMetadata")
    if not meta:
        return
    status = meta.get("HTTPStatusCode")
    if status is not None:
        span.set_tag("http.status_code", status)  # stored as text
    retries = meta.get("RetryAttempts")
    if retries is not None:
        span.set_tag("retry_attempts", retries)
    request_id = meta.get("RequestId")
    if request_id is not None:
        span.set_tag("aws.requestid", request_id)


def _same(a, b):
    return b is not None and a.trace_id == b.trace_id and a.span_id == b.span_id


# -- the tags of each service's parameters (ddtrace's) ----------------------------------------------------


def _sqs_tags(tags, params):
    queue = params.get("QueueName", "")
    url = params.get("QueueUrl")
    if url and (url.startswith("sqs:") or url.startswith("http")):
        parts = url.split("/")
        queue = parts[-1]
        tags["aws_account"] = parts[-2]
    tags["aws.sqs.queue_name"] = tags["queuename"] = queue


def _sns_tags(tags, params):
    arn = params.get("TopicArn")
    if arn:
        parts = arn.split(":")
        tags["aws.sns.topic_arn"] = arn
        tags["aws_account"] = parts[-2]
        tags["topicname"] = parts[-1]


def _one(tag, alias, param):
    def tagger(tags, params):
        value = params.get(param)
        if value:
            tags[tag] = tags[alias] = value

    return tagger


def _always(tag, param):
    def tagger(tags, params):
        tags[tag] = params.get(param, "")

    return tagger


#: the parameters each service's tags are made of
_PARAM_KEYS = {
    "sqs": ("QueueUrl", "QueueName"),
    "sns": ("TopicArn",),
    "kinesis": ("StreamName",),
    "dynamodb": ("TableName",),
    "s3": ("Bucket",),
    "redshift": ("ClusterIdentifier",),
    "cloudwatch": ("logGroupName",),
    "lambda": ("FunctionName",),
    "events": ("Name",),
    "states": ("stateMachineArn",),
}

_PARAM_TAGS = {
    "sqs": _sqs_tags,
    "sns": _sns_tags,
    "kinesis": _one("aws.kinesis.stream_name", "streamname", "StreamName"),
    "dynamodb": _one("aws.dynamodb.table_name", "tablename", "TableName"),
    "s3": _one("aws.s3.bucket_name", "bucketname", "Bucket"),
    "redshift": _one("aws.redshift.cluster_identifier", "clusteridentifier", "ClusterIdentifier"),
    "cloudwatch": _one("aws.cloudwatch.logs.log_group_name", "loggroupname", "logGroupName"),
    "lambda": _always("functionname", "FunctionName"),
    "events": _always("rulename", "Name"),
    "states": _always("statemachinearn", "stateMachineArn"),
}


# -- writing the context ------------------------------------------------------------------------------------


def _context_json(integ, span):
    """The span's context as the ``_datadog`` JSON object's text, or None when nothing is injected."""
    headers = {}
    integ.inject(span, headers)
    return _encode(headers) if headers else None


def _utf8_len(text):
    if type(text) is str:
        return len(text) if text.isascii() else len(text.encode("utf-8", "surrogatepass"))
    if isinstance(text, (bytes, bytearray, memoryview)):
        return len(text)
    return 0


def _attributes_size(attributes):
    size = 0
    for name, attr in attributes.items():
        if name == _KEY:
            continue
        size += _utf8_len(name)
        if type(attr) is dict:
            size += _utf8_len(attr.get("DataType")) + _utf8_len(attr.get("StringValue"))
            size += _utf8_len(attr.get("BinaryValue"))
    return size


def _attributes_with_context(message, body_key, value, data_type, budget):
    """A copy of ``message``'s attributes with the ``_datadog`` one, or None where it does not fit
    (counted); ``budget``: ``[bytes left]`` of the batch."""
    attributes = message.get("MessageAttributes")
    if attributes is None:
        attributes = {}
    elif type(attributes) is not dict:
        _record("aws_inject_attributes", type(attributes).__name__)
        return None
    count = len(attributes) - (_KEY in attributes)
    if count >= MAX_MESSAGE_ATTRIBUTES:
        _record("aws_inject_attributes", count)
        return None
    size = _utf8_len(message.get(body_key))
    if attributes:
        size += _attributes_size(attributes)
    added = 8 + len(data_type) + len(value)  # "_datadog", the type, the JSON (ASCII)
    if size + added > budget[0]:
        _record("aws_inject_size", size + added)
        budget[0] -= size
        return None
    budget[0] -= size + added
    attributes = dict(attributes)
    attributes[_KEY] = {"DataType": data_type, data_type + "Value": value}
    return attributes


def _attribute_producer(body_key, entries_key, data_type):
    def produce(integ, span, params):
        text = _context_json(integ, span)
        if text is None:
            return
        value = text if data_type == "String" else text.encode("ascii")
        budget = [SQS_MAX_BYTES]
        if entries_key in params:
            entries = params[entries_key]
            if type(entries) is not list or not entries:
                return
            copies = []
            for entry in entries:
                attributes = None
                if type(entry) is dict:
                    attributes = _attributes_with_context(entry, body_key, value, data_type, budget)
                if attributes is not None:
                    entry = dict(entry)
                    entry["MessageAttributes"] = attributes
                copies.append(entry)
            params[entries_key] = copies
        else:
            attributes = _attributes_with_context(params, body_key, value, data_type, budget)
            if attributes is not None:
                params["MessageAttributes"] = attributes

    return produce


def _json_object(data):
    """``data`` (a JSON text, str or bytes) as a dict when it is a JSON object, else None."""
    if type(data) is not str:
        if not isinstance(data, (bytes, bytearray, memoryview)):
            return None, None
        try:
            data = bytes(data).decode("utf-8")
        except UnicodeDecodeError:
            return None, None
    stripped = data.lstrip()
    if not stripped.startswith("{"):
        return None, None
    try:
        value = _loads(data)
    except Exception:
        return None, None
    return (data, value) if type(value) is dict else (None, None)


def _add_member(text, parsed, member_json):
    """``text`` (a JSON object, ``parsed``) with ``"_datadog": <member_json>``: inserted before the closing
    brace, the rest of the text as it was; an existing ``_datadog`` is replaced."""
    if _KEY in parsed:
        parsed = dict(parsed)
        parsed[_KEY] = _loads(member_json)
        tail = text[len(text.rstrip()) :]
        return _compact(parsed) + tail
    close = text.rindex("}")
    head = text[:close].rstrip()
    separator = "" if head.endswith("{") else ","
    return '%s%s"%s":%s%s' % (head, separator, _KEY, member_json, text[close:])


def _events_entry_size(entry, detail):
    size = _utf8_len(detail) + _utf8_len(entry.get("Source")) + _utf8_len(entry.get("DetailType"))
    if entry.get("Time") is not None:
        size += 14
    resources = entry.get("Resources")
    if type(resources) is list:
        for resource in resources:
            size += _utf8_len(resource)
    return size


def _produce_events(integ, span, params):
    entries = params.get("Entries")
    if type(entries) is not list or not entries:
        return
    text = _context_json(integ, span)
    if text is None:
        return
    budget = EVENTS_MAX_BYTES
    copies = []
    for entry in entries:
        copy = entry
        if type(entry) is dict:
            detail = entry.get("Detail")
            original, parsed = ("{}", {}) if detail is None else _json_object(detail)
            if parsed is None:
                _record("aws_inject_json", "events")
            else:
                new = _add_member(original, parsed, text)
                size = _events_entry_size(entry, new)
                if size > min(budget, EVENTS_MAX_BYTES):
                    _record("aws_inject_size", size)
                    size = _events_entry_size(entry, detail or "")
                else:
                    copy = dict(entry)
                    copy["Detail"] = new
                budget -= size
        copies.append(copy)
    params["Entries"] = copies


def _with_record_context(record, text, budget):
    data = record.get("Data")
    original, parsed = _json_object(data) if data is not None else (None, None)
    key_size = _utf8_len(record.get("PartitionKey"))
    if parsed is None:
        budget[0] -= _utf8_len(data) + key_size
        return None
    new = _add_member(original, parsed, text)
    if type(data) is not str:
        new = new.encode("utf-8")
    size = _utf8_len(new) + key_size
    if size > KINESIS_RECORD_MAX_BYTES or size > budget[0]:
        _record("aws_inject_size", size)
        budget[0] -= _utf8_len(data) + key_size
        return None
    budget[0] -= size
    copy = dict(record)
    copy["Data"] = new
    return copy


def _produce_kinesis(integ, span, params):
    text = _context_json(integ, span)
    if text is None:
        return
    budget = [KINESIS_REQUEST_MAX_BYTES]
    records = params.get("Records")
    if records is not None:
        if type(records) is not list:
            return
        copies = []
        for record in records:
            copy = _with_record_context(record, text, budget) if type(record) is dict else None
            copies.append(record if copy is None else copy)
        params["Records"] = copies
    elif "Data" in params:
        copy = _with_record_context(params, text, budget)
        if copy is not None:
            params["Data"] = copy["Data"]


_PRODUCERS = {
    ("sqs", "SendMessage"): _attribute_producer("MessageBody", "Entries", "String"),
    ("sqs", "SendMessageBatch"): _attribute_producer("MessageBody", "Entries", "String"),
    ("sns", "Publish"): _attribute_producer("Message", "PublishBatchRequestEntries", "Binary"),
    ("sns", "PublishBatch"): _attribute_producer("Message", "PublishBatchRequestEntries", "Binary"),
    ("events", "PutEvents"): _produce_events,
    ("kinesis", "PutRecord"): _produce_kinesis,
    ("kinesis", "PutRecords"): _produce_kinesis,
}

#: the calls ddtrace names as messaging ones under schema v1
_V1_NAMES = {
    ("sqs", "SendMessage"): "aws.sqs.send",
    ("sqs", "SendMessageBatch"): "aws.sqs.send",
    ("sqs", "ReceiveMessage"): "aws.sqs.receive",
    ("sns", "Publish"): "aws.sns.send",
    ("sns", "PublishBatch"): "aws.sns.send",
    ("events", "PutEvents"): "aws.events.send",
    ("kinesis", "PutRecord"): "aws.kinesis.send",
    ("kinesis", "PutRecords"): "aws.kinesis.send",
    ("lambda", "Invoke"): "aws.lambda.invoke",
    ("states", "StartExecution"): "aws.stepfunctions.send",
    ("states", "StartSyncExecution"): "aws.stepfunctions.send",
}
#: ... of which these only where it propagates
_V1_WHEN_INJECTING = frozenset(
    [("sns", "Publish"), ("sns", "PublishBatch"), ("events", "PutEvents"), ("lambda", "Invoke"),
     ("states", "StartExecution"), ("states", "StartSyncExecution")]
)  # fmt: skip


# -- reading the context ------------------------------------------------------------------------------------


def _ask_for_context(params):
    """``ReceiveMessage`` returns the ``_datadog`` attribute only when asked for it (as ddtrace asks)."""
    names = params.get("MessageAttributeNames")
    if names is None:
        params["MessageAttributeNames"] = [_KEY]
    elif isinstance(names, (list, tuple)) and _KEY not in names:
        params["MessageAttributeNames"] = list(names) + [_KEY]


def _parse_context(value, where):
    """A ``_datadog`` JSON text (str or bytes) as a dict of headers, or None (counted)."""
    if value is None:
        return None
    if isinstance(value, (bytes, bytearray, memoryview)):
        if len(value) > MAX_CONTEXT_BYTES:
            _record("aws_context_size", len(value))
            return None
        try:
            value = bytes(value).decode("utf-8")
        except UnicodeDecodeError:
            _record("aws_context_json", where)
            return None
    elif type(value) is not str:
        _record("aws_context_json", where)
        return None
    elif len(value) > MAX_CONTEXT_BYTES:
        _record("aws_context_size", len(value))
        return None
    try:
        headers = _loads(value)
    except Exception:  # not JSON, truncated, nested too deep
        _record("aws_context_json", where)
        return None
    if type(headers) is not dict:
        _record("aws_context_json", where)
        return None
    return headers


def _attribute_context(integ, value):
    """The context of a ``_datadog`` attribute's value: the usual JSON object of text headers read by the
    core as pairs, anything else by the JSON parser (``_parse_context``)."""
    pairs = integ.json_headers(value) if type(value) is str and len(value) <= MAX_CONTEXT_BYTES else None
    if pairs is not None:
        return integ.extract(pairs) if pairs else None
    return _headers_context(integ, _parse_context(value, "attribute"))


def _headers_context(integ, headers):
    return integ.extract(headers) if headers else None


def _sqs_message_context(integ, message, seen):
    """The context one received SQS message carries, or None; ``seen``: the contexts of the values read
    already (value -> context)."""
    try:  # the usual case, a batch of one send: a context read already
        return seen[message["MessageAttributes"][_KEY]["StringValue"]]
    except Exception:
        pass
    if type(message) is not dict:
        return None
    attributes = message.get("MessageAttributes")
    if attributes:
        attr = attributes.get(_KEY) if type(attributes) is dict else None
        if attr is not None:
            if type(attr) is not dict:
                _record("aws_context_json", "attribute")
                return None
            value = attr.get("StringValue")
            if value is None:
                value = attr.get("BinaryValue")
            try:
                return seen[value]
            except (KeyError, TypeError):
                pass
            context = _attribute_context(integ, value)
            if type(value) is str:
                seen[value] = context
            return context
    body = message.get("Body")
    if type(body) is not str or '"_datadog"' not in body:
        return None
    return _headers_context(integ, _body_context(body))


def _body_context(body):
    """The headers inside an SQS body that is an SNS notification or an EventBridge event."""
    if len(body) > SQS_MAX_BYTES * 4:
        return None
    try:
        document = _loads(body)
    except Exception:
        return None  # a body of the application's, not ours
    if type(document) is not dict:
        return None
    if document.get("Type") == "Notification":  # SNS -> SQS, the envelope
        attributes = document.get("MessageAttributes")
        attr = attributes.get(_KEY) if type(attributes) is dict else None
        if type(attr) is not dict:
            return None
        value = attr.get("Value")
        if attr.get("Type") == "Binary":
            if type(value) is not str or len(value) > MAX_CONTEXT_BYTES * 2:
                _record("aws_context_size" if type(value) is str else "aws_context_json", "sns")
                return None
            try:
                value = base64.b64decode(value, validate=True)
            except Exception:
                _record("aws_context_json", "sns")
                return None
        return _parse_context(value, "sns")
    detail = document.get("detail")
    if type(detail) is dict and "detail-type" in document:  # EventBridge -> SQS, the event
        headers = detail.get(_KEY)
        if headers is None:
            return None
        if type(headers) is not dict:
            _record("aws_context_json", "events")
            return None
        return headers
    return None


def _kinesis_record_context(integ, record, seen):
    if type(record) is not dict:
        return None
    data = record.get("Data")
    if data is None:
        return None
    if isinstance(data, (bytes, bytearray)):
        if b'"_datadog"' not in data:
            return None
    elif type(data) is not str or '"_datadog"' not in data:
        return None
    _, document = _json_object(data)
    headers = document.get(_KEY) if document else None
    if headers is None:
        return None
    if type(headers) is not dict:
        _record("aws_context_json", "kinesis")
        return None
    return _headers_context(integ, headers)


#: (endpoint, operation) -> (endpoint, the result's list of messages, the context of one)
_CONSUMERS = {
    ("sqs", "ReceiveMessage"): ("sqs", "Messages", _sqs_message_context),
    ("kinesis", "GetRecords"): ("kinesis", "Records", _kinesis_record_context),
}
