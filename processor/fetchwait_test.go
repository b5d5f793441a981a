package processor

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/lifecycle-engine/lifecycle/processor/kafkatest"
	"github.com/lifecycle-engine/lifecycle/processor/produce"
	"github.com/lifecycle-engine/lifecycle/processor/simulate"
)

// TestFetchWaitLiveInput: with a fetch wait (Config.FetchWait) the broker
// holds each fetch until the wait passes, and records produced while the
// processor runs come a wait's worth at a time to every partition at once,
// whose merges then confirm their inputs' ends together (endsAsker). No
// record may be lost or held back for it: every one is applied or
// dead-lettered (invariant 1). (Which order live records of different
// topics take depends on when they arrive, as without a wait: README,
// "Time"; TestEndToEnd checks the outputs themselves with a wait.)
func TestFetchWaitLiveInput(t *testing.T) {
	f, msgs := newHeldFixture(t, simulate.Config{Users: 300, Days: 90, Seed: 31, BadRate: 0.01, DupRate: 0.03, LateRate: 0.05}, 4)
	cfg := f.config(t)
	cfg.FetchWait = MinFetchWait
	p, errc, cancel := startRun(t, cfg)
	// In 40 parts, a few milliseconds apart: live input, a part reaching
	// some partitions and topics while others still wait for theirs.
	for part := range slices.Chunk(msgs, len(msgs)/40+1) {
		kafkatest.Produce(t, f.brokers, part...)
		time.Sleep(3 * time.Millisecond)
	}
	deadline := time.Now().Add(2 * time.Minute)
	for seen(p.Stats()) < int64(f.records) || !caughtUp(t, cfg) {
		if time.Now().After(deadline) {
			t.Fatalf("the processor did not apply every record in time: %d of %d; stats %+v", seen(p.Stats()), f.records, p.Stats())
		}
		time.Sleep(20 * time.Millisecond)
	}
	cancel()
	if err := <-errc; err != nil {
		t.Fatalf("Run after stop: %v", err)
	}
	st := p.Stats()
	if seen(st) != int64(f.records) || st.Rejected != int64(f.bad) {
		t.Errorf("applied, rejected and duplicate records %d (rejected %d), want %d (rejected %d)", seen(st), st.Rejected, f.records, f.bad)
	}
	checkDLQ(t, cfg, f.bad)
}

// TestFetchesConfirmEnds: at the live edge, records of one topic pass over
// the two others, read to their ends, on the ends of the fetch response
// that brought them (inputs.go, fetchedEnds), without a ListOffsets request
// per cycle; and every record is applied. Before, each part below cost a
// request per partition that got records: 35 and 40 requests in two runs
// with the merge's use of the fetched ends switched off (2026-12-07).
func TestFetchesConfirmEnds(t *testing.T) {
	f, msgs := newHeldFixture(t, simulate.Config{Users: 200, Days: 30, Seed: 7}, 4)
	login := func(m kafka.Message) bool { return m.Topic == f.inputs[0] }
	if asked := liveEndsRequests(t, f, msgs, login); asked != 0 {
		t.Errorf("%d ListOffsets requests for live logins on one broker, want none: the fetches' ends confirm them", asked)
	}
}

// liveEndsRequests runs a processor with a fetch wait on f's inputs and
// returns the ListOffsets requests its merges sent while the records after
// the warm ones that live keeps (nil: all) were produced, in 30 pieces a
// few milliseconds apart, once it has applied every one. The warm records,
// the first tenth and a first record of every topic-partition it leaves
// out, are applied before, so that every topic-partition is in the
// client's fetches: on a loaded machine, a topic just created and just
// assigned may not be yet when the first records of another come (a CI run
// saw 37 requests when only logins warmed up; logged, the other topics'
// partitions had been in no response, 2026-12-08).
func liveEndsRequests(t *testing.T, f *inputFixture, records []kafka.Message, live func(kafka.Message) bool) int64 {
	t.Helper()
	// The first tenth, and the first record of each topic-partition that
	// it leaves out (kafkatest.Produce partitions by Murmur2, as
	// produce.PartitionOf).
	tenth := len(records) / 10
	warm, rest := slices.Clone(records[:tenth]), []kafka.Message(nil)
	covered := map[topicPartition]bool{}
	for i, m := range records {
		tp := topicPartition{m.Topic, produce.PartitionOf(m.Key, f.partitions)}
		switch {
		case i < tenth:
		case !covered[tp]:
			warm = append(warm, m)
		case live == nil || live(m):
			rest = append(rest, m)
		}
		covered[tp] = true
	}
	if want := len(f.inputs) * int(f.partitions); len(covered) != want {
		t.Fatalf("the records reach %d of the %d input topic-partitions: the live part would count asks for those never fetched", len(covered), want)
	}
	cfg := f.config(t)
	cfg.FetchWait = MinFetchWait
	p, errc, cancel := startRun(t, cfg)
	defer func() {
		cancel()
		if err := <-errc; err != nil {
			t.Fatalf("Run after stop: %v", err)
		}
	}()
	kafkatest.Produce(t, f.brokers, warm...)
	waitSeen(t, p, len(warm))
	before := p.Stats().EndsRequests
	for piece := range slices.Chunk(rest, len(rest)/30+1) {
		kafkatest.Produce(t, f.brokers, piece...)
		time.Sleep(3 * time.Millisecond)
	}
	waitSeen(t, p, len(warm)+len(rest))
	return p.Stats().EndsRequests - before
}

// waitSeen waits until p has seen n records.
func waitSeen(t *testing.T, p *Processor, n int) {
	t.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	for seen(p.Stats()) < int64(n) {
		if time.Now().After(deadline) {
			t.Fatalf("the processor saw %d of %d records in time; stats %+v", seen(p.Stats()), n, p.Stats())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestFetchesConfirmEndsAcrossLeaders: on three kfake brokers, a partition
// whose input topics have different leaders gets its ends from several
// responses, read at different moments, which must not be combined: the
// merge asks the broker, as before, and applies every record. When the
// topics' partitions share a leader, one response has them all and the
// merge asks for nothing. (The leaders are set before any record: a
// reader of a partition that kfake moves while it has records reports
// records lost, from kfake's answer to its leader epoch check.)
func TestFetchesConfirmEndsAcrossLeaders(t *testing.T) {
	c, err := kfake.NewCluster(kfake.NumBrokers(3))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close) // after the clients the fixture closes in its cleanups
	const partitions = 2
	// asked runs a processor on new input topics, topic i's partitions
	// led by broker leader(i) (liveEndsRequests).
	asked := func(leader func(topic int) int32) int64 {
		f, msgs := newHeldFixtureOn(t, c.ListenAddrs(), simulate.Config{Users: 200, Days: 30, Seed: 8}, partitions)
		for i, topic := range f.inputs {
			for p := range int32(partitions) {
				if err := c.MoveTopicPartition(topic, p, leader(i)); err != nil {
					t.Fatal(err)
				}
			}
		}
		// Records on every topic: each broker's responses bring some, so
		// ends of several responses are there to be combined.
		return liveEndsRequests(t, f, msgs, nil)
	}
	if n := asked(func(topic int) int32 { return int32(topic) }); n == 0 {
		t.Error("no ListOffsets request with each input topic on its own leader: ends of different responses were taken for one moment's")
	}
	if n := asked(func(int) int32 { return 1 }); n != 0 {
		t.Errorf("%d ListOffsets requests with every input topic on one leader, want none", n)
	}
}

// TestCheckTopicsLeadersApart: CheckTopics warns, naming them, about the
// input partitions whose topics are led by different brokers (each live
// cycle of theirs costs a ListOffsets round trip), and not when every
// partition's topics share their leader.
func TestCheckTopicsLeadersApart(t *testing.T) {
	c, err := kfake.NewCluster(kfake.NumBrokers(3))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	topics := Topics{Inputs: []string{kafkatest.Name(t, "a"), kafkatest.Name(t, "b")}, Transitions: kafkatest.Name(t, "transitions"),
		DLQ: kafkatest.Name(t, "dlq"), Changelog: kafkatest.Name(t, "changelog"), Warnings: kafkatest.Name(t, "warnings"),
		Segments: kafkatest.Name(t, "segments"), Metrics: kafkatest.Name(t, "metrics")}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if _, _, err := CreateTopics(ctx, kafkatest.Client(t, c.ListenAddrs()), topics, TopicSpec{Partitions: 4}); err != nil {
		t.Fatal(err)
	}
	lead := func(topic string, p, broker int32) {
		if err := c.MoveTopicPartition(topic, p, broker); err != nil {
			t.Fatal(err)
		}
	}
	apart := func() string {
		t.Helper()
		// A new client: a client's metadata answers may be cached.
		_, warnings, err := CheckTopics(ctx, kafkatest.Admin(t, c.ListenAddrs()), topics)
		if err != nil {
			t.Fatal(err)
		}
		for _, w := range warnings {
			if strings.Contains(w, "led by different brokers") {
				return w
			}
		}
		return ""
	}
	for p := range int32(4) {
		for _, topic := range topics.Inputs {
			lead(topic, p, p%3)
		}
	}
	if w := apart(); w != "" {
		t.Errorf("every partition's inputs on one leader, and CheckTopics warns: %s", w)
	}
	lead(topics.Inputs[1], 1, 2)
	lead(topics.Inputs[1], 3, 2)
	if w := apart(); !strings.Contains(w, "input partitions 1, 3 (of 4)") {
		t.Errorf("partitions 1 and 3 led apart, and CheckTopics warns %q", w)
	}
}
