"""The local lifecycle-event plumbing, on moto's EventBridge and SQS, and the
DynamoDB Streams poller that stands in for Lambda's event source mapping.

    events.py tap BUS                 create BUS, a queue and a rule sending
                                      every cog.tokens event on BUS to it;
                                      prints the queue URL (idempotent)
    events.py read QUEUE_URL [SECS]   print the queue's messages as JSON
                                      lines, waiting up to SECS for the first
                                      and until none came for 2 seconds
    events.py summary QUEUE_URL [SECS]
                                      the same, one line per event: its
                                      detail-type, token and actor
    events.py poll TABLE INVOKE_URL [--repeat N] [--function NAME]
                                    [--retries N] [--dead-letter QUEUE_URL]
                                    [--parallel N] [--interval SECS]
                                    [--template PATH]
                                      deliver the table's stream to the
                                      publisher function through the Lambda
                                      invoke API (cargo lambda watch), as the
                                      event source mapping does: only the
                                      records its FilterCriteria in the
                                      template (default: the repository's
                                      template.yaml) match; --repeat
                                      delivers each batch N times (tests of
                                      idempotency). Records the function
                                      reports failed are retried, N times
                                      (default 20, as template.yaml), then
                                      their batch's description goes to the
                                      dead-letter queue (default: the queue
                                      TABLE-FUNCTION-dlq, created); --parallel
                                      keeps up to N batches in flight, as a
                                      mapping's ParallelizationFactor does;
                                      --interval: the pause between polls
                                      (default 0.2)
    events.py tick INVOKE_URL FUNCTION SECS
                                      invoke FUNCTION with a schedule's input
                                      every SECS seconds, as EventBridge
                                      Scheduler does (each run may last a
                                      while: the next starts on time anyway)
Endpoints and credentials come from the standard AWS_* variables (stack.env).
"""
import base64
import datetime
import json
import os
import sys
import threading
import time
import urllib.request

import boto3
import yaml

TEMPLATE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "template.yaml")


def client(service, endpoint_variable):
    return boto3.client(
        service,
        endpoint_url=os.environ.get(endpoint_variable) or os.environ["AWS_ENDPOINT_URL_KMS"],
        region_name=os.environ.get("AWS_REGION", "us-east-1"),
    )


def tap(bus):
    events = client("events", "AWS_ENDPOINT_URL_EVENTBRIDGE")
    sqs = client("sqs", "AWS_ENDPOINT_URL_SQS")
    try:
        events.create_event_bus(Name=bus)
    except events.exceptions.ResourceAlreadyExistsException:
        pass
    queue = sqs.create_queue(QueueName=f"{bus}-tap")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    events.put_rule(Name=f"{bus}-tap", EventBusName=bus, EventPattern=json.dumps({"source": ["cog.tokens"]}))
    events.put_targets(Rule=f"{bus}-tap", EventBusName=bus, Targets=[{"Id": "tap", "Arn": arn}])
    print(queue)


def read(queue, wait_seconds=2, show=lambda body: body):
    sqs = client("sqs", "AWS_ENDPOINT_URL_SQS")
    wait = int(wait_seconds)
    while True:
        answer = sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10, WaitTimeSeconds=wait)
        messages = answer.get("Messages", [])
        if not messages:
            return
        for message in messages:
            print(show(message["Body"]), flush=True)
            sqs.delete_message(QueueUrl=queue, ReceiptHandle=message["ReceiptHandle"])
        wait = 2


def summary(body):
    event = json.loads(body)
    detail = event["detail"]
    return f"{event['detail-type']:<32} token={detail.get('token_id') or '-'} by={detail['actor']}"


def stream_filters(template_path, function):
    """The FilterCriteria patterns of `function`'s DynamoDB stream event in
    the template (the function named by its BuildProperties' Binary)."""
    class Loader(yaml.SafeLoader):
        pass
    # CloudFormation's short forms (!GetAtt, !Sub, ...) as plain values.
    Loader.add_multi_constructor("!", lambda loader, tag, node: None)
    with open(template_path) as file:
        template = yaml.load(file, Loader=Loader)
    for resource in template["Resources"].values():
        if ((resource.get("Metadata") or {}).get("BuildProperties") or {}).get("Binary") != function:
            continue
        for event in ((resource.get("Properties") or {}).get("Events") or {}).values():
            if event.get("Type") == "DynamoDB":
                filters = ((event["Properties"].get("FilterCriteria") or {}).get("Filters")) or []
                return [json.loads(f["Pattern"]) for f in filters]
    raise SystemExit(f"events.py: no DynamoDB stream event for {function} in {template_path}")


def delivered(patterns, record):
    """Whether an event source mapping with these filters delivers `record`:
    no filter, or any one pattern matches (EventBridge-style patterns)."""
    return not patterns or any(matches(pattern, record) for pattern in patterns)


def deliverable(patterns, records):
    """The records of a batch the mapping delivers, matched as JSON (as Lambda sees them)."""
    return [r for r in records if delivered(patterns, json.loads(json.dumps(r, default=as_json)))]


MISSING = object()


def matches(pattern, value):
    """One pattern (an object) against one JSON object: every field named
    must match; other fields do not matter."""
    if not isinstance(pattern, dict):
        raise ValueError(f"a pattern is an object, not {pattern!r}")
    for key, expected in pattern.items():
        if key == "$or":
            if not any(matches(p, value) for p in expected):
                return False
            continue
        field = value.get(key, MISSING) if isinstance(value, dict) else MISSING
        if isinstance(expected, dict):
            if not matches(expected, field if isinstance(field, dict) else {}):
                return False
        elif isinstance(expected, list):
            if not any(condition_holds(condition, field) for condition in expected):
                return False
        else:
            raise ValueError(f"pattern field {key!r}: a list or an object, not {expected!r}")
    return True


def condition_holds(condition, field):
    """One element of a pattern's list: a literal, or an operator object.
    A list-valued field matches when any of its elements does."""
    if isinstance(field, list):
        return any(condition_holds(condition, element) for element in field)
    if not isinstance(condition, dict):
        return field is not MISSING and same_json_value(field, condition)
    if len(condition) != 1:
        raise ValueError(f"a filter operator object has one key: {condition!r}")
    (operator, argument), = condition.items()
    if operator == "exists":
        return (field is not MISSING) == argument
    if field is MISSING:
        return False
    if operator == "prefix":
        return isinstance(field, str) and field.startswith(argument)
    if operator == "suffix":
        return isinstance(field, str) and field.endswith(argument)
    if operator == "equals-ignore-case":
        return isinstance(field, str) and field.lower() == argument.lower()
    if operator == "anything-but":
        if isinstance(argument, dict):
            return not condition_holds(argument, field)
        excluded = argument if isinstance(argument, list) else [argument]
        return not any(condition_holds(e, field) for e in excluded)
    if operator == "numeric":
        if isinstance(field, bool) or not isinstance(field, (int, float)):
            return False
        comparisons = {"=": float.__eq__, "<": float.__lt__, "<=": float.__le__, ">": float.__gt__,
                       ">=": float.__ge__}
        pairs = zip(argument[::2], argument[1::2])
        return all(comparisons[op](float(field), float(bound)) for op, bound in pairs)
    raise ValueError(f"filter operator {operator!r} is not supported here")


def same_json_value(a, b):
    """JSON equality: 1 and 1.0 are one number; "1", 1 and true are not one value."""
    def kind(v):
        return "bool" if isinstance(v, bool) else "number" if isinstance(v, (int, float)) else type(v).__name__
    return kind(a) == kind(b) and a == b


def as_json(value):
    if isinstance(value, bytes):
        return base64.b64encode(value).decode()
    if isinstance(value, datetime.datetime):
        return value.timestamp()
    raise TypeError(type(value))


def invoke(url, function, records):
    event = {"Records": records}
    body = json.dumps(event, default=as_json).encode()
    request = urllib.request.Request(
        f"{url}/2015-03-31/functions/{function}/invocations", data=body, method="POST"
    )
    with urllib.request.urlopen(request, timeout=60) as response:
        answer = json.loads(response.read() or b"{}")
    failed = {f["itemIdentifier"] for f in (answer or {}).get("batchItemFailures", [])}
    return [r for r in records if r["dynamodb"]["SequenceNumber"] in failed]


def dead_letter_queue(table, function):
    sqs = client("sqs", "AWS_ENDPOINT_URL_SQS")
    return sqs.create_queue(QueueName=f"{table}-{function}-dlq")["QueueUrl"]


def give_up(queue, arn, shard_id, function, records, attempts):
    """What Lambda's on-failure destination gets for a stream batch: where
    the records are, not the records (their keys are in the function's log)."""
    arrivals = [r["dynamodb"].get("ApproximateCreationDateTime") for r in records]
    sequences = [r["dynamodb"]["SequenceNumber"] for r in records]
    body = {
        "version": "1.0",
        "timestamp": datetime.datetime.now(datetime.timezone.utc).isoformat(),
        "requestContext": {
            "functionArn": function,
            "condition": "RetryAttemptsExhausted",
            "approximateInvokeCount": attempts,
        },
        "DDBStreamBatchInfo": {
            "shardId": shard_id,
            "startSequenceNumber": sequences[0],
            "endSequenceNumber": sequences[-1],
            "approximateArrivalOfFirstRecord": arrivals[0],
            "approximateArrivalOfLastRecord": arrivals[-1],
            "batchSize": len(records),
            "streamArn": arn,
        },
    }
    client("sqs", "AWS_ENDPOINT_URL_SQS").send_message(QueueUrl=queue, MessageBody=json.dumps(body, default=as_json))
    print(f"gave up after {attempts} attempts: {sequences} to {queue}", file=sys.stderr, flush=True)


def deliver(url, function, records, retries):
    """Invokes until no record fails or the attempts run out; the records left."""
    pending, attempts = records, 0
    while pending and attempts <= retries:
        if attempts:
            time.sleep(0.5)
        pending = invoke(url, function, pending)
        attempts += 1
    return pending, attempts


def poll(table, url, repeat=1, function="event-publisher", retries=20, dead_letter=None, parallel=1,
         interval=0.2, template=TEMPLATE):
    patterns = stream_filters(template, function)
    print(f"filters: {json.dumps(patterns)}", file=sys.stderr, flush=True)
    dead_letter = dead_letter or dead_letter_queue(table, function)
    in_flight = []
    print(f"dead-letter queue: {dead_letter}", file=sys.stderr, flush=True)
    dynamodb = client("dynamodb", "AWS_ENDPOINT_URL_DYNAMODB")
    streams = client("dynamodbstreams", "AWS_ENDPOINT_URL_DYNAMODB")
    arn = dynamodb.describe_table(TableName=table)["Table"]["LatestStreamArn"]
    iterators = {}
    while True:
        for shard in streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"]:
            shard_id = shard["ShardId"]
            if shard_id not in iterators:
                iterators[shard_id] = streams.get_shard_iterator(
                    StreamArn=arn, ShardId=shard_id, ShardIteratorType="TRIM_HORIZON"
                )["ShardIterator"]
        for shard_id, iterator in list(iterators.items()):
            if iterator is None:
                continue
            answer = streams.get_records(ShardIterator=iterator, Limit=100)
            iterators[shard_id] = answer.get("NextShardIterator")
            # As Lambda filters: a record no pattern matches is dropped, never delivered.
            records = deliverable(patterns, [dict(r, eventSourceARN=arn) for r in answer["Records"]])
            if not records:
                continue
            for _ in range(repeat):
                def run(records=records, shard_id=shard_id):
                    failed, attempts = deliver(url, function, records, retries)
                    if failed:
                        give_up(dead_letter, arn, shard_id, function, failed, attempts)
                in_flight = [t for t in in_flight if t.is_alive()]
                while len(in_flight) >= parallel:
                    in_flight[0].join()
                    in_flight = [t for t in in_flight if t.is_alive()]
                thread = threading.Thread(target=run, daemon=True)
                thread.start()
                in_flight.append(thread)
                if parallel == 1:
                    thread.join()
        time.sleep(interval)


def tick(url, function, seconds):
    body = json.dumps({"tick": "credential-ends"}).encode()
    while True:
        started = time.monotonic()
        request = urllib.request.Request(
            f"{url}/2015-03-31/functions/{function}/invocations", data=body, method="POST",
            headers={"X-Amz-Invocation-Type": "Event"},
        )
        def run(request=request):
            try:
                with urllib.request.urlopen(request, timeout=300) as response:
                    print(response.read().decode(), flush=True)
            except OSError as error:
                print(f"tick failed: {error}", file=sys.stderr, flush=True)
        threading.Thread(target=run, daemon=True).start()
        time.sleep(max(0.0, float(seconds) - (time.monotonic() - started)))


def main(argv):
    command, args = argv[1], argv[2:]
    if command == "tap":
        tap(*args)
    elif command == "read":
        read(*args)
    elif command == "summary":
        read(*args, show=summary)
    elif command == "tick":
        tick(*args)
    elif command == "poll":
        options = {"--repeat": 1, "--function": "event-publisher", "--retries": 20, "--dead-letter": None,
                   "--parallel": 1, "--interval": 0.2, "--template": TEMPLATE}
        positional = []
        while args:
            if args[0] in options:
                options[args[0]] = args[1]
                args = args[2:]
            else:
                positional.append(args.pop(0))
        poll(
            *positional,
            repeat=int(options["--repeat"]),
            function=options["--function"],
            retries=int(options["--retries"]),
            dead_letter=options["--dead-letter"],
            parallel=int(options["--parallel"]),
            interval=float(options["--interval"]),
            template=options["--template"],
        )
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main(sys.argv)
