package schemas_test

import (
	"encoding/json"
	"errors"
	"testing"
	"unicode/utf8"

	"github.com/valyala/fastjson"

	"github.com/lifecycle-engine/lifecycle/schemas"
	"github.com/lifecycle-engine/lifecycle/schemas/schematest"
)

// FuzzDecode checks that Decode never panics, that it either accepts or
// returns a *RejectError with a known reason, that what it accepts is
// sensible, and that the event schema accepts it too.
func FuzzDecode(f *testing.F) {
	for _, c := range eventCorpus {
		f.Add([]byte("u-42"), []byte(c.value))
	}
	for _, c := range decoderOnly {
		f.Add([]byte("u-42"), []byte(c.value))
	}
	f.Add([]byte("u-1"), []byte(`{"event_id":"e","user_id":"u-1","type":"login","ts":0,"user_id":"u-2"}`))
	f.Add([]byte(""), []byte(nil))

	sch := schematest.Compile(f, schemas.EventSchemaFile)
	d := schemas.NewDecoder(schemas.DecoderConfig{MaxRecordBytes: 4096})
	other := []byte(`{"event_id":"zzzzzzzzzzzz","user_id":"yyyyyyyy","type":"content","ts":1,"kind":"xxxxxxxxxxxxxxxx"}`)
	known := map[schemas.Reason]bool{
		schemas.ReasonTooLarge: true, schemas.ReasonMalformedJSON: true, schemas.ReasonMissingField: true,
		schemas.ReasonWrongType: true, schemas.ReasonBadTimestamp: true, schemas.ReasonBadAmount: true,
		schemas.ReasonUnknownType: true, schemas.ReasonWrongCurrency: true, schemas.ReasonKeyMismatch: true,
	}

	f.Fuzz(func(t *testing.T, key, value []byte) {
		ev, err := d.Decode(key, value)
		if err != nil {
			var rej *schemas.RejectError
			if !errors.As(err, &rej) || !known[rej.Reason] || err.Error() == "" {
				t.Fatalf("Decode(%q) error %#v: want a *RejectError with a known reason", value, err)
			}
			return
		}
		if ev.ID == "" || ev.UserID == "" {
			t.Errorf("accepted %q with an empty id: %+v", value, ev)
		}
		if ev.UserID != string(key) {
			t.Errorf("accepted %q under key %q with user %q", value, key, ev.UserID)
		}
		if ev.Type.String() == "invalid" {
			t.Errorf("accepted %q with type %d", value, ev.Type)
		}
		if ev.Amount < 0 || (ev.Type != schemas.Purchase && ev.Amount != 0) {
			t.Errorf("accepted %q with amount %d for a %v", value, ev.Amount, ev.Type)
		}
		if ev.Kind != "" && ev.Type != schemas.Content {
			t.Errorf("accepted %q with kind %q for a %v", value, ev.Kind, ev.Type)
		}
		if ev.Time < 0 || ev.Time > 253402300799999 {
			t.Errorf("accepted %q with time %d", value, ev.Time)
		}
		if !json.Valid(value) || !utf8.ValidString(ev.ID) || !utf8.ValidString(ev.UserID) || !utf8.ValidString(ev.Kind) {
			t.Errorf("accepted %q: not valid JSON or UTF-8 (%+v)", value, ev)
		}

		// The event does not share memory with the decoder: decoding
		// something else leaves it as it was.
		if _, err := d.Decode([]byte("yyyyyyyy"), other); err != nil {
			t.Fatal(err)
		}
		again, err := d.Decode(key, value)
		if err != nil || again != ev {
			t.Errorf("decoding %q again gave %+v, %v; first %+v", value, again, err, ev)
		}

		// What the decoder accepts, the schema accepts, unless a top-level
		// key appears twice (fastjson takes the first, encoding/json the last).
		var m map[string]json.RawMessage
		if json.Unmarshal(value, &m) == nil {
			var p fastjson.Parser
			v, _ := p.ParseBytes(value)
			if o, _ := v.Object(); o != nil && o.Len() != len(m) {
				return
			}
		}
		if err := schematest.Validate(sch, value); err != nil {
			t.Errorf("decoder accepts %q, the schema does not: %s", value, schematest.Oneline(err))
		}
	})
}
