package main

import (
	"os"
	"path/filepath"
	"testing"

	"go.uber.org/zap/zaptest"

	"github.com/lifecycle-engine/lifecycle/state"
	"github.com/lifecycle-engine/lifecycle/state/record"
)

// A store whose MANIFEST lost its tail is moved aside, whole, into a
// subdirectory, and run starts on an empty one (its partitions then restore
// from the changelog); a second damage keeps the first one's files apart.
func TestDamagedStoreMovedAside(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "state")
	for round := 1; round <= 2; round++ {
		manifest, torn := damage(t, dir)
		s, err := openState(state.Options{Dir: dir}, zaptest.NewLogger(t))
		if err != nil {
			t.Fatalf("round %d: openState of a damaged store: %v", round, err)
		}
		if _, ok, err := s.Meta(0); err != nil || ok {
			t.Errorf("round %d: the store opened in its place has metadata (%v, %v), want an empty store", round, ok, err)
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		aside, _ := filepath.Glob(filepath.Join(dir, "damaged-*"))
		if len(aside) != round {
			t.Fatalf("round %d: moved aside into %v, want %d directories", round, aside, round)
		}
		moved, err := os.ReadFile(filepath.Join(aside[round-1], manifest))
		if err != nil || string(moved) != string(torn) {
			t.Errorf("round %d: the damaged %s was not kept as it was in %s (%v)", round, manifest, aside[round-1], err)
		}
	}
}

// damage writes to the store in dir twice (the second open flushes the
// first one's log: an edit of the MANIFEST), then cuts its newest
// MANIFEST to half; it returns that file's name and what is left of it.
func damage(t *testing.T, dir string) (string, []byte) {
	t.Helper()
	for run := range 2 {
		s, err := state.Open(state.Options{Dir: dir})
		if err != nil {
			t.Fatal(err)
		}
		b := s.NewBatch(0)
		if err := b.PutUser("u-"+string(rune('a'+run)), record.User{}, 0); err != nil {
			t.Fatal(err)
		}
		if err := b.PutMeta(record.Meta{Commits: uint64(run + 1)}); err != nil {
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
		newest = max(newest, m)
	}
	data, err := os.ReadFile(newest)
	if err != nil {
		t.Fatal(err)
	}
	torn := data[:len(data)/2]
	if err := os.WriteFile(newest, torn, 0o644); err != nil {
		t.Fatal(err)
	}
	return filepath.Base(newest), torn
}
