package offline_test

import (
	"context"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/lifecycle-engine/lifecycle/processor"
	"github.com/lifecycle-engine/lifecycle/processor/offline"
	"github.com/parquet-go/parquet-go"
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
	var recs []offline.Record
	n, err := offline.ReadNDJSON(context.Background(), path, func(r offline.Record) { recs = append(recs, r) })
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
	r, err := offline.New(offline.Config{Engine: pc.Engine(), Partitions: 2, MaxFutureSkew: time.Hour, From: from, Until: until})
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

// TestReadParquetColumns: a fixed-length DECIMAL becomes its decimal
// string (negative too), a null column is left out, a TIMESTAMP becomes
// epoch milliseconds, and a nested column is refused with its name.
func TestReadParquetColumns(t *testing.T) {
	type flat struct {
		UserID string    `parquet:"user_id"`
		TS     time.Time `parquet:"ts,timestamp(microsecond)"`
		Amount [16]byte  `parquet:"amount,decimal(2:38)"`
		Kind   *string   `parquet:"kind,optional"`
	}
	var neg [16]byte // -12.50: -1250 in 128-bit two's complement
	new(big.Int).Sub(new(big.Int).Lsh(big.NewInt(1), 128), big.NewInt(1250)).FillBytes(neg[:])
	path := filepath.Join(t.TempDir(), "a.parquet")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 5, 1, 12, 0, 0, 123_000_000, time.UTC)
	if err := parquet.Write(f, []flat{{UserID: "ann", TS: at, Amount: neg}}); err != nil {
		t.Fatal(err)
	}
	f.Close()
	var got []string
	if _, err := offline.ReadArchive(context.Background(), path, func(r offline.Record) { got = append(got, string(r.Value)) }); err != nil {
		t.Fatal(err)
	}
	want := fmt.Sprintf(`{"user_id":"ann","ts":%d,"amount":"-12.50"}`, at.UnixMilli())
	if len(got) != 1 || got[0] != want {
		t.Errorf("rows %q; want [%s]", got, want)
	}

	type nested struct {
		UserID string `parquet:"user_id"`
		Props  struct {
			Revenue float64 `parquet:"revenue"`
		} `parquet:"properties"`
	}
	path = filepath.Join(t.TempDir(), "b.parquet")
	f, _ = os.Create(path)
	if err := parquet.Write(f, []nested{{UserID: "bob"}}); err != nil {
		t.Fatal(err)
	}
	f.Close()
	if _, err := offline.ReadArchive(context.Background(), path, func(offline.Record) {}); err == nil || !strings.Contains(err.Error(), "properties.revenue is nested") {
		t.Errorf("nested column: error %v; want one naming properties.revenue", err)
	}
}
