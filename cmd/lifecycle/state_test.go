package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"go.uber.org/zap/zaptest"

	"github.com/lifecycle-engine/lifecycle/state"
	"github.com/lifecycle-engine/lifecycle/state/record"
)

// A store whose MANIFEST lost its tail is moved aside, whole, and run
// starts on an empty one (its partitions then restore from the changelog).
func TestDamagedStoreMovedAside(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "state")
	for run := range 2 { // the second open flushes the first one's log: an edit of the MANIFEST
		s, err := state.Open(state.Options{Dir: dir})
		if err != nil {
			t.Fatal(err)
		}
		b := s.NewBatch(0)
		if err := b.PutUser("u-"+string(rune('a'+run)), record.User{}, 0); err != nil {
			t.Fatal(err)
		}
		if err := b.Commit(); err != nil {
			t.Fatal(err)
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
	}
	manifests, _ := filepath.Glob(filepath.Join(dir, "MANIFEST-*"))
	var newest string
	for _, m := range manifests {
		if newest == "" || m > newest {
			newest = m
		}
	}
	data, err := os.ReadFile(newest)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(newest, data[:len(data)/2], 0o644); err != nil {
		t.Fatal(err)
	}

	s, err := openState(state.Options{Dir: dir}, zaptest.NewLogger(t))
	if err != nil {
		t.Fatalf("openState of a damaged store: %v", err)
	}
	defer s.Close()
	if _, ok, err := s.Meta(0); err != nil || ok {
		t.Errorf("the store opened in its place has metadata (%v, %v), want an empty store", ok, err)
	}
	aside, _ := filepath.Glob(dir + ".damaged-*")
	if len(aside) != 1 {
		t.Fatalf("moved aside: %v, want one directory", aside)
	}
	moved, err := os.ReadFile(filepath.Join(aside[0], filepath.Base(newest)))
	if err != nil || !strings.HasPrefix(string(data), string(moved)) || len(moved) != len(data)/2 {
		t.Errorf("the damaged MANIFEST was not kept as it was in %s (%v)", aside[0], err)
	}
}
