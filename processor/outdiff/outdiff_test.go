package outdiff

import (
	"slices"
	"strings"
	"testing"
)

// Lines as "lifecycle replay --to-file" writes them, values per the schemas.
const (
	u1New = `{"topic":"lifecycle.transitions","partition":3,"key":"u-1","value":{"id":"6e0c3f0e8d5a4b0f9d1e2c3b4a596877","user_id":"u-1","from":"none","to":"new","at":"2026-01-02T10:00:00.000Z","reason":"first activity: login","trigger_event_id":"e-u-1-1","returned":false,"rfm":{"recency_days":null,"frequency":0,"monetary":"0.00"}}}`
	// u1NewModelA and u1NewModelB are u1New with predictions of two model files.
	u1NewModelA    = `{"topic":"lifecycle.transitions","partition":3,"key":"u-1","value":{"id":"6e0c3f0e8d5a4b0f9d1e2c3b4a596877","user_id":"u-1","from":"none","to":"new","at":"2026-01-02T10:00:00.000Z","reason":"first activity: login","trigger_event_id":"e-u-1-1","returned":false,"rfm":{"recency_days":null,"frequency":0,"monetary":"0.00"},"prediction":{"model":"sha256:0123456789ab","period":"week","p_alive":1,"expected_purchases":0.4,"horizon_periods":52,"expected_value":null,"clv":null,"clv_horizon_periods":52}}}`
	u1NewModelB    = `{"topic":"lifecycle.transitions","partition":3,"key":"u-1","value":{"id":"6e0c3f0e8d5a4b0f9d1e2c3b4a596877","user_id":"u-1","from":"none","to":"new","at":"2026-01-02T10:00:00.000Z","reason":"first activity: login","trigger_event_id":"e-u-1-1","returned":false,"rfm":{"recency_days":null,"frequency":0,"monetary":"0.00"},"prediction":{"model":"sha256:ba9876543210","period":"week","p_alive":1,"expected_purchases":0.4,"horizon_periods":52,"expected_value":null,"clv":null,"clv_horizon_periods":52}}}`
	u1Growing      = `{"topic":"lifecycle.transitions","partition":3,"key":"u-1","value":{"id":"ae66c1858b195d728b051de463e0d322","user_id":"u-1","from":"new","to":"growing","at":"2026-01-05T06:30:00.000Z","reason":"first purchase","trigger_event_id":"e-u-1-2","returned":false,"rfm":{"recency_days":0,"frequency":1,"monetary":"19.99"}}}`
	u1GrowingMoved = `{"topic":"lifecycle.transitions","partition":3,"key":"u-1","value":{"id":"0f3a9c2d7e6b5a4c3b2a190817263544","user_id":"u-1","from":"new","to":"growing","at":"2026-01-06T06:30:00.000Z","reason":"first purchase","trigger_event_id":"e-u-1-2","returned":false,"rfm":{"recency_days":0,"frequency":1,"monetary":"19.99"}}}`
	u2Watch        = `{"topic":"lifecycle.churn-warnings","partition":1,"key":"u-2","value":{"id":"1c2d3e4f5a6b7c8d9e0f1a2b3c4d5e6f","user_id":"u-2","level":"watch","score":0.44,"reasons":[{"code":"inactive","detail":"no visit for 12 days, 3.1 times the usual gap","value":12,"threshold":7.5}],"stage":"growing","segment":{"code":"R3F2M2","segment":"general keep"},"at":"2026-02-01T00:00:00.000Z","churn_at":"2026-02-19T00:00:00.000Z","rfm":{"recency_days":12,"frequency":2,"monetary":"40.00"}}}`
	u3AtRisk       = `{"topic":"lifecycle.churn-warnings","partition":5,"key":"u-3","value":{"id":"9f8e7d6c5b4a39281706f5e4d3c2b1a0","user_id":"u-3","level":"at_risk","score":0.7,"reasons":[{"code":"inactive","detail":"no visit for 20 days, 4 times the usual gap","value":20,"threshold":10},{"code":"valuable_quiet","detail":"a top-segment customer gone quiet","value":20,"threshold":14}],"stage":"mature","segment":{"code":"R2F5M5","segment":"important keep"},"at":"2026-02-03T12:00:00.000Z","churn_at":"2026-02-13T12:00:00.000Z","rfm":{"recency_days":20,"frequency":9,"monetary":"512.40"}}}`
	u3Segment      = `{"topic":"lifecycle.segments","partition":5,"key":"u-3","value":{"id":"aa00bb11cc22dd33ee44ff5566778899","user_id":"u-3","from":{"code":"R4F4M5","segment":"important value"},"to":{"code":"R2F5M5","segment":"important keep"},"at":"2026-01-20T00:00:00.000Z","reason":"population rebuilt","rfm":{"recency_days":6,"frequency":9,"monetary":"512.40"}}}`
	dlq            = `{"topic":"lifecycle.dlq","partition":0,"key":"u-9","value":"{\"type\":\"purchase\"","headers":{"lifecycle.dlq.code":"malformed_json"}}`
)

func read(t *testing.T, name string, lines ...string) *Output {
	t.Helper()
	o, err := Read(strings.NewReader(strings.Join(lines, "\n")+"\n"), name)
	if err != nil {
		t.Fatal(err)
	}
	return o
}

// cell finds a cell; a missing cell fails the test.
func cell(t *testing.T, r Report, k Kind, group, name string) *Cell {
	t.Helper()
	for _, c := range r.Cells {
		if c.Kind == k && c.Group == group && c.Name == name {
			return c
		}
	}
	t.Fatalf("no cell %s %s %s in %+v", k, group, name, r.Cells)
	return nil
}

func users(ex []Example) []string {
	var out []string
	for _, e := range ex {
		out = append(out, e.UserID)
	}
	return out
}

func TestDiffSelfIsUnchanged(t *testing.T) {
	o := read(t, "a.ndjson", u1New, u1Growing, u2Watch, u2Watch, u3AtRisk, u3Segment, dlq)
	s := o.Summary
	if s.Lines != 7 || s.Duplicates != 1 || s.Other["lifecycle.dlq"] != 1 ||
		s.Records[Transition] != 2 || s.Records[Warning] != 2 || s.Records[Segment] != 1 {
		t.Errorf("summary %+v: want 7 lines, 2 transitions, 2 warnings (one duplicate dropped), 1 segment change, 1 dlq line", s)
	}
	r := Compare(o, o, 3)
	if n := r.Differences(); n != 0 {
		t.Errorf("a file against itself: %d differences, want 0: %+v", n, r.Cells)
	}
	for k, want := range map[Kind]int{Transition: 2, Warning: 2, Segment: 1} {
		if c := cell(t, r, k, "all", ""); c.Unchanged != want || c.Examples != nil {
			t.Errorf("%s: %+v, want %d unchanged and no examples", k, c, want)
		}
	}
}

func TestDiffChangedAddedRemoved(t *testing.T) {
	before := read(t, "before", u1NewModelA, u1Growing, u2Watch)
	after := read(t, "after", u1NewModelB, u1GrowingMoved, u3AtRisk)
	r := Compare(before, after, 3)

	// The model id alone differs for u-1's first transition: unchanged.
	if c := cell(t, r, Transition, "to", "new"); c.Unchanged != 1 || c.Changed != 0 {
		t.Errorf("→ new: %+v, want 1 unchanged (prediction.model is ignored)", c)
	}
	// Its second moved by a day (and so has another id): changed.
	c := cell(t, r, Transition, "to", "growing")
	if c.Changed != 1 || c.Added+c.Removed+c.Unchanged != 0 {
		t.Errorf("→ growing: %+v, want 1 changed", c)
	}
	ex := c.Examples["changed"]
	if len(ex) != 1 || ex[0].UserID != "u-1" || ex[0].Before.At != "2026-01-05T06:30:00.000Z" ||
		ex[0].After.At != "2026-01-06T06:30:00.000Z" || !slices.Equal(ex[0].Fields, []string{"at"}) {
		t.Errorf("→ growing examples %+v, want u-1 moved from 01-05 to 01-06, field at", ex)
	}
	if c := cell(t, r, Transition, "all", ""); c.Changed != 1 || c.Unchanged != 1 || c.Added+c.Removed != 0 {
		t.Errorf("transitions: %+v, want 1 changed, 1 unchanged", c)
	}

	// u-2's watch was removed, u-3's at_risk added.
	for _, tc := range []struct {
		group, name        string
		added, removed     int
		addedBy, removedBy []string
	}{
		{"all", "", 1, 1, []string{"u-3"}, []string{"u-2"}},
		{"level", "watch", 0, 1, nil, []string{"u-2"}},
		{"level", "at_risk", 1, 0, []string{"u-3"}, nil},
		{"reason", "inactive", 1, 1, []string{"u-3"}, []string{"u-2"}},
		{"reason", "valuable_quiet", 1, 0, []string{"u-3"}, nil},
	} {
		c := cell(t, r, Warning, tc.group, tc.name)
		if c.Added != tc.added || c.Removed != tc.removed || c.Changed+c.Unchanged != 0 ||
			!slices.Equal(users(c.Examples["added"]), tc.addedBy) || !slices.Equal(users(c.Examples["removed"]), tc.removedBy) {
			t.Errorf("warning %s %s: %+v, want %d added by %v, %d removed by %v", tc.group, tc.name, c, tc.added, tc.addedBy, tc.removed, tc.removedBy)
		}
	}
	if ex := cell(t, r, Warning, "level", "at_risk").Examples["added"]; ex[0].Before != nil || ex[0].After.Record != "at_risk 0.7 [inactive valuable_quiet]" {
		t.Errorf("at_risk added example %+v", ex[0])
	}
	if r.Differences() != 3 {
		t.Errorf("%d differences, want 3", r.Differences())
	}
}

// TestDiffOccurrences: a user who went silent twice, and whose second silence
// came a day later in after, has one unchanged and one changed growing→silent,
// whatever the order of the lines.
func TestDiffOccurrences(t *testing.T) {
	silent := func(id, at string) string { // ids differ as the times do
		return `{"topic":"lifecycle.transitions","partition":2,"key":"u-7","value":{"id":"306e702aacee6fa7e0426730d655ef` + id + `","user_id":"u-7","from":"growing","to":"silent","at":"` + at +
			`","reason":"no purchase for 60 days","returned":false,"rfm":{"recency_days":60,"frequency":1,"monetary":"19.99"}}}`
	}
	before := read(t, "before", silent("01", "2026-03-01T00:00:00.000Z"), silent("02", "2026-06-01T00:00:00.000Z"))
	after := read(t, "after", silent("03", "2026-06-02T00:00:00.000Z"), silent("01", "2026-03-01T00:00:00.000Z"))
	c := cell(t, Compare(before, after, 3), Transition, "to", "silent")
	if c.Unchanged != 1 || c.Changed != 1 || c.Added+c.Removed != 0 {
		t.Fatalf("%+v: want the first unchanged and the second changed", c)
	}
	if e := c.Examples["changed"][0]; e.Before.At != "2026-06-01T00:00:00.000Z" || e.After.At != "2026-06-02T00:00:00.000Z" {
		t.Errorf("changed example %+v %+v, want the second silence, 06-01 → 06-02", e.Before, e.After)
	}
}

// TestDiffExamplesLimit: examples are the first users in id order, at most n.
func TestDiffExamplesLimit(t *testing.T) {
	other := strings.NewReplacer(`"u-2"`, `"u-0"`, "1c2d3e", "000000")
	before := read(t, "before", u2Watch, other.Replace(u2Watch), u3AtRisk)
	c := cell(t, Compare(before, read(t, "after"), 2), Warning, "all", "")
	if c.Removed != 3 || !slices.Equal(users(c.Examples["removed"]), []string{"u-0", "u-2"}) {
		t.Errorf("%+v: want 3 removed, examples u-0 and u-2", c)
	}
}

// TestDiffSchemaHeader: the lifecycle.schema header classifies a line whatever
// its topic is called.
func TestDiffSchemaHeader(t *testing.T) {
	line := strings.Replace(u1Growing, `"topic":"lifecycle.transitions"`, `"topic":"prod.lc.out","headers":{"lifecycle.schema":"transition.v1"}`, 1)
	if o := read(t, "a", line); o.Summary.Records[Transition] != 1 {
		t.Errorf("summary %+v, want 1 transition", o.Summary)
	}
}

func TestDiffBadLines(t *testing.T) {
	for _, tc := range []struct {
		line, want string
	}{
		{`{"topic":"lifecycle.transitions",`, `f.ndjson:2: not a JSON object`},
		{`{"key":"u-1","value":{}}`, `f.ndjson:2: no "topic"`},
		{strings.Replace(u1Growing, `"to":"growing",`, "", 1), `f.ndjson:2: topic lifecycle.transitions: the value has no "from" and "to" stage`},
		{strings.Replace(u2Watch, `"2026-02-01T00:00:00.000Z"`, `"yesterday"`, 1), `f.ndjson:2: topic lifecycle.churn-warnings: the value has no "at" time`},
		{`{"topic":"lifecycle.segments","value":"oops"}`, `f.ndjson:2: topic lifecycle.segments: "value" is not a JSON object`},
	} {
		_, err := Read(strings.NewReader(u1New+"\n"+tc.line+"\n"), "f.ndjson")
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want %q", tc.line, err, tc.want)
		}
	}
}
