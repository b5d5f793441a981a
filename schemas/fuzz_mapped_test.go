package schemas_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"reflect"
	"strconv"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/valyala/fastjson"

	"github.com/lifecycle-engine/lifecycle/schemas"
)

// FuzzDecodeMapped decodes anything with the segment preset: every record
// is an event, ignored or a dead letter with a known reason and a bounded
// sentence, and an accepted record reads the same whichever copy of a
// repeated field a parser takes: encoding/json, which takes the last,
// finds in it the user the decoder found (its userId, else anonymousId),
// and every path the preset reads has the same value for it as for
// fastjson, which takes the first.
func FuzzDecodeMapped(f *testing.F) {
	for _, v := range []string{segTrack, segOrderCompleted, segPage, segAnonymousTrack, rsOrderCompleted,
		`{"type":"identify","userId":"u","userId":"v","messageId":"m","timestamp":"2026-01-02T00:00:00Z"}`,
		`{"type":"track","event":"Order Completed","userId":"u","messageId":"m","timestamp":"2026-01-02T00:00:00Z","properties":{"revenue":1,"revenue":2}}`,
		`{"type":"group","type":"identify","userId":"u","messageId":"m","timestamp":0}`,
	} {
		f.Add([]byte("u"), []byte(v))
	}
	fuzzing := false
	if fl := flag.Lookup("test.fuzz"); fl != nil && fl.Value.String() != "" {
		fuzzing = true
	}
	d := schemas.NewDecoder(schemas.DecoderConfig{Mapping: &schemas.Mapping{Preset: "segment"}})
	known := map[schemas.Reason]bool{
		schemas.ReasonTooLarge: true, schemas.ReasonMalformedJSON: true, schemas.ReasonMissingField: true,
		schemas.ReasonWrongType: true, schemas.ReasonBadTimestamp: true, schemas.ReasonBadAmount: true,
		schemas.ReasonWrongCurrency: true, schemas.ReasonKeyMismatch: true, schemas.ReasonDuplicate: true,
		schemas.ReasonIgnored: true, schemas.ReasonUnmapped: true,
	}
	f.Fuzz(func(t *testing.T, key, value []byte) {
		start := time.Now()
		ev, err := d.Decode(key, value)
		if took := time.Since(start); fuzzing && took > fuzzBudget {
			t.Errorf("Decode of a %d-byte record took %v; want at most %v: %.200q", len(value), took, fuzzBudget, value)
		}
		if err != nil {
			var rej *schemas.RejectError
			if !errors.As(err, &rej) || !known[rej.Reason] {
				t.Fatalf("Decode(%.200q) error %#v: want a *RejectError with a known reason", value, err)
			}
			if msg := err.Error(); len(msg) > schemas.MaxReasonBytes || !utf8.ValidString(msg) {
				t.Errorf("Decode(%.200q): error of %d bytes (want at most %d of UTF-8)", value, len(msg), schemas.MaxReasonBytes)
			}
			return
		}
		var last map[string]any
		if err := decodeNumbers(value, &last); err != nil {
			t.Fatalf("accepted %.200q, which encoding/json refuses: %v", value, err)
		}
		user := last["userId"]
		if s, ok := user.(string); user == nil || ok && s == "" {
			user = last["anonymousId"]
		}
		// fastjson keeps an unpaired surrogate escape as its text, where
		// encoding/json reads U+FFFD: a difference of the parsers, not of
		// repeated fields (left alone: such an id is what its key says).
		if user != ev.UserID && !unpairedSurrogate(value) {
			t.Errorf("accepted %.200q as user %q; encoding/json reads %v", value, ev.UserID, user)
		}
		// Every path the preset reads has one value whichever copy a
		// parser takes: fastjson's Get takes the first, encoding/json the
		// last.
		var p fastjson.Parser
		v, err := p.ParseBytes(value)
		if err != nil {
			t.Fatalf("accepted %.200q, which fastjson refuses: %v", value, err)
		}
		for _, path := range readPaths {
			first, lastV := v.Get(path...), lookup(last, path)
			switch {
			case first == nil && lastV == nil:
			case first == nil || lastV == nil:
				t.Errorf("accepted %.200q: %v is %v to fastjson, %v to encoding/json", value, path, first, lastV)
			default:
				var want any
				if err := decodeNumbers(first.MarshalTo(nil), &want); err != nil {
					t.Fatal(err)
				}
				if !reflect.DeepEqual(want, lastV) {
					t.Errorf("accepted %.200q: %v is %v to fastjson (the first copy), %v to encoding/json (the last)", value, path, want, lastV)
				}
			}
		}
	})
}

// readPaths are the paths the segment preset reads (schemas.Preset).
var readPaths = [][]string{{"messageId"}, {"userId"}, {"anonymousId"}, {"timestamp"}, {"originalTimestamp"},
	{"type"}, {"event"}, {"name"}, {"properties", "revenue"}, {"properties", "total"}, {"properties", "currency"}}

// decodeNumbers is json.Unmarshal with numbers kept as their text, so
// that one out of float64's range (1e400, in a field nothing reads) is
// not an error.
func decodeNumbers(b []byte, v any) error {
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	return d.Decode(v)
}

// unpairedSurrogate reports whether b has a \u escape of a UTF-16
// surrogate that is not a high one followed by a low one.
func unpairedSurrogate(b []byte) bool {
	hex := func(i int) (int, bool) {
		if i+6 > len(b) || b[i] != '\\' || b[i+1] != 'u' {
			return 0, false
		}
		n, err := strconv.ParseUint(string(b[i+2:i+6]), 16, 16)
		return int(n), err == nil
	}
	for i := 0; i < len(b); i++ {
		if b[i] != '\\' {
			continue
		}
		if i+1 < len(b) && b[i+1] != 'u' {
			i++ // an escaped character, \\ included
			continue
		}
		x, ok := hex(i)
		switch {
		case !ok:
		case x >= 0xD800 && x < 0xDC00:
			if y, ok := hex(i + 6); !ok || y < 0xDC00 || y > 0xDFFF {
				return true
			}
			i += 11
		case x >= 0xDC00 && x <= 0xDFFF:
			return true
		default:
			i += 5
		}
	}
	return false
}

// lookup is the value at path in what encoding/json decoded, nil when
// absent (or not under objects all the way).
func lookup(m map[string]any, path []string) any {
	var v any = m
	for _, k := range path {
		o, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		if v, ok = o[k]; !ok {
			return nil
		}
	}
	return v
}
