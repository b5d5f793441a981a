package main

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"

	"github.com/lifecycle-engine/lifecycle/processor"
	"github.com/lifecycle-engine/lifecycle/processor/engine"
	"github.com/lifecycle-engine/lifecycle/processor/predict"
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
