package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
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
	if _, _, err := cli(t, ctx, "evaluate", "--events", events, "--truth", truth, "--sweep"); err == nil || !strings.Contains(err.Error(), "--population") {
		t.Errorf("evaluate --events --sweep: %v; want an error that names --population", err)
	}
	for _, bad := range []struct{ csv, want string }{
		{"user_id,dropout_at\nu-1\n", "truth.csv:2: 1 columns; want two, user_id,dropout_at"},
		{"u-1,yesterday\n", `truth.csv:1: dropout_at "yesterday": want RFC 3339 or empty`},
	} {
		path := filepath.Join(t.TempDir(), "truth.csv")
		if err := os.WriteFile(path, []byte(bad.csv), 0o644); err != nil {
			t.Fatal(err)
		}
		if _, _, err := cli(t, ctx, "evaluate", "--events", events, "--truth", path); err == nil || !strings.Contains(err.Error(), bad.want) {
			t.Errorf("evaluate --truth of %q: %v; want an error that says %q", bad.csv, err, bad.want)
		}
	}

	// A population dated past today: its last weeks go to the dead letters
	// as run would send them (a file produced now), and evaluate says so
	// and how to keep them.
	ahead, aheadTruth := filepath.Join(dir, "ahead.ndjson"), filepath.Join(dir, "ahead-truth.csv")
	start := time.Now().UTC().AddDate(0, 0, -60).Format(time.RFC3339)
	if _, _, err := cli(t, ctx, "simulate", "--users", "300", "--days", "90", "--seed", "4", "--start", start, "--out", ahead, "--truth", aheadTruth); err != nil {
		t.Fatal(err)
	}
	var cut, whole struct{ Source string }
	out, errOut, err := cli(t, ctx, "evaluate", "--events", ahead, "--truth", aheadTruth, "--json")
	if err != nil {
		t.Fatal(err)
	}
	json.Unmarshal([]byte(out), &cut)
	if !strings.Contains(errOut, "future_timestamp") || !strings.Contains(errOut, "--max-future-skew 0") || !strings.Contains(cut.Source, "dated after the wall clock") {
		t.Errorf("a population dated 30 days past today: the source says %q and stderr %q; want the future records counted and the way to keep them", cut.Source, errOut)
	}
	out, errOut, err = cli(t, ctx, "evaluate", "--events", ahead, "--truth", aheadTruth, "--json", "--max-future-skew", "0")
	if err != nil {
		t.Fatal(err)
	}
	json.Unmarshal([]byte(out), &whole)
	if strings.Contains(errOut, "future_timestamp") || !strings.Contains(whole.Source, "(0 records not valid events)") {
		t.Errorf("with --max-future-skew 0: the source says %q and stderr %q; want every record", whole.Source, errOut)
	}

	// --warm-up: the scores start later, on fewer warnings and dropouts.
	var full, warm struct {
		Overall    struct{ Warnings int }
		Observable int    `json:"observable_dropout"`
		ScoredFrom string `json:"scored_from"`
	}
	js90, _, err := cli(t, ctx, "evaluate", "--users", "300", "--days", "90", "--seed", "4", "--json", "--warm-up", "45d")
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal([]byte(js), &full); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal([]byte(js90), &warm); err != nil {
		t.Fatal(err)
	}
	if warm.ScoredFrom == "" || full.ScoredFrom != "" || warm.Overall.Warnings >= full.Overall.Warnings || warm.Observable >= full.Observable || warm.Observable == 0 {
		t.Errorf("--warm-up 45d: scored from %q, %d warnings and %d observable dropouts; without: %q, %d and %d; want a start, and fewer of both but some",
			warm.ScoredFrom, warm.Overall.Warnings, warm.Observable, full.ScoredFrom, full.Overall.Warnings, full.Observable)
	}

	// --sweep: the risk at one level per threshold, and its best.
	swept, _, err := cli(t, ctx, "evaluate", "--population", "bgnbd", "--users", "300", "--seed", "4", "--sweep")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"risk ≥ 0.20, one level", "risk ≥ 0.80, one level", "scored as the oracle (--sweep)"} {
		if !strings.Contains(swept, want) {
			t.Errorf("evaluate --sweep does not show %q:\n%s", want, swept)
		}
	}

	// The days a partition took as breaks: 100 daily users for five
	// weeks, none for three days (2026-02-05..07), then back; and none
	// with --warn-detect-breaks=false.
	var b strings.Builder
	first := time.Date(2026, 1, 1, 9, 0, 0, 0, time.UTC)
	for d := range 45 {
		if d >= 35 && d < 38 {
			continue
		}
		for u := range 100 {
			at := first.AddDate(0, 0, d).Add(time.Duration(u) * time.Minute)
			fmt.Fprintf(&b, `{"event_id":"e%d-%d","user_id":"u%d","type":"login","ts":"%s"}`+"\n", d, u, u, at.Format(time.RFC3339))
		}
	}
	quiet, nobody := filepath.Join(dir, "quiet.ndjson"), filepath.Join(dir, "nobody-left.csv")
	os.WriteFile(quiet, []byte(b.String()), 0o644)
	os.WriteFile(nobody, []byte("user_id,dropout_at\n"), 0o644)
	out, _, err = cli(t, ctx, "evaluate", "--events", quiet, "--truth", nobody, "--partitions", "1")
	if err != nil || !strings.Contains(out, "p0: 2026-02-05..2026-02-07") {
		t.Errorf("evaluate over three empty days: %v; want them listed as breaks\n%s", err, out)
	}
	if out, _, err := cli(t, ctx, "evaluate", "--events", quiet, "--truth", nobody, "--partitions", "1", "--warn-detect-breaks=false"); err != nil || strings.Contains(out, "took as breaks") {
		t.Errorf("evaluate --warn-detect-breaks=false: %v; want no breaks\n%s", err, out)
	}
}

// TestEvaluateCDNOW fits the model and the warnings' rhythm prior on
// CDNOW's calibration period only, then scores every customer at its end
// against the holdout: the literature's test of "who has left", on real
// data. Recency's AUC is a fact of the data (0.759); the warnings' risk
// must beat it and BG/NBD's expected purchases.
func TestEvaluateCDNOW(t *testing.T) {
	const data = "../../../shared/data/cdnow/CDNOW_master.txt"
	if _, err := os.Stat(data); err != nil {
		t.Fatalf("the CDNOW data set is needed by this test (see ../shared/data/cdnow/README.md): %v", err)
	}
	ctx := context.Background()
	model := filepath.Join(t.TempDir(), "model.json")
	fitOut, _, err := cli(t, ctx, "fit", "--from", data, "--format", "cdnow", "--calibration-end", "1997-09-30", "--out", model)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(fitOut, "Rhythm (the churn warnings' prior") {
		t.Errorf("fit fitted no rhythm prior:\n%s", fitOut)
	}
	js, _, err := cli(t, ctx, "evaluate", "--cdnow", data, "--model", model, "--json")
	if err != nil {
		t.Fatal(err)
	}
	var rep struct {
		Customers int `json:"customers"`
		Scores    []struct {
			Score string
			AUC   float64
		}
	}
	if err := json.Unmarshal([]byte(js), &rep); err != nil {
		t.Fatalf("%v\n%s", err, js)
	}
	auc := map[string]float64{}
	for _, s := range rep.Scores {
		auc[s.Score] = s.AUC
	}
	t.Logf("%d customers; AUC %v", rep.Customers, auc)
	risk, recency, bgnbd := auc["warnings' risk"], auc["weeks since the last purchase"], auc["BG/NBD expected purchases in the holdout (fewer first)"]
	if rep.Customers != 23570 || recency != 0.759 {
		t.Fatalf("%d customers, recency AUC %v: want 23570 and 0.759 (the data or its reading changed)", rep.Customers, recency)
	}
	if risk <= recency || risk <= bgnbd { // 0.764, 0.759, 0.763
		t.Errorf("the warnings' risk has AUC %v; want above recency's %v and BG/NBD's %v", risk, recency, bgnbd)
	}
}
