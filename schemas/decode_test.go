package schemas_test

import (
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/lifecycle-engine/lifecycle/schemas"
)

// ms returns the Unix milliseconds of an RFC 3339 time, for expectations.
func ms(t *testing.T, s string) int64 {
	t.Helper()
	tm, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		t.Fatal(err)
	}
	return tm.UnixMilli()
}

const (
	purchaseJSON = `{"event_id":"e-1","user_id":"u-42","type":"purchase","ts":"2026-11-22T06:30:00Z","amount":"19.99","currency":"USD"}`
	loginJSON    = `{"event_id":"e-2","user_id":"u-42","type":"login","ts":"2026-11-22T06:31:00Z"}`
	contentJSON  = `{"event_id":"e-3","user_id":"u-42","type":"content","ts":"2026-11-22T06:32:00Z","kind":"post"}`
)

// ev builds an event JSON text for user u-42 from `"name":value` members
// after the defaults event_id, user_id, type (login) and ts; a member named
// again replaces the default, and a member `-name` removes it.
func ev(members ...string) string {
	type m struct{ k, v string }
	fields := []m{
		{"event_id", `"e-1"`}, {"user_id", `"u-42"`}, {"type", `"login"`}, {"ts", `"2026-11-22T06:30:00Z"`},
	}
outer:
	for _, mem := range members {
		if name, ok := strings.CutPrefix(mem, "-"); ok {
			for i, f := range fields {
				if f.k == name {
					fields = append(fields[:i], fields[i+1:]...)
					continue outer
				}
			}
			panic("no member " + name)
		}
		k, v, ok := strings.Cut(mem, ":")
		if !ok {
			panic("bad member " + mem)
		}
		k = strings.Trim(k, `"`)
		for i, f := range fields {
			if f.k == k {
				fields[i].v = v
				continue outer
			}
		}
		fields = append(fields, m{k, v})
	}
	var b strings.Builder
	b.WriteByte('{')
	for i, f := range fields {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(`"` + f.k + `":` + f.v)
	}
	b.WriteByte('}')
	return b.String()
}

func purchase(members ...string) string {
	return ev(append([]string{`"type":"purchase"`, `"amount":"19.99"`, `"currency":"USD"`}, members...)...)
}

func TestDecodeValid(t *testing.T) {
	base := ms(t, "2026-11-22T06:30:00Z")
	tests := []struct {
		name  string
		key   string // "" means "u-42"
		value string
		want  schemas.Event
	}{
		{"purchase example", "", purchaseJSON,
			schemas.Event{ID: "e-1", UserID: "u-42", Type: schemas.Purchase, Time: base, Amount: 19_990_000}},
		{"login example", "", loginJSON,
			schemas.Event{ID: "e-2", UserID: "u-42", Type: schemas.Login, Time: ms(t, "2026-11-22T06:31:00Z")}},
		{"content example", "", contentJSON,
			schemas.Event{ID: "e-3", UserID: "u-42", Type: schemas.Content, Time: ms(t, "2026-11-22T06:32:00Z"), Kind: "post"}},
		{"ts with +02:00 offset is converted to UTC", "", ev(`"ts":"2026-11-22T08:30:00+02:00"`),
			schemas.Event{ID: "e-1", UserID: "u-42", Type: schemas.Login, Time: base}},
		{"ts with -05:30 offset", "", ev(`"ts":"2026-11-22T01:00:00-05:30"`),
			schemas.Event{ID: "e-1", UserID: "u-42", Type: schemas.Login, Time: base}},
		{"ts epoch milliseconds", "", ev(`"ts":1795329000123`),
			schemas.Event{ID: "e-1", UserID: "u-42", Type: schemas.Login, Time: 1795329000123}},
		{"ts epoch 0", "", ev(`"ts":0`),
			schemas.Event{ID: "e-1", UserID: "u-42", Type: schemas.Login, Time: 0}},
		{"ts nanoseconds truncated to ms", "", ev(`"ts":"2026-11-22T06:30:00.123999999Z"`),
			schemas.Event{ID: "e-1", UserID: "u-42", Type: schemas.Login, Time: base + 123}},
		{"ts one fraction digit", "", ev(`"ts":"2026-11-22T06:30:00.5Z"`),
			schemas.Event{ID: "e-1", UserID: "u-42", Type: schemas.Login, Time: base + 500}},
		{"ts lower-case t and z", "", ev(`"ts":"2026-11-22t06:30:00z"`),
			schemas.Event{ID: "e-1", UserID: "u-42", Type: schemas.Login, Time: base}},
		{"ts leap second is the next day's first second", "", ev(`"ts":"2016-12-31T23:59:60.250Z"`),
			schemas.Event{ID: "e-1", UserID: "u-42", Type: schemas.Login, Time: ms(t, "2017-01-01T00:00:00.250Z")}},
		{"ts last millisecond of 9999", "", ev(`"ts":"9999-12-31T23:59:59.999Z"`),
			schemas.Event{ID: "e-1", UserID: "u-42", Type: schemas.Login, Time: 253402300799999}},
		{"ts 29 February of a leap year", "", ev(`"ts":"2024-02-29T00:00:00Z"`),
			schemas.Event{ID: "e-1", UserID: "u-42", Type: schemas.Login, Time: ms(t, "2024-02-29T00:00:00Z")}},
		{"amount as number 19.99 is exact", "", purchase(`"amount":19.99`),
			schemas.Event{ID: "e-1", UserID: "u-42", Type: schemas.Purchase, Time: base, Amount: 19_990_000}},
		{"amount as integer number", "", purchase(`"amount":20`),
			schemas.Event{ID: "e-1", UserID: "u-42", Type: schemas.Purchase, Time: base, Amount: 20_000_000}},
		{"amount zero", "", purchase(`"amount":"0"`),
			schemas.Event{ID: "e-1", UserID: "u-42", Type: schemas.Purchase, Time: base, Amount: 0}},
		{"amount six decimals", "", purchase(`"amount":0.000001`),
			schemas.Event{ID: "e-1", UserID: "u-42", Type: schemas.Purchase, Time: base, Amount: 1}},
		{"amount largest", "", purchase(`"amount":"9223372036854.775807"`),
			schemas.Event{ID: "e-1", UserID: "u-42", Type: schemas.Purchase, Time: base, Amount: 9223372036854775807}},
		{"unknown fields ignored", "", ev(`"seq":7`, `"extra":{"a":[1,2,{"b":null}]}`, `"device":"ios"`),
			schemas.Event{ID: "e-1", UserID: "u-42", Type: schemas.Login, Time: base}},
		{"login ignores a bad amount and currency", "", ev(`"amount":"-5x"`, `"currency":7`),
			schemas.Event{ID: "e-1", UserID: "u-42", Type: schemas.Login, Time: base}},
		{"login ignores kind", "", ev(`"kind":5`),
			schemas.Event{ID: "e-1", UserID: "u-42", Type: schemas.Login, Time: base}},
		{"content without kind", "", ev(`"type":"content"`),
			schemas.Event{ID: "e-1", UserID: "u-42", Type: schemas.Content, Time: base}},
		{"content with null kind", "", ev(`"type":"content"`, `"kind":null`),
			schemas.Event{ID: "e-1", UserID: "u-42", Type: schemas.Content, Time: base}},
		{"escaped strings are unescaped", "u-42", ev(`"user_id":"u-\u0034\u0032"`, `"event_id":"e-\"1\"\n"`),
			schemas.Event{ID: "e-\"1\"\n", UserID: "u-42", Type: schemas.Login, Time: base}},
		{"non-ASCII user id", "ユーザー", ev(`"user_id":"ユーザー"`),
			schemas.Event{ID: "e-1", UserID: "ユーザー", Type: schemas.Login, Time: base}},
		{"whitespace around", "", " \n\t" + loginJSON + "\r\n ",
			schemas.Event{ID: "e-2", UserID: "u-42", Type: schemas.Login, Time: ms(t, "2026-11-22T06:31:00Z")}},
	}
	d := schemas.NewDecoder(schemas.DecoderConfig{})
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			key := tt.key
			if key == "" {
				key = "u-42"
			}
			got, err := d.Decode([]byte(key), []byte(tt.value))
			if err != nil {
				t.Fatalf("Decode(%s): %v; want %+v", tt.value, err, tt.want)
			}
			if got != tt.want {
				t.Errorf("Decode(%s)\n got  %+v\n want %+v", tt.value, got, tt.want)
			}
		})
	}
}

func TestDecodeRejects(t *testing.T) {
	tests := []struct {
		name   string
		key    *string // nil means "u-42"
		value  string
		reason schemas.Reason
		field  string
	}{
		{"too large", nil, purchase(`"pad":"` + strings.Repeat("x", 65536) + `"`), schemas.ReasonTooLarge, ""},
		{"nil value (tombstone)", nil, "", schemas.ReasonMalformedJSON, ""},
		{"truncated JSON", nil, loginJSON[:30], schemas.ReasonMalformedJSON, ""},
		{"trailing garbage", nil, loginJSON + "x", schemas.ReasonMalformedJSON, ""},
		{"two objects", nil, loginJSON + loginJSON, schemas.ReasonMalformedJSON, ""},
		{"NaN in an unknown field", nil, ev(`"x":NaN`), schemas.ReasonMalformedJSON, ""},
		{"lenient number in an unknown field", nil, ev(`"x":1-2`), schemas.ReasonMalformedJSON, ""},
		{"bad escape", nil, ev(`"x":"\q"`), schemas.ReasonMalformedJSON, ""},
		{"control character in a string", nil, ev("\"x\":\"a\tb\""), schemas.ReasonMalformedJSON, ""},
		{"invalid UTF-8", nil, ev("\"x\":\"\xff\""), schemas.ReasonMalformedJSON, ""},
		{"array", nil, `[` + loginJSON + `]`, schemas.ReasonMalformedJSON, ""},
		{"string", nil, `"u-42"`, schemas.ReasonMalformedJSON, ""},
		{"null", nil, `null`, schemas.ReasonMalformedJSON, ""},
		{"missing event_id", nil, ev(`-event_id`), schemas.ReasonMissingField, "event_id"},
		{"empty event_id", nil, ev(`"event_id":""`), schemas.ReasonMissingField, "event_id"},
		{"null event_id", nil, ev(`"event_id":null`), schemas.ReasonMissingField, "event_id"},
		{"numeric event_id", nil, ev(`"event_id":17`), schemas.ReasonWrongType, "event_id"},
		{"missing user_id", nil, ev(`-user_id`), schemas.ReasonMissingField, "user_id"},
		{"numeric user_id", nil, ev(`"user_id":42`), schemas.ReasonWrongType, "user_id"},
		{"object user_id", nil, ev(`"user_id":{"id":"u-42"}`), schemas.ReasonWrongType, "user_id"},
		{"key differs from user_id", ptr("u-43"), loginJSON, schemas.ReasonKeyMismatch, "user_id"},
		{"empty key", ptr(""), loginJSON, schemas.ReasonKeyMismatch, "user_id"},
		{"key differs in case", ptr("U-42"), loginJSON, schemas.ReasonKeyMismatch, "user_id"},
		{"missing type", nil, ev(`-type`), schemas.ReasonMissingField, "type"},
		{"numeric type", nil, ev(`"type":1`), schemas.ReasonWrongType, "type"},
		{"unknown type", nil, ev(`"type":"signup"`), schemas.ReasonUnknownType, "type"},
		{"type in upper case", nil, ev(`"type":"Login"`), schemas.ReasonUnknownType, "type"},
		{"missing ts", nil, ev(`-ts`), schemas.ReasonMissingField, "ts"},
		{"null ts", nil, ev(`"ts":null`), schemas.ReasonMissingField, "ts"},
		{"boolean ts", nil, ev(`"ts":true`), schemas.ReasonWrongType, "ts"},
		{"ts yesterday", nil, ev(`"ts":"yesterday"`), schemas.ReasonBadTimestamp, "ts"},
		{"ts without offset", nil, ev(`"ts":"2026-11-22T06:30:00"`), schemas.ReasonBadTimestamp, "ts"},
		{"ts with space for T", nil, ev(`"ts":"2026-11-22 06:30:00Z"`), schemas.ReasonBadTimestamp, "ts"},
		{"ts offset without colon", nil, ev(`"ts":"2026-11-22T06:30:00+0200"`), schemas.ReasonBadTimestamp, "ts"},
		{"ts offset hour 24", nil, ev(`"ts":"2026-11-22T06:30:00+24:00"`), schemas.ReasonBadTimestamp, "ts"},
		{"ts date only", nil, ev(`"ts":"2026-11-22"`), schemas.ReasonBadTimestamp, "ts"},
		{"ts 30 February", nil, ev(`"ts":"2026-02-30T00:00:00Z"`), schemas.ReasonBadTimestamp, "ts"},
		{"ts 29 February of a common year", nil, ev(`"ts":"2100-02-29T00:00:00Z"`), schemas.ReasonBadTimestamp, "ts"},
		{"ts hour 24", nil, ev(`"ts":"2026-11-22T24:00:00Z"`), schemas.ReasonBadTimestamp, "ts"},
		{"ts leap second not at 23:59 UTC", nil, ev(`"ts":"2026-11-22T06:30:60Z"`), schemas.ReasonBadTimestamp, "ts"},
		{"ts dot without digits", nil, ev(`"ts":"2026-11-22T06:30:00.Z"`), schemas.ReasonBadTimestamp, "ts"},
		{"ts before 1970", nil, ev(`"ts":"1969-12-31T23:59:59.999Z"`), schemas.ReasonBadTimestamp, "ts"},
		{"ts offset moves it before 1970", nil, ev(`"ts":"1970-01-01T00:30:00+01:00"`), schemas.ReasonBadTimestamp, "ts"},
		{"ts offset moves it past 9999", nil, ev(`"ts":"9999-12-31T23:30:00-01:00"`), schemas.ReasonBadTimestamp, "ts"},
		{"ts epoch as a string", nil, ev(`"ts":"1795329000000"`), schemas.ReasonBadTimestamp, "ts"},
		{"ts negative epoch", nil, ev(`"ts":-1`), schemas.ReasonBadTimestamp, "ts"},
		{"ts fractional epoch", nil, ev(`"ts":1795329000000.5`), schemas.ReasonBadTimestamp, "ts"},
		{"ts epoch with .0", nil, ev(`"ts":1795329000000.0`), schemas.ReasonBadTimestamp, "ts"},
		{"ts epoch with exponent", nil, ev(`"ts":1.795329e12`), schemas.ReasonBadTimestamp, "ts"},
		{"ts epoch past 9999", nil, ev(`"ts":253402300800000`), schemas.ReasonBadTimestamp, "ts"},
		{"ts epoch overflowing int64", nil, ev(`"ts":99999999999999999999999`), schemas.ReasonBadTimestamp, "ts"},
		{"purchase without amount", nil, purchase(`-amount`), schemas.ReasonMissingField, "amount"},
		{"purchase with null amount", nil, purchase(`"amount":null`), schemas.ReasonMissingField, "amount"},
		{"purchase with empty amount", nil, purchase(`"amount":""`), schemas.ReasonMissingField, "amount"},
		{"boolean amount", nil, purchase(`"amount":true`), schemas.ReasonWrongType, "amount"},
		{"negative amount string", nil, purchase(`"amount":"-5.00"`), schemas.ReasonBadAmount, "amount"},
		{"negative amount number", nil, purchase(`"amount":-5`), schemas.ReasonBadAmount, "amount"},
		{"negative zero amount", nil, purchase(`"amount":-0`), schemas.ReasonBadAmount, "amount"},
		{"amount with 7 decimals", nil, purchase(`"amount":"19.9999999"`), schemas.ReasonBadAmount, "amount"},
		{"amount number with 7 decimals", nil, purchase(`"amount":19.9999999`), schemas.ReasonBadAmount, "amount"},
		{"amount number with trailing zeros past 6 decimals", nil, purchase(`"amount":19.9900000`), schemas.ReasonBadAmount, "amount"},
		{"amount with exponent string", nil, purchase(`"amount":"1e3"`), schemas.ReasonBadAmount, "amount"},
		{"amount with exponent number", nil, purchase(`"amount":1e3`), schemas.ReasonBadAmount, "amount"},
		{"amount not a number", nil, purchase(`"amount":"abc"`), schemas.ReasonBadAmount, "amount"},
		{"amount with a space", nil, purchase(`"amount":" 19.99"`), schemas.ReasonBadAmount, "amount"},
		{"amount with plus", nil, purchase(`"amount":"+19.99"`), schemas.ReasonBadAmount, "amount"},
		{"amount with currency sign", nil, purchase(`"amount":"$19.99"`), schemas.ReasonBadAmount, "amount"},
		{"amount too large", nil, purchase(`"amount":"9223372036854.775808"`), schemas.ReasonBadAmount, "amount"},
		{"purchase without currency", nil, purchase(`-currency`), schemas.ReasonMissingField, "currency"},
		{"numeric currency", nil, purchase(`"currency":840`), schemas.ReasonWrongType, "currency"},
		{"other currency", nil, purchase(`"currency":"EUR"`), schemas.ReasonWrongCurrency, "currency"},
		{"lower-case currency", nil, purchase(`"currency":"usd"`), schemas.ReasonWrongCurrency, "currency"},
		{"numeric kind", nil, ev(`"type":"content"`, `"kind":5`), schemas.ReasonWrongType, "kind"},
		{"object kind", nil, ev(`"type":"content"`, `"kind":{}`), schemas.ReasonWrongType, "kind"},
		// Order: the first failing check is reported.
		{"size before JSON", nil, strings.Repeat("{", 70000), schemas.ReasonTooLarge, ""},
		{"event_id before user_id", nil, ev(`-event_id`, `-user_id`), schemas.ReasonMissingField, "event_id"},
		{"key before type", ptr("x"), ev(`"type":"signup"`), schemas.ReasonKeyMismatch, "user_id"},
		{"type before ts", nil, ev(`"type":"signup"`, `"ts":"x"`), schemas.ReasonUnknownType, "type"},
		{"amount before currency", nil, purchase(`"amount":"x"`, `"currency":"EUR"`), schemas.ReasonBadAmount, "amount"},
	}
	d := schemas.NewDecoder(schemas.DecoderConfig{})
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			key := "u-42"
			if tt.key != nil {
				key = *tt.key
			}
			got, err := d.Decode([]byte(key), []byte(tt.value))
			var rej *schemas.RejectError
			if !errors.As(err, &rej) {
				t.Fatalf("Decode(%.200s) = %+v, %v; want a *RejectError %s", tt.value, got, err, tt.reason)
			}
			if rej.Reason != tt.reason || rej.Field != tt.field {
				t.Errorf("Decode(%.200s): got reason %s field %q (%v); want %s field %q", tt.value, rej.Reason, rej.Field, err, tt.reason, tt.field)
			}
			if got != (schemas.Event{}) {
				t.Errorf("Decode(%.200s) returned %+v with the error; want the zero Event", tt.value, got)
			}
			t.Log(err)
		})
	}
}

func ptr(s string) *string { return &s }

func TestRejectErrorMessage(t *testing.T) {
	d := schemas.NewDecoder(schemas.DecoderConfig{})
	_, err := d.Decode([]byte("u-42"), []byte(ev(`"ts":"yesterday"`)))
	got := err.Error()
	want := `field "ts": "yesterday" is not an RFC 3339 timestamp with offset or integer epoch milliseconds`
	if !strings.HasPrefix(got, want) {
		t.Errorf("got  %s\nwant %s…", got, want)
	}
	long := strings.Repeat("é", 100)
	_, err = d.Decode([]byte("u-42"), []byte(ev(`"type":"`+long+`"`)))
	if got := err.Error(); len(got) > 200 || !strings.Contains(got, "…") {
		t.Errorf("a long value is not cut: %s", got)
	}
}

// TestDecodeDuplicateFields: a field the decoder reads that appears
// twice makes the record ambiguous (fastjson would take the first,
// encoding/json and JavaScript the last), so it is dead-lettered naming
// the field (duplicate_field); an unread field twice is nothing to the
// event.
func TestDecodeDuplicateFields(t *testing.T) {
	d := schemas.NewDecoder(schemas.DecoderConfig{})
	for _, tc := range []struct{ value, field string }{
		{`{"event_id":"e-1","user_id":"u-1","type":"login","ts":0,"user_id":"u-2"}`, "user_id"},
		{`{"event_id":"e-1","user_id":"u-1","type":"login","ts":"2026-01-02T00:00:00Z","ts":"9999-12-31T23:59:59Z"}`, "ts"},
		{`{"event_id":"e-1","user_id":"u-1","type":"login","ts":0,"type":"purchase","amount":"1","currency":"USD"}`, "type"},
		{`{"event_id":"e-1","user_id":"u-1","type":"purchase","ts":0,"amount":"1","currency":"USD","amount":"1000000"}`, "amount"},
		{`{"event_id":"e-1","event_id":"e-2","user_id":"u-1","type":"login","ts":0}`, "event_id"},
		{`{"event_id":"e-1","user_id":"u-1","type":"content","ts":0,"kind":"a","kind":"b"}`, "kind"},
	} {
		_, err := d.Decode([]byte("u-1"), []byte(tc.value))
		var re *schemas.RejectError
		if !errors.As(err, &re) || re.Reason != schemas.ReasonDuplicate || re.Field != tc.field {
			t.Errorf("%s: %v; want %s naming %q", tc.value, err, schemas.ReasonDuplicate, tc.field)
		}
	}
	got, err := d.Decode([]byte("u-1"), []byte(`{"event_id":"e-1","user_id":"u-1","type":"login","ts":0,"seq":1,"seq":2}`))
	if err != nil || got.UserID != "u-1" {
		t.Errorf("an unread field twice: %+v, %v; want the event", got, err)
	}
}

func TestDecoderConfig(t *testing.T) {
	for _, c := range []schemas.DecoderConfig{{}, {Currency: "EUR"}, {MaxRecordBytes: 1}, {MaxDepth: 1}, {MaxDepth: schemas.MaxDepthLimit}} {
		if err := c.Validate(); err != nil {
			t.Errorf("%+v.Validate() = %v; want nil", c, err)
		}
	}
	for _, c := range []schemas.DecoderConfig{{Currency: "usd"}, {Currency: "EURO"}, {Currency: "€"}, {MaxRecordBytes: -1}, {MaxDepth: -1}, {MaxDepth: schemas.MaxDepthLimit + 1}} {
		if err := c.Validate(); err == nil {
			t.Errorf("%+v.Validate() = nil; want an error", c)
		} else {
			t.Log(err)
		}
	}

	d := schemas.NewDecoder(schemas.DecoderConfig{Currency: "EUR", MaxRecordBytes: len(purchaseJSON)})
	if _, err := d.Decode([]byte("u-42"), []byte(strings.Replace(purchaseJSON, "USD", "EUR", 1))); err != nil {
		t.Errorf("EUR purchase with Currency EUR: %v", err)
	}
	if _, err := d.Decode([]byte("u-42"), []byte(purchaseJSON)); err == nil {
		t.Error("USD purchase with Currency EUR accepted")
	}
	if _, err := d.Decode([]byte("u-42"), []byte(purchaseJSON+" ")); err == nil || err.(*schemas.RejectError).Reason != schemas.ReasonTooLarge {
		t.Errorf("one byte over MaxRecordBytes: %v; want too_large", err)
	}

	defer func() {
		if recover() == nil {
			t.Error("NewDecoder with an invalid config did not panic")
		}
	}()
	schemas.NewDecoder(schemas.DecoderConfig{Currency: "usd"})
}

// The returned strings must not alias the parser's reused memory.
func TestDecodeCopiesStrings(t *testing.T) {
	d := schemas.NewDecoder(schemas.DecoderConfig{})
	value := []byte(contentJSON)
	first, err := d.Decode([]byte("u-42"), value)
	if err != nil {
		t.Fatal(err)
	}
	for i := range value {
		value[i] = 'X'
	}
	if _, err := d.Decode([]byte("u-99"), []byte(`{"event_id":"zz-9","user_id":"u-99","type":"content","ts":0,"kind":"answer"}`)); err != nil {
		t.Fatal(err)
	}
	if first.ID != "e-3" || first.UserID != "u-42" || first.Kind != "post" {
		t.Errorf("first event changed after the next Decode: %+v", first)
	}
}

func TestDecodeAllocs(t *testing.T) {
	if testing.CoverMode() != "" {
		t.Skip("coverage changes allocations")
	}
	d := schemas.NewDecoder(schemas.DecoderConfig{})
	for _, v := range []string{purchaseJSON, loginJSON, contentJSON, ev(`"ts":1795329000000`), purchase(`"amount":19.99`)} {
		key, value := []byte("u-42"), []byte(v)
		allocs := testing.AllocsPerRun(200, func() {
			if _, err := d.Decode(key, value); err != nil {
				t.Fatal(err)
			}
		})
		if allocs > 1 {
			t.Errorf("Decode(%s): %.1f allocations; want at most 1", v, allocs)
		}
	}
}

// hostilePrefix starts an event for the record key "u" whose next value,
// the field "a", is what a hostile case makes of it.
const hostilePrefix = `{"event_id":"e","user_id":"u","type":"login","ts":0,"a":`

// hostileCase is a record made to stall a decoder or to blow up its error:
// deep, wide, long, unterminated. Every value is at most
// DefaultMaxRecordBytes long, so that it reaches the JSON checks.
type hostileCase struct {
	name   string
	key    string // "" means "u"
	value  string
	reason schemas.Reason // "" when it is a valid event
	at     int            // for a malformed value, the offset the error names; 0 to skip
}

func rep(s string, n int) string { return strings.Repeat(s, n) }

// hostileCases returns the hostile records; the first is the one found on
// a deployment (decode time grew with the square of its depth, and the
// error to ~1.15 MB).
func hostileCases() []hostileCase {
	const p = hostilePrefix
	deep := schemas.DefaultMaxDepth
	prefix := `{"event_id":"e","user_id":"u","type":"login","a":` // as found: no ts
	return []hostileCase{
		// The first container too deep is the 128th '[' (the event object
		// is level 1): the error names it and nothing after it is read.
		{"deep unclosed [ 25k", "", prefix + rep("[", 25_000), schemas.ReasonMalformedJSON, len(prefix) + deep - 1},
		{"deep balanced [ 30k in a field", "", p + rep("[", 30_000) + rep("]", 30_000) + "}", schemas.ReasonMalformedJSON, len(p) + deep - 1},
		{"deep balanced [ 30k, no object", "", rep("[", 30_000) + rep("]", 30_000), schemas.ReasonMalformedJSON, deep},
		{"deep unclosed { 30k, no object", "", rep("{", 30_000), schemas.ReasonMalformedJSON, 0}, // a key must follow '{'
		{`deep unclosed {"a": 13k`, "", p + rep(`{"a":`, 13_000), schemas.ReasonMalformedJSON, len(p) + 5*(deep-1)},
		{`deep balanced {"a": 10k`, "", p + rep(`{"a":`, 10_000) + "1" + rep("}", 10_001), schemas.ReasonMalformedJSON, len(p) + 5*(deep-1)},
		{`deep unclosed [{"a": 6k`, "", p + rep(`[{"a":`, 6_000), schemas.ReasonMalformedJSON, 0},
		{"nesting at the limit", "", p + rep("[", deep-1) + rep("]", deep-1) + "}", "", 0},
		{"nesting one past the limit", "", p + rep("[", deep) + rep("]", deep) + "}", schemas.ReasonMalformedJSON, len(p) + deep - 1},
		{"wide array 30k", "", p + "[" + rep("0,", 30_000) + "0]}", "", 0},
		{"wide array unclosed", "", p + "[" + rep("0,", 30_000), schemas.ReasonMalformedJSON, 0},
		{"wide array of empty objects", "", p + "[" + rep("{},", 20_000) + "{}]}", "", 0},
		{"10k keys", "", `{` + rep(`"k":0,`, 10_000) + `"event_id":"e","user_id":"u","type":"content","ts":0}`, "", 0}, // content: kind is looked up and missing
		{"10k keys unclosed", "", `{` + rep(`"k":0,`, 10_000), schemas.ReasonMalformedJSON, 0},
		{"10k escaped keys", "", `{` + rep(`"\u006b":0,`, 5_500) + `"event_id":"e","user_id":"u","type":"content","ts":0}`, "", 0},
		{"60 KB string", "", p + `"` + rep("x", 60_000) + `"}`, "", 0},
		{"60 KB string unterminated", "", p + `"` + rep("x", 60_000), schemas.ReasonMalformedJSON, 0},
		{"60 KB event_id", "", `{"event_id":"` + rep("x", 60_000) + `","user_id":"u","type":"login","ts":0}`, "", 0},
		{"60 KB of escaped quotes", "", p + `"` + rep(`\"`, 30_000) + `"}`, "", 0},
		{"60 KB of escaped backslashes", "", p + `"` + rep(`\\`, 30_000) + `"}`, "", 0},
		{"60 KB of \\u escapes in user_id", strings.Repeat("é", 10_000), `{"event_id":"e","user_id":"` + rep(`\u00e9`, 10_000) + `","type":"login","ts":0}`, "", 0},
		{"10k lone surrogates", "", p + `"` + rep(`\ud800`, 10_000) + `"}`, "", 0},
		{"60 KB of 4-byte characters", "", p + `"` + rep("\U0001F600", 15_000) + `"}`, "", 0},
		{"60 KB type of U+2028", "", `{"event_id":"e","user_id":"u","type":"` + rep("\u2028", 20_000) + `","ts":0}`, schemas.ReasonUnknownType, 0},
		{"60 KB type of escaped control characters", "", `{"event_id":"e","user_id":"u","type":"` + rep(`\u0001`, 10_000) + `","ts":0}`, schemas.ReasonUnknownType, 0},
		{"60 KB ts string", "", `{"event_id":"e","user_id":"u","type":"login","ts":"` + rep("9", 60_000) + `"}`, schemas.ReasonBadTimestamp, 0},
		{"60 KB key", rep("\x01", 60_000), `{"event_id":"e","user_id":"u","type":"login","ts":0}`, schemas.ReasonKeyMismatch, 0},
		{"unterminated \\u escape", "", p + `"\u12`, schemas.ReasonMalformedJSON, len(p) + 1},
		{"unterminated escape", "", p + `"\`, schemas.ReasonMalformedJSON, len(p) + 1},
		{"unterminated literal", "", p + `tru`, schemas.ReasonMalformedJSON, len(p)},
		{"unterminated number", "", p + `1e`, schemas.ReasonMalformedJSON, len(p) + 2},
		{"unterminated key", "", `{"` + rep("k", 60_000), schemas.ReasonMalformedJSON, 0},
		{"60 KB of whitespace", "", rep(" ", 60_000), schemas.ReasonMalformedJSON, 60_000},
		{"60 KB of invalid UTF-8", "", p + `"` + rep("\xff", 60_000) + `"}`, schemas.ReasonMalformedJSON, 0},
		{"ts 1e400", "", `{"event_id":"e","user_id":"u","type":"login","ts":1e400}`, schemas.ReasonBadTimestamp, 0},
		{"amount 1e400", "", `{"event_id":"e","user_id":"u","type":"purchase","ts":0,"amount":1e400,"currency":"USD"}`, schemas.ReasonBadAmount, 0},
		{"unknown field 1e400", "", p + `1e400}`, "", 0},
		{"ts of 60k digits", "", `{"event_id":"e","user_id":"u","type":"login","ts":` + rep("9", 60_000) + `}`, schemas.ReasonBadTimestamp, 0},
		{"ts of 60k fraction digits", "", `{"event_id":"e","user_id":"u","type":"login","ts":1.` + rep("0", 60_000) + `}`, schemas.ReasonBadTimestamp, 0},
		{"amount of 60k digits", "", `{"event_id":"e","user_id":"u","type":"purchase","ts":0,"amount":` + rep("9", 60_000) + `,"currency":"USD"}`, schemas.ReasonBadAmount, 0},
		{"amount of 60k fraction digits", "", `{"event_id":"e","user_id":"u","type":"purchase","ts":0,"amount":0.` + rep("0", 60_000) + `,"currency":"USD"}`, schemas.ReasonBadAmount, 0},
		{"amount string of 60k digits", "", `{"event_id":"e","user_id":"u","type":"purchase","ts":0,"amount":"` + rep("0", 60_000) + `1","currency":"USD"}`, "", 0},
		{"unknown field of 60k digits", "", p + rep("9", 60_000) + `}`, "", 0},
	}
}

// Every hostile record is decided, with the expected reason and an error
// of at most MaxReasonBytes, and in bounded work: the error of a malformed
// record names the offset where the check stopped (for a deep one, the
// first container too deep, not the end of the record), and the number of
// allocations does not grow with the record. (Time is measured by
// BenchmarkDecodeHostile, not asserted.)
func TestDecodeHostile(t *testing.T) {
	d := schemas.NewDecoder(schemas.DecoderConfig{})
	for _, tt := range hostileCases() {
		t.Run(tt.name, func(t *testing.T) {
			key, value := []byte("u"), []byte(tt.value)
			if tt.key != "" {
				key = []byte(tt.key)
			}
			if len(value) > schemas.DefaultMaxRecordBytes {
				t.Fatalf("the case is %d bytes, more than the default limit %d", len(value), schemas.DefaultMaxRecordBytes)
			}
			got, err := d.Decode(key, value)
			if tt.reason == "" {
				if err != nil {
					t.Fatalf("rejected: %v", err)
				}
				if got.UserID != string(key) {
					t.Errorf("got %+v", got)
				}
			} else {
				var rej *schemas.RejectError
				if !errors.As(err, &rej) || rej.Reason != tt.reason {
					t.Fatalf("got %+v, %v; want reason %s", got, err, tt.reason)
				}
				msg := err.Error()
				if len(msg) > schemas.MaxReasonBytes || !utf8.ValidString(msg) || strings.HasSuffix(msg, "…") && !strings.HasSuffix(rej.Detail, "…") {
					t.Errorf("error of %d bytes (want at most %d, valid UTF-8, not cut): %q", len(msg), schemas.MaxReasonBytes, msg)
				}
				if tt.at != 0 && !strings.HasSuffix(msg, "(at byte "+strconv.Itoa(tt.at)+")") {
					t.Errorf("error %q; want it to end (at byte %d)", msg, tt.at)
				}
				t.Logf("%d bytes: %s", len(msg), msg)
			}
			if testing.CoverMode() != "" {
				return
			}
			allocs := testing.AllocsPerRun(3, func() { d.Decode(key, value) })
			if allocs > 8 {
				t.Errorf("%.0f allocations per Decode; want at most 8, whatever the record", allocs)
			}
		})
	}
}

// The record found on a deployment: 25,000 '[' never closed. The decoder
// took seconds and returned a ~1.15 MB error, which became a header the
// broker refused.
func TestDecodeDeepUnclosedIsShortMalformed(t *testing.T) {
	value := []byte(`{"event_id":"e","user_id":"u","type":"login","a":` + strings.Repeat("[", 25_000))
	_, err := schemas.NewDecoder(schemas.DecoderConfig{}).Decode([]byte("u"), value)
	var rej *schemas.RejectError
	if !errors.As(err, &rej) || rej.Reason != schemas.ReasonMalformedJSON || rej.Field != "" {
		t.Fatalf("got %v; want malformed_json", err)
	}
	want := `record value nests objects and arrays more than 128 deep (at byte 176)`
	if got := err.Error(); got != want {
		t.Errorf("got  %q\nwant %q", got, want)
	}
}

func TestDecodeMaxDepth(t *testing.T) {
	for _, max := range []int{1, 2, 5, schemas.DefaultMaxDepth, schemas.MaxDepthLimit} {
		d := schemas.NewDecoder(schemas.DecoderConfig{MaxDepth: max})
		for _, open := range []string{"[", `{"a":`} {
			close := "]"
			if open != "[" {
				close = "}"
			}
			// The event object is level 1: its field "a" may nest max-1 deep.
			for n := max - 3; n <= max; n++ {
				if n < 0 {
					continue
				}
				value := `{"event_id":"e","user_id":"u","type":"login","ts":0,"a":` + rep(open, n) + "0" + rep(close, n) + "}"
				_, err := d.Decode([]byte("u"), []byte(value))
				if ok := n+1 <= max; ok != (err == nil) {
					t.Errorf("MaxDepth %d, %d+1 levels of %s: got %v; want accepted %v", max, n, open, err, ok)
				}
			}
		}
	}
}

func TestTruncateReason(t *testing.T) {
	tests := []struct{ in, want string }{
		{"", ""},
		{"short", "short"},
		{rep("a", schemas.MaxReasonBytes), rep("a", schemas.MaxReasonBytes)},
		{rep("a", schemas.MaxReasonBytes+1), rep("a", schemas.MaxReasonBytes-3) + "…"},
		{rep("é", 128), rep("é", 128)}, // 256 bytes exactly
		{rep("é", 129), rep("é", 126) + "…"},
		{"a" + rep("é", 200), "a" + rep("é", 126) + "…"}, // 253 bytes would split a character
		{"bad \xff byte", "bad \uFFFD byte"},
		{rep("\xff", 1000), rep("\uFFFD", 84) + "…"},
		{rep("\U0001F600", 64), rep("\U0001F600", 64)},
		{rep("\U0001F600", 65), rep("\U0001F600", 63) + "…"},
	}
	for _, tt := range tests {
		got := schemas.TruncateReason(tt.in)
		if got != tt.want {
			t.Errorf("TruncateReason(%.40q… %d bytes) = %q; want %q", tt.in, len(tt.in), got, tt.want)
		}
		if len(got) > schemas.MaxReasonBytes || !utf8.ValidString(got) {
			t.Errorf("TruncateReason(%.40q…) = %d bytes, valid UTF-8 %v", tt.in, len(got), utf8.ValidString(got))
		}
	}
	if n := testing.AllocsPerRun(10, func() { schemas.TruncateReason("a short valid reason") }); n != 0 {
		t.Errorf("TruncateReason of a short reason allocates %.0f times; want 0", n)
	}
	// A RejectError made by hand is cut too.
	err := &schemas.RejectError{Reason: schemas.ReasonMalformedJSON, Field: "x", Detail: rep("y", 10_000)}
	if got := err.Error(); len(got) > schemas.MaxReasonBytes || !strings.HasPrefix(got, `field "x": yyy`) {
		t.Errorf("Error() = %q", got)
	}
}
