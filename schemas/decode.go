package schemas

import (
	"bytes"
	"fmt"
	"strconv"
	"unicode/utf8"

	"github.com/valyala/fastjson"
)

// DecoderConfig configures a Decoder. The zero value means the defaults.
type DecoderConfig struct {
	// Currency is the deployment's accounting currency, compared
	// case-sensitively: the only value of a purchase's "currency" that is
	// accepted as it is. Three upper-case ASCII letters (ISO 4217).
	// Default "USD".
	Currency string
	// Rates, when set, converts purchases in its currencies into Currency
	// at the rate of the event's date (Rates.Lookup, Rate.Convert); the
	// event keeps the purchase as sent in Event.Original. A purchase in a
	// currency it has no rate for on that date is still wrong_currency.
	// It changes what is computed, so processor.Config.RulesHash covers
	// it (its canonical form). Nil: every other currency is
	// wrong_currency. It must not have rates for Currency itself.
	Rates *Rates
	// MaxRecordBytes is the largest record value accepted, in bytes; larger
	// values are rejected with ReasonTooLarge before any parsing.
	// Default 65536.
	MaxRecordBytes int
	// MaxDepth is the deepest nesting of objects and arrays accepted,
	// counting the event object itself as 1 (so {"a":[1]} nests 2 deep).
	// Deeper values are rejected with ReasonMalformedJSON at the first
	// container too deep, without reading the rest, anywhere in the record,
	// unknown fields included. Default 128 (DefaultMaxDepth); at most 256
	// (MaxDepthLimit).
	MaxDepth int
	// Mapping, when set, reads records in another format (Segment's or
	// RudderStack's tracking spec, or a format of its own) as events,
	// instead of the event.v1 schema: see Mapping. It changes what is
	// computed, so processor.Config.RulesHash covers it. Nil: event.v1.
	Mapping *Mapping
	// Format, when set, reads record values in a binary format (Avro in
	// the Confluent wire format: package schemas/registry) and gives the
	// decoder their JSON text, which is then read as any JSON record (as
	// event.v1, or by the Mapping). Nil: values are JSON.
	Format ValueFormat
}

// ValueFormat turns a record value in another wire format into the JSON
// text the Decoder reads. It is how schemas/registry plugs its Avro
// reader in without this package (or the engine, which uses it) knowing
// about schema registries.
type ValueFormat interface {
	// AppendJSON appends the JSON text of value to dst. A value it cannot
	// read is a *RejectError (ReasonBadWireFormat, ReasonUnknownSchema,
	// ReasonMalformedAvro); it returns no other error. Its time must be
	// linear in len(value), its output at most maxJSON bytes
	// (ReasonTooLarge beyond).
	AppendJSON(dst, value []byte, maxJSON int) ([]byte, error)
}

// Defaults of DecoderConfig.
const (
	DefaultCurrency       = "USD"
	DefaultMaxRecordBytes = 64 << 10
	// DefaultMaxDepth is far above what an event needs (its own fields are
	// at depth 1; 128 leaves room for whatever producers nest in fields
	// the decoder ignores) and far below what could cost time or stack.
	DefaultMaxDepth = 128
)

// MaxDepthLimit is the largest DecoderConfig.MaxDepth: the tree builder
// behind the checker (fastjson) refuses nesting beyond 300 values, and a
// limit kept below it means a record the checker passes always builds.
const MaxDepthLimit = 256

// withDefaults returns c with its zero fields set to their defaults.
func (c DecoderConfig) withDefaults() DecoderConfig {
	if c.Currency == "" {
		c.Currency = DefaultCurrency
	}
	if c.MaxRecordBytes == 0 {
		c.MaxRecordBytes = DefaultMaxRecordBytes
	}
	if c.MaxDepth == 0 {
		c.MaxDepth = DefaultMaxDepth
	}
	return c
}

// Validate reports the first invalid field of c, naming what would be valid.
// Zero fields are valid: they mean the default.
func (c DecoderConfig) Validate() error {
	c = c.withDefaults()
	if !isCurrencyCode(c.Currency) {
		return fmt.Errorf("schemas: DecoderConfig.Currency %q is not three upper-case letters (an ISO 4217 code such as %q)", c.Currency, DefaultCurrency)
	}
	if c.MaxRecordBytes < 0 {
		return fmt.Errorf("schemas: DecoderConfig.MaxRecordBytes %d is negative; want a byte count > 0, or 0 for the default %d", c.MaxRecordBytes, DefaultMaxRecordBytes)
	}
	if c.MaxDepth < 0 || c.MaxDepth > MaxDepthLimit {
		return fmt.Errorf("schemas: DecoderConfig.MaxDepth %d is out of range; want 1 to %d, or 0 for the default %d", c.MaxDepth, MaxDepthLimit, DefaultMaxDepth)
	}
	if c.Rates != nil {
		if cur, _ := ParseCurrency(c.Currency); c.Rates.Has(cur) {
			return fmt.Errorf("schemas: the rates file %s has rates for %s, the accounting currency (--currency): its purchases are never converted; remove those lines, or set the accounting currency the rates convert into", c.Rates.Name(), c.Currency)
		}
	}
	if c.Mapping != nil {
		if _, err := c.Mapping.Resolve(); err != nil {
			return fmt.Errorf("schemas: DecoderConfig.Mapping: %w", err)
		}
	}
	return nil
}

func isCurrencyCode(s string) bool {
	if len(s) != 3 {
		return false
	}
	for i := range len(s) {
		if s[i] < 'A' || s[i] > 'Z' {
			return false
		}
	}
	return true
}

// Reason is the stable code of a rejection: the value of the dead-letter
// header HeaderDLQCode, fit for metrics labels and alerts. Codes are never
// renamed; new ones may be added.
type Reason string

// The rejection reasons, in the order Decode checks them.
const (
	ReasonTooLarge      Reason = "too_large"        // value longer than MaxRecordBytes
	ReasonMalformedJSON Reason = "malformed_json"   // not UTF-8, not JSON, or not a JSON object
	ReasonMissingField  Reason = "missing_field"    // a required field is missing, null or ""
	ReasonWrongType     Reason = "wrong_field_type" // e.g. user_id is a number
	ReasonKeyMismatch   Reason = "key_mismatch"     // record key != user_id (also an empty key)
	ReasonDuplicate     Reason = "duplicate_field"  // a field the decoder reads appears twice
	ReasonUnknownType   Reason = "unknown_type"     // type is not login, purchase or content
	ReasonBadTimestamp  Reason = "bad_timestamp"    // ts is neither RFC 3339 with offset nor epoch ms, or out of range
	ReasonBadAmount     Reason = "bad_amount"       // negative, not a decimal, >6 decimals, exponent, too large
	ReasonWrongCurrency Reason = "wrong_currency"   // currency is not the accounting currency, and the rates table (if any) has no rate for it on the event's date

	// With a Mapping (DecoderConfig.Mapping), checked right after the value
	// is found to be a JSON object, instead of unknown_type:
	ReasonUnmapped Reason = "unmapped" // no rule of the mapping matches, and its otherwise is unmapped
	ReasonIgnored  Reason = "ignored"  // a rule of the mapping (or its otherwise) says ignore: the engine drops and counts it, no dead letter

	// With a DecoderConfig.Format (--input-format avro), checked right
	// after the size, before the JSON it gives is read:
	ReasonBadWireFormat Reason = "bad_wire_format" // no magic byte 0 and 4-byte schema id (the Confluent wire format)
	ReasonUnknownSchema Reason = "unknown_schema"  // the registry has no schema with the record's id, or it is not an Avro record schema
	ReasonMalformedAvro Reason = "malformed_avro"  // the payload does not decode with its schema
)

// RejectError says why Decode rejected a record. Error() is a sentence for
// people (the dead-letter header HeaderDLQReason); Reason is the stable code
// (HeaderDLQCode). The sentence may quote a field's value, cut to 64 bytes:
// log it only where record contents may be logged. Whatever the record,
// the sentence is at most MaxReasonBytes long.
type RejectError struct {
	Reason Reason // stable code
	Field  string // the JSON field at fault; "" when the record as a whole is
	Detail string // what is wrong and what would be valid
}

// Error returns `field "ts": "yesterday" is not …`, or just Detail when no
// single field is at fault, cut by TruncateReason: at most MaxReasonBytes
// bytes of valid UTF-8, fit for the header HeaderDLQReason as it is. The
// sentences Decode writes are shorter than that (record contents in them
// are cut to 64 bytes); the cut is a backstop for a RejectError made
// elsewhere.
func (e *RejectError) Error() string {
	if e.Field == "" {
		return TruncateReason(e.Detail)
	}
	return TruncateReason("field " + strconv.Quote(e.Field) + ": " + e.Detail)
}

// MaxReasonBytes is the most bytes TruncateReason returns, and so the most
// RejectError.Error() returns: the bound on the dead-letter header
// HeaderDLQReason (dlq.md).
const MaxReasonBytes = 256

// TruncateReason returns s as a value for the dead-letter header
// HeaderDLQReason: at most MaxReasonBytes (256) bytes of valid UTF-8. A
// longer s is cut on a character boundary and ends in "…" (the ellipsis
// counts towards the 256); bytes that are not UTF-8 become U+FFFD. s is
// returned as it is, without allocating, when it is valid UTF-8 of at most
// MaxReasonBytes bytes, which every RejectError.Error() is. Its time is
// bounded by MaxReasonBytes, not by len(s). Use it for any error that
// becomes a dead-letter reason, e.g. one of the processor's own.
func TruncateReason(s string) string {
	if len(s) <= MaxReasonBytes && utf8.ValidString(s) {
		return s
	}
	const ellipsis = "…"
	var buf [MaxReasonBytes]byte
	out := buf[:0]
	fit := 0 // len(out) up to the last character that leaves room for the ellipsis
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:]) // utf8.RuneError for a byte that is not UTF-8
		i += size
		w := utf8.RuneLen(r)
		if len(out)+w > MaxReasonBytes {
			return string(out[:fit]) + ellipsis
		}
		out = utf8.AppendRune(out, r)
		if len(out) <= MaxReasonBytes-len(ellipsis) {
			fit = len(out)
		}
	}
	return string(out)
}

// Decoder decodes and validates event records (schema event.v1). It reuses
// its parser's memory from one record to the next, so one Decoder must be
// used by one goroutine at a time (one per partition); the Events it
// returns share no memory with it or with the record. Make one with
// NewDecoder: the zero Decoder is not usable.
type Decoder struct {
	cfg          DecoderConfig
	wantCurrency string // the end of a sentence about a bad currency
	tooDeep      string // the sentence about a record nested too deep
	stack        []byte // checkJSON's memory: cfg.MaxDepth bytes
	formatted    []byte // the JSON text cfg.Format gave for the last record
	p            fastjson.Parser
	scratch      []byte
	m            *compiledMapping // cfg.Mapping compiled; nil without one
	reads        *readTree        // the paths read: m.read, or nativeReads
	seen         []bool           // a flag per node of reads (readTree.twice)
}

// NewDecoder returns a Decoder for cfg, zero fields meaning the defaults.
// It panics if cfg.Validate() fails: validate configuration from outside
// first.
func NewDecoder(cfg DecoderConfig) *Decoder {
	if err := cfg.Validate(); err != nil {
		panic(err)
	}
	cfg = cfg.withDefaults()
	var m *compiledMapping
	if cfg.Mapping != nil {
		var err error
		if m, err = compileMapping(*cfg.Mapping); err != nil {
			panic(err) // Validate resolved it
		}
	}
	want := "a purchase needs the accounting currency " + strconv.Quote(cfg.Currency)
	if cfg.Rates != nil {
		want = "a purchase needs a currency: the accounting currency " + strconv.Quote(cfg.Currency) + " or one of the rates file's"
	}
	d := &Decoder{
		m:            m,
		cfg:          cfg,
		wantCurrency: want,
		tooDeep:      "record value nests objects and arrays more than " + strconv.Itoa(cfg.MaxDepth) + " deep",
		stack:        make([]byte, cfg.MaxDepth),
		scratch:      make([]byte, 0, 128),
	}
	d.reads, d.seen = nativeReads, make([]bool, nativeReadNodes)
	if m != nil {
		d.reads, d.seen = m.read, make([]bool, m.readNodes)
	}
	return d
}

// maxFormattedJSON bounds the JSON text a ValueFormat may make of a
// record, in multiples of MaxRecordBytes: field names and quoting make
// JSON longer than Avro, but not by more than this for any real event.
const maxFormattedJSON = 4

// Limits of ts: 1970-01-01T00:00:00.000Z to 9999-12-31T23:59:59.999Z.
const (
	minTime = 0
	maxTime = 253402300799999
)

// Decode validates one Kafka record (key, value) and returns the event, or a
// *RejectError. The checks run in this order and the first failure is
// reported:
//
//  1. size: len(value) <= MaxRecordBytes (ReasonTooLarge);
//  2. the value is UTF-8, is valid JSON (RFC 8259) nesting objects and
//     arrays at most MaxDepth deep, and is an object (ReasonMalformedJSON; a
//     nil value, a tombstone, is malformed too);
//  3. event_id, then user_id: non-empty strings (ReasonMissingField when
//     missing, null or "", ReasonWrongType otherwise);
//  4. the key equals user_id byte for byte (ReasonKeyMismatch);
//  5. type: "login", "purchase" or "content" (ReasonUnknownType);
//  6. ts (ReasonBadTimestamp): an RFC 3339 date-time with an offset ("Z",
//     "+02:00"; 'T' and 'Z' may be lower case; any number of fraction digits,
//     truncated to milliseconds; a leap second 23:59:60 UTC counts as the
//     next day's 00:00:00), or a JSON integer of epoch milliseconds written
//     as plain digits (no sign, fraction or exponent); either way between
//     1970-01-01 and 9999-12-31 UTC;
//  7. purchases only: amount, a string or a JSON number, parsed exactly from
//     its text by the rules of ParseMicros and not negative (any leading '-',
//     even "-0", is rejected) (ReasonBadAmount); then currency, equal to the
//     configured Currency, or else a currency the configured Rates has a
//     rate for on the event's date (UTC), at which the amount is
//     converted (ReasonWrongCurrency);
//  8. content only: kind, a string or null (null is the same as absent).
//
// With a DecoderConfig.Mapping, steps 3 to 8 are the mapping's instead:
// a path it reads (a field's or a rule's) that appears twice at any of
// its levels (ReasonDuplicate), the record's type by the mapping's rules
// (ReasonIgnored, ReasonUnmapped), then its event id, user id, key, time,
// amount and currency, or kind, found where the mapping says, with the
// codes above, each naming the field it read (decodeMapped).
//
// With a DecoderConfig.Format, the value is first turned into JSON by it
// (ReasonBadWireFormat, ReasonUnknownSchema, ReasonMalformedAvro, or
// ReasonTooLarge for JSON longer than 4 × MaxRecordBytes), and steps 2
// to 8 read that JSON.
//
// Other fields are ignored, and so are amount and currency on login and
// content events and kind on login and purchase events. A field Decode
// reads that appears twice is ReasonDuplicate: parsers differ on which
// one counts (fastjson the first, encoding/json and JavaScript the last),
// so a producer, a warehouse or another consumer could read another user,
// time or amount from the same record (I-JSON, RFC 7493, forbids it).
//
// Decode is bounded (ARCHITECTURE.md, invariant 6): its time is linear in
// len(value) whatever the value (deep, wide, long strings or numbers,
// unterminated anything: the syntax check is one pass that stops at the
// first fault, and nothing is done per nesting level but a byte of stack),
// the memory it keeps is proportional to MaxRecordBytes at most (its parser
// reuses a tree as large as the largest record seen), and every error it
// returns has an Error() of at most MaxReasonBytes bytes.
func (d *Decoder) Decode(key, value []byte) (Event, error) {
	if len(value) > d.cfg.MaxRecordBytes {
		return Event{}, reject(ReasonTooLarge, "", fmt.Sprintf("record value is %d bytes, more than the limit of %d", len(value), d.cfg.MaxRecordBytes))
	}
	if d.cfg.Format != nil {
		j, err := d.cfg.Format.AppendJSON(d.formatted[:0], value, maxFormattedJSON*d.cfg.MaxRecordBytes)
		if err != nil {
			return Event{}, err
		}
		d.formatted, value = j, j
	}
	if !utf8.Valid(value) {
		return Event{}, reject(ReasonMalformedJSON, "", "record value is not valid UTF-8, so not a JSON text")
	}
	// fastjson's parser is lenient (it takes NaN, 1-2, bad escapes), so the
	// syntax is checked first, strictly and in linear time. (fastjson's
	// validator is strict but recursive, with no depth limit, and wraps its
	// error once per level: quadratic time and a megabyte of error text for
	// 25,000 unclosed '['.)
	if at, why := checkJSON(value, d.stack); why != "" {
		switch {
		case len(value) == 0:
			return Event{}, reject(ReasonMalformedJSON, "", "record value is empty (a tombstone?), not a JSON object")
		case why == whyTooDeep:
			return Event{}, reject(ReasonMalformedJSON, "", d.tooDeep+" (at byte "+strconv.Itoa(at)+")")
		}
		return Event{}, reject(ReasonMalformedJSON, "", "record value is not valid JSON: "+why+" (at byte "+strconv.Itoa(at)+")")
	}
	v, err := d.p.ParseBytes(value)
	if err != nil { // not expected: checkJSON passed and MaxDepth <= MaxDepthLimit < fastjson.MaxDepth
		return Event{}, reject(ReasonMalformedJSON, "", "record value is not valid JSON")
	}
	o, err := v.Object()
	if err != nil {
		return Event{}, reject(ReasonMalformedJSON, "", "record value is "+typeName(v)+", not a JSON object")
	}
	clear(d.seen)
	if name := d.reads.twice(v, d.seen); name != "" {
		return Event{}, reject(ReasonDuplicate, name, duplicateDetail)
	}
	if d.m != nil {
		return d.decodeMapped(key, v)
	}

	id, rerr := requiredString(o, "event_id", wantString)
	if rerr != nil {
		return Event{}, rerr
	}
	user, rerr := requiredString(o, "user_id", wantString)
	if rerr != nil {
		return Event{}, rerr
	}
	if string(key) != string(user) {
		if len(key) == 0 {
			return Event{}, reject(ReasonKeyMismatch, "user_id", quote(user)+" does not match the record key, which is empty; the key must be the user_id")
		}
		return Event{}, reject(ReasonKeyMismatch, "user_id", quote(user)+" does not match the record key "+quote(key)+"; the key must be the user_id")
	}

	var ev Event
	typ, rerr := requiredString(o, "type", wantType)
	if rerr != nil {
		return Event{}, rerr
	}
	switch string(typ) { // no allocation: the compiler compares the bytes
	case "login":
		ev.Type = Login
	case "purchase":
		ev.Type = Purchase
	case "content":
		ev.Type = Content
	default:
		return Event{}, reject(ReasonUnknownType, "type", quote(typ)+" is not an event type; "+wantType)
	}

	if ev.Time, rerr = d.timestamp(o.Get("ts")); rerr != nil {
		return Event{}, rerr
	}

	var kind []byte
	switch ev.Type {
	case Purchase:
		if ev.Amount, rerr = d.amount(o.Get("amount")); rerr != nil {
			return Event{}, rerr
		}
		cur, rerr := requiredString(o, "currency", d.wantCurrency)
		if rerr != nil {
			return Event{}, rerr
		}
		if rerr := convert(d, &ev, cur, "currency"); rerr != nil {
			return Event{}, rerr
		}
	case Content:
		if kv := o.Get("kind"); kv != nil {
			switch kv.Type() {
			case fastjson.TypeNull:
			case fastjson.TypeString:
				kind, _ = kv.StringBytes()
			default:
				return Event{}, reject(ReasonWrongType, "kind", "is "+typeName(kv)+"; want a string or null")
			}
		}
	}

	d.setStrings(&ev, id, user, kind)
	return ev, nil
}

const duplicateDetail = "appears twice in the record; JSON parsers differ on which one counts, so the record is ambiguous: send each field once"

// readFields are the fields Decode reads (without a mapping).
var readFields = [...]string{"event_id", "user_id", "type", "ts", "amount", "currency", "kind"}

// setStrings copies an event's id, user id and kind out of the parser's
// memory into ev, in one allocation.
func (d *Decoder) setStrings(ev *Event, id, user, kind []byte) {
	b := append(d.scratch[:0], id...)
	b = append(b, user...)
	b = append(b, kind...)
	d.scratch = b
	s := string(b)
	ev.ID = s[:len(id)]
	ev.UserID = s[len(id) : len(id)+len(user)]
	if len(kind) > 0 {
		ev.Kind = s[len(id)+len(user):]
	}
}

func reject(r Reason, field, detail string) *RejectError {
	return &RejectError{Reason: r, Field: field, Detail: detail}
}

const (
	wantString = "want a non-empty string"
	wantType   = `want "login", "purchase" or "content"`
)

// requiredString returns the bytes of the non-empty string field name of o,
// in the parser's memory; want ends the sentence of a rejection.
func requiredString(o *fastjson.Object, name, want string) ([]byte, *RejectError) {
	v := o.Get(name)
	if v == nil {
		return nil, reject(ReasonMissingField, name, "is missing; "+want)
	}
	switch v.Type() {
	case fastjson.TypeString:
		b, _ := v.StringBytes()
		if len(b) == 0 {
			return nil, reject(ReasonMissingField, name, "is empty; "+want)
		}
		return b, nil
	case fastjson.TypeNull:
		return nil, reject(ReasonMissingField, name, "is null; "+want)
	}
	return nil, reject(ReasonWrongType, name, "is "+typeName(v)+"; "+want)
}

const tsWant = "an RFC 3339 timestamp with offset or integer epoch milliseconds"

// timestamp decodes the ts field v to Unix milliseconds.
func (d *Decoder) timestamp(v *fastjson.Value) (int64, *RejectError) {
	if v == nil {
		return 0, reject(ReasonMissingField, "ts", "is missing; want "+tsWant)
	}
	switch v.Type() {
	case fastjson.TypeString:
		b, _ := v.StringBytes()
		if len(b) == 0 {
			return 0, reject(ReasonMissingField, "ts", "is empty; want "+tsWant)
		}
		ms, why := parseRFC3339(b)
		if why != "" {
			return 0, reject(ReasonBadTimestamp, "ts", quote(b)+" is not "+tsWant+" ("+why+")")
		}
		if ms < minTime || ms > maxTime {
			return 0, reject(ReasonBadTimestamp, "ts", quote(b)+" is outside the years 1970 to 9999 UTC")
		}
		return ms, nil
	case fastjson.TypeNumber:
		d.scratch = v.MarshalTo(d.scratch[:0]) // the number's original text
		ms, why := parseEpochMillis(d.scratch)
		if why != "" {
			return 0, reject(ReasonBadTimestamp, "ts", cutNumber(d.scratch)+" is not "+tsWant+" ("+why+")")
		}
		return ms, nil
	case fastjson.TypeNull:
		return 0, reject(ReasonMissingField, "ts", "is null; want "+tsWant)
	}
	return 0, reject(ReasonWrongType, "ts", "is "+typeName(v)+"; want "+tsWant)
}

// parseEpochMillis parses the text of a JSON number (already valid JSON) as
// epoch milliseconds.
func parseEpochMillis(b []byte) (int64, string) {
	if len(b) > 0 && b[0] == '-' {
		return 0, "negative"
	}
	if bytes.ContainsAny(b, "eE") {
		return 0, "has an exponent"
	}
	var n int64
	for _, c := range b {
		switch {
		case '0' <= c && c <= '9':
			n = n*10 + int64(c-'0')
			if n > maxTime {
				return 0, "after the year 9999"
			}
		default: // '.': the JSON number grammar leaves nothing else
			return 0, "has a fraction"
		}
	}
	return n, ""
}

const amountWant = `want a non-negative decimal with at most 6 decimal places, like "19.99" or 19.99`

// amount decodes a purchase's amount field v.
func (d *Decoder) amount(v *fastjson.Value) (Micros, *RejectError) {
	if v == nil {
		return 0, reject(ReasonMissingField, "amount", "is missing; a purchase needs an amount, "+amountWant)
	}
	var text []byte
	show := quote // how the value appears in a sentence
	switch v.Type() {
	case fastjson.TypeString:
		text, _ = v.StringBytes()
		if len(text) == 0 {
			return 0, reject(ReasonMissingField, "amount", "is empty; "+amountWant)
		}
	case fastjson.TypeNumber:
		d.scratch = v.MarshalTo(d.scratch[:0]) // the number's original text, exactly
		text = d.scratch
		show = cutNumber
	case fastjson.TypeNull:
		return 0, reject(ReasonMissingField, "amount", "is null; a purchase needs an amount, "+amountWant)
	default:
		return 0, reject(ReasonWrongType, "amount", "is "+typeName(v)+"; "+amountWant)
	}
	if text[0] == '-' {
		return 0, reject(ReasonBadAmount, "amount", show(text)+" is negative; "+amountWant)
	}
	m, why := parseMicros(text)
	if why != "" {
		return 0, reject(ReasonBadAmount, "amount", show(text)+" is not a valid amount ("+why+"); "+amountWant)
	}
	return m, nil
}

// typeName names v's JSON type for a sentence: "a number", "an object".
func typeName(v *fastjson.Value) string {
	switch v.Type() {
	case fastjson.TypeObject:
		return "an object"
	case fastjson.TypeArray:
		return "an array"
	case fastjson.TypeString:
		return "a string"
	case fastjson.TypeNumber:
		return "a number"
	case fastjson.TypeTrue, fastjson.TypeFalse:
		return "a boolean"
	}
	return "null"
}

// maxQuote is the most bytes of a value that a sentence shows.
const maxQuote = 64

// quote quotes b for an error sentence like strconv.Quote, cut so that
// the quoted text is at most maxQuote bytes between its quotes (escapes
// count: 16 control characters are 64 bytes), then "…" if cut. b need not
// be UTF-8 (a record key is not checked).
func quote(b []byte) string {
	n, w := 0, 0
	for n < len(b) {
		r, size := utf8.DecodeRune(b[n:])
		rw := quotedLen(r, size)
		if w+rw > maxQuote {
			return strconv.Quote(string(b[:n])) + "…"
		}
		n += size
		w += rw
	}
	return strconv.Quote(string(b))
}

// quotedLen is the length of the rune r, size bytes of the text, in the
// output of strconv.Quote.
func quotedLen(r rune, size int) int {
	switch {
	case r == utf8.RuneError && size == 1: // not UTF-8: \xff
		return 4
	case r == '"' || r == '\\':
		return 2
	case r < utf8.RuneSelf:
		if ' ' <= r && r < 0x7f {
			return 1
		}
		switch r {
		case '\a', '\b', '\f', '\n', '\r', '\t', '\v':
			return 2
		}
		return 4 // \x01
	case strconv.IsPrint(r):
		return size
	case r < 0x10000:
		return 6 // \u2028
	}
	return 10 // \U000e0001
}

// cutNumber returns the text of a JSON number (ASCII) for an error
// sentence, cut to maxQuote bytes, then "…" if cut.
func cutNumber(b []byte) string {
	if len(b) <= maxQuote {
		return string(b)
	}
	return string(b[:maxQuote]) + "…"
}

// convert leaves ev, a purchase in currency cur (read from field), as it
// is when cur is the accounting currency, and otherwise converts its
// Amount by the rates table, keeping the purchase as sent in
// ev.Original; it rejects a currency that cannot be converted
// (ReasonWrongCurrency). It allocates only to reject.
func convert[T string | []byte](d *Decoder, ev *Event, cur T, field string) *RejectError {
	if string(cur) == d.cfg.Currency {
		return nil
	}
	notAccounting := func() *RejectError {
		return reject(ReasonWrongCurrency, field, quote([]byte(cur))+" is not the accounting currency "+strconv.Quote(d.cfg.Currency))
	}
	t := d.cfg.Rates
	if t == nil {
		return notAccounting()
	}
	c, ok := ParseCurrency(cur)
	if !ok {
		return reject(ReasonWrongCurrency, field, quote([]byte(cur))+" is not the accounting currency "+strconv.Quote(d.cfg.Currency)+" nor a currency code (three upper-case letters) of the rates file")
	}
	rate, ok := t.Lookup(c, ev.Time)
	if !ok {
		return reject(ReasonWrongCurrency, field, t.noRate(c, ev.Time))
	}
	ev.Original = Original{Amount: ev.Amount, Currency: c, Rate: rate}
	ev.Amount = rate.Convert(ev.Amount)
	return nil
}
