package processor

import (
	"bytes"
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/lifecycle-engine/lifecycle/processor/kafkatest"
	"github.com/lifecycle-engine/lifecycle/processor/segments"
	"github.com/lifecycle-engine/lifecycle/processor/simulate"
	"github.com/lifecycle-engine/lifecycle/schemas"
	"github.com/lifecycle-engine/lifecycle/state"
	"github.com/lifecycle-engine/lifecycle/state/record"
)

// TestEndToEnd runs simulated populations (with invalid, duplicate and late
// records) through the processor and checks its outputs against the rules
// applied to the input alone (invariants 1–5), in several ways of running
// that must not change the result.
func TestEndToEnd(t *testing.T) {
	f := newInputFixture(t, simulate.Config{Users: 400, Days: 120, Seed: 7, BadRate: 0.01, DupRate: 0.03, LateRate: 0.05}, 4)
	want, wantPerUser, wantDLQ, wantState := reference(t, Config{Topics: Topics{Inputs: f.inputs}}, f.brokers)
	if len(want) < 500 || wantDLQ != f.bad {
		t.Fatalf("fixture too small or reference wrong: %d transitions, %d dead letters (simulator made %d)", len(want), wantDLQ, f.bad)
	}
	all := func(st Stats) bool { return seen(st) >= int64(f.records) }

	t.Run("one run", func(t *testing.T) {
		cfg := f.config(t)
		store := openStore(t, vfs.NewMem())
		st := runUntil(t, cfg, store, all)
		if st.Rejected != int64(f.bad) {
			t.Errorf("rejected %d records, want %d", st.Rejected, f.bad)
		}
		// A clean run on a healthy broker has no Kafka errors to count:
		// an alert on lifecycle_kafka_errors_total must not page for it.
		if st.KafkaErrors != 0 || st.DeadOutputs != 0 || st.SendErrors != 0 {
			t.Errorf("a clean run counted %d Kafka errors, %d dead outputs, %d failed writes; want none", st.KafkaErrors, st.DeadOutputs, st.SendErrors)
		}
		checkOutputs(t, cfg, want, wantPerUser)
		checkDLQ(t, cfg, f.bad)
		checkState(t, wantState, store)
	})

	t.Run("with a prediction model", func(t *testing.T) {
		cfg := f.config(t)
		model := testModel(t)
		wantM, wantPerUserM, _, _ := referenceWithModel(t, Config{Topics: Topics{Inputs: f.inputs}}, f.brokers, model)
		p, err := New(cfg, openStore(t, vfs.NewMem()))
		if err != nil {
			t.Fatal(err)
		}
		p.SetModel(model)
		runProcessor(t, p, all)
		checkOutputs(t, cfg, wantM, wantPerUserM)
		transitions, withPrediction := 0, 0
		for key, ids := range wantPerUserM {
			if !strings.HasPrefix(key, schemas.SchemaTransitionV1+"/") {
				continue
			}
			for _, id := range ids {
				transitions++
				if bytes.Contains(wantM[id], []byte(`"prediction":{"model":"`+model.ID)) {
					withPrediction++
				}
			}
		}
		if withPrediction < transitions/5 {
			t.Errorf("only %d of %d transitions carry a prediction", withPrediction, transitions)
		}
		lowPAlive := 0
		for _, v := range wantM {
			if bytes.Contains(v, []byte(`"code":"low_p_alive"`)) {
				lowPAlive++
			}
		}
		if lowPAlive == 0 {
			t.Error("no low_p_alive warning: P(alive) does not reach the warning rules")
		}
	})

	t.Run("RFM over the last 30 days, rebuilt twice a day", func(t *testing.T) {
		seg := segments.Config{Window: 30 * 24 * time.Hour, Refresh: 12 * time.Hour}
		wantW, wantPerUserW, _, _ := reference(t, Config{Topics: Topics{Inputs: f.inputs}, Segments: seg}, f.brokers)
		cfg := f.config(t)
		cfg.Segments = seg
		cfg.BatchRecords = 33
		runUntil(t, cfg, openStore(t, vfs.NewMem()), all)
		checkOutputs(t, cfg, wantW, wantPerUserW)
	})

	// moveMidStream runs cfg on an instance until half the records are
	// in, then on a new instance with an empty store in the same group,
	// which must restore every partition from the changelog and carry on
	// where the first stopped.
	moveMidStream := func(t *testing.T, cfg Config) {
		t.Helper()
		cfg.BatchRecords = 25 // commits often enough for a stop mid-stream
		first := runUntil(t, cfg, openStore(t, vfs.NewMem()), func(st Stats) bool { return seen(st) >= int64(f.records/2) })
		if seen(first) >= int64(f.records) {
			t.Fatalf("the first instance processed everything (%d); the test needs a mid-stream stop", seen(first))
		}
		fresh := openStore(t, vfs.NewMem())
		second := runUntil(t, cfg, fresh, func(st Stats) bool { return seen(st)+seen(first) >= int64(f.records) })
		if seen(second) >= int64(f.records) {
			t.Errorf("the second instance applied all %d records again: it did not restore", seen(second))
		}
		checkOutputs(t, cfg, want, wantPerUser)
		checkState(t, wantState, fresh)
	}

	t.Run("partitions move to an instance without state", func(t *testing.T) {
		moveMidStream(t, f.config(t))
	})

	t.Run("two instances share the group", func(t *testing.T) {
		cfg := f.config(t)
		a, b := openStore(t, vfs.NewMem()), openStore(t, vfs.NewMem())
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		pa, err := New(cfg, a)
		if err != nil {
			t.Fatal(err)
		}
		errA := make(chan error, 1)
		go func() { errA <- pa.Run(ctx) }()
		// B joins once A is busy, so partitions move from A to B mid-stream.
		for seen(pa.Stats()) < int64(f.records/4) {
			time.Sleep(5 * time.Millisecond)
		}
		stB := runUntil(t, cfg, b, func(st Stats) bool {
			return st.Partitions > 0 && pa.Stats().Partitions > 0 && pa.Stats().Partitions+st.Partitions == int(f.partitions) &&
				caughtUp(t, cfg, pa.Stats(), st)
		})
		cancel()
		if err := <-errA; err != nil {
			t.Fatalf("instance A: %v", err)
		}
		t.Logf("A applied %d, B applied %d", pa.Stats().Applied, stB.Applied)
		checkOutputs(t, cfg, want, wantPerUser)
	})

	t.Run("with a fetch wait", func(t *testing.T) {
		cfg := f.config(t)
		cfg.FetchWait = MinFetchWait
		runUntil(t, cfg, openStore(t, vfs.NewMem()), all)
		checkOutputs(t, cfg, want, wantPerUser)
	})

	t.Run("zstd, and a restore from a zstd changelog", func(t *testing.T) {
		cfg := f.config(t)
		cfg.Conn.Compression = "zstd"
		moveMidStream(t, cfg)
		for _, topic := range []string{cfg.Topics.Transitions, cfg.Topics.Changelog} {
			if codecs := batchCodecs(t, f.brokers, topic); len(codecs) != 1 || codecs[4] == 0 {
				t.Errorf("%s: records by codec %v; want all zstd (4)", topic, codecs)
			}
		}
	})

	t.Run("batch of one record", func(t *testing.T) {
		cfg := f.config(t)
		cfg.BatchRecords = 1
		runUntil(t, cfg, openStore(t, vfs.NewMem()), all)
		checkOutputs(t, cfg, want, wantPerUser)
	})

	t.Run("stop and restart mid-stream", func(t *testing.T) {
		cfg := f.config(t)
		cfg.BatchRecords = 97
		fs := vfs.NewMem()
		store := openStore(t, fs)
		first := runUntil(t, cfg, store, func(st Stats) bool { return seen(st) >= int64(f.records/3) })
		if seen(first) >= int64(f.records) {
			t.Fatalf("first run processed everything (%d); the test needs a mid-stream stop", seen(first))
		}
		store.Close()
		store = openStore(t, fs)
		runUntil(t, cfg, store, func(st Stats) bool { return seen(st)+seen(first) >= int64(f.records) })
		checkOutputs(t, cfg, want, wantPerUser)
	})

	t.Run("small user cache", func(t *testing.T) {
		cfg := f.config(t)
		cfg.MaxUsersCached = 10
		store := openStore(t, vfs.NewMem())
		runUntil(t, cfg, store, all)
		checkOutputs(t, cfg, want, wantPerUser)
		checkState(t, wantState, store)
	})
}

// batchCodecs counts a topic's records by the compression codec of their
// batches (0 none, 1 gzip, 2 snappy, 3 lz4, 4 zstd).
func batchCodecs(t *testing.T, brokers []string, topic string) map[uint8]int {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ends, err := kadm.NewClient(cl).ListEndOffsets(context.Background(), topic)
	if err != nil {
		t.Fatal(err)
	}
	left := map[int32]int64{}
	ends.Each(func(o kadm.ListedOffset) {
		if o.Offset > 0 {
			left[o.Partition] = o.Offset
		}
	})
	codecs := map[uint8]int{}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for len(left) > 0 && ctx.Err() == nil {
		fs := cl.PollFetches(ctx)
		fs.EachRecord(func(r *kgo.Record) {
			codecs[r.Attrs.CompressionType()]++
			if r.Offset+1 >= left[r.Partition] {
				delete(left, r.Partition)
			}
		})
	}
	if len(left) > 0 {
		t.Fatalf("%s: not read to its end: %v", topic, left)
	}
	return codecs
}

// TestCoPartitioningRefused: input topics with different partition counts
// stop the processor at start with an error naming topics and counts.
func TestCoPartitioningRefused(t *testing.T) {
	brokers := kafkatest.Brokers(t)
	topics := namedTopics(t, "a", "b")
	kafkatest.CreateTopics(t, brokers, 4, topics.Inputs[0], topics.Transitions, topics.DLQ, topics.Changelog, topics.Warnings, topics.Segments, topics.Metrics)
	kafkatest.CreateTopics(t, brokers, 3, topics.Inputs[1])
	_, err := runAtStart(t, brokers, topics)
	if !errors.Is(err, ErrNotCoPartitioned) {
		t.Fatalf("Run = %v, want ErrNotCoPartitioned", err)
	}
	for _, want := range []string{topics.Inputs[0] + " has 4", topics.Inputs[1] + " has 3"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}
}

// TestStoreLayoutRefused: a state directory built for another partition
// count stops the processor at start, naming both counts, before anything
// reaches the changelog (a fresh instance would restore those users into
// the wrong partitions) and without looping through rebalances.
func TestStoreLayoutRefused(t *testing.T) {
	f := newInputFixture(t, simulate.Config{Users: 20, Days: 10, Seed: 3}, 4)
	cfg := f.config(t)
	store := openStore(t, vfs.NewMem())
	b := store.NewBatch(1)
	if err := b.PutUser("u-old", record.User{}, 0); err != nil {
		t.Fatal(err)
	}
	if err := b.PutMeta(record.Meta{Partitions: 2, Offsets: map[string]int64{}}); err != nil {
		t.Fatal(err)
	}
	if err := b.Commit(); err != nil {
		t.Fatal(err)
	}
	p, err := New(cfg, store)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	err = p.Run(ctx)
	if !errors.Is(err, ErrStoreLayout) {
		t.Fatalf("Run = %v, want ErrStoreLayout", err)
	}
	for _, want := range []string{"had 2 partitions", "have 4 now", "--state-dir"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}
	if n := len(kafkatest.ReadAll(t, f.brokers, cfg.Topics.Changelog)); n != 0 {
		t.Errorf("the changelog got %d records from the refused store", n)
	}
}

// TestChangelogThatDeletesRefused: a changelog created by other tools with
// Kafka's default cleanup.policy (delete) would lose, at the first restore
// after retention.ms, every user not written since. The processor refuses
// it at start, saying how to fix it, before anything is read or written.
// A changelog that compacts without a week's lag, and a metrics topic that
// deletes, only warn.
func TestChangelogThatDeletesRefused(t *testing.T) {
	brokers := kafkatest.Brokers(t)
	topics := namedTopics(t, "a")
	kafkatest.CreateTopics(t, brokers, 2, topics.Inputs[0], topics.Transitions, topics.DLQ, topics.Changelog, topics.Warnings, topics.Segments, topics.Metrics)
	kafkatest.Produce(t, brokers, kafka.Message{Topic: topics.Inputs[0], Key: []byte("u"),
		Value: []byte(`{"event_id":"e","user_id":"u","type":"login","ts":"2026-01-02T00:00:00Z"}`)})
	p, err := runAtStart(t, brokers, topics)
	if !errors.Is(err, ErrChangelogDeletes) {
		t.Fatalf("Run = %v, want ErrChangelogDeletes", err)
	}
	for _, want := range []string{topics.Changelog + " has cleanup.policy=delete", "--add-config cleanup.policy=compact"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}
	if st := p.Stats(); st.Applied != 0 {
		t.Errorf("%d records applied before the refusal, want 0", st.Applied)
	}
	for _, topic := range []string{topics.Changelog, topics.Transitions} {
		if n := len(kafkatest.ReadAll(t, brokers, topic)); n != 0 {
			t.Errorf("%s got %d records, want none", topic, n)
		}
	}

	// Compacted with a minute's lag instead of a week's: it runs, with a
	// warning; so does a metrics topic that deletes.
	adm := kafkatest.Admin(t, brokers)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	resp, err := adm.AlterTopicConfigs(ctx, []kadm.AlterConfig{
		{Op: kadm.SetConfig, Name: "cleanup.policy", Value: kadm.StringPtr("compact")},
		{Op: kadm.SetConfig, Name: "min.compaction.lag.ms", Value: kadm.StringPtr("60000")},
	}, topics.Changelog)
	if err == nil {
		err = resp[0].Err
	}
	if err != nil {
		t.Fatal(err)
	}
	_, warnings, err := CheckTopics(ctx, adm, topics)
	if err != nil {
		t.Fatalf("CheckTopics on a compacted changelog: %v", err)
	}
	if got := strings.Join(warnings, "\n"); len(warnings) != 2 || !strings.Contains(got, topics.Changelog+" has min.compaction.lag.ms=") || !strings.Contains(got, "metrics topic "+topics.Metrics+" has cleanup.policy=delete") {
		t.Errorf("warnings %q, want one on the changelog's compaction lag and one on the metrics topic", warnings)
	}
}

// TestInputPartitionsAddedWhileRunning: partitions added to the input
// topics under a running group split every user's events between two
// partitions. The processor stops with an error that says so and what to
// do, before reading the new partitions; it used to rebalance without end.
func TestInputPartitionsAddedWhileRunning(t *testing.T) {
	f := newInputFixture(t, simulate.Config{Users: 30, Days: 5, Seed: 4}, 2)
	cfg := f.config(t)
	p, errc, _ := startRun(t, cfg)
	waitFor(t, "the inputs applied", func() bool { return seen(p.Stats()) == int64(f.records) })

	adm := kafkatest.Admin(t, f.brokers)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	resp, err := adm.UpdatePartitions(ctx, 3, f.inputs...)
	if err == nil {
		err = resp.Error()
	}
	if err != nil {
		t.Fatal(err)
	}
	select {
	case err = <-errc:
	case <-time.After(2 * time.Minute):
		t.Fatalf("still running after the inputs got a third partition; stats %+v", p.Stats())
	}
	if !errors.Is(err, ErrPartitionsChanged) {
		t.Fatalf("Run = %v, want ErrPartitionsChanged", err)
	}
	for _, want := range []string{f.inputs[0] + " has 3", "partitioned for 2", "replay --archive"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}
	if st := p.Stats(); seen(st) != int64(f.records) {
		t.Errorf("%d records seen, want the %d the inputs had", seen(st), f.records)
	}
}

// TestCreateTopicsTakesTheInputsCount: input topics that exist already
// decide the partition count of the changelog and the inputs created
// beside them, whatever TopicSpec says: a changelog of another count is
// refused at start, so creating one would only make the next step fail.
func TestCreateTopicsTakesTheInputsCount(t *testing.T) {
	brokers := kafkatest.Brokers(t)
	topics := namedTopics(t, "a", "b")
	kafkatest.CreateTopics(t, brokers, 3, topics.Inputs[0])
	cl := kafkatest.Client(t, brokers)
	adm := kadm.NewClient(cl)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	created, n, err := CreateTopics(ctx, cl, topics, TopicSpec{Partitions: 8})
	t.Cleanup(func() { adm.DeleteTopics(context.Background(), created...) })
	if err != nil {
		t.Fatal(err)
	}
	if n != 3 || slices.Contains(created, topics.Inputs[0]) {
		t.Errorf("CreateTopics = %v, %d partitions; want every topic but %s, with its 3", created, n, topics.Inputs[0])
	}
	partitions, _, err := CheckTopics(ctx, adm, topics)
	if err != nil || partitions != 3 {
		t.Errorf("CheckTopics after creating = %d, %v; want 3 partitions, no error", partitions, err)
	}
}

// namedTopics names a test's own topics: an input per base name, every
// output and the changelog. None is created.
func namedTopics(t *testing.T, inputs ...string) Topics {
	topics := Topics{Transitions: kafkatest.Name(t, "tr"), DLQ: kafkatest.Name(t, "dlq"), Changelog: kafkatest.Name(t, "changelog"),
		Warnings: kafkatest.Name(t, "warnings"), Segments: kafkatest.Name(t, "segments"), Metrics: kafkatest.Name(t, "metrics")}
	for _, in := range inputs {
		topics.Inputs = append(topics.Inputs, kafkatest.Name(t, in))
	}
	return topics
}

// runAtStart runs a processor on topics, for a check at start that must
// stop it: it returns the processor and Run's error, failing the test
// after 30 s.
func runAtStart(t *testing.T, brokers []string, topics Topics) (*Processor, error) {
	t.Helper()
	p, err := New(Config{Conn: Conn{Brokers: brokers}, Group: kafkatest.Name(t, "g"), Topics: topics}, openStore(t, vfs.NewMem()))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	return p, p.Run(ctx)
}

// TestChangelogCreatedAnewWhileRunning: the changelog deleted and created
// anew under a running instance (an operator's mistake, a topic "fixed"
// by Terraform) holds only what is written to it since. The instance
// notices the new topic, seeds it from its local state, and a restore from
// it brings back every user. Before, the restore brought back only the
// users written since (65 of 3,000, measured by hand on Kafka 4.3.1).
func TestChangelogCreatedAnewWhileRunning(t *testing.T) {
	f, msgs := newHeldFixture(t, simulate.Config{Users: 80, Days: 30, Seed: 12}, 2)
	first, later := msgs[:len(msgs)*9/10], msgs[len(msgs)*9/10:]
	kafkatest.Produce(t, f.brokers, first...)
	cfg := f.config(t)
	cfg.changelogWatch = 2 * time.Second
	p, errc, stop := startRun(t, cfg)
	waitFor(t, "the first records applied and logged", func() bool { return seen(p.Stats()) == int64(len(first)) && caughtUp(t, cfg) })
	users := func(s *state.Store) map[string]bool { return storedUsers(t, s, f.partitions) }

	kafkatest.DeleteTopic(t, f.brokers, cfg.Topics.Changelog)
	kafkatest.CreateCompacted(t, f.brokers, f.partitions, cfg.Topics.Changelog)
	// Written to the new topic before the instance notices it: the new
	// changelog then has metadata of its own, current with local state.
	kafkatest.Produce(t, f.brokers, later...)
	waitFor(t, "the later records applied", func() bool { return seen(p.Stats()) == int64(len(msgs)) })
	want := users(p.store)
	waitFor(t, "the new changelog seeded with every user", func() bool { return len(loggedUsers(t, cfg)) == len(want) })
	waitFor(t, "caught up", func() bool { return caughtUp(t, cfg) })
	stop()
	if err := <-errc; err != nil {
		t.Fatalf("Run: %v", err)
	}
	if got := users(restoreAll(t, cfg, f.partitions)); len(got) != len(want) {
		t.Errorf("a restore from the changelog created anew brought back %d users; the instance that wrote it had %d", len(got), len(want))
	}
}

// TestChangelogUnseededRefused: the changelog is deleted and created anew
// and the instance stops before it notices, so the new topic holds only
// its later batches. A new instance without state refuses to restore from
// it and stops with ErrChangelogUnseeded, without writing anything (before,
// it brought back only the users of those batches, and the others came
// back as new). The first instance, started again on its state, seeds the
// new topic, and a restore from it then brings back every user.
func TestChangelogUnseededRefused(t *testing.T) {
	f, msgs := newHeldFixture(t, simulate.Config{Users: 80, Days: 30, Seed: 12}, 2)
	first, later := msgs[:len(msgs)*9/10], msgs[len(msgs)*9/10:]
	kafkatest.Produce(t, f.brokers, first...)
	cfg := f.config(t)
	cfg.changelogWatch = time.Hour // the instance never notices
	held := openStore(t, vfs.NewMem())
	p, errc, stop := startRunOn(t, cfg, held)
	waitFor(t, "the first records applied and logged", func() bool { return seen(p.Stats()) == int64(len(first)) && caughtUp(t, cfg) })
	kafkatest.DeleteTopic(t, f.brokers, cfg.Topics.Changelog)
	kafkatest.CreateCompacted(t, f.brokers, f.partitions, cfg.Topics.Changelog)
	kafkatest.Produce(t, f.brokers, later...)
	// Offsets are committed once the changelog has the batches' state.
	waitFor(t, "the later records applied and logged", func() bool { return seen(p.Stats()) == int64(len(msgs)) && caughtUp(t, cfg) })
	stop()
	if err := <-errc; err != nil {
		t.Fatalf("Run: %v", err)
	}
	want := storedUsers(t, held, f.partitions)
	if logged := loggedUsers(t, cfg); len(logged) == 0 || len(logged) >= len(want) {
		t.Fatalf("the new changelog has %d of the %d users: the test needs some, not all", len(logged), len(want))
	}

	fresh := openStore(t, vfs.NewMem())
	_, errc, _ = startRunOn(t, cfg, fresh)
	select {
	case err := <-errc:
		if !errors.Is(err, ErrChangelogUnseeded) || !strings.Contains(err.Error(), "start that instance with it") {
			t.Fatalf("a restore from the unseeded changelog: %v, want ErrChangelogUnseeded and the way on", err)
		}
	case <-time.After(time.Minute):
		t.Fatalf("a new instance still runs a minute on, with %d of the %d users restored from the unseeded changelog", len(storedUsers(t, fresh, f.partitions)), len(want))
	}
	if got := storedUsers(t, fresh, f.partitions); len(got) != 0 {
		t.Errorf("the refused restore stored %d users", len(got))
	}

	p, errc, stop = startRunOn(t, cfg, held)
	waitFor(t, "the new changelog seeded with every user", func() bool { return len(loggedUsers(t, cfg)) == len(want) })
	waitFor(t, "caught up", func() bool { return caughtUp(t, cfg) })
	stop()
	if err := <-errc; err != nil {
		t.Fatalf("Run: %v", err)
	}
	if got := storedUsers(t, restoreAll(t, cfg, f.partitions), f.partitions); len(got) != len(want) {
		t.Errorf("a restore from the seeded changelog brought back %d users, want %d", len(got), len(want))
	}
}

// storedUsers are the ids of the users s holds in partitions 0 to n-1.
func storedUsers(t *testing.T, s *state.Store, n int32) map[string]bool {
	t.Helper()
	ids := map[string]bool{}
	for id := range n {
		if err := s.Users(id, func(uid string, _ record.User) error { ids[uid] = true; return nil }); err != nil {
			t.Fatal(err)
		}
	}
	return ids
}

// loggedUsers are the ids of the users cfg's changelog has records of.
func loggedUsers(t *testing.T, cfg Config) map[string]bool {
	t.Helper()
	ids := map[string]bool{}
	for _, m := range kafkatest.ReadAll(t, cfg.Conn.Brokers, cfg.Topics.Changelog) {
		if len(m.Key) > 1 && m.Key[0] == changelogUser {
			ids[string(m.Key[1:])] = true
		}
	}
	return ids
}

// restoreAll runs a new instance without state until it has restored all
// n partitions from the changelog, and returns its store.
func restoreAll(t *testing.T, cfg Config, n int32) *state.Store {
	t.Helper()
	fresh := openStore(t, vfs.NewMem())
	runUntil(t, cfg, fresh, func(st Stats) bool {
		done := len(st.Restores) == int(n) && st.Restoring == 0
		for _, r := range st.Restores {
			done = done && !r.Running && r.Read == r.Target
		}
		return done
	})
	return fresh
}

// TestInputTopicCreatedAnew: an input topic deleted and created anew
// under a running group starts its offsets again at 0, below what the
// partitions' state has applied; its new records would be taken as
// applied already (the users' records carry their offsets) and skipped
// without a word. The processor stops with an error that says so and what
// to do, applies none of them, and a start on the same state refuses too.
func TestInputTopicCreatedAnew(t *testing.T) {
	f, msgs := newHeldFixture(t, simulate.Config{Users: 40, Days: 20, Seed: 8}, 2)
	kafkatest.Produce(t, f.brokers, msgs...)
	cfg := f.config(t)
	store := openStore(t, vfs.NewMem())
	p, err := New(cfg, store)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	errc := make(chan error, 1)
	go func() { errc <- p.Run(ctx) }()
	waitFor(t, "the inputs applied and committed", func() bool { return seen(p.Stats()) == int64(f.records) && caughtUp(t, cfg) })
	applied := p.Stats().Applied

	login := f.inputs[0]
	kafkatest.DeleteTopic(t, f.brokers, login)
	kafkatest.CreateTopics(t, f.brokers, f.partitions, login)
	var again []kafka.Message
	for _, m := range msgs {
		if m.Topic == login && len(again) < 20 {
			again = append(again, m)
		}
	}
	kafkatest.Produce(t, f.brokers, again...)
	select {
	case err = <-errc:
	case <-time.After(2 * time.Minute):
		t.Fatalf("still running after %s was created anew; stats %+v", login, p.Stats())
	}
	if !errors.Is(err, ErrInputRestarted) || !strings.Contains(err.Error(), login) || !strings.Contains(err.Error(), "--handover") {
		t.Fatalf("Run = %v; want ErrInputRestarted naming %s and the way on", err, login)
	}
	t.Logf("running: %v", err)
	if got := p.Stats().Applied; got != applied {
		t.Errorf("%d events applied after the topic was created anew; want none", got-applied)
	}

	// A start on the same state refuses too, before reading anything.
	p, err = New(cfg, store)
	if err != nil {
		t.Fatal(err)
	}
	rctx, rcancel := context.WithTimeout(context.Background(), time.Minute)
	defer rcancel()
	if err := p.Run(rctx); !errors.Is(err, ErrInputRestarted) {
		t.Errorf("a start on the same state: %v; want ErrInputRestarted", err)
	} else {
		t.Logf("at start: %v", err)
	}
	if got := p.Stats().Applied; got != 0 {
		t.Errorf("the start on the same state applied %d events; want none", got)
	}
}

// TestInputTopicCreatedAnewWhileStopped: an input topic deleted and
// created anew while no instance runs, which has since got more records
// than the state had applied, shows no sign of it in its offsets: the
// instance would read on from its position and skip the new topic's
// records below it as applied already. Each changelog metadata record
// names the input topics its state applied, so a start on the same state
// refuses, and so does one that restores the state from the changelog.
func TestInputTopicCreatedAnewWhileStopped(t *testing.T) {
	f, msgs := newHeldFixture(t, simulate.Config{Users: 40, Days: 20, Seed: 8}, 2)
	kafkatest.Produce(t, f.brokers, msgs...)
	cfg := f.config(t)
	store := openStore(t, vfs.NewMem())
	p, errc, stop := startRunOn(t, cfg, store)
	waitFor(t, "the inputs applied and committed", func() bool { return seen(p.Stats()) == int64(f.records) && caughtUp(t, cfg) })
	stop()
	if err := <-errc; err != nil {
		t.Fatalf("Run: %v", err)
	}

	login := f.inputs[0]
	kafkatest.DeleteTopic(t, f.brokers, login)
	kafkatest.CreateTopics(t, f.brokers, f.partitions, login)
	var again []kafka.Message
	for _, m := range msgs {
		if m.Topic == login {
			again = append(again, m)
		}
	}
	kafkatest.Produce(t, f.brokers, append(again, again...)...) // past the old position in every partition
	for _, s := range []struct {
		name  string
		store *state.Store
	}{{"the same state", store}, {"a state restored from the changelog", openStore(t, vfs.NewMem())}} {
		p, errc, _ := startRunOn(t, cfg, s.store)
		select {
		case err := <-errc:
			if !errors.Is(err, ErrInputRestarted) || !strings.Contains(err.Error(), login) || !strings.Contains(err.Error(), "--handover") {
				t.Fatalf("a start on %s: %v; want ErrInputRestarted naming %s and the way on", s.name, err, login)
			}
			t.Logf("%s: %v", s.name, err)
		case <-time.After(time.Minute):
			t.Fatalf("a start on %s still runs a minute after %s was created anew; stats %+v", s.name, login, p.Stats())
		}
		if got := p.Stats().Applied; got != 0 {
			t.Errorf("the start on %s applied %d events; want none", s.name, got)
		}
	}
}
