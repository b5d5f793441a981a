package processor

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"

	"github.com/lifecycle-engine/lifecycle/processor/engine"
	"github.com/lifecycle-engine/lifecycle/processor/kafkatest"
	"github.com/lifecycle-engine/lifecycle/processor/offline"
	"github.com/lifecycle-engine/lifecycle/processor/quality"
	"github.com/lifecycle-engine/lifecycle/processor/simulate"
	"github.com/lifecycle-engine/lifecycle/processor/warnings"
	"github.com/lifecycle-engine/lifecycle/schemas"
	"github.com/lifecycle-engine/lifecycle/state/record"
)

// TestEvaluateEqualsRun: what `lifecycle evaluate` scores (package quality,
// fed the records as a producer sends them) is what `lifecycle run` writes
// to its output topics for the same records, record for record: the same
// partitioning, merge order, RFM rebuilds, timers and model. The
// population has bad, duplicate and late records, RFM rebuilds every two
// weeks (valuable_quiet depends on the segments) and a model
// (low_p_alive).
func TestEvaluateEqualsRun(t *testing.T) {
	sim := simulate.Config{Users: 500, Days: 150, Seed: 23, BadRate: 0.01, DupRate: 0.03, LateRate: 0.05}
	f, msgs := newHeldFixture(t, sim, 4)
	kafkatest.Produce(t, f.brokers, msgs...)
	cfg := f.config(t)
	cfg.Segments.Refresh = 14 * 24 * time.Hour
	model := testModel(t)

	p, err := New(cfg, openStore(t, vfs.NewMem()))
	if err != nil {
		t.Fatal(err)
	}
	p.SetModel(model)
	runProcessor(t, p, func(Stats) bool { return caughtUp(t, cfg) })
	ran := map[string]string{} // output id → topic and value, as run wrote them
	dlqRan := 0
	for _, topic := range cfg.Topics.Outputs() {
		for _, m := range kafkatest.ReadAll(t, f.brokers, topic) {
			if topic == cfg.Topics.DLQ {
				dlqRan++ // a dead letter carries its record's Kafka timestamp, which evaluate has not
				continue
			}
			ran[header(m, schemas.HeaderID)] = topic + " " + string(m.Value)
		}
	}

	qc := quality.Config{Engine: cfg.Engine(), Partitions: f.partitions, Decoder: cfg.Decoder, MaxFutureSkew: time.Hour}
	qc.Engine.Model = &atomic.Pointer[engine.Model]{}
	qc.Engine.Model.Store(model)
	e, err := quality.New(qc)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range msgs {
		e.Add(quality.Record{Topic: slices.Index(f.inputs, m.Topic), Key: m.Key, Value: m.Value})
	}
	evaluated := map[string]string{}
	dlqEvaluated, byReason := 0, map[string]int{}
	err = e.Run(0, func(o record.Output) error {
		if o.Topic == cfg.Topics.DLQ {
			dlqEvaluated++
			return nil
		}
		v := string(o.Value)
		evaluated[string(o.Headers[0].Value)] = o.Topic + " " + v
		for _, code := range warnings.Raised {
			if o.Topic == cfg.Topics.Warnings && strings.Contains(v, `"code":"`+code+`"`) {
				byReason[code]++
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}

	for code, n := range byReason {
		t.Logf("%s: %d warnings", code, n)
	}
	for _, code := range warnings.Raised {
		if byReason[code] == 0 {
			t.Errorf("no %s warning: the population does not exercise what it must", code)
		}
	}
	if dlqRan != dlqEvaluated || dlqRan == 0 {
		t.Errorf("dead letters: run wrote %d, evaluate %d", dlqRan, dlqEvaluated)
	}
	missing, extra := 0, 0
	for id, v := range ran {
		if w, ok := evaluated[id]; !ok || w != v {
			if missing++; missing <= 5 {
				t.Errorf("run wrote %s, evaluate did not (or differently):\nrun:      %s\nevaluate: %s", id, v, w)
			}
		}
	}
	for id, v := range evaluated {
		if _, ok := ran[id]; !ok {
			if extra++; extra <= 5 {
				t.Errorf("evaluate wrote %s, run did not: %s", id, v)
			}
		}
	}
	if missing+extra > 0 || len(ran) < 1000 {
		t.Errorf("%d outputs of run, %d of evaluate: %d differ or missing, %d extra", len(ran), len(evaluated), missing, extra)
	}
}

// TestReplayEqualsRun: `lifecycle replay` over an archive of the input
// topics' values (NDJSON, one event a line, as a sink connector writes
// them) writes what `lifecycle run` wrote to its output topics for the
// same records, record for record. The archive holds the records in the
// order they were produced, so each topic's in offset order; duplicates
// and late records are in it, invalid ones are not (an archive of values
// has no keys: a record whose key disagreed with its user_id is a dead
// letter live and an event in a replay).
func TestReplayEqualsRun(t *testing.T) {
	sim := simulate.Config{Users: 300, Days: 120, Seed: 29, DupRate: 0.03, LateRate: 0.05}
	f, msgs := newHeldFixture(t, sim, 4)
	kafkatest.Produce(t, f.brokers, msgs...)
	cfg := f.config(t)
	cfg.Segments.Refresh = 14 * 24 * time.Hour
	p, err := New(cfg, openStore(t, vfs.NewMem()))
	if err != nil {
		t.Fatal(err)
	}
	runProcessor(t, p, func(Stats) bool { return caughtUp(t, cfg) })
	ran := map[string]string{}
	for _, topic := range cfg.Topics.Outputs() {
		for _, m := range kafkatest.ReadAll(t, f.brokers, topic) {
			ran[header(m, schemas.HeaderID)] = topic + " " + string(m.Value)
		}
	}

	archive := filepath.Join(t.TempDir(), "events.ndjson")
	var b []byte
	for _, m := range msgs {
		b = append(append(b, m.Value...), '\n')
	}
	if err := os.WriteFile(archive, b, 0o644); err != nil {
		t.Fatal(err)
	}
	r, err := offline.New(offline.Config{Engine: cfg.Engine(), Partitions: f.partitions, Decoder: cfg.Decoder, MaxFutureSkew: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	if n, err := offline.ReadNDJSON(context.Background(), archive, func(rec offline.Record) { r.Add(rec) }); err != nil || n != int64(len(msgs)) {
		t.Fatalf("read %d of %d archived records: %v", n, len(msgs), err)
	}
	replayed := map[string]string{}
	err = r.Run(0, func(_ int32, o record.Output) error {
		replayed[string(o.Headers[0].Value)] = o.Topic + " " + string(o.Value)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	differ := 0
	for id, v := range ran {
		if w := replayed[id]; w != v {
			if differ++; differ <= 5 {
				t.Errorf("output %s:\nrun:    %s\nreplay: %s", id, v, w)
			}
		}
	}
	if len(ran) != len(replayed) || differ > 0 || len(ran) < 500 {
		t.Errorf("run wrote %d outputs, replay %d; %d of run's differ or are missing", len(ran), len(replayed), differ)
	}
}

// TestReplayFromTopics: `lifecycle replay --brokers … --to-topics SUFFIX`
// reads the input topics a live run consumed, with their partitions and
// Kafka timestamps, and writes to topics of its own exactly what the live
// run wrote, dead letters included (their original timestamps too); the
// live output topics get nothing. A writer to the live topics is refused
// while the live group has members and given once it has none.
func TestReplayFromTopics(t *testing.T) {
	sim := simulate.Config{Users: 300, Days: 120, Seed: 31, BadRate: 0.01, DupRate: 0.03, LateRate: 0.05}
	f, msgs := newHeldFixture(t, sim, 4)
	kafkatest.Produce(t, f.brokers, msgs...)
	cfg := f.config(t)
	p, err := New(cfg, openStore(t, vfs.NewMem()))
	if err != nil {
		t.Fatal(err)
	}
	// Writing the live topics is refused while the live group consumes.
	var whileLive error
	runProcessor(t, p, func(Stats) bool {
		if !caughtUp(t, cfg) {
			return false
		}
		if whileLive == nil {
			w, err := NewLiveWriter(context.Background(), cfg.Conn, cfg.Topics, cfg.Group)
			if err == nil {
				w.Close()
				err = errors.New("accepted")
			}
			whileLive = err
		}
		return true
	})
	if !errors.Is(whileLive, ErrGroupActive) {
		t.Errorf("live writer while the group consumes: %v; want %v", whileLive, ErrGroupActive)
	}
	// outputs reads topics: each record (with its headers) counted, and per
	// topic and user the values in the order they are in the topic.
	outputs := func(topics []string) (map[string]int, int, map[string][]string) {
		seen, n, order := map[string]int{}, 0, map[string][]string{}
		for i, topic := range topics {
			for _, m := range kafkatest.ReadAll(t, f.brokers, topic) {
				k := fmt.Sprintf("%d %s", i, m.Key)
				order[k] = append(order[k], string(m.Value))
				hs := make([]string, 0, len(m.Headers))
				for _, h := range m.Headers {
					hs = append(hs, h.Key+"="+string(h.Value))
				}
				slices.Sort(hs)
				seen[fmt.Sprintf("%d %s %s %s", i, m.Key, m.Value, strings.Join(hs, " "))]++
				n++
			}
		}
		return seen, n, order
	}
	live, liveN, liveOrder := outputs(cfg.Topics.Outputs())

	ctx := context.Background()
	parts, err := InputPartitions(ctx, cfg.Conn, cfg.Topics.Inputs)
	if err != nil || parts != f.partitions {
		t.Fatalf("input partitions %d, %v; want %d", parts, err, f.partitions)
	}
	r, err := offline.New(offline.Config{Engine: cfg.Engine(), Partitions: parts, Decoder: cfg.Decoder, MaxFutureSkew: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	src, err := OpenReplay(ctx, cfg, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	const suffix = ".replay"
	w, err := NewReplayWriter(ctx, cfg.Conn, cfg.Topics, suffix, parts, 1)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { kafkatest.Admin(t, f.brokers).DeleteTopics(context.Background(), w.Topics()...) })
	// The replay's topics pass the checks run makes of live ones: its
	// metrics topic is compacted as the live one is.
	asLive := Topics{Inputs: cfg.Topics.Inputs, Transitions: cfg.Topics.Transitions + suffix, DLQ: cfg.Topics.DLQ + suffix,
		Warnings: cfg.Topics.Warnings + suffix, Segments: cfg.Topics.Segments + suffix, Metrics: cfg.Topics.Metrics + suffix}
	if _, warnings, err := CheckTopics(ctx, kafkatest.Admin(t, f.brokers), asLive); err != nil || len(warnings) > 0 {
		t.Errorf("the replay's topics, checked as live ones: %v %q", err, warnings)
	}
	if err := r.RunFrom(ctx, src.Read, 0, func(_ int32, o record.Output) error { return w.Write(o) }); err != nil {
		t.Fatal(err)
	}
	if read := src.ReadSoFar(); read != int64(len(msgs)) {
		t.Fatalf("replay read %d of %d records", read, len(msgs))
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	var replayTopics []string
	for _, topic := range cfg.Topics.Outputs() {
		replayTopics = append(replayTopics, topic+suffix)
	}
	replayed, replayedN, replayedOrder := outputs(replayTopics)
	differ := 0
	for k, n := range live {
		if replayed[k] != n {
			if differ++; differ <= 5 {
				t.Errorf("live wrote %d×, replay %d×: %.300s", n, replayed[k], k)
			}
		}
	}
	if liveN != replayedN || differ > 0 || liveN < 500 {
		t.Errorf("live wrote %d outputs, replay %d; %d differ", liveN, replayedN, differ)
	}
	// Invariant 5: each user's outputs are in their topic in the order the
	// live run wrote them.
	for k, vs := range liveOrder {
		if !slices.Equal(vs, replayedOrder[k]) {
			t.Errorf("outputs of %s in another order than the live run's", k)
			break
		}
	}
	if _, again, _ := outputs(cfg.Topics.Outputs()); again != liveN {
		t.Errorf("the live output topics went from %d to %d records during the replay", liveN, again)
	}
	lw, err := NewLiveWriter(ctx, cfg.Conn, cfg.Topics, cfg.Group)
	if err != nil {
		t.Fatalf("live writer once the group is empty: %v", err)
	}
	lw.Close()
}
