package schemas_test

import (
	"bytes"
	"encoding/json"
	"testing"

	"github.com/lifecycle-engine/lifecycle/schemas"
)

// benchEvent is a typical purchase as producers write it (~150 bytes).
var benchEvent = []byte(`{"event_id":"e-u-000042-17","user_id":"u-000042","type":"purchase","ts":"2026-11-22T06:30:00.000Z","amount":"19.99","currency":"USD","seq":17}`)

func BenchmarkDecode(b *testing.B) {
	d := schemas.NewDecoder(schemas.DecoderConfig{})
	key := []byte("u-000042")
	b.SetBytes(int64(len(benchEvent)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := d.Decode(key, benchEvent); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDecodeLogin(b *testing.B) {
	d := schemas.NewDecoder(schemas.DecoderConfig{})
	key := []byte("u-000042")
	value := []byte(`{"event_id":"e-u-000042-18","user_id":"u-000042","type":"login","ts":1795329000000,"seq":18}`)
	b.SetBytes(int64(len(value)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := d.Decode(key, value); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkDecodeEncodingJSON is the comparison: encoding/json into a struct,
// with no validation at all beyond JSON syntax and types.
func BenchmarkDecodeEncodingJSON(b *testing.B) {
	type wire struct {
		EventID  string          `json:"event_id"`
		UserID   string          `json:"user_id"`
		Type     string          `json:"type"`
		TS       json.RawMessage `json:"ts"`
		Amount   json.RawMessage `json:"amount"`
		Currency string          `json:"currency"`
		Kind     string          `json:"kind"`
	}
	b.SetBytes(int64(len(benchEvent)))
	b.ReportAllocs()
	for b.Loop() {
		var w wire
		if err := json.Unmarshal(benchEvent, &w); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkDecodeHostile decodes records made to be slow (see
// hostileCases), at several sizes: time per byte (MB/s) that does not fall
// as the record grows is time linear in its size. A deep record is
// rejected at its first container deeper than MaxDepth, so its time does
// not grow with its depth at all. (Before the bounded checker, 2,000
// unclosed '[' took 0.14 s and 16,000 took 13 s.)
func BenchmarkDecodeHostile(b *testing.B) {
	const p = hostilePrefix
	found := `{"event_id":"e","user_id":"u","type":"login","a":` // as found on a deployment
	for _, c := range []struct{ name, value string }{
		{"deep-unclosed-2k", found + rep("[", 2_000)},
		{"deep-unclosed-16k", found + rep("[", 16_000)},
		{"deep-unclosed-25k", found + rep("[", 25_000)},
		{"deep-unclosed-objects-13k", p + rep(`{"a":`, 13_000)},
		{"deep-balanced-2k", p + rep("[", 2_000) + rep("]", 2_000) + "}"},
		{"deep-balanced-30k", p + rep("[", 30_000) + rep("]", 30_000) + "}"},
		{"deep-at-limit", p + rep("[", schemas.DefaultMaxDepth-1) + rep("]", schemas.DefaultMaxDepth-1) + "}"},
		{"wide-array-7k", p + "[" + rep("0,", 7_500) + "0]}"},
		{"wide-array-30k", p + "[" + rep("0,", 30_000) + "0]}"},
		{"wide-keys-2.5k", "{" + rep(`"k":0,`, 2_500) + `"event_id":"e","user_id":"u","type":"login","ts":0}`},
		{"wide-keys-10k", "{" + rep(`"k":0,`, 10_000) + `"event_id":"e","user_id":"u","type":"login","ts":0}`},
		{"long-string-15k", p + `"` + rep("x", 15_000) + `"}`},
		{"long-string-60k", p + `"` + rep("x", 60_000) + `"}`},
		{"long-string-unterminated-60k", p + `"` + rep("x", 60_000)},
		{"long-escapes-60k", p + `"` + rep(`\u00e9`, 10_000) + `"}`},
		{"long-number-60k", p + rep("9", 60_000) + "}"},
		{"long-ts-number-60k", `{"event_id":"e","user_id":"u","type":"login","ts":` + rep("9", 60_000) + "}"},
	} {
		b.Run(c.name, func(b *testing.B) {
			d := schemas.NewDecoder(schemas.DecoderConfig{})
			key, value := []byte("u"), []byte(c.value)
			b.SetBytes(int64(len(value)))
			b.ReportAllocs()
			for b.Loop() {
				d.Decode(key, value)
			}
		})
	}
}

// BenchmarkDecodeHostileMapped decodes, with the segment preset, records
// wide where the mapping reads (the top level, and properties inside it):
// the duplicate check visits each such object once, so MB/s that does not
// fall as the record grows is time linear in its size here too.
func BenchmarkDecodeHostileMapped(b *testing.B) {
	head := `{"type":"track","event":"Order Completed","userId":"u","messageId":"m","timestamp":"2026-01-02T00:00:00Z",`
	for _, c := range []struct{ name, value string }{
		{"wide-keys-2.5k", head + rep(`"k":0,`, 2_500) + `"properties":{"revenue":1,"currency":"USD"}}`},
		{"wide-keys-10k", head + rep(`"k":0,`, 10_000) + `"properties":{"revenue":1,"currency":"USD"}}`},
		{"wide-properties-10k", head + `"properties":{` + rep(`"k":0,`, 10_000) + `"revenue":1,"currency":"USD"}}`},
		{"wide-long-keys-1k", head + rep(`"`+rep("k", 60)+`":0,`, 1_000) + `"properties":{"revenue":1,"currency":"USD"}}`},
	} {
		b.Run(c.name, func(b *testing.B) {
			d := schemas.NewDecoder(schemas.DecoderConfig{Mapping: &schemas.Mapping{Preset: "segment"}})
			key, value := []byte("u"), []byte(c.value)
			if _, err := d.Decode(key, value); err != nil {
				b.Fatal(err)
			}
			b.SetBytes(int64(len(value)))
			b.ReportAllocs()
			for b.Loop() {
				d.Decode(key, value)
			}
		})
	}
}

// segBenchTrack is a Segment track call as Segment delivers it: Spec:
// Track's complete example (https://segment.com/docs/connections/spec/track/)
// on one line, ~800 bytes, five times the size of benchEvent.
var (
	segBenchKey   = []byte("AiUGstSDIg")
	segBenchTrack = compactJSON(segTrack)
	segBenchOrder = compactJSON(segOrderCompleted)
)

func compactJSON(s string) []byte {
	var b bytes.Buffer
	if err := json.Compact(&b, []byte(s)); err != nil {
		panic(err)
	}
	return b.Bytes()
}

// BenchmarkDecodeSegmentTrack decodes a Segment track call with the
// segment preset (three type rules, fallbacks for the user id and time):
// the mapped counterpart of BenchmarkDecode.
func BenchmarkDecodeSegmentTrack(b *testing.B) {
	d := schemas.NewDecoder(schemas.DecoderConfig{Mapping: &schemas.Mapping{Preset: "segment"}})
	b.SetBytes(int64(len(segBenchTrack)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := d.Decode(segBenchKey, segBenchTrack); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkDecodeSegmentOrder decodes Segment's Order Completed example
// (a purchase: revenue and currency read too), ~1 KB.
func BenchmarkDecodeSegmentOrder(b *testing.B) {
	d := schemas.NewDecoder(schemas.DecoderConfig{Mapping: &schemas.Mapping{Preset: "segment"}})
	b.SetBytes(int64(len(segBenchOrder)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := d.Decode(segBenchKey, segBenchOrder); err != nil {
			b.Fatal(err)
		}
	}
}
