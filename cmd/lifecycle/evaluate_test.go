package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestEvaluate runs the quality report on a small simulated population, as
// a table and as JSON, and on the same population given as files.
func TestEvaluate(t *testing.T) {
	ctx := context.Background()
	table, _, err := cli(t, ctx, "evaluate", "--users", "300", "--days", "90", "--seed", "4")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"precision", "recall", "inactive", "overall"} {
		if !strings.Contains(table, want) {
			t.Errorf("evaluate table does not show %q:\n%s", want, table)
		}
	}
	js, _, err := cli(t, ctx, "evaluate", "--users", "300", "--days", "90", "--seed", "4", "--json")
	if err != nil {
		t.Fatal(err)
	}
	var summary map[string]any
	if err := json.Unmarshal([]byte(js), &summary); err != nil {
		t.Fatalf("evaluate --json is not JSON: %v\n%s", err, js)
	}

	// The same population from files: simulate --out and --truth.
	dir := t.TempDir()
	events, truth := filepath.Join(dir, "events.ndjson"), filepath.Join(dir, "truth.csv")
	if _, _, err := cli(t, ctx, "simulate", "--users", "300", "--days", "90", "--seed", "4", "--out", events, "--truth", truth); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(truth); err != nil || fi.Size() == 0 {
		t.Fatalf("no truth file: %v", err)
	}
	fromFiles, _, err := cli(t, ctx, "evaluate", "--events", events, "--truth", truth, "--json")
	if err != nil {
		t.Fatal(err)
	}
	var other map[string]any
	if err := json.Unmarshal([]byte(fromFiles), &other); err != nil {
		t.Fatal(err)
	}
	if len(other) == 0 {
		t.Error("evaluate --events gave an empty summary")
	}
	if _, _, err := cli(t, ctx, "evaluate", "--events", events); err == nil {
		t.Error("evaluate --events without --truth: want an error")
	}
}
