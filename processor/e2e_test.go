package processor

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"maps"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/segmentio/kafka-go"
	"go.uber.org/zap/zaptest"

	"github.com/lifecycle-engine/lifecycle/processor/engine"
	"github.com/lifecycle-engine/lifecycle/processor/kafkatest"
	"github.com/lifecycle-engine/lifecycle/processor/predict"
	"github.com/lifecycle-engine/lifecycle/processor/rules"
	"github.com/lifecycle-engine/lifecycle/processor/segments"
	"github.com/lifecycle-engine/lifecycle/processor/simulate"
	"github.com/lifecycle-engine/lifecycle/schemas"
	"github.com/lifecycle-engine/lifecycle/schemas/schematest"
	"github.com/lifecycle-engine/lifecycle/state"
	"github.com/lifecycle-engine/lifecycle/state/record"
)

// inputFixture is a simulated population produced once to uniquely named
// input topics, shared by the subtests of one test.
type inputFixture struct {
	brokers    []string
	inputs     []string
	partitions int32
	records    int // records produced
	bad        int // of which invalid
}

func newInputFixture(t *testing.T, sim simulate.Config, partitions int32) *inputFixture {
	t.Helper()
	f, msgs := newHeldFixture(t, sim, partitions)
	kafkatest.Produce(t, f.brokers, msgs...)
	return f
}

// newHeldFixture is newInputFixture for a test that produces the records
// itself (over time, say): it creates the topics and returns the records.
func newHeldFixture(t *testing.T, sim simulate.Config, partitions int32) (*inputFixture, []kafka.Message) {
	t.Helper()
	f := &inputFixture{brokers: kafkatest.Brokers(t), partitions: partitions}
	f.inputs = []string{kafkatest.Name(t, "login"), kafkatest.Name(t, "purchase"), kafkatest.Name(t, "content")}
	kafkatest.CreateTopics(t, f.brokers, partitions, f.inputs...)
	sim.Topics = simulate.Topics{Login: f.inputs[0], Purchase: f.inputs[1], Content: f.inputs[2]}
	var msgs []kafka.Message
	_, err := simulate.Run(context.Background(), sim, func(r simulate.Record) error {
		msgs = append(msgs, kafka.Message{Topic: r.Topic, Key: r.Key, Value: r.Value})
		if r.Bad != "" {
			f.bad++
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	f.records = len(msgs)
	return f, msgs
}

// config returns a processor config on the fixture's inputs with fresh
// output topics and group.
func (f *inputFixture) config(t *testing.T) Config {
	t.Helper()
	cfg := Config{
		Conn:  Conn{Brokers: f.brokers},
		Group: kafkatest.Name(t, "group"),
		Topics: Topics{
			Inputs:      f.inputs,
			Transitions: kafkatest.Name(t, "transitions"),
			DLQ:         kafkatest.Name(t, "dlq"),
			Changelog:   kafkatest.Name(t, "changelog"),
			Warnings:    kafkatest.Name(t, "warnings"),
			Segments:    kafkatest.Name(t, "segments"),
		},
		Log: zaptest.NewLogger(t),
	}
	kafkatest.CreateTopics(t, f.brokers, 3, cfg.Topics.Transitions, cfg.Topics.DLQ, cfg.Topics.Warnings, cfg.Topics.Segments)
	kafkatest.CreateTopics(t, f.brokers, f.partitions, cfg.Topics.Changelog)
	return cfg
}

func openStore(t *testing.T, fs vfs.FS) *state.Store {
	t.Helper()
	s, err := state.Open(state.Options{Dir: "state", FS: fs})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// runUntil runs a processor until done says so, then stops it as SIGTERM
// would and checks that it stopped cleanly. done is checked after every
// commit of every partition, so a stop can land mid-stream however fast
// the processor is.
func runUntil(t *testing.T, cfg Config, store *state.Store, done func(Stats) bool) Stats {
	t.Helper()
	p, err := New(cfg, store)
	if err != nil {
		t.Fatal(err)
	}
	return runProcessor(t, p, done)
}

// runProcessor is runUntil for a processor the test has set up itself.
func runProcessor(t *testing.T, p *Processor, done func(Stats) bool) Stats {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	hook := p.afterCommit // the test's own, if any
	p.afterCommit = func() {
		if hook != nil {
			hook()
		}
		if done(p.Stats()) {
			cancel()
		}
	}
	errc := make(chan error, 1)
	go func() { errc <- p.Run(ctx) }()
	deadline := time.After(2 * time.Minute)
	for {
		select {
		case err := <-errc:
			if ctx.Err() == nil {
				t.Fatalf("processor stopped by itself: %v", err)
			}
			if err != nil {
				t.Fatalf("Run after stop: %v", err)
			}
			return p.Stats()
		case <-deadline:
			cancel()
			t.Fatalf("processor did not get there in time; stats %+v", p.Stats())
		case <-time.After(20 * time.Millisecond):
			// Conditions on the outside world (group lag) change without commits.
			if done(p.Stats()) {
				cancel()
			}
		}
	}
}

func seen(st Stats) int64 { return st.Applied + st.Rejected + st.Duplicates }

// reference computes the outputs the engine gives for the input topics as
// they are in Kafka, driven eagerly (engine.Drive with one record per
// commit, every timer fired as soon as stream time passes it, nothing
// cached) over an in-memory store: per partition, the records of every
// topic merged by (event time, topic, offset). The runtime, with its
// batches, lazy timers, cache evictions, crashes and restores, must give
// the same outputs byte for byte.
func reference(t *testing.T, cfg Config, brokers []string) (byID map[string][]byte, perUser map[string][]string, dlq int, final map[string]rules.User) {
	t.Helper()
	return referenceWithModel(t, cfg, brokers, nil)
}

// referenceWithModel is reference for a processor that scores with model.
func referenceWithModel(t *testing.T, cfg Config, brokers []string, model *engine.Model) (byID map[string][]byte, perUser map[string][]string, dlq int, final map[string]rules.User) {
	t.Helper()
	var m atomic.Pointer[engine.Model]
	m.Store(model)
	cfg = cfg.withDefaults().withEngine(&m)
	ec := cfg.engine
	ec.BatchRecords, ec.MaxUsersCached = 1, 0
	dec := schemas.NewDecoder(cfg.Decoder)
	parts := map[int32][][]*engine.Input{} // partition → per topic, offset order
	for ti, topic := range cfg.Topics.Inputs {
		for _, m := range kafkatest.ReadAll(t, brokers, topic) {
			p := int32(m.Partition)
			if parts[p] == nil {
				parts[p] = make([][]*engine.Input, len(cfg.Topics.Inputs))
			}
			in := &engine.Input{Topic: ti, Partition: p, Offset: m.Offset, Key: m.Key, Value: m.Value, Time: m.Time}
			engine.Decode(in, dec, cfg.MaxFutureSkew, time.Now())
			parts[p][ti] = append(parts[p][ti], in)
		}
	}
	byID, perUser, final = map[string][]byte{}, map[string][]string{}, map[string]rules.User{}
	sink := func(c engine.Commit) error {
		for _, o := range c.Outputs {
			if o.Topic == cfg.Topics.DLQ {
				dlq++
				continue
			}
			id, user := string(o.Headers[0].Value), string(o.Key)
			if prev, ok := byID[id]; ok {
				// Ids name one fact each; the rules made the same one twice.
				t.Fatalf("the reference made output %s twice:\n%s\n%s", id, prev, o.Value)
			}
			byID[id] = o.Value
			key := string(o.Headers[1].Value) + "/" + user // schema (kind of output), not topic name
			perUser[key] = append(perUser[key], id)
		}
		return nil
	}
	store := engine.NewMemStore()
	for p, topics := range parts {
		if err := engine.Drive(ec, store, p, int32(len(parts)), engine.Merge(cfg.Topics.Inputs, topics), 0, &engine.Stats{}, sink); err != nil {
			t.Fatal(err)
		}
		err := store.UserIDs(p, func(id []byte) {
			r, _, err := store.User(p, string(id))
			if err != nil {
				t.Fatal(err)
			}
			final[string(id)] = r.User
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	return byID, perUser, dlq, final
}

// checkState compares the users in stores with the reference's final state.
// A user lives in the store that last owned its partition.
func checkState(t *testing.T, want map[string]rules.User, stores ...*state.Store) {
	t.Helper()
	got := map[string]rules.User{}
	for _, s := range stores {
		ps, err := s.Partitions()
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range ps {
			if err := s.Users(p, func(id string, r record.User) error {
				if prev, ok := got[id]; ok && prev != r.User {
					// Two stores hold the user: the one that owned it last
					// must agree with the reference; report below.
					if prev == want[id] {
						return nil
					}
				}
				got[id] = r.User
				return nil
			}); err != nil {
				t.Fatal(err)
			}
		}
	}
	bad := 0
	for id, w := range want {
		if g, ok := got[id]; !ok || g != w {
			if bad++; bad <= 5 {
				t.Errorf("user %s: stored %+v\nwant %+v", id, g, w)
			}
		}
	}
	if len(got) != len(want) || bad > 0 {
		t.Errorf("%d users stored, %d expected, %d differ", len(got), len(want), bad)
	}
	checkRebuildInputs(t, stores...)
}

// checkRebuildInputs checks, in every partition of stores, what an RFM
// rebuild reads instead of every user record: the buyers index holds
// exactly the buyers' facts as their records have them, and the metadata
// counts exactly the users stored.
func checkRebuildInputs(t *testing.T, stores ...*state.Store) {
	t.Helper()
	for _, s := range stores {
		ps, err := s.Partitions()
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range ps {
			want := map[string]record.Buyer{}
			var users int64
			if err := s.Users(p, func(id string, r record.User) error {
				users++
				if b, ok := record.BuyerOf(&r); ok {
					want[id] = b
				}
				return nil
			}); err != nil {
				t.Fatal(err)
			}
			got := map[string]record.Buyer{}
			if err := s.Buyers(p, func(id []byte, b *record.Buyer) error {
				got[string(id)] = *b
				return nil
			}); err != nil {
				t.Fatal(err)
			}
			if !maps.Equal(got, want) {
				bad := 0
				for id, w := range want {
					if g, ok := got[id]; (!ok || g != w) && bad < 3 {
						bad++
						t.Errorf("partition %d: buyers index of %s: %+v (present %v), its record says %+v", p, id, g, ok, w)
					}
				}
				t.Errorf("partition %d: buyers index has %d entries, the records %d buyers", p, len(got), len(want))
			}
			meta, _, err := s.Meta(p)
			if err != nil {
				t.Fatal(err)
			}
			if n := engine.StoredUsers(&meta); n != users {
				t.Errorf("partition %d: metadata counts %d users, the store holds %d", p, n, users)
			}
		}
	}
}

// checkOutputs compares the output topics (transitions, warnings,
// segments) with the reference: every expected id at least once, no other
// id, duplicates byte-identical, every record valid against its schema, and
// each user's records on each topic in the order the rules made them.
func checkOutputs(t *testing.T, cfg Config, wantByID map[string][]byte, wantPerUser map[string][]string) {
	t.Helper()
	cfg = cfg.withDefaults()
	schemaOf := map[string]string{
		cfg.Topics.Transitions: schemas.TransitionSchemaFile,
		cfg.Topics.Warnings:    schemas.WarningSchemaFile,
		cfg.Topics.Segments:    schemas.SegmentSchemaFile,
	}
	got := map[string][]byte{}
	gotPerUser := map[string][]string{}
	dups, records := 0, 0
	for topic, file := range schemaOf {
		sch := schematest.Compile(t, file)
		msgs := kafkatest.ReadAll(t, cfg.Conn.Brokers, topic)
		records += len(msgs)
		for _, m := range msgs {
			id := header(m, schemas.HeaderID)
			if prev, ok := got[id]; ok {
				dups++
				if !bytes.Equal(prev, m.Value) {
					t.Errorf("output %s sent twice with different payloads:\n%s\n%s", id, prev, m.Value)
				}
				continue
			}
			got[id] = m.Value
			key := header(m, schemas.HeaderSchema) + "/" + string(m.Key)
			gotPerUser[key] = append(gotPerUser[key], id)
			if err := schematest.Validate(sch, m.Value); err != nil {
				t.Errorf("output %s does not validate against %s: %v\n%s", id, file, err, m.Value)
			}
			want, ok := wantByID[id]
			if !ok {
				t.Errorf("unexpected output %s on %s: %s", id, topic, m.Value)
				continue
			}
			if !bytes.Equal(want, m.Value) {
				t.Errorf("output %s:\n got %s\nwant %s", id, m.Value, want)
			}
		}
	}
	missing := 0
	for id, v := range wantByID {
		if _, ok := got[id]; !ok {
			missing++
			if missing <= 5 {
				t.Errorf("missing output %s: %s", id, v)
			}
		}
	}
	if missing > 0 {
		t.Errorf("%d of %d expected outputs missing", missing, len(wantByID))
	}
	for key, want := range wantPerUser {
		if g := gotPerUser[key]; !slices.Equal(g, want) && missing == 0 {
			t.Errorf("%s: outputs in order %v, want %v", key, g, want)
		}
	}
	t.Logf("%d outputs expected, %d records read (%d duplicates)", len(wantByID), records, dups)
}

func header(m kafka.Message, key string) string {
	for _, h := range m.Headers {
		if h.Key == key {
			return string(h.Value)
		}
	}
	return ""
}

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

	t.Run("partitions move to an instance without state", func(t *testing.T) {
		cfg := f.config(t)
		cfg.BatchRecords = 25 // commits often enough for a stop mid-stream
		first := runUntil(t, cfg, openStore(t, vfs.NewMem()), func(st Stats) bool { return seen(st) >= int64(f.records/2) })
		if seen(first) >= int64(f.records) {
			t.Fatalf("the first instance processed everything (%d); the test needs a mid-stream stop", seen(first))
		}
		// A new instance, empty store, same group: it must restore every
		// partition from the changelog and carry on where the first stopped.
		fresh := openStore(t, vfs.NewMem())
		second := runUntil(t, cfg, fresh, func(st Stats) bool { return seen(st)+seen(first) >= int64(f.records) })
		if seen(second) >= int64(f.records) {
			t.Errorf("the second instance applied all %d records again: it did not restore", seen(second))
		}
		checkOutputs(t, cfg, want, wantPerUser)
		checkState(t, wantState, fresh)
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

// caughtUp reports whether the group has committed offsets at the end of
// every input partition: all records processed and their outputs delivered.
func caughtUp(t *testing.T, cfg Config, _ ...Stats) bool {
	t.Helper()
	adm := kafkatest.Admin(t, cfg.Conn.Brokers)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	lags, err := adm.Lag(ctx, cfg.Group)
	if err != nil {
		return false
	}
	l, ok := lags[cfg.Group]
	if !ok || l.Error() != nil {
		return false
	}
	for _, topic := range cfg.Topics.Inputs {
		ps, ok := l.Lag[topic]
		if !ok || len(ps) != int(len(ps)) {
			return false
		}
		for _, pl := range ps {
			if pl.Err != nil || pl.Lag != 0 {
				return false
			}
		}
	}
	return true
}

func checkDLQ(t *testing.T, cfg Config, want int) {
	t.Helper()
	inputs := map[string]map[string][]byte{} // topic → "partition/offset" → bytes
	for _, topic := range cfg.Topics.Inputs {
		inputs[topic] = map[string][]byte{}
		for _, m := range kafkatest.ReadAll(t, cfg.Conn.Brokers, topic) {
			inputs[topic][fmt.Sprintf("%d/%d", m.Partition, m.Offset)] = m.Value
		}
	}
	msgs := kafkatest.ReadAll(t, cfg.Conn.Brokers, cfg.Topics.DLQ)
	if len(msgs) != want {
		t.Errorf("dead-letter topic has %d records, want %d", len(msgs), want)
	}
	for _, m := range msgs {
		src := inputs[header(m, schemas.HeaderDLQTopic)][header(m, schemas.HeaderDLQPartition)+"/"+header(m, schemas.HeaderDLQOffset)]
		if !bytes.Equal(src, m.Value) {
			t.Errorf("dead letter does not carry the original bytes of %s/%s/%s", header(m, schemas.HeaderDLQTopic), header(m, schemas.HeaderDLQPartition), header(m, schemas.HeaderDLQOffset))
		}
		if header(m, schemas.HeaderDLQCode) == "" || header(m, schemas.HeaderDLQReason) == "" {
			t.Errorf("dead letter without reason: %v", m.Headers)
		}
	}
}

// TestCoPartitioningRefused: input topics with different partition counts
// stop the processor at start with an error naming topics and counts.
func TestCoPartitioningRefused(t *testing.T) {
	brokers := kafkatest.Brokers(t)
	topics := Topics{
		Inputs:      []string{kafkatest.Name(t, "a"), kafkatest.Name(t, "b")},
		Transitions: kafkatest.Name(t, "tr"),
		DLQ:         kafkatest.Name(t, "dlq"),
	}
	topics.Changelog = kafkatest.Name(t, "changelog")
	topics.Warnings, topics.Segments = kafkatest.Name(t, "warnings"), kafkatest.Name(t, "segments")
	kafkatest.CreateTopics(t, brokers, 4, topics.Inputs[0], topics.Transitions, topics.DLQ, topics.Changelog, topics.Warnings, topics.Segments)
	kafkatest.CreateTopics(t, brokers, 3, topics.Inputs[1])
	p, err := New(Config{Conn: Conn{Brokers: brokers}, Group: kafkatest.Name(t, "g"), Topics: topics}, openStore(t, vfs.NewMem()))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	err = p.Run(ctx)
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

// testModel is a model with the published CDNOW parameters (weekly periods).
func testModel(t *testing.T) *engine.Model {
	t.Helper()
	m := &predict.Model{Format: predict.FormatVersion, Period: predict.Week,
		BGNBD:      predict.BGNBD{R: 0.243, Alpha: 4.414, A: 0.793, B: 2.426},
		GammaGamma: predict.GammaGamma{P: 6.25, Q: 3.74, Gamma: 15.44}}
	path := filepath.Join(t.TempDir(), "model.json")
	if err := m.Save(path); err != nil {
		t.Fatal(err)
	}
	lm, err := engine.LoadModel(path)
	if err != nil {
		t.Fatal(err)
	}
	return lm
}
