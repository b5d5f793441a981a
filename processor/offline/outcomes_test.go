package offline_test

import (
	"context"
	"strings"
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
	run := func(batch int, stores []engine.Store, records int, until int64, outs map[string]string) *offline.Runner {
		t.Helper()
		return runOffline(t, events[:records], batch, stores, until, outs, nil)
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
	sameOutputs(t, whole, small, "7 records a commit")
	sameOutputs(t, whole, restarted, "a restart halfway")
}

// TestSeenBreaksWhateverTheBatchingAndRestarts: the days a partition
// sees as breaks (warnings.Outcomes.PassDays) are judged at the same
// point of the input in every run, so the outputs are the same with one
// commit per few records, with large batches and with a restart within a
// break; the breaks were seen, and they spared users warnings.
func TestSeenBreaksWhateverTheBatchingAndRestarts(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a year of 1,200 users five times")
	}
	_, all, end, err := rhythm.Generate(context.Background(), rhythm.Config{Users: 1200, Seed: 5})
	if err != nil {
		t.Fatal(err)
	}
	// Nobody comes for ten days (stream time jumps over them), and every
	// other user is away for two weeks later (stream time goes on).
	start := all[0].Time - all[0].Time%(24*3600*1000)
	day := func(r rhythm.Record) int64 { return (r.Time - start) / (24 * 3600 * 1000) }
	var events []rhythm.Record
	restartAt := 0
	for _, r := range all {
		d := day(r)
		if d >= 150 && d < 160 || d >= 220 && d < 234 && r.Key[len(r.Key)-1]%2 == 0 {
			continue
		}
		if d < 225 {
			restartAt = len(events) + 1 // within the second break
		}
		events = append(events, r)
	}
	whole := map[string]string{}
	r := runOffline(t, events, 0, nil, end, whole, nil)
	outcomes, err := r.Outcomes()
	if err != nil {
		t.Fatal(err)
	}
	for p, o := range outcomes {
		seen := o.SeenBreaks()
		if len(seen) == 0 || seen[0].From != start+150*24*3600*1000 || seen[0].To < start+160*24*3600*1000 {
			t.Errorf("partition %d saw the breaks %v; want the ten empty days first", p, seen)
		}
	}
	small := map[string]string{}
	runOffline(t, events, 7, nil, end, small, nil)
	restarted := map[string]string{}
	stores := []engine.Store{engine.NewMemStore(), engine.NewMemStore()}
	runOffline(t, events[:restartAt], 0, stores, 0, restarted, nil)
	runOffline(t, events, 0, stores, end, restarted, nil)
	sameOutputs(t, whole, small, "7 records a commit")
	sameOutputs(t, whole, restarted, "a restart within a break")

	blind := map[string]string{}
	runOffline(t, events, 0, nil, end, blind, func(c *warnings.Config) { c.NoBreakDetection = true })
	if w, b := countTopic(whole, "churn-warnings"), countTopic(blind, "churn-warnings"); w >= b*9/10 {
		t.Errorf("%d warnings with the breaks seen, %d without: want far fewer", w, b)
	}
}

// runOffline applies events (those applied before by a run on the same
// stores are skipped) in batches of batch records (0: the default), up
// to until (0: no advance), with the warning settings set changes, and
// keeps the outputs by id in outs.
func runOffline(t *testing.T, events []rhythm.Record, batch int, stores []engine.Store, until int64, outs map[string]string, set func(*warnings.Config)) *offline.Runner {
	t.Helper()
	pc := processor.Config{Conn: processor.Conn{Brokers: []string{"unused:9092"}}, Group: "test", BatchRecords: batch}
	if set != nil {
		set(&pc.Warnings)
	}
	cfg := offline.Config{Engine: pc.Engine(), Partitions: 2, MaxFutureSkew: time.Hour}
	if stores != nil {
		cfg.Store = func(p int32) engine.Store { return stores[p] }
	}
	r, err := offline.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	for _, ev := range events {
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
		outs[id] = o.Topic + "\x00" + string(o.Value)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// countTopic counts the outputs written to a topic whose name ends in suffix.
func countTopic(outs map[string]string, suffix string) int {
	n := 0
	for _, v := range outs {
		if topic, _, _ := strings.Cut(v, "\x00"); strings.HasSuffix(topic, suffix) {
			n++
		}
	}
	return n
}

func outputID(o record.Output) string {
	for _, h := range o.Headers {
		if h.Key == schemas.HeaderID {
			return string(h.Value)
		}
	}
	return o.Topic + "/" + string(o.Key) + "/" + string(o.Value)
}
