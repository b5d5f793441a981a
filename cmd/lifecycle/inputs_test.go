package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hamba/avro/v2"
	"github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kadm"
	"go.yaml.in/yaml/v3"

	"github.com/lifecycle-engine/lifecycle/processor"
	"github.com/lifecycle-engine/lifecycle/processor/kafkatest"
	"github.com/lifecycle-engine/lifecycle/processor/offline"
	"github.com/lifecycle-engine/lifecycle/schemas"
	"github.com/lifecycle-engine/lifecycle/schemas/registry"
	"github.com/lifecycle-engine/lifecycle/schemas/registry/registrytest"
	"github.com/lifecycle-engine/lifecycle/schemas/schematest"
	"github.com/lifecycle-engine/lifecycle/state/record"
)

// storyRecord is one step of segmentStory: a Segment call, and the same
// behaviour as a native event (nil for a call that is not behaviour).
type storyRecord struct {
	key     string
	segment []byte
	native  []byte
	topic   int // the native event's input topic: 0 login, 1 purchase, 2 content
}

// storyStart is in the past, so that run's future check (the events'
// time against their records' Kafka timestamps, now) passes.
var storyStart = time.Date(2024, 1, 5, 9, 0, 0, 0, time.UTC)

// segmentStory is a few users' behaviour as Segment calls, in the shape
// of Segment's Spec (https://segment.com/docs/connections/spec/track/,
// …/identify/, …/page/, …/ecommerce/v2/#order-completed), in time order:
//   - u-1 signs in (identify), buys twice (Order Completed, revenue in
//     USD: growing, then mature), views a page, and goes quiet;
//   - an anonymous visitor (no userId, keyed by its anonymousId) views
//     pages and leaves;
//   - u-3 signs in, then joins a group (a group call, which the segment
//     preset ignores: it says nothing the user did).
func segmentStory() []storyRecord {
	var out []storyRecord
	n := 0
	add := func(day float64, typ, event, user, anon, props string) {
		n++
		at := storyStart.Add(time.Duration(day * float64(24*time.Hour)))
		ts := at.Format("2006-01-02T15:04:05.000Z")
		id := fmt.Sprintf("ajs-%032d", n)
		userJSON := "null"
		if user != "" {
			userJSON = `"` + user + `"`
		}
		eventJSON := ""
		if event != "" {
			eventJSON = `"event":"` + event + `",`
		}
		seg := fmt.Sprintf(`{"anonymousId":%q,"context":{"library":{"name":"analytics.js","version":"2.11.1"},"ip":"108.0.78.21"},%s"integrations":{},"messageId":%q,"properties":%s,"receivedAt":%q,"sentAt":%q,"timestamp":%q,"type":%q,"userId":%s,"originalTimestamp":%q}`,
			anon, eventJSON, id, props, ts, ts, ts, typ, userJSON, ts)
		key := user
		if key == "" {
			key = anon
		}
		r := storyRecord{key: key, segment: []byte(seg)}
		switch {
		case typ == "identify":
			r.native = fmt.Appendf(nil, `{"event_id":%q,"user_id":%q,"type":"login","ts":%q}`, id, key, ts)
		case event == "Order Completed":
			var p struct{ Revenue json.Number }
			json.Unmarshal([]byte(props), &p)
			r.native = fmt.Appendf(nil, `{"event_id":%q,"user_id":%q,"type":"purchase","ts":%q,"amount":%q,"currency":"USD"}`, id, key, ts, p.Revenue.String())
			r.topic = 1
		case typ == "page":
			r.native = fmt.Appendf(nil, `{"event_id":%q,"user_id":%q,"type":"content","ts":%q}`, id, key, ts)
			r.topic = 2
		}
		out = append(out, r)
	}
	order := `{"order_id":"50314b8e9bcf000000000000","affiliation":"Google Store","total":27.50,"subtotal":22.50,"revenue":25.00,"shipping":3,"tax":2,"discount":2.5,"coupon":"hasbros","currency":"USD","products":[{"product_id":"507f1f77bcf86cd799439011","sku":"45790-32","name":"Monopoly: 3rd Edition","price":19,"quantity":1,"category":"Games"}]}`
	page := `{"title":"Welcome | Initech","url":"http://www.example.com"}`
	add(0, "identify", "", "u-1", "507f191e810c19729de860ea", `{}`)
	add(0.1, "page", "", "", "23adfd82-aa0f-45a7-a756-24f2a7a4c895", page)
	add(0.5, "identify", "", "u-3", "6a1f0c2e9d3b4a5c8e7f6d5c", `{}`)
	add(0.6, "group", "", "u-3", "6a1f0c2e9d3b4a5c8e7f6d5c", `{}`)
	add(1, "track", "Order Completed", "u-1", "507f191e810c19729de860ea", order)
	add(2.2, "page", "", "", "23adfd82-aa0f-45a7-a756-24f2a7a4c895", page)
	add(3, "track", "Order Completed", "u-1", "507f191e810c19729de860ea", strings.Replace(order, `"revenue":25.00`, `"revenue":7.5`, 1))
	add(4, "page", "", "u-1", "507f191e810c19729de860ea", page)
	return out
}

const storyUntilDays = 120

// transitionsOf returns "user: from→to" for each transition output, in
// order, and the dead letters' codes.
func transitionsOf(t *testing.T, outs []record.Output) (moves []string, dlq []string) {
	t.Helper()
	for _, o := range outs {
		switch o.Topic {
		case processor.DefaultTopics().Transitions:
			var v struct {
				UserID string `json:"user_id"`
				From   string `json:"from"`
				To     string `json:"to"`
			}
			if err := json.Unmarshal(o.Value, &v); err != nil {
				t.Fatal(err)
			}
			moves = append(moves, v.UserID+": "+v.From+"→"+v.To)
		case processor.DefaultTopics().DLQ:
			for _, h := range o.Headers {
				if h.Key == schemas.HeaderDLQCode {
					dlq = append(dlq, string(h.Value))
				}
			}
		}
	}
	return moves, dlq
}

// runOffline runs records through the engine as `lifecycle run` would
// (offline.Runner: the same partitioning, merge and engine) and returns
// its outputs, partition by partition.
func runOffline(t *testing.T, pc processor.Config, recs []offline.Record) []record.Output {
	t.Helper()
	if err := pc.Validate(); err != nil {
		t.Fatal(err)
	}
	r, err := offline.New(offline.Config{Engine: pc.Engine(), Partitions: 4, Decoder: pc.Decoder, MaxFutureSkew: -1})
	if err != nil {
		t.Fatal(err)
	}
	for _, rec := range recs {
		r.Add(rec)
	}
	var outs []record.Output
	until := storyStart.Add(storyUntilDays * 24 * time.Hour).UnixMilli()
	if err := r.Run(until, func(_ int32, o record.Output) error { outs = append(outs, o); return nil }); err != nil {
		t.Fatal(err)
	}
	// Invariant 1: every record is applied, dead-lettered, dropped as a
	// duplicate or ignored by the mapping, and counted so.
	if done, total, _ := r.Progress(); done != total || total != int64(len(recs)) {
		t.Errorf("%d of %d records (%d added) accounted for", done, total, len(recs))
	}
	return outs
}

// TestSegmentOneTopicMatchesNative: Segment calls, all on one input topic
// and read with the segment preset, give exactly the outputs (ids,
// payloads, headers) of the same behaviour as native events on the three
// topics of their types (the call the preset ignores is neither applied
// nor dead-lettered); and those are the transitions the story should give.
func TestSegmentOneTopicMatchesNative(t *testing.T) {
	story := segmentStory()
	base := processor.Config{Conn: processor.Conn{Brokers: []string{"unused:9092"}}, Group: "inputs-test"}

	seg := base
	seg.Topics = processor.Topics{Inputs: []string{"tracks"}}
	seg.Decoder.Mapping = &schemas.Mapping{Preset: "segment"}
	var segRecs, nativeRecs []offline.Record
	for _, s := range story {
		segRecs = append(segRecs, offline.Record{Topic: 0, Key: []byte(s.key), Value: s.segment})
		if s.native != nil {
			nativeRecs = append(nativeRecs, offline.Record{Topic: s.topic, Key: []byte(s.key), Value: s.native})
		}
	}
	segOut := runOffline(t, seg, segRecs)
	nativeOut := runOffline(t, base, nativeRecs)

	moves, dlq := transitionsOf(t, segOut)
	want := []string{"u-1: none→new", "u-1: new→growing", "u-1: growing→mature", "u-1: mature→churned"}
	var u1 []string
	for _, m := range moves {
		if strings.HasPrefix(m, "u-1:") {
			u1 = append(u1, m)
		}
	}
	if !slices.Equal(u1, want) {
		t.Errorf("u-1 moved %v; want %v", u1, want)
	}
	for _, who := range []string{"23adfd82-aa0f-45a7-a756-24f2a7a4c895: none→new", "u-3: none→new"} {
		if !slices.Contains(moves, who) {
			t.Errorf("no transition %q in %v", who, moves)
		}
	}
	if len(dlq) != 0 {
		t.Errorf("dead letters %v; want none (the group call is ignored: dropped and counted)", dlq)
	}

	var kept []record.Output
	for _, o := range segOut {
		if o.Topic != processor.DefaultTopics().DLQ {
			kept = append(kept, o)
		}
	}
	if len(kept) == 0 || !reflect.DeepEqual(kept, nativeOut) {
		t.Errorf("Segment on one topic gave %d outputs, native on three %d; they differ:\n%s\n---\n%s", len(kept), len(nativeOut), dump(kept), dump(nativeOut))
	}
}

func dump(outs []record.Output) string {
	var b strings.Builder
	for _, o := range outs {
		fmt.Fprintf(&b, "%s %s %s\n", o.Topic, o.Key, o.Value)
	}
	return b.String()
}

// TestRunAndReplayOfOneSegmentTopic: `lifecycle run --input-topics tracks
// --rules segment.yaml` on a Kafka topic of Segment calls (kfake, or the
// broker of LIFECYCLE_TEST_BROKERS) writes the story's transitions, each
// stamped with the rules file's version and a hash that covers its
// inputs: section, and dead-letters the ignored call with its code;
// `replay --brokers` of the same topic with the same file writes the
// same transitions.
func TestRunAndReplayOfOneSegmentTopic(t *testing.T) {
	ctx := context.Background()
	brokerList := kafkatest.Brokers(t)
	brokers := strings.Join(brokerList, ",")
	names := map[string]string{"in": kafkatest.Name(t, "tracks"), "tr": kafkatest.Name(t, "tr"), "dlq": kafkatest.Name(t, "dlq"),
		"warn": kafkatest.Name(t, "warn"), "seg": kafkatest.Name(t, "seg")}
	topics := []string{"--input-topics", names["in"], "--transitions-topic", names["tr"], "--dlq-topic", names["dlq"],
		"--warnings-topic", names["warn"], "--segments-topic", names["seg"], "--metrics-topic", names["seg"] + ".metrics"}
	args := func(a ...string) []string { return append(append(a, "--brokers", brokers), topics...) }
	group := kafkatest.Name(t, "g")
	adm := kafkatest.Admin(t, brokerList)
	t.Cleanup(func() {
		adm.DeleteTopics(context.Background(), names["in"], names["tr"], names["dlq"], names["warn"], names["seg"], group+".changelog")
	})
	if _, stderr, err := cli(t, ctx, args("topics", "create", "--partitions", "3", "--group", group)...); err != nil {
		t.Fatalf("topics create: %v\n%s", err, stderr)
	}
	var msgs []kafka.Message
	for _, s := range segmentStory() {
		msgs = append(msgs, kafka.Message{Topic: names["in"], Key: []byte(s.key), Value: s.segment})
	}
	kafkatest.Produce(t, brokerList, msgs...)

	dir := t.TempDir()
	rules := filepath.Join(dir, "segment.yaml")
	os.WriteFile(rules, []byte("version: segment-v1\ninputs:\n  preset: segment\n"), 0o644)
	wantHash := processor.Config{Decoder: schemas.DecoderConfig{Mapping: &schemas.Mapping{Preset: "segment"}}}.RulesHash()
	if wantHash == (processor.Config{}).RulesHash() {
		t.Fatal("the segment mapping does not change the rules hash")
	}

	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	var runErr bytes.Buffer
	go func() {
		done <- run(runCtx, args("run", "--group", group, "--state-dir", t.TempDir(), "--http", "off", "--rules", rules), &bytes.Buffer{}, &runErr)
	}()
	// Without --idle-advance, stream time stops at the last event: the
	// story's transitions up to day 4 (no churn yet) are 5 (u-1 three:
	// none→new, new→growing, growing→mature; the visitor and u-3 one
	// each: none→new); the group call is ignored, not dead-lettered.
	count := func(topic string) int {
		n := 0
		if ends, err := adm.ListEndOffsets(ctx, topic); err == nil {
			ends.Each(func(o kadm.ListedOffset) { n += int(o.Offset) })
		}
		return n
	}
	for deadline := time.Now().Add(time.Minute); count(names["tr"]) < 5; time.Sleep(100 * time.Millisecond) {
		if time.Now().After(deadline) {
			stop()
			t.Fatalf("run wrote %d transitions and %d dead letters; logs:\n%s", count(names["tr"]), count(names["dlq"]), runErr.String())
		}
	}
	time.Sleep(500 * time.Millisecond) // anything more would show now
	stop()
	if err := <-done; err != nil {
		t.Fatalf("run: %v\n%s", err, runErr.String())
	}

	type tr struct {
		UserID         string         `json:"user_id"`
		From           string         `json:"from"`
		To             string         `json:"to"`
		TriggerEventID string         `json:"trigger_event_id"`
		Rules          *schemas.Rules `json:"rules"`
	}
	var fromRun []string
	for _, m := range kafkatest.ReadAll(t, brokerList, names["tr"]) {
		var v tr
		if err := json.Unmarshal(m.Value, &v); err != nil {
			t.Fatal(err)
		}
		if v.Rules == nil || v.Rules.Version != "segment-v1" || v.Rules.Hash != wantHash {
			t.Errorf("transition stamped %+v; want segment-v1@%s", v.Rules, wantHash)
		}
		fromRun = append(fromRun, v.UserID+": "+v.From+"→"+v.To+" by "+v.TriggerEventID)
	}
	slices.Sort(fromRun)
	want := []string{
		"23adfd82-aa0f-45a7-a756-24f2a7a4c895: none→new by ajs-00000000000000000000000000000002",
		"u-1: growing→mature by ajs-00000000000000000000000000000007",
		"u-1: new→growing by ajs-00000000000000000000000000000005",
		"u-1: none→new by ajs-00000000000000000000000000000001",
		"u-3: none→new by ajs-00000000000000000000000000000003",
	}
	if !slices.Equal(fromRun, want) {
		t.Errorf("run's transitions:\n%s\nwant\n%s", strings.Join(fromRun, "\n"), strings.Join(want, "\n"))
	}
	if dead := kafkatest.ReadAll(t, brokerList, names["dlq"]); len(dead) != 0 {
		t.Errorf("%d dead letters; want none (the ignored record is dropped and counted)", len(dead))
	}

	out := filepath.Join(dir, "replay.ndjson")
	if _, stderr, err := cli(t, ctx, args("replay", "--from-offsets", "earliest", "--to-file", out, "--rules", rules)...); err != nil {
		t.Fatalf("replay: %v\n%s", err, stderr)
	}
	var fromReplay []string
	f, _ := os.ReadFile(out)
	sc := bufio.NewScanner(bytes.NewReader(f))
	for sc.Scan() {
		var l struct {
			Topic string
			Value tr
		}
		if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
			t.Fatal(err)
		}
		if l.Topic == names["tr"] {
			fromReplay = append(fromReplay, l.Value.UserID+": "+l.Value.From+"→"+l.Value.To+" by "+l.Value.TriggerEventID)
		}
	}
	slices.Sort(fromReplay)
	if !slices.Equal(fromReplay, want) {
		t.Errorf("replay's transitions:\n%s\nwant\n%s", strings.Join(fromReplay, "\n"), strings.Join(want, "\n"))
	}

	// The same records as an archive of values (keyed on replay by the
	// user id the mapping reads) give the same file.
	archive := filepath.Join(dir, "tracks.ndjson")
	var lines []byte
	for _, m := range msgs {
		lines = append(append(lines, m.Value...), '\n')
	}
	os.WriteFile(archive, lines, 0o644)
	fromArchive := filepath.Join(dir, "archive.ndjson")
	if _, stderr, err := cli(t, ctx, args("replay", "--archive", archive, "--partitions", "3", "--to-file", fromArchive, "--rules", rules)...); err != nil {
		t.Fatalf("replay --archive: %v\n%s", err, stderr)
	}
	if a, _ := os.ReadFile(fromArchive); string(a) != string(f) {
		t.Errorf("replays of the topic (%d bytes) and of an archive of its values (%d bytes) differ", len(f), len(a))
	}
}

// TestRulesFileInputs: the inputs: section is read into the decoder's
// mapping; its mistakes are usage errors naming the field; it is part of
// the rules hash, alike however it is written; and the commands whose
// inputs are native refuse it.
func TestRulesFileInputs(t *testing.T) {
	dir := t.TempDir()
	write := func(name, text string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	read := func(cmd, path string, args ...string) (*schemas.Mapping, error) {
		fs := newFlagSet(cmd, "", "")
		rulesPath := fs.rulesFlag()
		fs.String("archive", "", "")
		if err := fs.parse(append([]string{"--rules", path}, args...), &bytes.Buffer{}); err != nil {
			t.Fatal(err)
		}
		_, err := fs.applyRules(*rulesPath)
		return fs.inputs, err
	}
	schema := schematest.Compile(t, schemas.RulesSchemaFile)
	valid := func(path string) error {
		raw, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		var doc any
		if err := yaml.Unmarshal(raw, &doc); err != nil {
			t.Fatal(err)
		}
		asJSON, _ := json.Marshal(doc)
		return schema.Validate(mustJSON(t, asJSON))
	}
	hash := func(m *schemas.Mapping) string {
		return processor.Config{Decoder: schemas.DecoderConfig{Mapping: m}}.RulesHash()
	}

	// The example of the README, the preset spelled out, and the preset.
	custom := write("custom.yaml", `version: v1
inputs:
  types:
    - type: purchase
      when: 'event in ("Order Completed", "Purchase")'
    - type: login
      when: 'type == "identify" or event == "Signed In"'
  otherwise: content
  fields:
    event_id: messageId
    user_id: [userId, anonymousId]
    time: timestamp
    amount: [properties.revenue, properties.total]
    currency: properties.currency
    default_currency: USD
`)
	m, err := read("run", custom)
	if err != nil {
		t.Fatal(err)
	}
	want := &schemas.Mapping{
		Types: []schemas.TypeRule{
			{Type: "purchase", When: `event in ("Order Completed", "Purchase")`},
			{Type: "login", When: `type == "identify" or event == "Signed In"`},
		},
		Otherwise: "content",
		Fields: schemas.MappedFields{EventID: []string{"messageId"}, UserID: []string{"userId", "anonymousId"}, Time: []string{"timestamp"},
			Amount: []string{"properties.revenue", "properties.total"}, Currency: []string{"properties.currency"}, DefaultCurrency: "USD"},
	}
	if !reflect.DeepEqual(m, want) {
		t.Errorf("read %+v\nwant %+v", m, want)
	}
	ev, err := schemas.NewDecoder(schemas.DecoderConfig{Mapping: m}).Decode([]byte("u-1"),
		[]byte(`{"type":"track","event":"Purchase","userId":"u-1","messageId":"m-1","timestamp":"2026-01-05T09:00:00Z","properties":{"revenue":"9.99"}}`))
	if err != nil || ev.Type != schemas.Purchase || ev.Amount != 9_990_000 {
		t.Errorf("the file's mapping decodes a Purchase to %+v, %v", ev, err)
	}

	preset, err := read("run", write("preset.yaml", "version: v1\ninputs:\n  preset: segment\n"))
	if err != nil {
		t.Fatal(err)
	}
	spelled, err := read("replay", write("spelled.yaml", `version: v2
inputs:
  types:
    - {type: purchase, when: 'type=="track" and event=="Order Completed"'}
    - {type: login, when: 'type == "identify" or (type == "track" and event == "Signed In")'}
    - {type: content, when: 'type in ("track", "page", "screen")'}
  otherwise: ignore
  fields:
    event_id: [messageId]
    user_id: [userId, anonymousId]
    time: [timestamp, originalTimestamp]
    amount: [properties.revenue, properties.total]
    currency: [properties.currency]
    default_currency: USD
    kind: [event, name]
`))
	if err != nil {
		t.Fatal(err)
	}
	// The README's example ("Bring your own events").
	readme := write("readme.yaml", `version: "2026-12-segment"
inputs:
  preset: segment            # or rudderstack; everything below is optional and replaces the preset's
  types:                     # in order: the first rule that holds gives the type
    - type: purchase
      when: 'event in ("Order Completed", "Purchase")'
    - type: login
      when: 'type == "identify" or event == "Signed In"'
    - type: ignore
      when: 'type in ("group", "alias")'
  otherwise: content         # the rest: content, ignore, or unmapped (the default without a preset)
  fields:                    # a path, or a list of paths whose first present one counts
    event_id: messageId
    user_id: [userId, anonymousId]
    time: [timestamp, originalTimestamp]
    amount: [properties.revenue, properties.total]
    currency: properties.currency
    default_currency: USD    # a purchase without a currency is in this one
    kind: [event, name]      # a content event's kind
`)
	rm, err := read("run", readme)
	if err != nil {
		t.Fatalf("the README's example: %v", err)
	}
	rd := schemas.NewDecoder(schemas.DecoderConfig{Mapping: rm})
	for value, want := range map[string]schemas.Reason{
		`{"type":"group","userId":"u-1","messageId":"m","timestamp":"2026-01-05T09:00:00Z"}`:                      schemas.ReasonIgnored,
		`{"type":"track","event":"Purchase","userId":"u-1","messageId":"m","timestamp":"2026-01-05T09:00:00Z"}`:   schemas.ReasonMissingField, // no amount
		`{"type":"track","event":"Signed Out","userId":"u-1","messageId":"m","timestamp":"2026-01-05T09:00:00Z"}`: "",
	} {
		_, err := rd.Decode([]byte("u-1"), []byte(value))
		var rej *schemas.RejectError
		errors.As(err, &rej)
		if (want == "") != (err == nil) || want != "" && rej.Reason != want {
			t.Errorf("the README's mapping on %s: %v, want %q", value, err, want)
		}
	}
	for _, p := range []string{custom, readme, filepath.Join(dir, "preset.yaml"), filepath.Join(dir, "spelled.yaml")} {
		if err := valid(p); err != nil {
			t.Errorf("%s is not valid by %s: %v", filepath.Base(p), schemas.RulesSchemaFile, err)
		}
	}
	none := hash(nil)
	if none != (processor.Config{}).RulesHash() {
		t.Errorf("no mapping hashes %s, the defaults %s", none, processor.Config{}.RulesHash())
	}
	if h := hash(preset); h == none || h != hash(spelled) {
		t.Errorf("hash of the segment preset %s, spelled out %s, without a mapping %s: want the first two equal and the third other", h, hash(spelled), none)
	}
	if hash(preset) == hash(m) {
		t.Error("two different mappings hash alike")
	}
	rudder, _ := read("run", write("rudder.yaml", "version: v1\ninputs:\n  preset: rudderstack\n"))
	if hash(rudder) == hash(preset) {
		t.Error("the rudderstack and segment presets (which differ in default_currency) hash alike")
	}

	for _, tc := range []struct {
		cmd, text     string
		args          []string
		want          string
		schemaInvalid bool // the published schema says so too
	}{
		{"run", "version: v1\ninputs:\n  preset: segmnt\n", nil, `inputs.preset "segmnt" is not a preset; want rudderstack or segment`, true},
		{"run", "version: v1\ninputs:\n  preset: segment\n  types:\n    - type: purchase\n      when: event = \"Order Completed\"\n", nil,
			`inputs.types[0].when "event = \"Order Completed\"": '=' at column 7: want == or !=`, false},
		{"run", "version: v1\ninputs:\n  preset: segment\n  types:\n    - type: refund\n      when: event == \"Order Refunded\"\n", nil, `inputs.types[0].type "refund"`, true},
		{"run", "version: v1\ninputs:\n  preset: segment\n  otherwise: drop\n", nil, `inputs.otherwise "drop": want content, ignore or unmapped`, true},
		{"run", "version: v1\ninputs:\n  preset: segment\n  fields:\n    user_idd: [userId]\n", nil, "line 5: field user_idd not found", true},
		{"run", "version: v1\ninputs:\n  preset: segment\n  fields:\n    amount: {path: properties.revenue}\n", nil, "line 5: want a field path (like properties.revenue) or a list of them", true},
		{"run", "version: v1\ninputs:\n  types:\n    - type: login\n      when: type == \"identify\"\n", nil, "inputs.fields.event_id is missing", false},
		{"evaluate", "version: v1\ninputs:\n  preset: segment\n", nil, "inputs: is for lifecycle run and replay", false},
	} {
		bad := write("bad.yaml", tc.text)
		_, err := read(tc.cmd, bad, tc.args...)
		if !errors.Is(err, errUsage) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("lifecycle %s --rules with\n%s: error %v\nwant a usage error containing %s", tc.cmd, tc.text, err, tc.want)
		}
		if tc.schemaInvalid && valid(bad) == nil {
			t.Errorf("%s\nis valid by %s; want invalid", tc.text, schemas.RulesSchemaFile)
		}
	}
}

// storyAvroSchema is the story's events in Avro, named like event.v1, as
// a producer with a registry serializer would write them.
const storyAvroSchema = `{"type":"record","name":"Event","namespace":"shop.events","fields":[
 {"name":"event_id","type":"string"},
 {"name":"user_id","type":"string"},
 {"name":"type","type":{"type":"enum","name":"Type","symbols":["login","purchase","content"]}},
 {"name":"ts","type":{"type":"long","logicalType":"timestamp-millis"}},
 {"name":"amount","type":["null",{"type":"bytes","logicalType":"decimal","precision":18,"scale":2}],"default":null},
 {"name":"currency","type":["null","string"],"default":null}]}`

// TestAvroThroughRegistryMatchesNative: the story's events as Avro records
// in the Confluent wire format, their schema registered in a real registry
// (LIFECYCLE_TEST_REGISTRY) and fetched from it by id, give exactly the
// outputs of the same events as native JSON.
func TestAvroThroughRegistryMatchesNative(t *testing.T) {
	reg := registrytest.Registry(t)
	id := registrytest.Register(t, reg, registrytest.Subject(t, "events"), storyAvroSchema)
	schema := avro.MustParse(storyAvroSchema)
	base := processor.Config{Conn: processor.Conn{Brokers: []string{"unused:9092"}}, Group: "inputs-test"}
	avroCfg := base
	avroCfg.Decoder.Format = registry.NewInputs(context.Background(), reg, 0)

	var avroRecs, nativeRecs []offline.Record
	for _, s := range segmentStory() {
		if s.native == nil {
			continue
		}
		var ev struct {
			EventID  string          `json:"event_id"`
			UserID   string          `json:"user_id"`
			Type     string          `json:"type"`
			TS       string          `json:"ts"`
			Amount   json.RawMessage `json:"amount"`
			Currency *string         `json:"currency"`
		}
		if err := json.Unmarshal(s.native, &ev); err != nil {
			t.Fatal(err)
		}
		ts, err := time.Parse(time.RFC3339, ev.TS)
		if err != nil {
			t.Fatal(err)
		}
		v := map[string]any{"event_id": ev.EventID, "user_id": ev.UserID, "type": ev.Type, "ts": ts, "amount": nil, "currency": nil}
		if ev.Amount != nil {
			amount, ok := new(big.Rat).SetString(strings.Trim(string(ev.Amount), `"`))
			if !ok {
				t.Fatalf("amount %s", ev.Amount)
			}
			v["amount"] = map[string]any{"bytes.decimal": amount}
			v["currency"] = map[string]any{"string": *ev.Currency}
		}
		payload, err := avro.Marshal(schema, v)
		if err != nil {
			t.Fatal(err)
		}
		value := append(binary.BigEndian.AppendUint32([]byte{0}, uint32(id)), payload...)
		avroRecs = append(avroRecs, offline.Record{Topic: s.topic, Key: []byte(s.key), Value: value})
		nativeRecs = append(nativeRecs, offline.Record{Topic: s.topic, Key: []byte(s.key), Value: s.native})
	}
	avroOut := runOffline(t, avroCfg, avroRecs)
	nativeOut := runOffline(t, base, nativeRecs)
	moves, dlq := transitionsOf(t, avroOut)
	if len(dlq) != 0 || !slices.Contains(moves, "u-1: growing→mature") {
		t.Errorf("Avro story: moves %v, dead letters %v; want u-1 to become mature and no dead letters", moves, dlq)
	}
	if len(avroOut) == 0 || !reflect.DeepEqual(avroOut, nativeOut) {
		t.Errorf("Avro through the registry gave %d outputs, native %d; they differ:\n%s\n---\n%s", len(avroOut), len(nativeOut), dump(avroOut), dump(nativeOut))
	}
}
