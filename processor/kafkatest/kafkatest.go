// Package kafkatest gives tests a Kafka cluster: the real broker named by
// LIFECYCLE_TEST_BROKERS (as CI starts it with deploy/kafka/local.sh), or
// else an in-process kfake broker that speaks the same protocol. Tests that
// claim Kafka behaviour therefore run against real Kafka in CI and fast
// everywhere else.
package kafkatest

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/lifecycle-engine/lifecycle/processor/produce"
)

// EnvBrokers names the environment variable that selects a real broker.
const EnvBrokers = "LIFECYCLE_TEST_BROKERS"

// Real reports whether tests run against a real broker.
func Real() bool { return os.Getenv(EnvBrokers) != "" }

// Brokers returns bootstrap addresses: the real broker's, or those of a new
// kfake cluster that is closed when the test ends.
func Brokers(t testing.TB) []string {
	t.Helper()
	if b := os.Getenv(EnvBrokers); b != "" {
		brokers := strings.Split(b, ",")
		waitForGroups(t, brokers)
		return brokers
	}
	c, err := kfake.NewCluster(kfake.NumBrokers(1))
	if err != nil {
		t.Fatalf("kfake: %v", err)
	}
	t.Cleanup(c.Close)
	return c.ListenAddrs()
}

var seq atomic.Int64

var groupsReady struct {
	once sync.Once
	err  error
}

// waitForGroups waits, once per test process, until the real broker
// coordinates consumer groups. Right after it starts, a broker answers
// COORDINATOR_NOT_AVAILABLE until its offsets topic exists (the first
// FindCoordinator request creates it); a processor joining then logs and
// counts a Kafka error, which a test of a clean run must not see.
func waitForGroups(t testing.TB, brokers []string) {
	t.Helper()
	groupsReady.once.Do(func() {
		cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...))
		if err != nil {
			groupsReady.err = err
			return
		}
		defer cl.Close()
		adm := kadm.NewClient(cl)
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		for {
			err := adm.FindGroupCoordinators(ctx, "lifecycle-test-probe").Error()
			if err == nil || ctx.Err() != nil {
				groupsReady.err = err
				return
			}
			time.Sleep(250 * time.Millisecond)
		}
	})
	if groupsReady.err != nil {
		t.Fatalf("the broker at %v does not coordinate groups: %v", brokers, groupsReady.err)
	}
}

// Name returns a topic or group name unique to this test run, so tests on a
// shared real broker never see each other's records.
func Name(t testing.TB, base string) string {
	// Kafka allows only [a-zA-Z0-9._-] in topic names (kfake is laxer).
	clean := strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '_' || r == '-' {
			return r
		}
		return '-'
	}, t.Name())
	if len(clean) > 60 {
		clean = clean[:60]
	}
	return fmt.Sprintf("t%d-%d-%s-%s", time.Now().UnixNano()%1e9, seq.Add(1), clean, base)
}

// Admin returns an admin client for brokers, closed when the test ends.
func Admin(t testing.TB, brokers []string) *kadm.Client {
	t.Helper()
	return kadm.NewClient(Client(t, brokers))
}

// Client returns a client of brokers, closed when the test ends.
func Client(t testing.TB, brokers []string) *kgo.Client {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return cl
}

// DeleteRecords deletes the records of topic's partition before offset,
// as retention would.
func DeleteRecords(t testing.TB, brokers []string, topic string, partition int32, before int64) {
	t.Helper()
	var del kadm.Offsets
	del.Add(kadm.Offset{Topic: topic, Partition: partition, At: before})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	resp, err := Admin(t, brokers).DeleteRecords(ctx, del)
	if err == nil {
		err = resp.Error()
	}
	if err != nil {
		t.Fatalf("deleting records of %s/%d before %d: %v", topic, partition, before, err)
	}
}

// CreateTopics creates topics with the given partition count and deletes
// them when the test ends.
func CreateTopics(t testing.TB, brokers []string, partitions int32, topics ...string) {
	t.Helper()
	createTopics(t, brokers, partitions, nil, topics...)
}

// CreateCompacted is CreateTopics for compacted topics, as a changelog
// must be.
func CreateCompacted(t testing.TB, brokers []string, partitions int32, topics ...string) {
	t.Helper()
	createTopics(t, brokers, partitions, map[string]*string{"cleanup.policy": kadm.StringPtr("compact")}, topics...)
}

// DeleteTopic deletes topic and returns once the broker no longer lists
// it, so that it can be created anew, as an operator's mistake would
// under running instances.
func DeleteTopic(t testing.TB, brokers []string, topic string) {
	t.Helper()
	adm := Admin(t, brokers)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	resp, err := adm.DeleteTopics(ctx, topic)
	if err == nil {
		err = resp.Error()
	}
	if err != nil {
		t.Fatalf("delete topic %s: %v", topic, err)
	}
	for {
		d, err := adm.ListTopics(ctx, topic)
		if err == nil && (len(d) == 0 || errors.Is(d[topic].Err, kerr.UnknownTopicOrPartition)) {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("topic %s still listed after its deletion: %v", topic, err)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

func createTopics(t testing.TB, brokers []string, partitions int32, configs map[string]*string, topics ...string) {
	t.Helper()
	adm := Admin(t, brokers)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	resp, err := adm.CreateTopics(ctx, partitions, 1, configs, topics...)
	if err == nil {
		err = resp.Error()
	}
	if err != nil {
		t.Fatalf("create topics %v: %v", topics, err)
	}
	// A real broker answers CreateTopics before every broker's metadata
	// shows the topics; wait, so tests do not see them as missing.
	for {
		d, err := adm.ListTopics(ctx, topics...)
		ready := err == nil && len(d) == len(topics)
		for _, td := range d {
			ready = ready && td.Err == nil && len(td.Partitions) == int(partitions)
			for _, p := range td.Partitions {
				ready = ready && p.Err == nil && p.Leader >= 0
			}
		}
		if ready {
			break
		}
		select {
		case <-ctx.Done():
			t.Fatalf("topics %v not visible after creation: %v", topics, err)
		case <-time.After(50 * time.Millisecond):
		}
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		adm.DeleteTopics(ctx, topics...)
	})
}

// ReadAll reads every record of topic, partition by partition in offset
// order, up to the end offsets at the time of the call.
func ReadAll(t testing.TB, brokers []string, topic string) []kafka.Message {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	adm := Admin(t, brokers)
	ends, err := adm.ListEndOffsets(ctx, topic)
	if err == nil {
		err = ends.Error()
	}
	if err != nil {
		t.Fatalf("end offsets of %s: %v", topic, err)
	}
	var out []kafka.Message
	for p, end := range ends[topic] {
		if end.Offset == 0 {
			continue
		}
		r := kafka.NewReader(kafka.ReaderConfig{Brokers: brokers, Topic: topic, Partition: int(p), MaxWait: 100 * time.Millisecond})
		for {
			m, err := r.ReadMessage(ctx)
			if err != nil {
				r.Close()
				t.Fatalf("reading %s/%d: %v", topic, p, err)
			}
			out = append(out, m)
			if m.Offset+1 >= end.Offset {
				break
			}
		}
		// Not waiting for the fetch it has already sent past the end,
		// which the broker holds for MaxWait: 75 ms per partition.
		go r.Close()
	}
	return out
}

// Produce writes msgs with the processor's partitioner (Murmur2, like the
// Java client) and waits for acks from all replicas.
func Produce(t testing.TB, brokers []string, msgs ...kafka.Message) {
	t.Helper()
	w := &kafka.Writer{
		Addr: kafka.TCP(brokers...), Balancer: &kafka.Murmur2Balancer{},
		RequiredAcks: kafka.RequireAll, BatchTimeout: time.Millisecond, BatchSize: 10_000,
	}
	defer w.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	for len(msgs) > 0 {
		n := min(len(msgs), 5000)
		// Right after a topic is created, or a broker restarted, a real
		// broker may have no leader for a partition for a moment. Those
		// writes were refused, not made: only the records that failed are
		// sent again, as the input must hold each record once.
		chunk := msgs[:n]
		for {
			err := w.WriteMessages(ctx, chunk...)
			if err == nil {
				break
			}
			if !produce.Refused(err) || ctx.Err() != nil {
				t.Fatalf("produce: %v", err)
			}
			chunk = produce.FailedOnly(chunk, err)
			time.Sleep(100 * time.Millisecond)
		}
		msgs = msgs[n:]
	}
}
