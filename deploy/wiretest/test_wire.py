"""The wire contract of `lifecycle run`, checked with a client we did not write.

Everything here talks to a real Kafka broker (LIFECYCLE_TEST_BROKERS) through
confluent-kafka (librdkafka), and reads the contract from the files that state
it: README.md ("Event and output schemas", "Semantics"), schemas/*.schema.json,
schemas/dlq.md and schemas/headers.go. No Go code of the project is imported;
the binary is built and run as a subprocess, as an operator would.

One module-scoped fixture (`run`) does the expensive part once: build the
binary, create uniquely named topics, produce a small hand-written population,
run the processor until it has written the expected outputs, SIGTERM it, and
read every output record back. The tests then check that result, one concern
each, so a failure names what broke.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import re
import secrets
import signal
import subprocess
import time
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

import pytest
from confluent_kafka import Consumer, ConsumerGroupTopicPartitions, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic
from jsonschema import Draft202012Validator, FormatChecker

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
SCHEMAS = REPO / "schemas"

PARTITIONS = 3  # of every topic of the run; the inputs must agree (co-partitioning)
EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc)
DAY_MS = 24 * 3600 * 1000
CHURN_AFTER_MS = 30 * DAY_MS  # the default --churn-after

OUTPUT_DEADLINE_S = 60  # for all expected outputs to be readable
STOP_DEADLINE_S = 30  # for the process to exit after SIGTERM

# Header names and values, as in schemas/headers.go and schemas/dlq.md.
H_ID, H_SCHEMA = "lifecycle.id", "lifecycle.schema"
H_DLQ_REASON, H_DLQ_CODE = "lifecycle.dlq.reason", "lifecycle.dlq.code"
H_DLQ_TOPIC, H_DLQ_PARTITION, H_DLQ_OFFSET = "lifecycle.dlq.topic", "lifecycle.dlq.partition", "lifecycle.dlq.offset"
SCHEMA_TRANSITION_V1 = "transition.v1"


# ---------------------------------------------------------------------------
# Kafka's key hash, independently of any Kafka client.
#
# The processor requires its input topics to be co-partitioned: a user's
# events must sit on the same partition number in events.login,
# events.purchase and events.content, and that only holds if every producer of
# every input topic hashes keys the same way. The ecosystem's standard is the
# Java client's murmur2 (also what kafka-go's Murmur2Balancer does, which the
# processor uses for its own outputs and for PartitionOf in the read side).
# librdkafka's default partitioner is consistent_random (CRC32), which would
# put a user's events on other partitions than a Java producer of the same
# topics does; hence partitioner=murmur2_random for our Producer.
#
# We also need the hash ourselves: the processor works in event time per
# partition (a partition's stream time is the largest event time it applied,
# and a churn timer fires only when that passes the due time), so the event
# that makes a user churn must be another user's event on the SAME partition.
# confluent_kafka exposes no murmur2 helper, so this is Kafka's
# org.apache.kafka.common.utils.Utils.murmur2 in Python, and partition_of is
# the Java DefaultPartitioner / BuiltInPartitioner for a non-null key:
# toPositive(murmur2(key)) % numPartitions. test_murmur2_matches_java_client
# pins it to the Java client's own test vectors, and the delivery reports of
# every record we produce must agree with it (test_producer_partitions_like_java).
def murmur2(data: bytes) -> int:
    """Kafka's murmur2, returned as Java's signed 32-bit int."""
    mask = 0xFFFFFFFF
    m, r = 0x5BD1E995, 24
    length = len(data)
    h = (0x9747B28C ^ length) & mask
    for i in range(length // 4):
        k = int.from_bytes(data[4 * i : 4 * i + 4], "little")
        k = (k * m) & mask
        k ^= k >> r  # Java's >>> on a 32-bit int: k is kept unsigned here
        k = (k * m) & mask
        h = (h * m) & mask
        h ^= k
    tail, rest = length & ~3, length % 4
    if rest == 3:
        h ^= data[tail + 2] << 16
    if rest >= 2:
        h ^= data[tail + 1] << 8
    if rest >= 1:
        h ^= data[tail]
        h = (h * m) & mask
    h ^= h >> 13
    h = (h * m) & mask
    h ^= h >> 15
    return h - (1 << 32) if h & 0x80000000 else h


def partition_of(key: bytes, partitions: int) -> int:
    return (murmur2(key) & 0x7FFFFFFF) % partitions


# ---------------------------------------------------------------------------
# Time and ids.
def ms(rfc3339: str) -> int:
    """Epoch milliseconds of an RFC 3339 timestamp with offset."""
    t = dt.datetime.fromisoformat(rfc3339.replace("Z", "+00:00"))
    return (t - EPOCH) // dt.timedelta(milliseconds=1)


def fmt_at(epoch_ms: int) -> str:
    """The transition `at` format: UTC, exactly three fraction digits, Z."""
    t = dt.datetime.fromtimestamp(epoch_ms / 1000, tz=dt.timezone.utc)
    return t.strftime("%Y-%m-%dT%H:%M:%S.") + f"{epoch_ms % 1000:03d}Z"


def output_id(user_id: str, kind: str, target: str, at_ms: int, trigger: str) -> str:
    """The deterministic output id, recomputed from its documented encoding.

    transition.v1.schema.json says: 32 lower-case hex digits of a SHA-256 over
    (user_id, kind "transition", from + ">" + to, at in epoch ms, trigger_event_id or "").
    The byte encoding is only written down in the Go doc of schemas.OutputID:
    each string as its length (8 bytes big-endian) then its bytes, at as 8
    bytes big-endian two's complement, in that order; the first 16 bytes of
    the digest in hex. test_output_id_matches_schema_examples checks this
    reading against the two examples in the schema file.
    """

    def field_(s: str) -> bytes:
        b = s.encode()
        return len(b).to_bytes(8, "big") + b

    raw = field_(user_id) + field_(kind) + field_(target) + (at_ms & (2**64 - 1)).to_bytes(8, "big") + field_(trigger)
    return hashlib.sha256(raw).hexdigest()[:32]


# ---------------------------------------------------------------------------
# Schemas. Both the schema files and the JSON we check are parsed with
# parse_float=Decimal: the event schema says `"multipleOf": 1e-06` for a JSON
# number amount, and with binary floats (Python's default, and most
# validators') that check is wrong for about 29% of ordinary two-decimal
# amounts, e.g. 0.1 / 1e-06 is not an integer in IEEE doubles, so a valid
# {"amount": 0.1} would be rejected. With Decimals the check is exact.
def load_json(b: bytes | str):
    return json.loads(b, parse_float=Decimal)


def validator(name: str) -> Draft202012Validator:
    schema = load_json((SCHEMAS / name).read_text())
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema, format_checker=FormatChecker())


EVENT_V1 = validator("event.v1.schema.json")
TRANSITION_V1 = validator("transition.v1.schema.json")


def schema_errors(v: Draft202012Validator, value: bytes) -> list[str]:
    try:
        doc = load_json(value)
    except ValueError as e:  # json.JSONDecodeError and UnicodeDecodeError
        return [f"not JSON: {e}"]
    return [f"{'/'.join(map(str, e.absolute_path)) or '(root)'}: {e.message}" for e in v.iter_errors(doc)]


# ---------------------------------------------------------------------------
# The population.
@dataclass
class Input:
    """One record we produce, and what the processor must make of it."""

    name: str  # for messages
    role: str  # login | purchase | content: which input topic
    key: bytes
    value: bytes
    timestamp_ms: int  # the Kafka record timestamp we set
    dlq_code: str | None = None  # the expected reason code of a bad record
    duplicate: bool = False  # a re-send of an earlier event (same bytes)
    # filled in by the delivery report:
    topic: str = ""
    partition: int = -1
    offset: int = -1


@dataclass
class Expected:
    """One expected transition of a user, field by field."""

    frm: str
    to: str
    at_ms: int
    trigger: str | None  # None: a timer, no trigger_event_id field at all
    returned: bool
    frequency: int
    monetary: str
    recency_days: Decimal | int | None


def first_key(prefix: str, partition: int, taken: set[str]) -> str:
    """The first user id prefix-0, prefix-1, ... that hashes to partition."""
    for i in range(10_000):
        k = f"{prefix}-{i}"
        if k not in taken and partition_of(k.encode(), PARTITIONS) == partition:
            taken.add(k)
            return k
    raise AssertionError(f"no key {prefix}-N hashes to partition {partition}")


@dataclass
class Population:
    inputs: list[Input]
    expected: dict[str, list[Expected]]  # user id -> transitions in order
    partition_of_user: dict[str, int]


def population() -> Population:
    """A small hand-written population over two partitions, P and Q.

    Partition P: ann lives through new -> growing -> mature, goes quiet on
    2026-01-20, and churns exactly 30 days later. Her churn can only fire once
    P's stream time passes that due time: bob's first login on 2026-03-01, in
    the same partition, does it. ann then comes back (returned: true).

    Partition Q: cid (first event is a purchase) and dot (one login) in
    early January, and the four bad records, whose ts is 2026-06-01. Nobody in
    Q may churn: Q's stream time stays in January, whatever P's is (stream
    time is per partition) and rejected records must not advance it.
    """
    taken: set[str] = set()
    ann = "wire-ann"
    taken.add(ann)
    p = partition_of(ann.encode(), PARTITIONS)
    q = (p + 1) % PARTITIONS
    bob = first_key("wire-bob", p, taken)
    cid = first_key("wire-cid", q, taken)
    dot = first_key("wire-dot", q, taken)
    bad_json, bad_amount, bad_type, bad_key = (first_key(f"wire-bad-{n}", q, taken) for n in ("json", "amount", "type", "key"))

    def ev(name, role, user, ts, key=None, **extra) -> Input:
        body = {"event_id": name, "user_id": user, "type": role, "ts": ts, **extra}
        t = ts if isinstance(ts, int) else ms(ts)
        return Input(name, role, (key or user).encode(), json.dumps(body).encode(), t)

    a1 = ev("ann-1", "login", ann, "2026-01-01T09:00:00Z")
    # RFC 3339 with a +02:00 offset: 18:30 local is 16:30 UTC. Amount as a string.
    a2 = ev("ann-2", "purchase", ann, "2026-01-05T18:30:00+02:00", amount="19.99", currency="USD")
    a2_again = Input("ann-2 (re-sent)", "purchase", a2.key, a2.value, a2.timestamp_ms, duplicate=True)
    # Epoch milliseconds, and a content kind.
    a3 = ev("ann-3", "content", ann, ms("2026-01-10T12:00:00Z"), kind="post")
    # The amount as a JSON number; written raw so it is exactly 19.99 on the wire.
    a4 = Input(
        "ann-4", "purchase", ann.encode(),
        ('{"event_id":"ann-4","user_id":"%s","type":"purchase","ts":"2026-01-20T10:00:00Z",'
         '"amount":19.99,"currency":"USD","channel":"app"}' % ann).encode(),  # channel: an unknown field, ignored
        ms("2026-01-20T10:00:00Z"),
    )
    b1 = ev("bob-1", "login", bob, "2026-03-01T00:00:00Z")
    a5 = ev("ann-5", "login", ann, "2026-03-05T10:00:00Z")

    c1 = Input(
        "cid-1", "purchase", cid.encode(),
        ('{"event_id":"cid-1","user_id":"%s","type":"purchase","ts":"2026-01-03T08:00:00Z","amount":0.1,"currency":"USD"}' % cid).encode(),
        ms("2026-01-03T08:00:00Z"),
    )
    d1 = ev("dot-1", "content", dot, ms("2026-01-02T12:00:00Z"), kind=None)  # kind null means absent

    late = "2026-06-01T00:00:00Z"
    x_json = Input(
        "malformed JSON", "login", bad_json.encode(),
        ('{"event_id":"bad-1","user_id":"%s","type":"login","ts":"%s"' % (bad_json, late)).encode(),  # truncated
        ms(late), dlq_code="malformed_json",
    )
    x_amount = ev("bad-2", "purchase", bad_amount, late, amount="-5.00", currency="USD")
    x_amount.name, x_amount.dlq_code = "negative amount", "bad_amount"
    x_type = Input(
        "unknown type", "login", bad_type.encode(),
        json.dumps({"event_id": "bad-3", "user_id": bad_type, "type": "logout", "ts": late}).encode(),
        ms(late), dlq_code="unknown_type",
    )
    x_key = ev("bad-4", "content", bad_key + "-other", late, key=bad_key, kind="post")
    x_key.name, x_key.dlq_code = "key != user_id", "key_mismatch"

    # Produced in event-time order per topic: the processor merges the three
    # topics of a partition by event time, but never reorders within a topic,
    # so an event produced after a later one would be a late event.
    inputs = [a1, d1, c1, a2, a2_again, a3, a4, b1, a5, x_json, x_amount, x_type, x_key]

    active = ms("2026-01-20T10:00:00Z")  # ann's last activity before her churn
    expected = {
        ann: [
            Expected("none", "new", ms("2026-01-01T09:00:00Z"), "ann-1", False, 0, "0.00", None),
            Expected("new", "growing", ms("2026-01-05T16:30:00Z"), "ann-2", False, 1, "19.99", 0),
            # The re-sent ann-2 is dropped: two purchases, not three, 39.98 not 59.97.
            Expected("growing", "mature", ms("2026-01-20T10:00:00Z"), "ann-4", False, 2, "39.98", 0),
            # A timer: at is the due time, last activity + 30 days exactly.
            Expected("mature", "churned", active + CHURN_AFTER_MS, None, False, 2, "39.98", 30),
            # Back 44 days after her last purchase (< 60, so mature, not silent).
            Expected("churned", "mature", ms("2026-03-05T10:00:00Z"), "ann-5", True, 2, "39.98", 44),
        ],
        bob: [Expected("none", "new", ms("2026-03-01T00:00:00Z"), "bob-1", False, 0, "0.00", None)],
        cid: [Expected("none", "growing", ms("2026-01-03T08:00:00Z"), "cid-1", False, 1, "0.10", 0)],
        dot: [Expected("none", "new", ms("2026-01-02T12:00:00Z"), "dot-1", False, 0, "0.00", None)],
    }
    users = {u: partition_of(u.encode(), PARTITIONS) for u in expected}
    return Population(inputs, expected, users)


# ---------------------------------------------------------------------------
# Kafka helpers.
@dataclass
class Record:
    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: list[tuple[str, bytes]]
    timestamp_ms: int

    def header(self, name: str) -> str:
        vals = [v for k, v in self.headers if k == name]
        assert len(vals) == 1, f"{self.topic}/{self.partition}@{self.offset}: header {name!r} {len(vals)} times, want once: {self.headers}"
        return vals[0].decode()


def to_record(m) -> Record:
    return Record(m.topic(), m.partition(), m.offset(), m.key(), m.value(), list(m.headers() or []), m.timestamp()[1])


class Reader:
    """Reads topics from their beginning with an assigned (group-less) consumer."""

    def __init__(self, brokers: str, group: str, topics: list[str]):
        self.c = Consumer({
            "bootstrap.servers": brokers,
            "group.id": group,  # required by the client; we assign and never commit
            "enable.auto.commit": False,
            "auto.offset.reset": "earliest",
        })
        self.c.assign([TopicPartition(t, p, -2) for t in topics for p in range(PARTITIONS)])  # -2: OFFSET_BEGINNING
        self.topics = topics
        self.records: dict[str, list[Record]] = {t: [] for t in topics}

    def poll(self, timeout: float) -> None:
        for m in self.c.consume(num_messages=500, timeout=timeout):
            if m.error():
                raise KafkaException(m.error())
            self.records[m.topic()].append(to_record(m))

    def read_to_end(self, deadline_s: float) -> None:
        """Polls until every partition is read up to its high watermark now."""
        ends = {(t, p): self.c.get_watermark_offsets(TopicPartition(t, p), timeout=10)[1] for t in self.topics for p in range(PARTITIONS)}
        stop = time.monotonic() + deadline_s
        while True:
            have = {(t, p): 0 for t, p in ends}
            for t, recs in self.records.items():
                for r in recs:
                    have[(t, r.partition)] = max(have[(t, r.partition)], r.offset + 1)
            if all(have[tp] >= end for tp, end in ends.items()):
                return
            assert time.monotonic() < stop, f"could not read to the end: have {have}, end {ends}"
            self.poll(0.5)

    def close(self) -> None:
        self.c.close()


# ---------------------------------------------------------------------------
# Fixtures.
@pytest.fixture(scope="module")
def brokers() -> str:
    b = os.environ.get("LIFECYCLE_TEST_BROKERS", "")
    if not b:
        pytest.fail("LIFECYCLE_TEST_BROKERS is not set: start a broker with deploy/kafka/local.sh start "
                    "and export LIFECYCLE_TEST_BROKERS=127.0.0.1:9092", pytrace=False)
    return b


@pytest.fixture(scope="module")
def binary(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("bin") / "lifecycle"
    t0 = time.monotonic()
    res = subprocess.run(["go", "build", "-o", str(out), "./cmd/lifecycle"], cwd=REPO, capture_output=True, text=True)
    assert res.returncode == 0, f"go build failed:\n{res.stdout}{res.stderr}"
    print(f"\nbuilt {out} in {time.monotonic() - t0:.1f}s")
    return out


@dataclass
class Topics:
    prefix: str
    group: str  # the processor's consumer group, wire-<random>
    login: str
    purchase: str
    content: str
    transitions: str
    dlq: str
    warnings: str
    segments: str
    metrics: str

    @property
    def inputs(self) -> list[str]:
        return [self.login, self.purchase, self.content]

    def of(self, role: str) -> str:
        return {"login": self.login, "purchase": self.purchase, "content": self.content}[role]


@pytest.fixture(scope="module")
def topics(brokers):
    prefix = f"wire-{secrets.token_hex(4)}-"
    t = Topics(prefix, prefix.rstrip("-"), prefix + "events.login", prefix + "events.purchase", prefix + "events.content",
               prefix + "lifecycle.transitions", prefix + "lifecycle.dlq",
               prefix + "lifecycle.churn-warnings", prefix + "lifecycle.segments", prefix + "lifecycle.metrics")
    # `run` also needs its group's compacted changelog, by default
    # "<group>.changelog", with the inputs' partition count, and the
    # compacted metrics topic.
    changelog = t.group + ".changelog"
    names = t.inputs + [t.transitions, t.dlq, t.warnings, t.segments, t.metrics, changelog]
    admin = AdminClient({"bootstrap.servers": brokers})
    new = [NewTopic(n, num_partitions=PARTITIONS, replication_factor=1) for n in names[:-2]]
    new += [NewTopic(n, num_partitions=PARTITIONS, replication_factor=1, config={"cleanup.policy": "compact"}) for n in names[-2:]]
    for name, fut in admin.create_topics(new, operation_timeout=30).items():
        fut.result(timeout=60)
    # Creation is acknowledged by the controller; wait until metadata shows
    # every partition with a leader, so nobody races the propagation.
    deadline = time.monotonic() + 30
    while True:
        md = admin.list_topics(timeout=10).topics
        if all(n in md and len(md[n].partitions) == PARTITIONS and all(p.leader >= 0 for p in md[n].partitions.values()) for n in names):
            break
        assert time.monotonic() < deadline, f"topics {names} not ready"
        time.sleep(0.2)
    yield t
    # Finalizer: delete the run's topics and the processor's consumer group.
    for name, fut in admin.delete_topics(names, operation_timeout=30).items():
        try:
            fut.result(timeout=60)
        except Exception as e:  # report, but do not mask the test's own result
            print(f"warning: deleting topic {name}: {e}")
    try:
        for fut in admin.delete_consumer_groups([t.group], request_timeout=30).values():
            fut.result(timeout=60)
    except Exception as e:
        print(f"warning: deleting group {t.group}: {e}")


@dataclass
class Run:
    pop: Population
    topics: Topics
    group: str
    transitions: list[Record]
    dlq: list[Record]
    returncode: int | None
    stop_seconds: float
    log: str
    committed: dict[tuple[str, int], int] = field(default_factory=dict)
    end_offsets: dict[tuple[str, int], int] = field(default_factory=dict)

    def log_tail(self, n=60) -> str:
        return "\n".join(self.log.splitlines()[-n:])


def produce(brokers: str, topics: Topics, inputs: list[Input]) -> None:
    producer = Producer({
        "bootstrap.servers": brokers,
        "partitioner": "murmur2_random",  # the Java client's key hash; see murmur2 above
        "enable.idempotence": True,  # acks=all, and per-partition order kept across retries
        "linger.ms": 0,
    })
    errors = []

    def report(inp: Input):
        def cb(err, msg):
            if err is not None:
                errors.append(f"{inp.name}: {err}")
                return
            inp.topic, inp.partition, inp.offset = msg.topic(), msg.partition(), msg.offset()
        return cb

    for inp in inputs:
        producer.produce(topics.of(inp.role), key=inp.key, value=inp.value, timestamp=inp.timestamp_ms, on_delivery=report(inp))
        producer.poll(0)
    left = producer.flush(30)
    assert left == 0 and not errors, f"produce: {left} not delivered, errors {errors}"


@pytest.fixture(scope="module")
def run(brokers, binary, topics, tmp_path_factory) -> Run:
    pop = population()
    produce(brokers, topics, pop.inputs)
    n_transitions = sum(len(v) for v in pop.expected.values())
    n_dlq = sum(1 for i in pop.inputs if i.dlq_code)

    group = topics.group
    state_dir = tmp_path_factory.mktemp("state")
    log_path = tmp_path_factory.mktemp("log") / "lifecycle.log"
    cmd = [str(binary), "run", "--brokers", brokers, "--group", group, "--state-dir", str(state_dir),
           "--input-topics", ",".join(topics.inputs), "--transitions-topic", topics.transitions,
           "--dlq-topic", topics.dlq, "--warnings-topic", topics.warnings, "--segments-topic", topics.segments,
           "--metrics-topic", topics.metrics, "--http", "off", "--log-format", "console"]
    # The environment must not configure the run behind our back (every flag
    # has a LIFECYCLE_* variable; the command line wins, but not for flags we
    # do not give, such as --churn-after).
    env = {k: v for k, v in os.environ.items() if not k.startswith("LIFECYCLE_")}
    reader = Reader(brokers, topics.prefix + "reader", [topics.transitions, topics.dlq])
    with open(log_path, "wb") as log_file:
        proc = subprocess.Popen(cmd, cwd=REPO, env=env, stdin=subprocess.DEVNULL, stdout=log_file, stderr=subprocess.STDOUT)
        try:
            t0 = time.monotonic()
            while True:
                reader.poll(0.5)
                got_t, got_d = len(reader.records[topics.transitions]), len(reader.records[topics.dlq])
                if got_t >= n_transitions and got_d >= n_dlq:
                    break
                if proc.poll() is not None or time.monotonic() - t0 > OUTPUT_DEADLINE_S:
                    why = f"exited with {proc.returncode}" if proc.returncode is not None else f"still running after {OUTPUT_DEADLINE_S}s"
                    pytest.fail(f"lifecycle run {why} with {got_t}/{n_transitions} transitions and {got_d}/{n_dlq} "
                                f"dead letters readable; log:\n{log_path.read_text()[-6000:]}", pytrace=False)
            print(f"\nall {n_transitions} transitions and {n_dlq} dead letters readable after {time.monotonic() - t0:.1f}s")
            t1 = time.monotonic()
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=STOP_DEADLINE_S)
            except subprocess.TimeoutExpired:
                pass
            stop_seconds = time.monotonic() - t1
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
                returncode = None  # did not stop by itself
            else:
                returncode = proc.returncode
        reader.close()

    # Read everything again, after the exit, to the end of every partition:
    # exactly the expected outputs, nothing more (the shutdown included).
    final = Reader(brokers, topics.prefix + "reader-final", [topics.transitions, topics.dlq])
    final.read_to_end(30)
    final.close()

    # Where the processor's consumer group stands after the clean stop.
    admin = AdminClient({"bootstrap.servers": brokers})
    tps = [TopicPartition(t, p) for t in topics.inputs for p in range(PARTITIONS)]
    res = admin.list_consumer_group_offsets([ConsumerGroupTopicPartitions(group, tps)])[group].result(timeout=30)
    committed = {(tp.topic, tp.partition): tp.offset for tp in res.topic_partitions}
    c = Consumer({"bootstrap.servers": brokers, "group.id": topics.prefix + "watermarks"})
    ends = {(t, p): c.get_watermark_offsets(TopicPartition(t, p), timeout=10)[1] for t in topics.inputs for p in range(PARTITIONS)}
    c.close()

    return Run(pop, topics, group, final.records[topics.transitions], final.records[topics.dlq],
               returncode, stop_seconds, log_path.read_text(errors="replace"), committed, ends)


# ---------------------------------------------------------------------------
# Self-checks of the test's own tools (no broker needed).
def test_murmur2_matches_java_client():
    # From Kafka's UtilsTest.testMurmur2 (clients/src/test/.../utils/UtilsTest.java).
    cases = {
        b"21": -973932308,
        b"foobar": -790332482,
        b"a-little-bit-long-string": -985981536,
        b"a-little-bit-longer-string": -1486304829,
        b"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8": -58897971,
        b"abc": 479470107,
    }
    assert {k: murmur2(k) for k in cases} == cases


def test_output_id_matches_schema_examples():
    schema = json.loads((SCHEMAS / "transition.v1.schema.json").read_text())
    examples = schema["examples"]
    assert examples, "transition.v1.schema.json has no examples"
    for ex in examples:
        want = output_id(ex["user_id"], "transition", ex["from"] + ">" + ex["to"], ms(ex["at"]), ex.get("trigger_event_id", ""))
        assert ex["id"] == want, f"example {ex['from']}->{ex['to']}: id {ex['id']}, recomputed {want}"


def test_format_checker_checks_date_time():
    # jsonschema skips a format silently when its optional checker library is
    # missing (rfc3339-validator for date-time); make sure it is not skipped.
    assert "date-time" in FormatChecker().checkers
    v = TRANSITION_V1.evolve(schema={"type": "string", "format": "date-time"})
    assert v.is_valid("2026-01-05T16:30:00.000Z")
    assert not v.is_valid("2026-13-05T16:30:00.000Z")


def test_inputs_against_event_schema():
    """Every good input validates against event.v1; every bad one but key_mismatch fails it."""
    for inp in population().inputs:
        errs = schema_errors(EVENT_V1, inp.value)
        if inp.dlq_code is None or inp.dlq_code == "key_mismatch":
            assert errs == [], f"{inp.name} ({inp.value!r}) does not validate: {errs}"
        else:
            assert errs, f"{inp.name} ({inp.value!r}) validates against event.v1, want it rejected"
        if inp.dlq_code is None:
            assert load_json(inp.value)["user_id"].encode() == inp.key, inp.name
        if inp.dlq_code == "key_mismatch":
            assert load_json(inp.value)["user_id"].encode() != inp.key


# ---------------------------------------------------------------------------
# The wire contract.
def test_producer_partitions_like_java_client(run: Run):
    """librdkafka's murmur2_random put every record where the Java client would."""
    for inp in run.pop.inputs:
        assert inp.offset >= 0, f"{inp.name}: no delivery report"
        assert inp.partition == partition_of(inp.key, PARTITIONS), f"{inp.name}: partition {inp.partition}"


def test_stops_cleanly_on_sigterm(run: Run):
    assert run.returncode is not None, f"still running {STOP_DEADLINE_S}s after SIGTERM (killed); log:\n{run.log_tail()}"
    assert run.returncode == 0, f"exit code {run.returncode} after SIGTERM; log:\n{run.log_tail()}"
    print(f"\nexited 0 {run.stop_seconds:.1f}s after SIGTERM")


def test_group_offsets_committed_on_stop(run: Run):
    """SIGTERM commits group offsets: every input partition with records is committed to its end."""
    for tp, end in sorted(run.end_offsets.items()):
        got = run.committed.get(tp)
        if end > 0:
            assert got == end, f"group {run.group}: committed offset of {tp} is {got}, want {end} (the end)"
        else:
            assert got in (None, -1001, 0), f"group {run.group}: {tp} is empty, committed {got}"


def test_transition_records(run: Run):
    """Envelope of every transition record: key, partition, headers, schema, id."""
    assert run.transitions, "no transitions"
    ids = set()
    for r in run.transitions:
        where = f"transition {r.partition}@{r.offset} {r.value!r}"
        errs = schema_errors(TRANSITION_V1, r.value)
        assert errs == [], f"{where}: not a transition.v1: {errs}"
        t = load_json(r.value)
        assert r.key == t["user_id"].encode(), f"{where}: key {r.key!r} != user_id"
        # Same key, same partition as the user's input (murmur2, like the inputs).
        assert r.partition == partition_of(r.key, PARTITIONS), f"{where}: partition"
        assert r.header(H_SCHEMA) == SCHEMA_TRANSITION_V1, where
        assert r.header(H_ID) == t["id"], f"{where}: header {H_ID} {r.header(H_ID)!r} != id"
        assert re.fullmatch(r"[0-9a-f]{32}", t["id"]), where
        assert t["id"] not in ids, f"{where}: duplicate id"
        ids.add(t["id"])
        want = output_id(t["user_id"], "transition", t["from"] + ">" + t["to"], ms(t["at"]), t.get("trigger_event_id", ""))
        assert t["id"] == want, f"{where}: id is not the documented hash, want {want}"
        assert isinstance(t["reason"], str) and t["reason"].strip(), where


def test_transition_sequences(run: Run):
    """The exact transitions of every user, in order, field by field."""
    got: dict[str, list[dict]] = {}
    for r in sorted(run.transitions, key=lambda r: (r.partition, r.offset)):
        got.setdefault(r.key.decode(), []).append(load_json(r.value))
    assert sorted(got) == sorted(run.pop.expected), (
        f"users with transitions {sorted(got)}, want {sorted(run.pop.expected)}: "
        + json.dumps({u: [f"{t['from']}->{t['to']} {t['at']}" for t in ts] for u, ts in got.items()}))
    for user, want in run.pop.expected.items():
        have = got[user]
        pairs = [(t["from"], t["to"]) for t in have]
        assert pairs == [(e.frm, e.to) for e in want], f"{user}: transitions {pairs}, want {[(e.frm, e.to) for e in want]}"
        for i, (t, e) in enumerate(zip(have, want)):
            where = f"{user} #{i} {e.frm}->{e.to}"
            assert t["user_id"] == user, where
            assert t["at"] == fmt_at(e.at_ms), f"{where}: at {t['at']}, want {fmt_at(e.at_ms)}"
            if e.trigger is None:
                assert "trigger_event_id" not in t, f"{where}: a timer's transition has trigger_event_id {t['trigger_event_id']!r}"
            else:
                assert t.get("trigger_event_id") == e.trigger, f"{where}: trigger_event_id {t.get('trigger_event_id')!r}, want {e.trigger!r}"
            assert t["returned"] is e.returned, f"{where}: returned {t['returned']!r}, want {e.returned}"
            rfm = t["rfm"]
            assert rfm["frequency"] == e.frequency, f"{where}: frequency {rfm['frequency']}, want {e.frequency}"
            assert rfm["monetary"] == e.monetary, f"{where}: monetary {rfm['monetary']!r}, want {e.monetary!r}"
            if e.recency_days is None:
                assert rfm["recency_days"] is None, f"{where}: recency_days {rfm['recency_days']!r}, want null (never purchased)"
            else:
                assert rfm["recency_days"] == e.recency_days, f"{where}: recency_days {rfm['recency_days']!r}, want {e.recency_days}"


def test_dead_letters(run: Run):
    """One dead letter per bad input: its key and bytes, the reason code, where it came from."""
    bad = [i for i in run.pop.inputs if i.dlq_code]
    assert len(run.dlq) == len(bad), f"{len(run.dlq)} dead letters, want {len(bad)}: {[r.value for r in run.dlq]}"
    by_source = {}
    for r in run.dlq:
        src = (r.header(H_DLQ_TOPIC), r.header(H_DLQ_PARTITION), r.header(H_DLQ_OFFSET))
        assert src not in by_source, f"two dead letters for {src}"
        by_source[src] = r
    for inp in bad:
        src = (inp.topic, str(inp.partition), str(inp.offset))
        assert src in by_source, f"{inp.name}: no dead letter with topic/partition/offset {src}; have {sorted(by_source)}"
        r = by_source[src]
        assert r.key == inp.key, f"{inp.name}: key {r.key!r}, want {inp.key!r}"
        assert r.value == inp.value, f"{inp.name}: value not byte-identical: {r.value!r}"
        assert r.header(H_DLQ_CODE) == inp.dlq_code, f"{inp.name}: code {r.header(H_DLQ_CODE)!r}, want {inp.dlq_code!r}"
        assert r.header(H_DLQ_REASON).strip(), f"{inp.name}: empty reason"
        assert r.partition == partition_of(inp.key, PARTITIONS), f"{inp.name}: dead letter on partition {r.partition}"


def test_dead_letter_keeps_record_timestamp(run: Run):
    """dlq.md: a dead letter carries the original record's timestamp in lifecycle.dlq.timestamp."""
    by_value = {r.value: r for r in run.dlq}
    for inp in (i for i in run.pop.inputs if i.dlq_code):
        r = by_value[inp.value]
        got = r.header("lifecycle.dlq.timestamp")
        assert got == str(inp.timestamp_ms), f"{inp.name}: lifecycle.dlq.timestamp {got!r}, original {inp.timestamp_ms}"
