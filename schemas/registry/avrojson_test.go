package registry

import (
	"context"
	"errors"
	"math/big"
	"strings"
	"testing"
	"time"

	"github.com/hamba/avro/v2"

	"github.com/lifecycle-engine/lifecycle/schemas"
)

// eventSchema is an Avro event named like event.v1, with the logical types
// a producer would use: an enum type, a timestamp-millis ts, a decimal
// amount in a nullable union.
const eventSchema = `{"type":"record","name":"Event","namespace":"test","fields":[
 {"name":"event_id","type":"string"},
 {"name":"user_id","type":"string"},
 {"name":"type","type":{"type":"enum","name":"Type","symbols":["login","purchase","content"]}},
 {"name":"ts","type":{"type":"long","logicalType":"timestamp-millis"}},
 {"name":"amount","type":["null",{"type":"bytes","logicalType":"decimal","precision":18,"scale":2}],"default":null},
 {"name":"currency","type":["null","string"],"default":null},
 {"name":"kind","type":["null","string"],"default":null},
 {"name":"tags","type":{"type":"array","items":"string"},"default":[]}
]}`

type avroEvent struct {
	EventID  string    `avro:"event_id"`
	UserID   string    `avro:"user_id"`
	Type     string    `avro:"type"`
	TS       time.Time `avro:"ts"`
	Amount   *big.Rat  `avro:"amount"`
	Currency *string   `avro:"currency"`
	Kind     *string   `avro:"kind"`
	Tags     []string  `avro:"tags"`
}

// cached returns Inputs whose registry knows schema text as id 7 already
// (no registry is asked: these tests are of the Avro reading only).
func cached(t testing.TB, text string) (*Inputs, avro.Schema) {
	t.Helper()
	reg, err := New(Config{URL: "http://127.0.0.1:1"})
	if err != nil {
		t.Fatal(err)
	}
	s := avro.MustParse(text)
	reg.schemas[7] = &entry{schema: s}
	return NewInputs(context.Background(), reg, 0), s
}

func wire(t testing.TB, s avro.Schema, v any) []byte {
	t.Helper()
	b, err := avro.Marshal(s, v)
	if err != nil {
		t.Fatal(err)
	}
	return append([]byte{0, 0, 0, 0, 7}, b...)
}

func str(s string) *string { return &s }

// TestAvroEventDecodesAsNative: an Avro record named like event.v1 decodes
// to the event its native JSON decodes to, purchase, login and content.
func TestAvroEventDecodesAsNative(t *testing.T) {
	in, s := cached(t, eventSchema)
	avroDec := schemas.NewDecoder(schemas.DecoderConfig{Format: in})
	jsonDec := schemas.NewDecoder(schemas.DecoderConfig{})
	at := time.Date(2026, 3, 1, 12, 30, 0, 250e6, time.UTC)
	for _, c := range []struct {
		avro   avroEvent
		native string
	}{
		{avroEvent{EventID: "e1", UserID: "u1", Type: "purchase", TS: at, Amount: big.NewRat(1999, 100), Currency: str("USD"), Tags: []string{"a\"b"}},
			`{"event_id":"e1","user_id":"u1","type":"purchase","ts":"2026-03-01T12:30:00.250Z","amount":"19.99","currency":"USD"}`},
		{avroEvent{EventID: "e2", UserID: "u1", Type: "login", TS: at},
			`{"event_id":"e2","user_id":"u1","type":"login","ts":1772368200250}`},
		{avroEvent{EventID: "e3", UserID: "u1", Type: "content", TS: at, Kind: str("video")},
			`{"event_id":"e3","user_id":"u1","type":"content","ts":1772368200250,"kind":"video"}`},
	} {
		got, err := avroDec.Decode([]byte("u1"), wire(t, s, c.avro))
		if err != nil {
			t.Fatalf("%s: %v", c.avro.EventID, err)
		}
		want, err := jsonDec.Decode([]byte("u1"), []byte(c.native))
		if err != nil {
			t.Fatal(err)
		}
		if got != want {
			t.Errorf("Avro %s decoded to %+v; the native JSON to %+v", c.avro.EventID, got, want)
		}
	}
}

// TestAvroRejects: records that are not Avro in the wire format, or do
// not decode with their schema, are rejected with their own codes and a
// sentence that says what was wrong, in time linear in their size.
func TestAvroRejects(t *testing.T) {
	in, s := cached(t, eventSchema)
	dec := schemas.NewDecoder(schemas.DecoderConfig{Format: in})
	good := wire(t, s, avroEvent{EventID: "e1", UserID: "u1", Type: "login", TS: time.Unix(1, 0)})
	// An array whose block claims 2^40 items, which would loop for ever
	// (or allocate without bound) if counts were trusted.
	hugeArray := append([]byte{}, good[:len(good)-1]...) // drop the array's end (0)
	hugeArray = append(hugeArray, 0x80, 0x80, 0x80, 0x80, 0x80, 0x40)
	for _, c := range []struct {
		name  string
		value []byte
		code  schemas.Reason
		says  string
	}{
		{"JSON instead of Avro", []byte(`{"event_id":"e1"}`), schemas.ReasonBadWireFormat, "not the magic byte 0"},
		{"empty", nil, schemas.ReasonBadWireFormat, "empty"},
		{"header only, cut", []byte{0, 0, 0}, schemas.ReasonBadWireFormat, "too short"},
		{"payload cut short", good[:len(good)-4], schemas.ReasonMalformedAvro, "does not decode"},
		{"enum out of range", append(append([]byte{}, good[:11]...), 0x10), schemas.ReasonMalformedAvro, "enum index 8"},
		{"array count beyond the record", hugeArray, schemas.ReasonMalformedAvro, "more items than the record has bytes"},
	} {
		_, err := dec.Decode([]byte("u1"), c.value)
		var rej *schemas.RejectError
		if !errors.As(err, &rej) || rej.Reason != c.code || !strings.Contains(err.Error(), c.says) {
			t.Errorf("%s: got %v; want %s saying %q", c.name, err, c.code, c.says)
		}
		if err != nil && len(err.Error()) > schemas.MaxReasonBytes {
			t.Errorf("%s: reason is %d bytes", c.name, len(err.Error()))
		}
	}
}

// TestAvroNestingBounded: a recursive schema's value nested deeper than
// maxAvroDepth is rejected, not followed.
func TestAvroNestingBounded(t *testing.T) {
	in, _ := cached(t, `{"type":"record","name":"N","fields":[{"name":"next","type":["null","N"]}]}`)
	v := make([]byte, 0, 5+2*maxAvroDepth+2)
	v = append(v, 0, 0, 0, 0, 7)
	for range maxAvroDepth + 1 {
		v = append(v, 2) // union index 1: another N
	}
	v = append(v, 0)
	_, err := in.AppendJSON(nil, v, 1<<20)
	var rej *schemas.RejectError
	if !errors.As(err, &rej) || rej.Reason != schemas.ReasonMalformedAvro || !strings.Contains(err.Error(), "nest more than") {
		t.Errorf("got %v; want malformed_avro for nesting", err)
	}
}

// TestAvroJSONValues: how Avro values become JSON (avroJSON's doc).
func TestAvroJSONValues(t *testing.T) {
	in, s := cached(t, `{"type":"record","name":"R","fields":[
	 {"name":"d","type":{"type":"int","logicalType":"date"}},
	 {"name":"us","type":{"type":"long","logicalType":"timestamp-micros"}},
	 {"name":"neg","type":{"type":"bytes","logicalType":"decimal","precision":20,"scale":8}},
	 {"name":"f","type":{"type":"fixed","name":"F","size":2}},
	 {"name":"x","type":"double"},
	 {"name":"m","type":{"type":"map","values":"boolean"}}]}`)
	type r struct {
		D   time.Time       `avro:"d"`
		US  time.Time       `avro:"us"`
		Neg *big.Rat        `avro:"neg"`
		F   [2]byte         `avro:"f"`
		X   float64         `avro:"x"`
		M   map[string]bool `avro:"m"`
	}
	v := r{D: time.Date(2026, 1, 2, 0, 0, 0, 0, time.UTC), US: time.UnixMicro(1700000000123456).UTC(),
		Neg: big.NewRat(-5, 2), F: [2]byte{'"', 0xff}, X: 0.1, M: map[string]bool{"k": true}}
	got, err := in.AppendJSON(nil, wire(t, s, v), 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"d":1767312000000,"us":1700000000123,"neg":"-2.500000","f":"\"\u00ff","x":0.1,"m":{"k":true}}`
	if string(got) != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
}

// BenchmarkDecodeAvroPurchase: a purchase in Avro (schema cached), through
// AppendJSON and the decoder, against BenchmarkDecodeNativePurchase.
func BenchmarkDecodeAvroPurchase(b *testing.B) {
	in, s := cached(b, eventSchema)
	dec := schemas.NewDecoder(schemas.DecoderConfig{Format: in})
	v := wire(b, s, avroEvent{EventID: "evt-0001", UserID: "user-42", Type: "purchase", TS: time.UnixMilli(1700000000000),
		Amount: big.NewRat(1999, 100), Currency: str("USD")})
	b.SetBytes(int64(len(v)))
	for b.Loop() {
		if _, err := dec.Decode([]byte("user-42"), v); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDecodeNativePurchase(b *testing.B) {
	dec := schemas.NewDecoder(schemas.DecoderConfig{})
	v := []byte(`{"event_id":"evt-0001","user_id":"user-42","type":"purchase","ts":1700000000000,"amount":"19.99","currency":"USD"}`)
	b.SetBytes(int64(len(v)))
	for b.Loop() {
		if _, err := dec.Decode([]byte("user-42"), v); err != nil {
			b.Fatal(err)
		}
	}
}
