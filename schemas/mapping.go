package schemas

import (
	"bytes"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/valyala/fastjson"
)

// Mapping reads records in a format of their own (a tracking spec such as
// Segment's, or a company's own JSON) as events: which type a record is,
// judged by its field values, and where its event id, user id, time,
// amount, currency and kind are. It is the `inputs:` section of a rules
// file (README, "Bring your own events"); the error messages name its
// fields as they are written there.
//
// A Mapping with a Preset starts from that preset (Presets) and replaces
// what it sets: a non-nil Types replaces the preset's whole list, a
// non-empty Otherwise its otherwise, each non-empty field list (and
// DefaultCurrency) that field. Resolve gives the result, checked; a
// Decoder compiles it once (NewDecoder) and decodes every record with it.
//
// The record key must still be the user id (the design's co-partitioning):
// the one the mapping takes, from the first of Fields.UserID that is
// present. A record whose key differs is rejected as key_mismatch, as a
// native one is.
type Mapping struct {
	// Preset names the spec to start from: "segment" or "rudderstack".
	Preset string `json:"preset,omitempty"`
	// Types says what each record is: the first rule whose When holds
	// gives its type. Nil keeps the preset's rules.
	Types []TypeRule `json:"types,omitempty"`
	// Otherwise is what a record that no rule matches is: "content" (a
	// content event), "ignore" (set aside as ReasonIgnored) or "unmapped"
	// (dead-lettered as ReasonUnmapped). Default "unmapped".
	Otherwise string `json:"otherwise,omitempty"`
	// Fields says where each field of the event is.
	Fields MappedFields `json:"fields"`
}

// TypeRule maps the records for which When holds to Type.
type TypeRule struct {
	// Type is "login", "purchase", "content" or "ignore".
	Type string `json:"type"`
	// When is a condition on the record's fields, for example
	// `event in ("Order Completed", "Purchase")` or
	// `type == "identify" or event == "Signed In"`. Its grammar:
	//
	//	cond  = and { "or" and }
	//	and   = unary { "and" unary }
	//	unary = "not" unary | "(" cond ")" | path "==" str | path "!=" str
	//	      | path ["not"] "in" "(" str { "," str } ")"
	//
	// A path is a field name, or names joined by dots for nested objects
	// (properties.category); str is a string in double quotes, with Go's
	// (and JSON's) escapes. `path == "x"` holds when the field is a
	// string equal to x, byte for byte; `!=` and `not in` hold for a
	// missing field, or one that is not a string.
	When string `json:"when"`
}

// MappedFields says where the event's fields are in a record: each is a
// list of paths (a field name, or names joined by dots), and the first
// present in the record counts; null and "" count as absent, so that
// `user_id: [userId, anonymousId]` falls back to the anonymous id.
type MappedFields struct {
	EventID  []string `json:"event_id,omitempty"` // required: the event's unique id (Segment: messageId)
	UserID   []string `json:"user_id,omitempty"`  // required: also the record key
	Time     []string `json:"time,omitempty"`     // required: RFC 3339 with offset, or epoch ms
	Amount   []string `json:"amount,omitempty"`   // a purchase's amount: a decimal string or number
	Currency []string `json:"currency,omitempty"` // a purchase's currency
	// DefaultCurrency is a purchase's currency when none of Currency is
	// present (Segment: "If this is not set, we assume the revenue to be
	// in US dollars"); "" means such a purchase is missing_field.
	DefaultCurrency string   `json:"default_currency,omitempty"`
	Kind            []string `json:"kind,omitempty"` // a content event's kind, optional
}

// What a record that matches no rule becomes (Mapping.Otherwise), and the
// target of an ignoring rule (TypeRule.Type).
const (
	OtherwiseContent  = "content"
	OtherwiseIgnore   = "ignore"
	OtherwiseUnmapped = "unmapped"
)

// Presets lists the names a Mapping's Preset may take.
func Presets() []string { return []string{"rudderstack", "segment"} }

// The presets' type rules: Segment's and RudderStack's call types (track,
// identify, page, screen, group, alias) and semantic event names.
var trackingSpecTypes = []TypeRule{
	// Segment's and RudderStack's ecommerce spec: "Order Completed".
	{Type: "purchase", When: `type == "track" and event == "Order Completed"`},
	// An identify call is made when a user registers or logs in (Segment's
	// Spec: Identify); "Signed In" is the B2B SaaS spec's event.
	{Type: "login", When: `type == "identify" or type == "track" and event == "Signed In"`},
	// Every other track call, and page and screen views, are activity.
	{Type: "content", When: `type in ("track", "page", "screen")`},
}

// Preset returns the preset named name, as a Mapping with every field
// set, and whether there is one.
//
// "segment" follows Segment's Spec (https://segment.com/docs/connections/spec/):
// the event id is messageId, the user userId and else anonymousId, the time
// timestamp and else originalTimestamp, the amount properties.revenue and
// else properties.total, the currency properties.currency and else USD
// (Spec: Track, "If this is not set, we assume the revenue to be in US
// dollars"), the kind the event's or the page's name. group and alias
// calls, which say nothing a user did, are ignored.
//
// "rudderstack" follows RudderStack's Event Spec, which has the same
// common fields and ecommerce events
// (https://www.rudderstack.com/docs/event-spec/standard-events/common-fields/),
// but no default currency: a purchase without one is missing_field.
func Preset(name string) (Mapping, bool) {
	m := Mapping{
		Types:     slices.Clone(trackingSpecTypes),
		Otherwise: OtherwiseIgnore,
		Fields: MappedFields{
			EventID:  []string{"messageId"},
			UserID:   []string{"userId", "anonymousId"},
			Time:     []string{"timestamp", "originalTimestamp"},
			Amount:   []string{"properties.revenue", "properties.total"},
			Currency: []string{"properties.currency"},
			Kind:     []string{"event", "name"},
		},
	}
	switch name {
	case "segment":
		m.Fields.DefaultCurrency = "USD"
	case "rudderstack":
	default:
		return Mapping{}, false
	}
	return m, true
}

// Resolve returns m with its preset applied and the defaults filled in,
// every condition rewritten in one canonical form, and Preset empty: two
// mappings that read records alike resolve to the same value, whatever
// the preset or spacing they were written with (so the rules hash is the
// same). It reports the first field that is wrong, named as in a rules
// file (inputs.types[1].when) with what would be valid.
func (m Mapping) Resolve() (Mapping, error) {
	r := Mapping{}
	if m.Preset != "" {
		p, ok := Preset(m.Preset)
		if !ok {
			return Mapping{}, fmt.Errorf("inputs.preset %q is not a preset; want %s", m.Preset, strings.Join(Presets(), " or "))
		}
		r = p
	}
	if m.Types != nil {
		r.Types = slices.Clone(m.Types)
	}
	if m.Otherwise != "" {
		r.Otherwise = m.Otherwise
	}
	if r.Otherwise == "" {
		r.Otherwise = OtherwiseUnmapped
	}
	over := func(dst *[]string, src []string) {
		if len(src) > 0 {
			*dst = slices.Clone(src)
		}
	}
	over(&r.Fields.EventID, m.Fields.EventID)
	over(&r.Fields.UserID, m.Fields.UserID)
	over(&r.Fields.Time, m.Fields.Time)
	over(&r.Fields.Amount, m.Fields.Amount)
	over(&r.Fields.Currency, m.Fields.Currency)
	over(&r.Fields.Kind, m.Fields.Kind)
	if m.Fields.DefaultCurrency != "" {
		r.Fields.DefaultCurrency = m.Fields.DefaultCurrency
	}

	switch r.Otherwise {
	case OtherwiseContent, OtherwiseIgnore, OtherwiseUnmapped:
	default:
		return Mapping{}, fmt.Errorf("inputs.otherwise %q: want content, ignore or unmapped", r.Otherwise)
	}
	purchases := false
	for i, t := range r.Types {
		switch t.Type {
		case "login", "content", OtherwiseIgnore:
		case "purchase":
			purchases = true
		case "":
			return Mapping{}, fmt.Errorf("inputs.types[%d].type is missing; want login, purchase, content or ignore", i)
		default:
			return Mapping{}, fmt.Errorf("inputs.types[%d].type %q: want login, purchase, content or ignore", i, t.Type)
		}
		c, err := parseCond(t.When)
		if err != nil {
			return Mapping{}, fmt.Errorf("inputs.types[%d].when %s: %v", i, strconv.Quote(t.When), err)
		}
		r.Types[i].When = c.String()
	}
	if len(r.Types) == 0 && r.Otherwise != OtherwiseContent {
		return Mapping{}, fmt.Errorf("inputs.types is empty and inputs.otherwise is %s, so no record would map; add rules like {type: purchase, when: 'event == \"Order Completed\"'}, or a preset (%s)", r.Otherwise, strings.Join(Presets(), ", "))
	}
	for _, f := range []struct {
		name     string
		paths    []string
		required bool
	}{
		{"event_id", r.Fields.EventID, true},
		{"user_id", r.Fields.UserID, true},
		{"time", r.Fields.Time, true},
		{"amount", r.Fields.Amount, purchases},
		{"currency", r.Fields.Currency, false},
		{"kind", r.Fields.Kind, false},
	} {
		if len(f.paths) == 0 {
			if f.required {
				return Mapping{}, fmt.Errorf("inputs.fields.%s is missing: say where the %s is, like %s: [%s]", f.name, strings.ReplaceAll(f.name, "_", " "), f.name, examplePath[f.name])
			}
			continue
		}
		for j, p := range f.paths {
			if why := checkPath(p); why != "" {
				return Mapping{}, fmt.Errorf("inputs.fields.%s[%d] %s: %s", f.name, j, strconv.Quote(p), why)
			}
		}
	}
	if purchases && len(r.Fields.Currency) == 0 && r.Fields.DefaultCurrency == "" {
		return Mapping{}, fmt.Errorf("inputs.fields.currency is missing and so is inputs.fields.default_currency: a purchase needs a currency (like currency: [properties.currency], or default_currency: USD when all are in one)")
	}
	if c := r.Fields.DefaultCurrency; c != "" && !isCurrencyCode(c) {
		return Mapping{}, fmt.Errorf("inputs.fields.default_currency %q is not three upper-case letters (an ISO 4217 code such as %q)", c, DefaultCurrency)
	}
	return r, nil
}

var examplePath = map[string]string{"event_id": "messageId", "user_id": "userId, anonymousId", "time": "timestamp", "amount": "properties.revenue"}

// checkPath says what is wrong with a field path, or "".
func checkPath(p string) string {
	if p == "" {
		return "is empty; want a field name, or names joined by dots (properties.revenue)"
	}
	for _, s := range strings.Split(p, ".") {
		if s == "" {
			return "has an empty name between dots; want a field name, or names joined by dots (properties.revenue)"
		}
	}
	return ""
}

// compiledMapping is a resolved Mapping ready for the hot path: paths
// split, conditions parsed, sentences made.
type compiledMapping struct {
	rules     []compiledRule
	otherwise outcome
	eventID   []fieldPath
	userID    []fieldPath
	time      []fieldPath
	amount    []fieldPath
	currency  []fieldPath
	kind      []fieldPath
	defCur    string
	tested    []fieldPath // the paths the rules test, for the sentence of an unmapped record
	noMatch   string      // the start of that sentence
	ignored   string      // the sentence of a record otherwise ignored
	read      *readTree   // every path above, for ReasonDuplicate
	readNodes int         // how many nodes read has
}

// outcome is what a rule (or otherwise) makes of a record: an event type,
// or 0 with ignore set, or 0 without (unmapped).
type outcome struct {
	typ    EventType
	ignore bool
}

type compiledRule struct {
	out     outcome
	cond    *cond
	ignored string // the sentence of a record this rule ignores
}

// fieldPath is a path split into its names, and as written.
type fieldPath struct {
	keys []string
	name string
}

func splitPaths(ps []string) []fieldPath {
	out := make([]fieldPath, len(ps))
	for i, p := range ps {
		out[i] = fieldPath{keys: strings.Split(p, "."), name: p}
	}
	return out
}

func outcomeOf(s string) outcome {
	if s == OtherwiseIgnore {
		return outcome{ignore: true}
	}
	t, _ := ParseEventType(s) // 0 for "unmapped"
	return outcome{typ: t}
}

// compileMapping resolves and compiles m.
func compileMapping(m Mapping) (*compiledMapping, error) {
	r, err := m.Resolve()
	if err != nil {
		return nil, err
	}
	c := &compiledMapping{
		otherwise: outcomeOf(r.Otherwise),
		eventID:   splitPaths(r.Fields.EventID),
		userID:    splitPaths(r.Fields.UserID),
		time:      splitPaths(r.Fields.Time),
		amount:    splitPaths(r.Fields.Amount),
		currency:  splitPaths(r.Fields.Currency),
		kind:      splitPaths(r.Fields.Kind),
		defCur:    r.Fields.DefaultCurrency,
	}
	seen := map[string]bool{}
	for i, t := range r.Types {
		cd, err := parseCond(t.When)
		if err != nil { // Resolve parsed it already
			return nil, err
		}
		c.rules = append(c.rules, compiledRule{out: outcomeOf(t.Type), cond: cd,
			ignored: fmt.Sprintf("ignored by inputs.types[%d] (%s)", i, t.When)})
		cd.paths(func(p fieldPath) {
			if !seen[p.name] {
				seen[p.name] = true
				c.tested = append(c.tested, p)
			}
		})
	}
	c.read, c.readNodes = newReadTree([][]fieldPath{c.eventID, c.userID, c.time, c.amount, c.currency, c.kind, c.tested})
	c.noMatch = fmt.Sprintf("matches none of the %d rules of inputs.types", len(r.Types))
	c.ignored = c.noMatch + "; inputs.otherwise is ignore"
	return c, nil
}

// classify returns what record v is: an event type, or ignored or
// unmapped with the sentence why.
func (c *compiledMapping) classify(v *fastjson.Value) (EventType, *RejectError) {
	out := c.otherwise
	why := c.ignored
	for i := range c.rules {
		if r := &c.rules[i]; r.cond.eval(v) {
			out, why = r.out, r.ignored
			break
		}
	}
	switch {
	case out.typ != 0:
		return out.typ, nil
	case out.ignore:
		return 0, reject(ReasonIgnored, "", why)
	}
	return 0, reject(ReasonUnmapped, "", c.unmapped(v))
}

// unmapped is the sentence of a record no rule matches: the values of the
// fields the rules test.
func (c *compiledMapping) unmapped(v *fastjson.Value) string {
	var b strings.Builder
	b.WriteString(c.noMatch)
	for i, p := range c.tested {
		if i == 0 {
			b.WriteString(" (")
		} else {
			b.WriteString(", ")
		}
		b.WriteString(p.name)
		f := v.Get(p.keys...)
		switch {
		case f == nil:
			b.WriteString(" missing")
		case f.Type() == fastjson.TypeString:
			s, _ := f.StringBytes()
			b.WriteString(" ")
			b.WriteString(quote(s))
		default:
			b.WriteString(" is ")
			b.WriteString(typeName(f))
		}
		if i == len(c.tested)-1 {
			b.WriteString(")")
		}
		if b.Len() > MaxReasonBytes { // the rest would be cut anyway
			break
		}
	}
	b.WriteString("; inputs.otherwise is unmapped")
	return b.String()
}

// present returns the value at the first of paths that is present, not
// null and not "", and its path; nil when there is none.
func present(v *fastjson.Value, paths []fieldPath) (*fastjson.Value, *fieldPath) {
	for i := range paths {
		f := v.Get(paths[i].keys...)
		if f == nil {
			continue
		}
		switch f.Type() {
		case fastjson.TypeNull:
			continue
		case fastjson.TypeString:
			if b, _ := f.StringBytes(); len(b) == 0 {
				continue
			}
		}
		return f, &paths[i]
	}
	return nil, nil
}

// absent is the sentence of a field none of whose paths is present.
func absent(paths []fieldPath, want string) *RejectError {
	d := "is missing, null or empty"
	if len(paths) > 1 {
		names := make([]string, len(paths)-1)
		for i, p := range paths[1:] {
			names[i] = p.name
		}
		d += ", and so is " + strings.Join(names, ", ")
	}
	return reject(ReasonMissingField, paths[0].name, d+"; "+want)
}

// mappedString returns the first present string of paths, in the
// parser's memory, and its path.
func mappedString(v *fastjson.Value, paths []fieldPath, want string) ([]byte, string, *RejectError) {
	f, p := present(v, paths)
	if f == nil {
		return nil, "", absent(paths, want)
	}
	if f.Type() != fastjson.TypeString {
		return nil, p.name, reject(ReasonWrongType, p.name, "is "+typeName(f)+"; "+want)
	}
	b, _ := f.StringBytes()
	return b, p.name, nil
}

// decodeMapped decodes the JSON object v of a record with key by the
// decoder's mapping, once Decode found no path it reads twice. The checks
// run in this order: the type (the rules; ReasonIgnored, ReasonUnmapped),
// the event id, the user id, the key, the time, then a purchase's amount
// and currency or a content event's kind, with the codes of Decode, each
// naming the path it read.
func (d *Decoder) decodeMapped(key []byte, v *fastjson.Value) (Event, error) {
	m := d.m
	var ev Event
	var rerr *RejectError
	if ev.Type, rerr = m.classify(v); rerr != nil {
		return Event{}, rerr
	}
	id, _, rerr := mappedString(v, m.eventID, wantString)
	if rerr != nil {
		return Event{}, rerr
	}
	user, userPath, rerr := mappedString(v, m.userID, wantString)
	if rerr != nil {
		return Event{}, rerr
	}
	if string(key) != string(user) {
		if len(key) == 0 {
			return Event{}, reject(ReasonKeyMismatch, userPath, quote(user)+" does not match the record key, which is empty; the key must be the user id")
		}
		return Event{}, reject(ReasonKeyMismatch, userPath, quote(user)+" does not match the record key "+quote(key)+"; the key must be the user id")
	}

	f, p := present(v, m.time)
	if f == nil {
		return Event{}, absent(m.time, "want "+tsWant)
	}
	if ev.Time, rerr = d.timestamp(f); rerr != nil {
		rerr.Field = p.name
		return Event{}, rerr
	}

	var kind []byte
	switch ev.Type {
	case Purchase:
		f, p := present(v, m.amount)
		if f == nil {
			return Event{}, absent(m.amount, "a purchase needs an amount, "+amountWant)
		}
		if ev.Amount, rerr = d.amount(f); rerr != nil {
			rerr.Field = p.name
			return Event{}, rerr
		}
		switch f, p := present(v, m.currency); {
		case f != nil:
			if f.Type() != fastjson.TypeString {
				return Event{}, reject(ReasonWrongType, p.name, "is "+typeName(f)+"; "+d.wantCurrency)
			}
			cur, _ := f.StringBytes()
			if rerr := convert(d, &ev, cur, p.name); rerr != nil {
				return Event{}, rerr
			}
		case m.defCur == "":
			return Event{}, absent(m.currency, d.wantCurrency)
		case m.defCur != d.cfg.Currency && d.cfg.Rates != nil:
			field := "currency"
			if len(m.currency) > 0 {
				field = m.currency[0].name
			}
			if rerr := convert(d, &ev, m.defCur, field); rerr != nil {
				return Event{}, rerr
			}
		case m.defCur != d.cfg.Currency:
			field := "currency"
			if len(m.currency) > 0 {
				field = m.currency[0].name
			}
			return Event{}, reject(ReasonWrongCurrency, field, "is missing, so it is inputs.fields.default_currency "+strconv.Quote(m.defCur)+", which is not the accounting currency "+strconv.Quote(d.cfg.Currency))
		}
	case Content:
		if f, p := present(v, m.kind); f != nil {
			if f.Type() != fastjson.TypeString {
				return Event{}, reject(ReasonWrongType, p.name, "is "+typeName(f)+"; want a string or null")
			}
			kind, _ = f.StringBytes()
		}
	}

	d.setStrings(&ev, id, user, kind)
	return ev, nil
}

// MappedKey is the key a producer gives a record in the mapping's format:
// the user id the mapping reads (a copy), or nil when the decoder has no
// mapping or the record is not a JSON text with one. An archive of such
// records (lifecycle replay --archive), which holds values only, is keyed
// by it, as their topic was.
func (d *Decoder) MappedKey(value []byte) []byte {
	if d.m == nil || len(value) > d.cfg.MaxRecordBytes || !utf8.Valid(value) {
		return nil
	}
	if _, why := checkJSON(value, d.stack); why != "" {
		return nil
	}
	v, err := d.p.ParseBytes(value)
	if err != nil {
		return nil
	}
	b, _, rerr := mappedString(v, d.m.userID, wantString)
	if rerr != nil {
		return nil
	}
	return bytes.Clone(b)
}
