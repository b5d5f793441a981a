package schemas_test

import (
	"encoding/json"
	"errors"
	"flag"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/lifecycle-engine/lifecycle/schemas"
)

// FuzzDecodeMapped decodes anything with the segment preset: every record
// is an event, ignored or a dead letter with a known reason and a bounded
// sentence, and an accepted record is the same user whichever copy of a
// repeated field a parser takes: encoding/json, which takes the last,
// finds in it the user the decoder found (its userId, else anonymousId).
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
		var last struct {
			UserID      any `json:"userId"`
			AnonymousID any `json:"anonymousId"`
		}
		if err := json.Unmarshal(value, &last); err != nil {
			t.Fatalf("accepted %.200q, which encoding/json refuses: %v", value, err)
		}
		user := last.UserID
		if s, ok := user.(string); user == nil || ok && s == "" {
			user = last.AnonymousID
		}
		if user != ev.UserID {
			t.Errorf("accepted %.200q as user %q; encoding/json reads %v", value, ev.UserID, user)
		}
	})
}
