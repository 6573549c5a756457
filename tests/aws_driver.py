"""One AWS messaging call through boto3, traced by ddtrace or by ddfast, against the AWS endpoint given
(the tests' moto server); prints the spans it made as JSON. ``tests/test_contrib_botocore.py`` runs it in
a subprocess for the ddtrace side of its interop tests (ddtrace and ddfast never patch one process).

    python aws_driver.py ddtrace|ddfast ACTION ENDPOINT_URL 'JSON ARGUMENTS'
    python aws_driver.py ddtrace|ddfast serve ENDPOINT_URL    (then one {"action", "args"} JSON a line)

Actions: ``sqs_send`` (``queue_url``, ``body``; ``batch``: SendMessageBatch), ``sns_publish``
(``topic_arn``, ``message``), ``events_put`` (``detail``), ``kinesis_put`` (``stream``, ``data``) inside a
``producer`` span; ``sqs_receive`` (``queue_url``), ``kinesis_get`` (``stream``) with no span around.
"""

import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from capture_writer import CaptureWriter  # noqa: E402


def _describe(span):
    links = getattr(span, "_links", None) or []
    if isinstance(links, dict):
        links = list(links.values())
    return {
        "name": span.name,
        "service": span.service,
        "resource": span.resource,
        "type": span.span_type,
        "error": int(span.error),
        "trace_id": span.trace_id,
        "span_id": span.span_id,
        "parent_id": span.parent_id or None,
        "tags": {k: str(v) for k, v in span.get_tags().items()},
        "metrics": dict(span.get_metrics()),
        "links": [[link.trace_id, link.span_id] for link in links],
    }


class _Capture(CaptureWriter):
    def take(self):
        return [_describe(s) for s in super().take()]


def setup(which, endpoint):
    """The tracer patched and ``run(action, args)``: one call, and the spans it made."""
    capture = _Capture()
    if which == "ddtrace":
        import ddtrace
        from ddtrace.trace import tracer

        tracer._span_aggregator.writer = capture
        ddtrace.patch(botocore=True)
    else:
        import ddfast
        from ddfast.tracer import tracer

        tracer.writer = capture
        ddfast.patch(botocore=True)
    import boto3

    def client(service):
        return boto3.client(service, endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id="testing",
                            aws_secret_access_key="testing")  # fmt: skip

    def run(action, args):
        return _run(tracer, capture, client, action, args)

    return run


def _run(tracer, capture, client, action, args):
    out = {}
    if action == "sqs_receive":
        result = client("sqs").receive_message(QueueUrl=args["queue_url"], MaxNumberOfMessages=10, WaitTimeSeconds=1)
        out["messages"] = len(result.get("Messages", []))
    elif action == "kinesis_get":
        kinesis = client("kinesis")
        shard = kinesis.describe_stream(StreamName=args["stream"])["StreamDescription"]["Shards"][0]["ShardId"]
        iterator = kinesis.get_shard_iterator(StreamName=args["stream"], ShardId=shard,
                                              ShardIteratorType="TRIM_HORIZON")["ShardIterator"]  # fmt: skip
        capture.take()
        result = kinesis.get_records(ShardIterator=iterator)
        out["messages"] = len(result.get("Records", []))
    else:
        with tracer.trace("producer") as producer:
            out["producer"] = [producer.trace_id, producer.span_id]
            if action == "sqs_send":
                if args.get("batch"):
                    entries = [{"Id": str(i), "MessageBody": args["body"]} for i in range(args["batch"])]
                    client("sqs").send_message_batch(QueueUrl=args["queue_url"], Entries=entries)
                else:
                    client("sqs").send_message(QueueUrl=args["queue_url"], MessageBody=args["body"])
            elif action == "sns_publish":
                client("sns").publish(TopicArn=args["topic_arn"], Message=args["message"])
            elif action == "events_put":
                entry = {"Source": "ddfast.test", "DetailType": "order", "Detail": args["detail"]}
                client("events").put_events(Entries=[entry])
            elif action == "kinesis_put":
                client("kinesis").put_record(StreamName=args["stream"], Data=args["data"].encode(), PartitionKey="k")
            else:
                raise SystemExit("unknown action " + action)
    out["spans"] = capture.take()
    return out


if __name__ == "__main__":
    run = setup(sys.argv[1], sys.argv[3])
    if sys.argv[2] != "serve":
        print(json.dumps(run(sys.argv[2], json.loads(sys.argv[4]))))
    else:
        print("ready", flush=True)
        for line in sys.stdin:
            request = json.loads(line)
            print(json.dumps(run(request["action"], request["args"])), flush=True)
