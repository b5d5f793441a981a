package registry

import (
	"encoding/json"
	"errors"
	"math/big"
	"testing"
	"time"

	"github.com/lifecycle-engine/lifecycle/schemas"
)

// fuzzSchemas are the shapes a hostile payload is read with: the event,
// every kind of value (logical types, maps, fixed, unions), and a
// recursive record.
var fuzzSchemas = []string{
	eventSchema,
	`{"type":"record","name":"R","fields":[
	 {"name":"d","type":{"type":"int","logicalType":"date"}},
	 {"name":"us","type":{"type":"long","logicalType":"timestamp-micros"}},
	 {"name":"neg","type":{"type":"bytes","logicalType":"decimal","precision":20,"scale":8}},
	 {"name":"fd","type":{"type":"fixed","name":"FD","size":9,"logicalType":"decimal","precision":20,"scale":3}},
	 {"name":"f","type":{"type":"fixed","name":"F","size":2}},
	 {"name":"x","type":"double"},
	 {"name":"y","type":"float"},
	 {"name":"b","type":"bytes"},
	 {"name":"m","type":{"type":"map","values":{"type":"array","items":["null","boolean","string"]}}}]}`,
	`{"type":"record","name":"N","fields":[{"name":"v","type":"string"},{"name":"next","type":["null","N"]},{"name":"kids","type":{"type":"array","items":"N"}}]}`,
}

// FuzzAvroJSON: whatever the payload, AppendJSON returns (no panic, no
// unbounded growth) either JSON text within its bound or a rejection with
// a code and a bounded reason; and the decoder makes the same of it.
func FuzzAvroJSON(f *testing.F) {
	ins := make([]*Inputs, len(fuzzSchemas))
	for i, text := range fuzzSchemas {
		ins[i], _ = cached(f, text)
	}
	_, s := cached(f, eventSchema)
	good := wire(f, s, avroEvent{EventID: "e1", UserID: "u1", Type: "purchase", TS: time.UnixMilli(1700000000000),
		Amount: big.NewRat(1999, 100), Currency: str("USD"), Tags: []string{"a", "b"}})
	f.Add(uint8(0), good[5:])
	f.Add(uint8(1), []byte{2, 4, 4, 1, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2, 2, 1, 1, 2, 4, 0})
	f.Add(uint8(2), []byte{2, 'a', 2, 2, 'b', 0, 0, 0})
	const maxJSON = 4096
	f.Fuzz(func(t *testing.T, which uint8, payload []byte) {
		in := ins[int(which)%len(ins)]
		value := append([]byte{0, 0, 0, 0, 7}, payload...)
		out, err := in.AppendJSON(nil, value, maxJSON)
		if err != nil {
			var rej *schemas.RejectError
			if !errors.As(err, &rej) || rej.Reason == "" {
				t.Fatalf("an error that is not a rejection with a code: %v", err)
			}
			if len(err.Error()) > schemas.MaxReasonBytes {
				t.Fatalf("a reason of %d bytes", len(err.Error()))
			}
			return
		}
		if len(out) > maxJSON {
			t.Fatalf("%d bytes of JSON, over the bound %d", len(out), maxJSON)
		}
		if !json.Valid(out) {
			t.Fatalf("not JSON: %q", out)
		}
		dec := schemas.NewDecoder(schemas.DecoderConfig{Format: in})
		if _, err := dec.Decode([]byte("u1"), value); err != nil {
			var rej *schemas.RejectError
			if !errors.As(err, &rej) || len(err.Error()) > schemas.MaxReasonBytes {
				t.Fatalf("the decoder's error is not a bounded rejection: %v", err)
			}
		}
	})
}
