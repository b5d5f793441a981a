package processor

import (
	"bytes"
	"fmt"
	"maps"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lifecycle-engine/lifecycle/processor/engine"
	"github.com/lifecycle-engine/lifecycle/processor/kafkatest"
	"github.com/lifecycle-engine/lifecycle/processor/rules"
	"github.com/lifecycle-engine/lifecycle/schemas"
	"github.com/lifecycle-engine/lifecycle/schemas/schematest"
	"github.com/lifecycle-engine/lifecycle/state"
	"github.com/lifecycle-engine/lifecycle/state/record"
)

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
		if err := engine.Drive(ec, store, p, int32(len(parts)), engine.Each(engine.Merge(cfg.Topics.Inputs, topics)), 0, &engine.Stats{}, sink); err != nil {
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
		cfg.Topics.Metrics:     schemas.MetricsSchemaFile,
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
