package offline_test

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"

	"github.com/lifecycle-engine/lifecycle/processor"
	"github.com/lifecycle-engine/lifecycle/processor/engine"
	"github.com/lifecycle-engine/lifecycle/processor/offline"
	"github.com/lifecycle-engine/lifecycle/state"
	"github.com/lifecycle-engine/lifecycle/state/record"
)

// FuzzHostileHistories runs short, valid but extreme histories through
// the whole engine: times at the ends of what the decoder accepts (1970
// and 9999), jumps of millennia, events out of order and repeated,
// amounts at the largest the decoder takes, user ids that need escaping.
// No history may stop a partition (Run returns no error) or give other
// outputs with one commit per record, or with a restart (a new engine on
// the stored state, every record delivered again, then stream time
// advanced; or midway), than in one large batch (invariant 4: same
// input, same output); and every output must be valid JSON.
func FuzzHostileHistories(f *testing.F) {
	f.Add([]byte{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15})
	f.Add([]byte{0x12, 0x34, 0x56, 0x78, 0x9a, 0xbc, 0xde, 0xf0, 0x11, 0x22, 0x33, 0x44})
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0, 0xff, 0, 0xff, 0})
	f.Add([]byte{3, 7, 1, 0, 3, 7, 1, 0, 3, 7, 2, 0, 11, 7, 3, 0, 19, 6, 1, 1})
	f.Fuzz(func(t *testing.T, data []byte) {
		records, until := hostileHistory(data)
		whole := map[string]string{}
		runHistory(t, records, until, 0, nil, whole)
		if len(records) > 0 && len(whole) == 0 {
			t.Fatalf("no outputs for %d records", len(records))
		}
		one := map[string]string{}
		runHistory(t, records, until, 1, nil, one)
		// The restart on Pebble (in memory), closed and opened again: the
		// store's own keys and encodings, as `lifecycle run` keeps them.
		restarted := map[string]string{}
		fs := vfs.NewMem()
		for _, to := range []int64{0, until} {
			db, err := state.Open(state.Options{Dir: "fuzz", FS: fs, MemTableBytes: 1 << 20, CacheBytes: 1 << 20})
			if err != nil {
				t.Fatal(err)
			}
			runHistory(t, records, to, 0, []engine.Store{db, db}, restarted)
			if err := db.Close(); err != nil {
				t.Fatal(err)
			}
		}
		sameOutputs(t, whole, one, "one commit per record")
		sameOutputs(t, whole, restarted, "a restart")

		// A restart midway: valid where the merge order cannot depend on
		// what had arrived, so with every record on one input topic.
		var single []offline.Record
		for _, r := range records {
			r.Topic = 0
			single = append(single, r)
		}
		wholeSingle := map[string]string{}
		runHistory(t, single, until, 0, nil, wholeSingle)
		midway := map[string]string{}
		stores := []engine.Store{engine.NewMemStore(), engine.NewMemStore()}
		runHistory(t, single[:len(single)/2], 0, 0, stores, midway)
		runHistory(t, single, until, 0, stores, midway)
		sameOutputs(t, wholeSingle, midway, "a restart midway (one input topic)")
		for id, v := range whole {
			if !json.Valid([]byte(v)) {
				t.Fatalf("output %s is not valid JSON: %s", id, v)
			}
		}
	})
}

// hostileUsers are the user ids (and keys) of a hostile history: the
// characters JSON, the store's keys and the outputs' ids must escape or
// carry as they are.
var hostileUsers = []string{"u0", "u/1", "\x00", "\"\\'", "ü😀", "t\x00\xff" /* not UTF-8: dead-lettered */, strings.Repeat("x", 1000)}

// sameOutputs fails unless got has exactly want's outputs.
func sameOutputs(t *testing.T, want, got map[string]string, name string) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%d outputs with %s, %d in one batch", len(got), name, len(want))
	}
	for id, v := range want {
		if got[id] != v {
			t.Fatalf("output %s differs with %s:\n%s\n%s", id, name, got[id], v)
		}
	}
}

// Anchors of a hostile history's times (Unix ms): the ends of what the
// decoder accepts and a present-day time.
var hostileAnchors = []int64{0, 1, 1_767_225_600_000, 253_402_300_799_999}

// Steps between a history's events (ms), forwards or back.
var hostileSteps = []int64{0, 1, 60_000, 86_400_000, 29 * 86_400_000, 30 * 86_400_000, 31 * 86_400_000, 365 * 86_400_000, 1 << 40, 1 << 45}

// hostileHistory reads 4 bytes per event from data: the user, the type,
// the time (an anchor or a step from the last event's), the event id and
// amount. The first byte's top bit says whether stream time is advanced
// past every churn at the end.
func hostileHistory(data []byte) (records []offline.Record, until int64) {
	amounts := []string{"0", "0.000001", "19.99", "999999999999.999999", "9223372036854.775807"}
	var last, latest int64 = hostileAnchors[2], 0
	for i := 0; i+4 <= len(data) && len(records) < 64; i += 4 {
		b := data[i : i+4]
		user := hostileUsers[int(b[0]&0x7f)%len(hostileUsers)]
		typ := [...]string{"login", "purchase", "content"}[b[1]%3]
		switch s := int(b[2]); {
		case s < len(hostileAnchors):
			last = hostileAnchors[s]
		case s < 128:
			last += hostileSteps[s%len(hostileSteps)]
		default:
			last -= hostileSteps[s%len(hostileSteps)]
		}
		last = min(max(last, hostileAnchors[0]), hostileAnchors[3])
		latest = max(latest, last)
		ev := map[string]any{"event_id": fmt.Sprintf("e%d", b[3]%8), "user_id": user, "type": typ, "ts": last}
		topic := 0
		switch typ {
		case "purchase":
			topic = 1
			ev["amount"] = amounts[int(b[3]>>3)%len(amounts)]
			ev["currency"] = "USD"
		case "content":
			topic = 2
		}
		v, _ := json.Marshal(ev)
		// Sent at its own time, as a simulated population is, so that the
		// future check lets 9999 through: what is tested is what follows.
		records = append(records, offline.Record{Topic: topic, Key: []byte(user), Value: v, Time: max(last, 1)})
	}
	if len(data) > 0 && data[0]&0x80 != 0 {
		until = latest + 90*86_400_000 // stream time advanced past every churn
	}
	return records, until
}

// runHistory runs records (on stores, when given) and adds the outputs to
// outs by id; an output written again must be the same.
func runHistory(t *testing.T, records []offline.Record, until int64, batch int, stores []engine.Store, outs map[string]string) {
	t.Helper()
	pc := processor.Config{Conn: processor.Conn{Brokers: []string{"unused:9092"}}, Group: "fuzz", BatchRecords: batch}
	ec := pc.Engine()
	cfg := offline.Config{Engine: ec, Partitions: 2, MaxFutureSkew: time.Hour}
	if stores != nil {
		cfg.Store = func(p int32) engine.Store { return stores[p] }
	}
	r, err := offline.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	for _, rec := range records {
		r.Add(rec)
	}
	err = r.Run(until, func(_ int32, o record.Output) error {
		if len(o.Value) == 0 && o.Topic == ec.Topics.Metrics {
			return nil // a tombstone of the compacted metrics topic
		}
		id := outputID(o)
		if was, ok := outs[id]; ok && was != string(o.Value) {
			t.Fatalf("output %s written twice with different payloads:\n%s\n%s", id, was, o.Value)
		}
		outs[id] = string(o.Value)
		return nil
	})
	if err != nil {
		t.Fatalf("a partition stopped: %v", err)
	}
}
