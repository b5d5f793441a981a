package offline_test

import (
	"context"
	"testing"
	"time"

	"github.com/lifecycle-engine/lifecycle/processor"
	"github.com/lifecycle-engine/lifecycle/processor/engine"
	"github.com/lifecycle-engine/lifecycle/processor/offline"
	"github.com/lifecycle-engine/lifecycle/processor/simulate/rhythm"
	"github.com/lifecycle-engine/lifecycle/processor/warnings"
	"github.com/lifecycle-engine/lifecycle/schemas"
	"github.com/lifecycle-engine/lifecycle/state/record"
)

// TestWatchLevelWhateverTheBatchingAndRestarts: the watch level each
// partition chooses from its own departures (warnings.Outcomes) is part
// of the state, so the outputs are the same with one commit per few
// records as with large batches, and with a restart halfway (a new
// engine on the stored state, the records re-delivered from the start)
// as without; and the level did move away from the configured one.
func TestWatchLevelWhateverTheBatchingAndRestarts(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a year of 1,200 users three times")
	}
	_, events, end, err := rhythm.Generate(context.Background(), rhythm.Config{Users: 1200, Seed: 5})
	if err != nil {
		t.Fatal(err)
	}
	const partitions = 2
	// run applies the records from first on (those before were applied by
	// an earlier run on the same stores) and returns the outputs by id.
	run := func(batch int, stores []engine.Store, records int, until int64, outs map[string]string) *offline.Runner {
		t.Helper()
		pc := processor.Config{Conn: processor.Conn{Brokers: []string{"unused:9092"}}, Group: "test", BatchRecords: batch}
		cfg := offline.Config{Engine: pc.Engine(), Partitions: partitions, MaxFutureSkew: time.Hour}
		if stores != nil {
			cfg.Store = func(p int32) engine.Store { return stores[p] }
		}
		r, err := offline.New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		for _, ev := range events[:records] {
			topic := 0
			if ev.Type == "purchase" {
				topic = 1
			}
			r.Add(offline.Record{Topic: topic, Key: ev.Key, Value: ev.Value, Time: ev.Time})
		}
		err = r.Run(until, func(_ int32, o record.Output) error {
			id := outputID(o)
			if was, ok := outs[id]; ok && was != string(o.Value) {
				t.Errorf("output %s written twice with different payloads:\n%s\n%s", id, was, o.Value)
			}
			outs[id] = string(o.Value)
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	whole := map[string]string{}
	r := run(0, nil, len(events), end, whole)
	all, err := r.Outcomes()
	if err != nil {
		t.Fatal(err)
	}
	for p, o := range all {
		risk, _, ok := o.Watch()
		if !ok || risk == warnings.DefaultRisk[0] {
			t.Errorf("partition %d: watch level %v (chosen: %v) from %d departures; want one of its own", p, risk, ok, o.Departures())
		}
	}

	small := map[string]string{}
	run(7, nil, len(events), end, small)
	restarted := map[string]string{}
	stores := []engine.Store{engine.NewMemStore(), engine.NewMemStore()}
	run(0, stores, len(events)/2, 0, restarted)
	run(0, stores, len(events), end, restarted)
	for name, got := range map[string]map[string]string{"7 records a commit": small, "restarted halfway": restarted} {
		if len(got) != len(whole) {
			t.Errorf("%s: %d outputs, want %d", name, len(got), len(whole))
		}
		diff := 0
		for id, v := range whole {
			if got[id] != v {
				diff++
			}
		}
		if diff > 0 {
			t.Errorf("%s: %d of %d outputs differ from one run in large batches", name, diff, len(whole))
		}
	}
}

func outputID(o record.Output) string {
	for _, h := range o.Headers {
		if h.Key == schemas.HeaderID {
			return string(h.Value)
		}
	}
	return o.Topic + "/" + string(o.Key) + "/" + string(o.Value)
}
