// Package outdiff compares two files of output records, user by user, to
// show what a change of rules, model or code does to what the product
// publishes: which transitions, churn warnings and segment changes were
// added, removed or changed.
//
// A file is NDJSON, one output record a line, as "lifecycle replay
// --to-file" writes it: {"topic":…,"partition":…,"key":…,"value":{…}} with
// the record's value as written to Kafka, and optionally "headers":{…}.
// The values carry no field naming their schema, so a line's kind comes
// from its lifecycle.schema header (transition.v1, churn-warning.v1,
// segment.v1), which holds whatever the topics are named, and without that
// header from its topic name: one containing "transition", "warning" or
// "segment", as the defaults lifecycle.transitions, lifecycle.churn-warnings
// and lifecycle.segments do. Lines of other kinds, such as dead letters,
// are counted by topic and otherwise ignored.
//
// Within a user and kind, a record's identity is what it says happened plus
// which occurrence of that it is in time order:
//
//	transition      from, to, occurrence (the user's 1st new→growing, 2nd, …)
//	churn warning   level (recovered included), occurrence
//	segment change  occurrence
//
// Records with equal identity are a matched pair: unchanged when the values
// are equal as JSON (formatting and key order aside) ignoring id,
// prediction.model and rules (see ignored), else changed. Unmatched records were removed (only before) or
// added (only after). Matching by occurrence is simple and exact for a file
// against itself; its cost is that one extra early occurrence shifts the
// later ones, which then show as changed, and the last as added.
//
// Both files are held in memory, grouped by user.
package outdiff

import (
	"bufio"
	"bytes"
	"cmp"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/lifecycle-engine/lifecycle/schemas"
)

// Kind is the kind of an output record.
type Kind string

// The output kinds, in the order reports list them.
const (
	Transition Kind = "transition"
	Warning    Kind = "warning"
	Segment    Kind = "segment"
)

var kinds = []Kind{Transition, Warning, Segment}

var bySchema = map[string]Kind{
	schemas.SchemaTransitionV1: Transition,
	schemas.SchemaWarningV1:    Warning,
	schemas.SchemaSegmentV1:    Segment,
}

// kindOf classifies a line by its schema header, else by its topic name;
// "" for other records.
func kindOf(topic string, headers map[string]string) Kind {
	if s, ok := headers[schemas.HeaderSchema]; ok {
		return bySchema[s]
	}
	for _, k := range kinds {
		if strings.Contains(topic, string(k)) {
			return k
		}
	}
	return ""
}

// ignored lists the value fields that are not compared, as paths. id is
// derived from the identity, at and trigger_event_id, all compared
// themselves; prediction.model names the model file, which changes with
// every fit even when the predictions do not; rules names the rules, which
// differ between the two sides by design: what they change is the point.
var ignored = [][]string{{"id"}, {"prediction", "model"}, {"rules"}}

// record is one output record with what matching and reporting need.
type record struct {
	kind    Kind
	user    string
	id      string
	ident   string // identity within user and kind, without the occurrence
	at      time.Time
	atText  string
	summary string   // for people: "new→growing", "watch 0.61 [inactive]"
	stage   string   // transitions: the stage entered
	codes   []string // warnings: the reason codes
	canon   []byte   // the value, canonical JSON without the ignored fields
}

// Output is one file's records grouped by user.
type Output struct {
	Summary FileSummary
	users   map[string][]*record
}

// FileSummary says what a file held.
type FileSummary struct {
	File       string         `json:"file"`
	Lines      int            `json:"lines"`      // non-blank lines
	Records    map[Kind]int   `json:"records"`    // by kind, duplicates dropped
	Duplicates int            `json:"duplicates"` // records repeating an earlier record's id
	Other      map[string]int `json:"other_topics"`
}

// ReadFile reads an output file.
func ReadFile(path string) (*Output, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("%w; give an output file as lifecycle replay --to-file writes it", err)
	}
	defer f.Close()
	return Read(f, path)
}

// Read reads output records from r; name is the file name errors give.
// Delivery is at least once, so a record whose id repeats an earlier one of
// the same user counts once, as consumers count it.
func Read(r io.Reader, name string) (*Output, error) {
	o := &Output{
		Summary: FileSummary{File: name, Records: map[Kind]int{Transition: 0, Warning: 0, Segment: 0}, Other: map[string]int{}},
		users:   map[string][]*record{},
	}
	seen := map[[2]string]bool{} // user_id, id
	br := bufio.NewReader(r)
	for n := 1; ; n++ {
		text, err := br.ReadBytes('\n')
		if err != nil && err != io.EOF {
			return nil, fmt.Errorf("%s:%d: %w", name, n, err)
		}
		if len(bytes.TrimSpace(text)) > 0 {
			o.Summary.Lines++
			topic, rec, err := parseLine(text)
			if err != nil {
				return nil, fmt.Errorf("%s:%d: %v", name, n, err)
			}
			switch {
			case rec == nil:
				o.Summary.Other[topic]++
			case rec.id != "" && seen[[2]string{rec.user, rec.id}]:
				o.Summary.Duplicates++
			default:
				seen[[2]string{rec.user, rec.id}] = true
				o.Summary.Records[rec.kind]++
				o.users[rec.user] = append(o.users[rec.user], rec)
			}
		}
		if err == io.EOF {
			break
		}
	}
	for _, recs := range o.users {
		slices.SortStableFunc(recs, func(a, b *record) int {
			return cmp.Or(a.at.Compare(b.at), bytes.Compare(a.canon, b.canon))
		})
	}
	return o, nil
}

const lineFormat = `each line must be one JSON object {"topic":…,"partition":…,"key":…,"value":{…},"headers":{…}}, as "lifecycle replay --to-file" writes`

// parseLine returns a line's topic and record; the record is nil for
// another topic.
func parseLine(text []byte) (topic string, rec *record, err error) {
	var line struct {
		Topic   string            `json:"topic"`
		Value   json.RawMessage   `json:"value"`
		Headers map[string]string `json:"headers"`
	}
	if err := json.Unmarshal(text, &line); err != nil {
		return "", nil, fmt.Errorf("not a JSON object (%v); %s", err, lineFormat)
	}
	if line.Topic == "" {
		return "", nil, fmt.Errorf(`no "topic"; %s`, lineFormat)
	}
	kind := kindOf(line.Topic, line.Headers)
	if kind == "" {
		return line.Topic, nil, nil
	}
	var v map[string]any
	d := json.NewDecoder(bytes.NewReader(line.Value))
	d.UseNumber() // numbers compare by their text, as written
	if err := d.Decode(&v); err != nil || v == nil {
		return "", nil, fmt.Errorf(`topic %s: "value" is not a JSON object; it must be the %s record as written to Kafka (schemas/%s)`, line.Topic, kind, schemaFile[kind])
	}
	bad := func(field string) error {
		return fmt.Errorf(`topic %s: the value has no %s; a %s record needs it (schemas/%s)`, line.Topic, field, kind, schemaFile[kind])
	}
	rec = &record{kind: kind, user: str(v, "user_id"), id: str(v, "id"), atText: str(v, "at")}
	if rec.user == "" {
		return "", nil, bad(`"user_id" string`)
	}
	if rec.at, err = time.Parse(time.RFC3339Nano, rec.atText); err != nil {
		return "", nil, bad(`"at" time (RFC 3339)`)
	}
	switch kind {
	case Transition:
		from, to := str(v, "from"), str(v, "to")
		if from == "" || to == "" {
			return "", nil, bad(`"from" and "to" stage`)
		}
		rec.ident, rec.stage, rec.summary = from+">"+to, to, from+"→"+to
	case Warning:
		rec.ident = str(v, "level")
		if rec.ident == "" {
			return "", nil, bad(`"level"`)
		}
		reasons, _ := v["reasons"].([]any)
		for _, r := range reasons {
			if m, ok := r.(map[string]any); ok && str(m, "code") != "" {
				rec.codes = append(rec.codes, str(m, "code"))
			}
		}
		rec.summary = fmt.Sprintf("%s %v [%s]", rec.ident, v["score"], strings.Join(rec.codes, " "))
	case Segment:
		rec.summary = segmentName(v["from"]) + "→" + segmentName(v["to"])
	}
	for _, path := range ignored {
		remove(v, path)
	}
	if rec.canon, err = json.Marshal(v); err != nil { // sorted keys
		return "", nil, err
	}
	return line.Topic, rec, nil
}

var schemaFile = map[Kind]string{
	Transition: "transition.v1.schema.json",
	Warning:    "churn-warning.v1.schema.json",
	Segment:    "segment.v1.schema.json",
}

func str(m map[string]any, key string) string {
	s, _ := m[key].(string)
	return s
}

func segmentName(v any) string {
	m, _ := v.(map[string]any)
	if m == nil {
		return "none"
	}
	return str(m, "code") + " " + str(m, "segment")
}

func remove(m map[string]any, path []string) {
	for _, p := range path[:len(path)-1] {
		if m, _ = m[p].(map[string]any); m == nil {
			return
		}
	}
	delete(m, path[len(path)-1])
}

// Report is the comparison of two outputs.
type Report struct {
	Before FileSummary `json:"before"`
	After  FileSummary `json:"after"`
	Cells  []*Cell     `json:"cells"`
}

// Cell counts the records of one kind, or of one stage, level or reason
// code of it.
type Cell struct {
	Kind      Kind   `json:"kind"`
	Group     string `json:"group"` // all; to (transitions' stage entered); level or reason (warnings)
	Name      string `json:"name"`  // "" for all
	Added     int    `json:"added"`
	Removed   int    `json:"removed"`
	Changed   int    `json:"changed"`
	Unchanged int    `json:"unchanged"`
	// Examples holds, by change (added, removed, changed), the first users
	// in user id order with such a record, each with its first such record.
	Examples map[string][]Example `json:"examples,omitempty"`
}

// Example is one user's record before and after.
type Example struct {
	UserID string   `json:"user_id"`
	Before *Side    `json:"before,omitempty"`
	After  *Side    `json:"after,omitempty"`
	Fields []string `json:"fields,omitempty"` // changed: the top-level fields that differ
}

// Side is a record as an example shows it.
type Side struct {
	At     string `json:"at"`
	Record string `json:"record"` // "new→growing", "watch 0.61 [inactive]", "R3F2M2 general keep→R4F3M3 important keep"
}

// Differences is the number of added, removed and changed records.
func (r Report) Differences() int {
	n := 0
	for _, c := range r.Cells {
		if c.Group == "all" {
			n += c.Added + c.Removed + c.Changed
		}
	}
	return n
}

// Compare matches the records of before and after user by user and counts
// them, with up to examples users per count.
func Compare(before, after *Output, examples int) Report {
	cells := map[[3]string]*Cell{}
	cell := func(k Kind, group, name string) *Cell {
		key := [3]string{string(k), group, name}
		if cells[key] == nil {
			cells[key] = &Cell{Kind: k, Group: group, Name: name}
		}
		return cells[key]
	}
	for _, u := range sortedUnion(before.users, after.users) {
		a, b := byIdentity(before.users[u]), byIdentity(after.users[u])
		for _, id := range sortedUnion(a, b) {
			ra, rb := a[id], b[id]
			for i := range max(len(ra), len(rb)) {
				var x, y *record
				if i < len(ra) {
					x = ra[i]
				}
				if i < len(rb) {
					y = rb[i]
				}
				for _, c := range cellsOf(x, y, cell) {
					c.count(u, x, y, examples)
				}
			}
		}
	}
	r := Report{Before: before.Summary, After: after.Summary}
	for _, c := range cells {
		r.Cells = append(r.Cells, c)
	}
	slices.SortFunc(r.Cells, func(x, y *Cell) int {
		return cmp.Or(
			cmp.Compare(slices.Index(kinds, x.Kind), slices.Index(kinds, y.Kind)),
			cmp.Compare(slices.Index(groups, x.Group), slices.Index(groups, y.Group)),
			cmp.Compare(rank(x.Name), rank(y.Name)),
			strings.Compare(x.Name, y.Name))
	})
	return r
}

func sortedUnion[V any](a, b map[string]V) []string {
	keys := slices.Collect(maps.Keys(a))
	for k := range b {
		if _, ok := a[k]; !ok {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	return keys
}

var groups = []string{"all", "to", "level", "reason"}

// rank orders stages and levels as the product moves through them; other
// names (reason codes) sort by name after them.
func rank(name string) int {
	if i := slices.Index([]string{"new", "growing", "mature", "silent", "churned", "watch", "at_risk", "critical", "recovered"}, name); i >= 0 {
		return i
	}
	return 99
}

// byIdentity groups a user's records (sorted by time) by identity.
func byIdentity(recs []*record) map[string][]*record {
	m := map[string][]*record{}
	for _, r := range recs {
		key := string(r.kind) + "\x00" + r.ident
		m[key] = append(m[key], r)
	}
	return m
}

// cellsOf returns the cells a matched pair or a lone record counts in. A
// warning counts under each reason code it has before or after.
func cellsOf(x, y *record, cell func(Kind, string, string) *Cell) []*Cell {
	r := cmp.Or(x, y)
	out := []*Cell{cell(r.kind, "all", "")}
	switch r.kind {
	case Transition:
		out = append(out, cell(r.kind, "to", r.stage))
	case Warning:
		out = append(out, cell(r.kind, "level", r.ident))
		var codes []string
		for _, s := range []*record{x, y} {
			if s != nil {
				codes = append(codes, s.codes...)
			}
		}
		slices.Sort(codes)
		for _, c := range slices.Compact(codes) {
			out = append(out, cell(r.kind, "reason", c))
		}
	}
	return out
}

func (c *Cell) count(user string, x, y *record, examples int) {
	var change string
	switch {
	case y == nil:
		c.Removed++
		change = "removed"
	case x == nil:
		c.Added++
		change = "added"
	case bytes.Equal(x.canon, y.canon):
		c.Unchanged++
		return
	default:
		c.Changed++
		change = "changed"
	}
	ex := c.Examples[change]
	if len(ex) >= examples || (len(ex) > 0 && ex[len(ex)-1].UserID == user) {
		return // users come in order: a user already shown is the last one
	}
	e := Example{UserID: user, Before: side(x), After: side(y)}
	if x != nil && y != nil {
		e.Fields = changedFields(x.canon, y.canon)
	}
	if c.Examples == nil {
		c.Examples = map[string][]Example{}
	}
	c.Examples[change] = append(ex, e)
}

func side(r *record) *Side {
	if r == nil {
		return nil
	}
	return &Side{At: r.atText, Record: r.summary}
}

// changedFields returns the top-level fields whose values differ.
func changedFields(a, b []byte) []string {
	var x, y map[string]json.RawMessage
	_ = json.Unmarshal(a, &x) // our own canonical JSON objects
	_ = json.Unmarshal(b, &y)
	var out []string
	for _, k := range sortedUnion(x, y) {
		if !bytes.Equal(x[k], y[k]) {
			out = append(out, k)
		}
	}
	return out
}
