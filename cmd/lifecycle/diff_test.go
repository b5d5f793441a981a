package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// Output lines as "lifecycle replay --to-file" writes them.
const (
	diffNew     = `{"topic":"lifecycle.transitions","partition":3,"key":"u-000001","value":{"id":"6e0c3f0e8d5a4b0f9d1e2c3b4a596877","user_id":"u-000001","from":"none","to":"new","at":"2026-01-02T10:00:00.000Z","reason":"first activity: login","trigger_event_id":"e-u-000001-1","returned":false,"rfm":{"recency_days":null,"frequency":0,"monetary":"0.00"}},"headers":{"lifecycle.id":"6e0c3f0e8d5a4b0f9d1e2c3b4a596877","lifecycle.schema":"transition.v1"}}`
	diffChurned = `{"topic":"lifecycle.transitions","partition":3,"key":"u-000001","value":{"id":"ec7daae04fb7b1567b3bdac0d408345d","user_id":"u-000001","from":"new","to":"churned","at":"2026-02-01T10:00:00.000Z","reason":"no activity for 30 days","returned":false,"rfm":{"recency_days":null,"frequency":0,"monetary":"0.00"}},"headers":{"lifecycle.id":"ec7daae04fb7b1567b3bdac0d408345d","lifecycle.schema":"transition.v1"}}`
	diffWatch   = `{"topic":"lifecycle.churn-warnings","partition":3,"key":"u-000001","value":{"id":"1c2d3e4f5a6b7c8d9e0f1a2b3c4d5e6f","user_id":"u-000001","level":"watch","score":0.4,"reasons":[{"code":"inactive","detail":"no visit for 15 days","value":15,"threshold":14}],"stage":"new","segment":null,"at":"2026-01-17T10:00:00.000Z","churn_at":"2026-02-01T10:00:00.000Z","rfm":{"recency_days":null,"frequency":0,"monetary":"0.00"}},"headers":{"lifecycle.id":"1c2d3e4f5a6b7c8d9e0f1a2b3c4d5e6f","lifecycle.schema":"churn-warning.v1"}}`
	diffDLQ     = `{"topic":"lifecycle.dlq","partition":0,"key":"","value":"not json","headers":{"lifecycle.dlq.code":"malformed_json"}}`
)

func TestDiff(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	write := func(name string, lines ...string) string {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, []byte(strings.Join(lines, "\n")+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		return path
	}
	// After: the churn came 15 days later, and the watch warning was gone.
	churnedLater := strings.NewReplacer("2026-02-01T10:00:00.000Z", "2026-02-16T10:00:00.000Z", "ec7daae0", "00000000").Replace(diffChurned)
	before := write("before.ndjson", diffNew, diffWatch, diffChurned, diffDLQ)
	after := write("after.ndjson", diffNew, churnedLater)

	table, _, err := cli(t, ctx, "diff", before, after)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range [][]string{ // rows: kind, records, added, removed, changed, unchanged
		{"transition", "all", "0", "0", "1", "1"},
		{"transition", "→", "churned", "0", "0", "1", "0"},
		{"warning", "level", "watch", "0", "1", "0", "0"},
		{"warning", "reason", "inactive", "0", "1", "0", "0"},
	} {
		if !hasRow(table, want) {
			t.Errorf("diff table has no row %q:\n%s", want, table)
		}
	}
	for _, want := range []string{"1 lines of lifecycle.dlq ignored", "u-000001  before 2026-02-01T10:00:00.000Z new→churned  after 2026-02-16T10:00:00.000Z new→churned  at"} {
		if !strings.Contains(table, want) {
			t.Errorf("diff table does not show %q:\n%s", want, table)
		}
	}

	js, _, err := cli(t, ctx, "diff", before, after, "--json", "--examples", "0")
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Before struct {
			Records     map[string]int `json:"records"`
			OtherTopics map[string]int `json:"other_topics"`
		} `json:"before"`
		Cells []struct {
			Kind, Group, Name                  string
			Added, Removed, Changed, Unchanged int
			Examples                           map[string]any
		} `json:"cells"`
	}
	if err := json.Unmarshal([]byte(js), &doc); err != nil {
		t.Fatalf("diff --json is not JSON: %v\n%s", err, js)
	}
	if doc.Before.Records["transition"] != 2 || doc.Before.Records["warning"] != 1 || doc.Before.OtherTopics["lifecycle.dlq"] != 1 {
		t.Errorf("diff --json before: %+v, want 2 transitions, 1 warning, 1 dlq line", doc.Before)
	}
	var got []string
	for _, c := range doc.Cells {
		if c.Examples != nil {
			t.Errorf("--examples 0: cell %+v has examples", c)
		}
		got = append(got, fmt.Sprintf("%s %s %s %d %d %d %d", c.Kind, c.Group, c.Name, c.Added, c.Removed, c.Changed, c.Unchanged))
	}
	want := []string{
		"transition all  0 0 1 1", "transition to new 0 0 0 1", "transition to churned 0 0 1 0",
		"warning all  0 1 0 0", "warning level watch 0 1 0 0", "warning reason inactive 0 1 0 0",
	}
	if !slices.Equal(got, want) {
		t.Errorf("diff --json cells (kind group name added removed changed unchanged):\n%q\nwant\n%q", got, want)
	}

	same, _, err := cli(t, ctx, "diff", "--examples", "2", before, before)
	if err != nil || !strings.Contains(same, "no differences") || !hasRow(same, []string{"transition", "all", "0", "0", "0", "2"}) {
		t.Errorf("diff of a file with itself: %v\n%s", err, same)
	}
}

func TestDiffErrors(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	good, bad := filepath.Join(dir, "good.ndjson"), filepath.Join(dir, "bad.ndjson")
	if err := os.WriteFile(good, []byte(diffNew+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bad, []byte(diffNew+"\n"+strings.Replace(diffWatch, `"level":"watch",`, "", 1)+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		args  []string
		usage bool
		want  string
	}{
		{[]string{good}, true, "diff needs two output files"},
		{[]string{good, good, good}, true, "diff needs two output files"},
		{[]string{good, good, "--examples", "-1"}, true, "--examples -1"},
		{[]string{good, filepath.Join(dir, "missing.ndjson")}, false, "missing.ndjson: no such file"},
		{[]string{good, bad}, false, `bad.ndjson:2: topic lifecycle.churn-warnings: the value has no "level"`},
	} {
		_, _, err := cli(t, ctx, append([]string{"diff"}, tc.args...)...)
		if err == nil || errors.Is(err, errUsage) != tc.usage || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("diff %v: error %v, want %q (usage error: %v)", tc.args, err, tc.want, tc.usage)
		}
	}
}

// hasRow reports whether a line of the table has exactly these fields.
func hasRow(table string, fields []string) bool {
	for _, line := range strings.Split(table, "\n") {
		if slices.Equal(strings.Fields(line), fields) {
			return true
		}
	}
	return false
}
