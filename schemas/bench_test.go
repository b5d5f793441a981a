package schemas_test

import (
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
