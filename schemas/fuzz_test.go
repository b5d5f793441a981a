package schemas_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/valyala/fastjson"

	"github.com/lifecycle-engine/lifecycle/schemas"
	"github.com/lifecycle-engine/lifecycle/schemas/schematest"
)

// FuzzDecode checks that Decode never panics, that it either accepts or
// returns a *RejectError with a known reason and an error of at most
// MaxReasonBytes, that it calls malformed exactly what encoding/json calls
// invalid (or nests deeper than DefaultMaxDepth), that what it accepts is
// sensible, and that the event schema accepts it too. The decoder has the
// production defaults: records up to DefaultMaxRecordBytes (64 KiB), and
// the seeds include the hostile records of hostileCases (25,000 unclosed
// '[', 30,000 balanced, 60 KB strings and numbers, 10,000 keys, 1e400, …).
//
// While fuzzing (-fuzz), one Decode may take at most fuzzBudget: a record
// that is slow to decode is a finding. Plain go test runs the seeds
// without timing them (timings are no pass/fail test); their bounded work
// is asserted by TestDecodeHostile.
func FuzzDecode(f *testing.F) {
	for _, c := range eventCorpus {
		f.Add([]byte("u-42"), []byte(c.value))
	}
	for _, c := range decoderOnly {
		f.Add([]byte("u-42"), []byte(c.value))
	}
	f.Add([]byte("u-1"), []byte(`{"event_id":"e","user_id":"u-1","type":"login","ts":0,"user_id":"u-2"}`))
	f.Add([]byte(""), []byte(nil))
	for _, c := range hostileCases() {
		key := c.key
		if key == "" {
			key = "u"
		}
		f.Add([]byte(key), []byte(c.value))
	}

	fuzzing := false
	if fl := flag.Lookup("test.fuzz"); fl != nil && fl.Value.String() != "" {
		fuzzing = true
	}
	sch := schematest.Compile(f, schemas.EventSchemaFile)
	d := schemas.NewDecoder(schemas.DecoderConfig{})
	other := []byte(`{"event_id":"zzzzzzzzzzzz","user_id":"yyyyyyyy","type":"content","ts":1,"kind":"xxxxxxxxxxxxxxxx"}`)
	known := map[schemas.Reason]bool{
		schemas.ReasonTooLarge: true, schemas.ReasonMalformedJSON: true, schemas.ReasonMissingField: true,
		schemas.ReasonWrongType: true, schemas.ReasonBadTimestamp: true, schemas.ReasonBadAmount: true,
		schemas.ReasonUnknownType: true, schemas.ReasonWrongCurrency: true, schemas.ReasonKeyMismatch: true,
		schemas.ReasonDuplicate: true,
	}

	f.Fuzz(func(t *testing.T, key, value []byte) {
		start := time.Now()
		ev, err := d.Decode(key, value)
		if took := time.Since(start); fuzzing && took > fuzzBudget {
			t.Errorf("Decode of a %d-byte record took %v; want at most %v: %.200q", len(value), took, fuzzBudget, value)
		}
		// What encoding/json calls valid JSON (it does not check UTF-8),
		// nested no deeper than the limit.
		jsonOK := len(value) <= schemas.DefaultMaxRecordBytes && utf8.Valid(value) && json.Valid(value) &&
			schemas.Nesting(value) <= schemas.DefaultMaxDepth
		if err != nil {
			var rej *schemas.RejectError
			if !errors.As(err, &rej) || !known[rej.Reason] || err.Error() == "" {
				t.Fatalf("Decode(%.200q) error %#v: want a *RejectError with a known reason", value, err)
			}
			if msg := err.Error(); len(msg) > schemas.MaxReasonBytes || !utf8.ValidString(msg) {
				t.Errorf("Decode(%.200q): error of %d bytes (want at most %d of UTF-8): %q", value, len(msg), schemas.MaxReasonBytes, msg)
			}
			switch {
			case rej.Reason == schemas.ReasonMalformedJSON && jsonOK && bytes.TrimLeft(value, " \t\r\n")[0] == '{':
				t.Errorf("Decode(%.200q): %v; but it is a JSON object", value, err)
			case rej.Reason != schemas.ReasonMalformedJSON && rej.Reason != schemas.ReasonTooLarge && !jsonOK:
				t.Errorf("Decode(%.200q): %v; but it is not valid JSON, or nests deeper than %d", value, err, schemas.DefaultMaxDepth)
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
		if !jsonOK || !utf8.ValidString(ev.ID) || !utf8.ValidString(ev.UserID) || !utf8.ValidString(ev.Kind) {
			t.Errorf("accepted %.200q: not valid JSON, too deep, or not UTF-8 (%+v)", value, ev)
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

// fuzzBudget is the most time one Decode may take while fuzzing: generous,
// for a 64 KiB record that decodes in well under a millisecond, so that a
// loaded machine does not make it a finding.
const fuzzBudget = time.Second
