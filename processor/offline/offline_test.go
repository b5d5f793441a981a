package offline

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/lifecycle-engine/lifecycle/processor"
)

// TestReadNDJSONAndRange: each line goes to the input topic of its type
// (an unknown type to the first, to be dead-lettered), keyed by its
// user_id; events outside [From, Until) are left out, records the decoder
// rejects are kept.
func TestReadNDJSONAndRange(t *testing.T) {
	path := filepath.Join(t.TempDir(), "a.ndjson")
	lines := `{"event_id":"1","user_id":"ann","type":"login","ts":"2026-01-01T00:00:00Z"}
{"event_id":"2","user_id":"bob","type":"purchase","ts":"2026-01-02T00:00:00Z","amount":"5.00","currency":"USD"}

{"event_id":"3","user_id":"cy","type":"refund","ts":"2026-01-03T00:00:00Z"}
{"event_id":"4","user_id":"ann","type":"content","ts":"2026-01-04T00:00:00Z","kind":"like"}
`
	if err := os.WriteFile(path, []byte(lines), 0o644); err != nil {
		t.Fatal(err)
	}
	var recs []Record
	n, err := ReadNDJSON(context.Background(), path, func(r Record) { recs = append(recs, r) })
	if err != nil || n != 4 {
		t.Fatalf("read %d lines: %v; want 4", n, err)
	}
	for i, want := range []struct {
		topic int
		key   string
	}{{0, "ann"}, {1, "bob"}, {0, "cy"}, {2, "ann"}} {
		if recs[i].Topic != want.topic || string(recs[i].Key) != want.key {
			t.Errorf("record %d: topic %d key %q; want %d %q", i, recs[i].Topic, recs[i].Key, want.topic, want.key)
		}
	}

	pc := processor.Config{Conn: processor.Conn{Brokers: []string{"unused:9092"}}, Group: "test"}
	from := time.Date(2026, 1, 2, 0, 0, 0, 0, time.UTC).UnixMilli()
	until := time.Date(2026, 1, 4, 0, 0, 0, 0, time.UTC).UnixMilli()
	r, err := New(Config{Engine: pc.Engine(), Partitions: 2, MaxFutureSkew: time.Hour, From: from, Until: until})
	if err != nil {
		t.Fatal(err)
	}
	var kept []string
	for _, rec := range recs {
		if in := r.Add(rec); in != nil {
			kept = append(kept, string(rec.Key))
		}
	}
	if len(kept) != 2 || kept[0] != "bob" || kept[1] != "cy" {
		t.Errorf("kept %v; want bob's purchase (in range) and cy's refund (a dead letter)", kept)
	}
}
