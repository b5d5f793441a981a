package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"

	"github.com/lifecycle-engine/lifecycle/processor"
	"github.com/lifecycle-engine/lifecycle/processor/engine"
	"github.com/lifecycle-engine/lifecycle/processor/predict"
	"github.com/lifecycle-engine/lifecycle/processor/simulate/rhythm"
	"github.com/lifecycle-engine/lifecycle/processor/warnings"
	"github.com/lifecycle-engine/lifecycle/schemas"
	"github.com/lifecycle-engine/lifecycle/state"
)

// TestSIGHUPReloadsModel: a new model file is picked up on SIGHUP without a
// restart; a broken file leaves the current model in place.
func TestSIGHUPReloadsModel(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "model.json")
	write := func(alpha float64) {
		m := &predict.Model{Format: predict.FormatVersion, Period: predict.Week,
			BGNBD:      predict.BGNBD{R: 0.243, Alpha: alpha, A: 0.793, B: 2.426},
			GammaGamma: predict.GammaGamma{P: 6.25, Q: 3.74, Gamma: 15.44}}
		if err := m.Save(path); err != nil {
			t.Fatal(err)
		}
	}
	write(4.414)
	store, err := state.Open(state.Options{Dir: filepath.Join(dir, "state")})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	p, err := processor.New(processor.Config{Conn: processor.Conn{Brokers: []string{"127.0.0.1:1"}}, Group: "g"}, store)
	if err != nil {
		t.Fatal(err)
	}
	first, err := engine.LoadModel(path)
	if err != nil {
		t.Fatal(err)
	}
	p.SetModel(first)
	stop := reloadOnSIGHUP(path, p, zaptest.NewLogger(t))
	defer stop()

	hup := func() { syscall.Kill(os.Getpid(), syscall.SIGHUP) }
	waitFor := func(what string, ok func() bool) {
		t.Helper()
		for deadline := time.Now().Add(10 * time.Second); !ok(); time.Sleep(10 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("%s: model is still %s", what, p.ModelID())
			}
		}
	}
	write(5.0)
	hup()
	waitFor("after SIGHUP with a new file", func() bool { return p.ModelID() != first.ID && p.ModelID() != "" })
	second := p.ModelID()

	if err := os.WriteFile(path, []byte(`{"format": 99}`), 0o644); err != nil {
		t.Fatal(err)
	}
	hup()
	time.Sleep(200 * time.Millisecond)
	if p.ModelID() != second {
		t.Errorf("a broken model file replaced the model: %s, want %s kept", p.ModelID(), second)
	}
}

// TestFitFromStateDir: a store the engine wrote (a rhythm population, one
// partition) is fitted from with fit --state-dir: the purchase models and
// the warnings' rhythm prior, read-only, with the calibration end at the
// store's stream time.
func TestFitFromStateDir(t *testing.T) {
	users, events, end, err := rhythm.Generate(context.Background(), rhythm.Config{Users: 600, Days: 120, Seed: 3})
	if err != nil {
		t.Fatal(err)
	}
	cfg := (&processor.Config{Conn: processor.Conn{Brokers: []string{"unused:9092"}}, Group: "g"}).Engine()
	dec := schemas.NewDecoder(schemas.DecoderConfig{})
	topics := make([][]*engine.Input, len(cfg.Topics.Inputs))
	for _, r := range events {
		topic := 0
		if r.Type == "purchase" {
			topic = 1
		}
		in := &engine.Input{Topic: topic, Offset: int64(len(topics[topic])), Key: r.Key, Value: r.Value, Time: time.UnixMilli(r.Time)}
		engine.Decode(in, dec, time.Hour, time.UnixMilli(r.Time))
		topics[topic] = append(topics[topic], in)
	}
	dir := filepath.Join(t.TempDir(), "state")
	store, err := state.Open(state.Options{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	inputs := engine.Merge(cfg.Topics.Inputs, topics)
	if err := engine.Drive(cfg, store, 0, 1, engine.Each(inputs), end, &engine.Stats{}, func(engine.Commit) error { return nil }); err != nil {
		t.Fatal(err)
	}
	if err := store.Close(); err != nil {
		t.Fatal(err)
	}
	model := filepath.Join(t.TempDir(), "model.json")
	out, _, err := cli(t, context.Background(), "fit", "--state-dir", dir, "--out", model)
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	t.Log(out)
	if want := fmt.Sprintf("%d users in 1 partitions", len(users)); !strings.Contains(out, want) {
		t.Errorf("fit --state-dir output does not say %q:\n%s", want, out)
	}
	m, err := predict.Load(model)
	if err != nil {
		t.Fatal(err)
	}
	if m.Rhythm == nil || m.Rhythm.Users < warnings.MinPriorUsers || m.Rhythm.MedianGapHours < 1 || m.Rhythm.MedianGapHours > 30*24 {
		t.Errorf("rhythm prior %+v: want one fitted from at least %d users, a median gap between an hour and a month", m.Rhythm, warnings.MinPriorUsers)
	}
	if got := m.CalibrationEnd.UnixMilli(); got != end {
		t.Errorf("calibration end %v, want the store's stream time %v", m.CalibrationEnd, time.UnixMilli(end).UTC())
	}
	if _, _, err := cli(t, context.Background(), "fit", "--state-dir", dir, "--from", "x"); err == nil || !strings.Contains(err.Error(), "exactly one of") {
		t.Errorf("fit with --state-dir and --from: %v, want a usage error", err)
	}
}

// TestFitBreakDays: fit --from leaves the break days out of the gaps the
// rhythm prior is fitted from, as the engine does; with --state-dir the
// store's gaps already are, so the flag is refused.
func TestFitBreakDays(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	events := filepath.Join(dir, "events.ndjson")
	if _, _, err := cli(t, ctx, "simulate", "--users", "600", "--days", "120", "--seed", "3", "--out", events); err != nil {
		t.Fatal(err)
	}
	prior := func(args ...string) predict.GapPrior {
		t.Helper()
		out := filepath.Join(dir, "model.json")
		if _, _, err := cli(t, ctx, append([]string{"fit", "--from", events, "--out", out}, args...)...); err != nil {
			t.Fatal(err)
		}
		m, err := predict.Load(out)
		if err != nil || m.Rhythm == nil {
			t.Fatalf("no rhythm fitted: %v", err)
		}
		return *m.Rhythm
	}
	plain, broken := prior(), prior("--warn-break-days", "2026-02-01..2026-02-28")
	if !(broken.MedianGapHours < plain.MedianGapHours) {
		t.Errorf("median gap %v h with February as a break, %v h without; want shorter gaps without the break's time", broken.MedianGapHours, plain.MedianGapHours)
	}
	if _, _, err := cli(t, ctx, "fit", "--state-dir", dir, "--warn-break-days", "2026-02-01"); !errors.Is(err, errUsage) || !strings.Contains(err.Error(), "goes with --from") {
		t.Errorf("fit --state-dir --warn-break-days: %v; want a usage error", err)
	}
}
