package processor

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/segmentio/kafka-go"
	"go.uber.org/zap/zaptest"

	"github.com/lifecycle-engine/lifecycle/processor/engine"
	"github.com/lifecycle-engine/lifecycle/processor/kafkatest"
	"github.com/lifecycle-engine/lifecycle/processor/predict"
	"github.com/lifecycle-engine/lifecycle/processor/simulate"
	"github.com/lifecycle-engine/lifecycle/state"
)

// inputFixture is a simulated population produced once to uniquely named
// input topics, shared by the subtests of one test.
type inputFixture struct {
	brokers    []string
	inputs     []string
	partitions int32
	records    int            // records produced
	perTopic   map[string]int // of which to each input topic
	bad        int            // of which invalid
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
	return newHeldFixtureOn(t, kafkatest.Brokers(t), sim, partitions)
}

// newHeldFixtureOn is newHeldFixture on the given brokers.
func newHeldFixtureOn(t *testing.T, brokers []string, sim simulate.Config, partitions int32) (*inputFixture, []kafka.Message) {
	t.Helper()
	inputs := []string{kafkatest.Name(t, "login"), kafkatest.Name(t, "purchase"), kafkatest.Name(t, "content")}
	kafkatest.CreateTopics(t, brokers, partitions, inputs...)
	return fixtureOn(t, brokers, inputs, sim, partitions)
}

// fixtureOn is newHeldFixtureOn on input topics that exist: the login,
// purchase and content topics, in that order.
func fixtureOn(t *testing.T, brokers, inputs []string, sim simulate.Config, partitions int32) (*inputFixture, []kafka.Message) {
	t.Helper()
	f := &inputFixture{brokers: brokers, inputs: inputs, partitions: partitions, perTopic: map[string]int{}}
	sim.Topics = simulate.Topics{Login: f.inputs[0], Purchase: f.inputs[1], Content: f.inputs[2]}
	var msgs []kafka.Message
	_, err := simulate.Run(context.Background(), sim, func(r simulate.Record) error {
		msgs = append(msgs, kafka.Message{Topic: r.Topic, Key: r.Key, Value: r.Value})
		f.perTopic[r.Topic]++
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
			Metrics:     kafkatest.Name(t, "metrics"),
		},
		Log: zaptest.NewLogger(t),
	}
	kafkatest.CreateTopics(t, f.brokers, 3, cfg.Topics.Transitions, cfg.Topics.DLQ, cfg.Topics.Warnings, cfg.Topics.Segments)
	kafkatest.CreateCompacted(t, f.brokers, 3, cfg.Topics.Metrics)
	kafkatest.CreateCompacted(t, f.brokers, f.partitions, cfg.Topics.Changelog)
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

// startRun starts a processor on cfg in the background, for a test that
// acts while it runs: stop ends it as SIGTERM would, and errc has what
// Run returned.
func startRun(t *testing.T, cfg Config) (p *Processor, errc <-chan error, stop context.CancelFunc) {
	t.Helper()
	return startRunOn(t, cfg, openStore(t, vfs.NewMem()))
}

// startRunOn is startRun on store.
func startRunOn(t *testing.T, cfg Config, store *state.Store) (p *Processor, errc <-chan error, stop context.CancelFunc) {
	t.Helper()
	p, err := New(cfg, store)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	return p, done, cancel
}

func seen(st Stats) int64 { return st.Applied + st.Rejected + st.Duplicates }

func header(m kafka.Message, key string) string {
	for _, h := range m.Headers {
		if h.Key == key {
			return string(h.Value)
		}
	}
	return ""
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
