"""Avro with a schema registry, checked with clients we did not write.

`lifecycle run --input-format avro --output-format avro` against a real Kafka
broker (LIFECYCLE_TEST_BROKERS) and a real schema registry
(LIFECYCLE_TEST_REGISTRY, Apicurio Registry from deploy/registry/local.sh).
The input events are produced with confluent-kafka's AvroSerializer, and the
transitions are read back with its AvroDeserializer, which fetches the
writer's schema by the id in each record from the registry: the wire format
(magic byte, schema id, Avro) and the subject names (<topic>-value) are
checked by the Confluent client, not by our code.
"""

from __future__ import annotations

import datetime as dt
import os
import secrets
import signal
import subprocess
import time
from decimal import Decimal
from pathlib import Path

import pytest
from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic
from confluent_kafka.schema_registry import SchemaRegistryClient
from confluent_kafka.schema_registry.avro import AvroDeserializer, AvroSerializer
from confluent_kafka.serialization import MessageField, SerializationContext

# The broker and the built binary, shared with the JSON wire test.
from test_wire import binary, brokers  # noqa: F401  (pytest fixtures)

REPO = Path(__file__).resolve().parent.parent.parent
DEADLINE_S = 60

# An event as a producer with a registry would define it: named like
# event.v1, with an enum type, a timestamp-millis ts and a decimal amount.
EVENT_SCHEMA = """{"type":"record","name":"Event","namespace":"shop.events","fields":[
 {"name":"event_id","type":"string"},
 {"name":"user_id","type":"string"},
 {"name":"type","type":{"type":"enum","name":"Type","symbols":["login","purchase","content"]}},
 {"name":"ts","type":{"type":"long","logicalType":"timestamp-millis"}},
 {"name":"amount","type":["null",{"type":"bytes","logicalType":"decimal","precision":18,"scale":2}],"default":null},
 {"name":"currency","type":["null","string"],"default":null}]}"""


@pytest.fixture(scope="module")
def registry_url() -> str:
    u = os.environ.get("LIFECYCLE_TEST_REGISTRY", "")
    if not u:
        msg = ("LIFECYCLE_TEST_REGISTRY is not set: start a registry with deploy/registry/local.sh start "
               "and eval \"$(deploy/registry/local.sh env)\"")
        if os.environ.get("CI") == "true":
            pytest.fail(msg + " (.ci/run does)", pytrace=False)
        pytest.skip(msg)
    return u


@pytest.fixture(scope="module")
def avro_run(brokers, binary, registry_url, tmp_path_factory):
    prefix = f"wire-avro-{secrets.token_hex(4)}-"
    events, transitions, dlq = prefix + "events", prefix + "transitions", prefix + "dlq"
    warnings, segments, group = prefix + "warnings", prefix + "segments", prefix + "g"
    metrics = prefix + "metrics"
    admin = AdminClient({"bootstrap.servers": brokers})
    new = [NewTopic(n, num_partitions=1, replication_factor=1) for n in (events, transitions, dlq, warnings, segments)]
    new += [NewTopic(n, num_partitions=1, replication_factor=1, config={"cleanup.policy": "compact"}) for n in (group + ".changelog", metrics)]
    for fut in admin.create_topics(new, operation_timeout=30).values():
        fut.result(timeout=60)

    sr = SchemaRegistryClient({"url": registry_url})
    ser = AvroSerializer(sr, EVENT_SCHEMA)
    producer = Producer({"bootstrap.servers": brokers, "enable.idempotence": True})
    day0 = dt.datetime(2024, 3, 1, 9, 0, tzinfo=dt.timezone.utc)
    story = [  # (user, type, days after day0, amount)
        ("u1", "login", 0, None),
        ("u2", "login", 0.5, None),
        ("u1", "purchase", 1, Decimal("19.99")),
        ("u1", "purchase", 2, Decimal("5.00")),
    ]
    ctx = SerializationContext(events, MessageField.VALUE)
    for i, (user, typ, days, amount) in enumerate(story):
        ev = {"event_id": f"e{i}", "user_id": user, "type": typ, "ts": day0 + dt.timedelta(days=days),
              "amount": amount, "currency": "USD" if amount is not None else None}
        producer.produce(events, key=user.encode(), value=ser(ev, ctx))
    # A JSON event on the Avro topic: not in the wire format.
    producer.produce(events, key=b"u3", value=b'{"event_id":"j1","user_id":"u3","type":"login","ts":1709283600000}')
    assert producer.flush(30) == 0

    state = tmp_path_factory.mktemp("avro-state")
    log = tmp_path_factory.mktemp("avro-log") / "lifecycle.log"
    cmd = [str(binary), "run", "--brokers", brokers, "--group", group, "--state-dir", str(state),
           "--input-topics", events, "--transitions-topic", transitions, "--dlq-topic", dlq,
           "--warnings-topic", warnings, "--segments-topic", segments, "--metrics-topic", metrics, "--http", "off", "--log-format", "console",
           "--schema-registry", registry_url, "--input-format", "avro", "--output-format", "avro"]
    env = {k: v for k, v in os.environ.items() if not k.startswith("LIFECYCLE_")}
    c = Consumer({"bootstrap.servers": brokers, "group.id": prefix + "reader", "enable.auto.commit": False})
    c.assign([TopicPartition(transitions, 0, -2), TopicPartition(dlq, 0, -2)])
    got = {transitions: [], dlq: []}
    with open(log, "wb") as out:
        proc = subprocess.Popen(cmd, cwd=REPO, env=env, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT)
        try:
            t0 = time.monotonic()
            while len(got[transitions]) < 4 or len(got[dlq]) < 1:
                for m in c.consume(num_messages=100, timeout=0.5):
                    assert not m.error(), m.error()
                    got[m.topic()].append(m)
                if proc.poll() is not None or time.monotonic() - t0 > DEADLINE_S:
                    pytest.fail(f"lifecycle run: {len(got[transitions])}/4 transitions, {len(got[dlq])}/1 dead letters; "
                                f"log:\n{log.read_text()[-6000:]}", pytrace=False)
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=30)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    c.close()
    yield {"sr": sr, "transitions": transitions, "records": got[transitions], "dlq": got[dlq], "log": log.read_text()}
    admin.delete_topics([events, transitions, dlq, warnings, segments, group + ".changelog"], operation_timeout=30)


def test_avro_transitions_read_by_confluent_deserializer(avro_run):
    """Every transition is the Confluent wire format with the schema registered
    under <topic>-value, and AvroDeserializer reads the story's moves."""
    sr, topic = avro_run["sr"], avro_run["transitions"]
    latest = sr.get_latest_version(topic + "-value")
    deser = AvroDeserializer(sr)
    moves = []
    for m in avro_run["records"]:
        v = m.value()
        assert v[0] == 0 and int.from_bytes(v[1:5], "big") == latest.schema_id, \
            f"value does not start with the magic byte and the id {latest.schema_id} of {topic}-value: {v[:5].hex()}"
        assert dict(m.headers())["lifecycle.schema"] == b"transition.v1"
        t = deser(v, SerializationContext(topic, MessageField.VALUE))
        assert t["user_id"] == m.key().decode()
        assert len(t["id"]) == 32 and t["rfm"]["frequency"] >= 0
        moves.append((t["user_id"], t["from"], t["to"], t["trigger_event_id"]))
    assert sorted(moves) == sorted([
        ("u1", "none", "new", "e0"), ("u2", "none", "new", "e1"),
        ("u1", "new", "growing", "e2"), ("u1", "growing", "mature", "e3"),
    ]), f"moves {moves}; log:\n{avro_run['log'][-3000:]}"


def test_json_on_avro_topic_is_bad_wire_format(avro_run):
    """A record that is not in the wire format is dead-lettered, unchanged,
    with its own code."""
    [d] = avro_run["dlq"]
    h = dict(d.headers())
    assert h["lifecycle.dlq.code"] == b"bad_wire_format", h
    assert d.value().startswith(b'{"event_id":"j1"')
