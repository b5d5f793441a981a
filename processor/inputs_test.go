package processor

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
	"go.uber.org/zap/zaptest"

	"github.com/lifecycle-engine/lifecycle/processor/kafkatest"
)

// The fetch hub (inputs.go) against kfake, or the real broker of
// LIFECYCLE_TEST_BROKERS.

func newTestInputs(t *testing.T, brokers []string, schemas SchemaSource) (*inputs, *atomic.Int64) {
	t.Helper()
	var errs, timeouts, waits atomic.Int64
	in, err := newInputs(Conn{Brokers: brokers}, 0, maxBatchBytes(0), schemas, &waits, fetchCounters{&errs, &timeouts}, nil, zaptest.NewLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		in.close()
		if n := errs.Load(); n != 0 {
			t.Errorf("the hub counted %d Kafka errors on a healthy broker; want none", n)
		}
	})
	return in, &waits
}

// produceN writes n records to topic (one partition): values v-<first>…
func produceN(t *testing.T, brokers []string, topic string, first, n int) {
	t.Helper()
	msgs := make([]kafka.Message, n)
	for i := range msgs {
		msgs[i] = kafka.Message{Topic: topic, Key: []byte("k"), Value: fmt.Appendf(nil, "v-%d", first+i),
			Headers: []kafka.Header{{Key: "h", Value: []byte("x")}}}
	}
	kafkatest.Produce(t, brokers, msgs...)
}

// recv reads n records from ch, failing the test when they do not come
// within a minute (a hang, not a timing check).
func recv(t *testing.T, ch <-chan kafka.Message, n int) []kafka.Message {
	t.Helper()
	out := make([]kafka.Message, 0, n)
	deadline := time.After(time.Minute)
	for len(out) < n {
		select {
		case m := <-ch:
			out = append(out, m)
		case <-deadline:
			t.Fatalf("received %d records, want %d", len(out), n)
		}
	}
	return out
}

// checkRun checks that msgs are the records at offsets from, from+1, …
// of topic, as produced by produceN, with their key, header and time.
func checkRun(t *testing.T, msgs []kafka.Message, topic string, from int64) {
	t.Helper()
	for i, m := range msgs {
		want := from + int64(i)
		if m.Topic != topic || m.Partition != 0 || m.Offset != want || string(m.Value) != fmt.Sprintf("v-%d", want) {
			t.Fatalf("record %d: %s/%d@%d %q, want %s/0@%d v-%d", i, m.Topic, m.Partition, m.Offset, m.Value, topic, want, want)
		}
		if string(m.Key) != "k" || len(m.Headers) != 1 || m.Headers[0].Key != "h" || m.Time.IsZero() || m.HighWaterMark <= m.Offset {
			t.Fatalf("record %d: key %q, headers %v, time %v, high watermark %d", i, m.Key, m.Headers, m.Time, m.HighWaterMark)
		}
	}
}

// TestInputsBackpressure: a partition whose records are not taken fills
// its channel and queue and has its fetches paused, without holding up
// another partition; once taken, every record comes in order and the
// fetches resume.
func TestInputsBackpressure(t *testing.T) {
	brokers := kafkatest.Brokers(t)
	slow, quick := kafkatest.Name(t, "slow"), kafkatest.Name(t, "quick")
	kafkatest.CreateTopics(t, brokers, 1, slow, quick)
	n := 1024 + sourceQueue + 1000 // more than the channel (1024) and the queue hold
	produceN(t, brokers, slow, 0, n)
	in, _ := newTestInputs(t, brokers, nil)
	notify := make(chan struct{}, 1)
	s := in.open(slow, 0, kafka.FirstOffset, notify)
	defer s.stop()

	waitFor(t, "the slow partition's fetches paused", func() bool {
		in.mu.Lock()
		defer in.mu.Unlock()
		return s.paused
	})
	q := in.open(quick, 0, kafka.FirstOffset, notify)
	defer q.stop()
	produceN(t, brokers, quick, 0, 10)
	checkRun(t, recv(t, q.out, 10), quick, 0)

	checkRun(t, recv(t, s.out, n), slow, 0)
	waitFor(t, "the slow partition's fetches resumed", func() bool {
		in.mu.Lock()
		defer in.mu.Unlock()
		return !s.paused && !s.feeding && len(in.cl.PauseFetchPartitions(nil)) == 0
	})
	produceN(t, brokers, slow, n, 5)
	checkRun(t, recv(t, s.out, 5), slow, int64(n))
}

// TestInputsResumeBeforeEmpty: a paused partition's fetches resume while
// its queue still holds records, so that under a backlog the next fetch
// is on its way before the partition runs dry.
func TestInputsResumeBeforeEmpty(t *testing.T) {
	brokers := kafkatest.Brokers(t)
	topic := kafkatest.Name(t, "backlog")
	kafkatest.CreateTopics(t, brokers, 1, topic)
	n := 1024 + 2*sourceQueue
	produceN(t, brokers, topic, 0, n)
	in, _ := newTestInputs(t, brokers, nil)
	s := in.open(topic, 0, kafka.FirstOffset, make(chan struct{}, 1))
	defer s.stop()
	waitFor(t, "the partition's fetches paused", func() bool {
		in.mu.Lock()
		defer in.mu.Unlock()
		return s.paused
	})
	var got []kafka.Message
	for {
		got = append(got, recv(t, s.out, 1)...)
		in.mu.Lock()
		paused, queued := s.paused, len(s.queue)
		in.mu.Unlock()
		if !paused {
			if queued == 0 {
				t.Fatalf("fetches resumed only once the queue was empty, after %d of %d records", len(got), n)
			}
			break
		}
	}
	checkRun(t, append(got, recv(t, s.out, n-len(got))...), topic, 0)
}

// TestInputsReplace: a source opened again for the same partition (the
// merge replacing a stalled one, or the next generation) starts at its
// own offset, and nothing reaches the stopped one's channel after stop.
func TestInputsReplace(t *testing.T) {
	brokers := kafkatest.Brokers(t)
	topic := kafkatest.Name(t, "in")
	kafkatest.CreateTopics(t, brokers, 1, topic)
	produceN(t, brokers, topic, 0, 100)
	in, _ := newTestInputs(t, brokers, nil)
	notify := make(chan struct{}, 1)

	old := in.open(topic, 0, 0, notify)
	checkRun(t, recv(t, old.out, 10), topic, 0)
	old.stop()
	left := len(old.out)

	s := in.open(topic, 0, 50, notify)
	checkRun(t, recv(t, s.out, 50), topic, 50)
	produceN(t, brokers, topic, 100, 10)
	checkRun(t, recv(t, s.out, 10), topic, 100)
	if n := len(old.out); n != left {
		t.Errorf("the stopped source's channel went from %d to %d records", left, n)
	}
	s.stop()

	// The next generation, at an earlier offset than the last one read.
	s = in.open(topic, 0, 20, notify)
	defer s.stop()
	checkRun(t, recv(t, s.out, 90), topic, 20)
}

// TestInputsLogStart: from kafka.FirstOffset, and from an offset the
// broker has deleted, a source starts at the log start (the merge sees
// the gap, merger.take).
func TestInputsLogStart(t *testing.T) {
	brokers := kafkatest.Brokers(t)
	topic := kafkatest.Name(t, "in")
	kafkatest.CreateTopics(t, brokers, 1, topic)
	produceN(t, brokers, topic, 0, 30)
	kafkatest.DeleteRecords(t, brokers, topic, 0, 10)
	in, _ := newTestInputs(t, brokers, nil)
	notify := make(chan struct{}, 1)
	for _, from := range []int64{kafka.FirstOffset, 3} {
		s := in.open(topic, 0, from, notify)
		checkRun(t, recv(t, s.out, 20), topic, 10)
		s.stop()
	}
}

// blockingSchemas waits in Prefetch for values that start with "hold"
// until the context ends, as a registry outage does.
type blockingSchemas struct{}

func (blockingSchemas) Prefetch(ctx context.Context, value []byte) error {
	if len(value) >= 4 && string(value[:4]) == "hold" {
		<-ctx.Done()
		return ctx.Err()
	}
	return nil
}

func (blockingSchemas) Failures() int64 { return 0 }

// TestInputsSchemaWait: a record waiting for its schema holds its own
// partition, not another one, and stopping the source ends the wait.
func TestInputsSchemaWait(t *testing.T) {
	brokers := kafkatest.Brokers(t)
	held, free := kafkatest.Name(t, "held"), kafkatest.Name(t, "free")
	kafkatest.CreateTopics(t, brokers, 1, held, free)
	kafkatest.Produce(t, brokers, kafka.Message{Topic: held, Key: []byte("k"), Value: []byte("hold")})
	produceN(t, brokers, free, 0, 10)
	in, waits := newTestInputs(t, brokers, blockingSchemas{})
	notify := make(chan struct{}, 1)
	h := in.open(held, 0, kafka.FirstOffset, notify)
	f := in.open(free, 0, kafka.FirstOffset, notify)
	defer f.stop()
	checkRun(t, recv(t, f.out, 10), free, 0)
	waitFor(t, "a source waiting for a schema", func() bool { return waits.Load() == 1 })
	h.stop()
	if n, w := len(h.out), waits.Load(); n != 0 || w != 0 {
		t.Errorf("after stop: %d records handed on, %d sources waiting for a schema; want none", n, w)
	}
}

// waitFor polls cond until it holds, failing the test after a minute.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("waited a minute for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestInputsCountOutage: while no broker answers, the client's failed
// connections count as Kafka errors (lifecycle_kafka_errors_total).
func TestInputsCountOutage(t *testing.T) {
	var errs, timeouts, waits atomic.Int64
	in, err := newInputs(Conn{Brokers: []string{"127.0.0.1:1"}}, 0, maxBatchBytes(0), nil, &waits, fetchCounters{&errs, &timeouts}, nil, zaptest.NewLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	defer in.close()
	s := in.open("t", 0, kafka.FirstOffset, make(chan struct{}, 1))
	defer s.stop()
	waitFor(t, "a Kafka error counted", func() bool { return errs.Load() > 0 })
}
