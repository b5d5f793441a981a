package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/lifecycle-engine/lifecycle/processor/kafkatest"
	"github.com/parquet-go/parquet-go"
)

// replayLine is what the test reads of an output line.
type replayLine struct {
	Topic string `json:"topic"`
	Value struct {
		At     string          `json:"at"`
		To     json.RawMessage `json:"to"` // a stage, or a segment object
		UserID string          `json:"user_id"`
	} `json:"value"`
}

func readReplay(t *testing.T, path string) []replayLine {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []replayLine
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var l replayLine
		if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
			t.Fatalf("%s: %v: %s", path, err, sc.Text())
		}
		out = append(out, l)
	}
	return out
}

// TestReplay: a replay of the same archive gives the same file byte for
// byte; --from and --until keep every output inside the range, stream
// time reaches --until (churns are declared up to it), and a longer
// --churn-after declares fewer churns in the same range.
func TestReplay(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	archive := filepath.Join(dir, "events.ndjson")
	if _, _, err := cli(t, ctx, "simulate", "--users", "300", "--days", "120", "--seed", "5", "--out", archive); err != nil {
		t.Fatal(err)
	}
	out := func(name string, args ...string) string {
		t.Helper()
		path := filepath.Join(dir, name)
		_, stderr, err := cli(t, ctx, append([]string{"replay", "--archive", archive, "--to-file", path, "--partitions", "4"}, args...)...)
		if err != nil {
			t.Fatalf("replay %v: %v\n%s", args, err, stderr)
		}
		if !strings.Contains(stderr, "replay: ") || !strings.Contains(stderr, "lifecycle.transitions") {
			t.Errorf("replay printed no summary: %s", stderr)
		}
		return path
	}
	a, b := out("a.ndjson"), out("b.ndjson")
	ab, _ := os.ReadFile(a)
	bb, _ := os.ReadFile(b)
	if len(ab) == 0 || string(ab) != string(bb) {
		t.Fatalf("two replays of one archive differ (%d and %d bytes)", len(ab), len(bb))
	}

	from, until := "2026-02-01", "2026-04-01"
	fromT, _ := time.Parse("2006-01-02", from)
	untilT, _ := time.Parse("2006-01-02", until)
	churns := map[string]int{}
	for _, churn := range []string{"30d", "45d"} {
		lines := readReplay(t, out("range-"+churn+".ndjson", "--from", from, "--until", until, "--churn-after", churn))
		var last time.Time
		for _, l := range lines {
			if l.Value.At == "" {
				continue
			}
			at, err := time.Parse(time.RFC3339, l.Value.At)
			if err != nil {
				t.Fatalf("%s output at %q: %v", l.Topic, l.Value.At, err)
			}
			if l.Topic == "lifecycle.metrics" {
				// A metrics record's at is the boundary it counts up to:
				// --until itself at the end.
				if at.Before(fromT) || at.After(untilT) {
					t.Errorf("metrics record at %s: outside [%s, %s]", at, from, until)
				}
				continue
			}
			if at.Before(fromT) || !at.Before(untilT) {
				t.Errorf("%s output of %s at %s: outside [%s, %s)", l.Topic, l.Value.UserID, at, from, until)
			}
			if l.Topic == "lifecycle.transitions" && string(l.Value.To) == `"churned"` {
				churns[churn]++
				if at.After(last) {
					last = at
				}
			}
		}
		if churn == "30d" && !last.After(untilT.Add(-10*24*time.Hour)) {
			t.Errorf("last churn at %s: stream time did not advance to --until %s", last, until)
		}
	}
	if churns["30d"] == 0 || churns["45d"] >= churns["30d"] {
		t.Errorf("churns declared in the range: %d at 30d, %d at 45d; want some, and fewer at 45d", churns["30d"], churns["45d"])
	}
}

func TestReplayUsageErrors(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	out := filepath.Join(dir, "out.ndjson")
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"replay", "--to-file", out}, "give the input: --brokers H:P"},
		{[]string{"replay", "--archive", dir}, "give one output: --to-file FILE"},
		{[]string{"replay", "--archive", dir, "--to-file", out, "--to-topics", ".v2"}, "give one output"},
		{[]string{"replay", "--archive", dir, "--to-topics", ".v2"}, "--to-topics and --to-live-topics need --brokers"},
		{[]string{"replay", "--brokers", "h:1", "--to-topics", " "}, "would write to the live output topics"},
		{[]string{"replay", "--archive", dir, "--handover", filepath.Join(dir, "s")}, "--handover needs --brokers"},
		{[]string{"replay", "--brokers", "h:1", "--to-file", out, "--from-offsets", "latest"}, "the only choice is earliest"},
		{[]string{"replay", "--brokers", "h:1", "--to-file", out, "--from-offsets", "earliest", "--from", "2026-01-01"}, "not both"},
		{[]string{"replay", "--brokers", "h:1", "--handover", filepath.Join(dir, "s"), "--until", "2026-01-01"}, "--handover needs --brokers and no --until"},
		{[]string{"replay", "--archive", dir, "--to-file", out}, "has no *.ndjson"},
		{[]string{"replay", "--archive", filepath.Join(dir, "nope-*.ndjson"), "--to-file", out}, "no such file"},
		{[]string{"replay", "--archive", dir, "--to-file", out, "--from", "last week"}, "use a date YYYY-MM-DD"},
		{[]string{"replay", "--archive", dir, "--to-file", out, "--from", "2026-02-01", "--until", "2026-01-01"}, "is not after --from"},
		{[]string{"replay", "--archive", dir, "--to-file", out, "--partitions", "0"}, "want 1 or more"},
	} {
		_, _, err := cli(t, ctx, tc.args...)
		if !errors.Is(err, errUsage) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("lifecycle %s: error %v, want a usage error containing %q", strings.Join(tc.args, " "), err, tc.want)
		}
	}
}

// TestReplayFromTopicsEqualsArchive: a replay of the input topics and a
// replay of an archive of the same events (the same population written to
// a file) write the same file byte for byte; --to-topics writes the same
// records to topics of its own and leaves the live ones alone.
func TestReplayFromTopicsEqualsArchive(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	brokers := strings.Join(kafkatest.Brokers(t), ",")
	topics := []string{"--input-topics", strings.Join([]string{kafkatest.Name(t, "l"), kafkatest.Name(t, "p"), kafkatest.Name(t, "c")}, ","),
		"--transitions-topic", kafkatest.Name(t, "tr"), "--dlq-topic", kafkatest.Name(t, "dlq"),
		"--warnings-topic", kafkatest.Name(t, "warn"), "--segments-topic", kafkatest.Name(t, "seg"), "--metrics-topic", kafkatest.Name(t, "metrics")}
	kafka := func(a ...string) []string { return append(append(a, "--brokers", brokers), topics...) }
	if _, _, err := cli(t, ctx, kafka("topics", "create", "--partitions", "3", "--group", kafkatest.Name(t, "g"))...); err != nil {
		t.Fatal(err)
	}
	sim := []string{"simulate", "--users", "200", "--days", "90", "--seed", "8"}
	if _, _, err := cli(t, ctx, kafka(sim...)...); err != nil {
		t.Fatal(err)
	}
	archive := filepath.Join(dir, "events.ndjson")
	if _, _, err := cli(t, ctx, append(sim, "--out", archive)...); err != nil {
		t.Fatal(err)
	}

	fromTopics, fromArchive := filepath.Join(dir, "topics.ndjson"), filepath.Join(dir, "archive.ndjson")
	if _, stderr, err := cli(t, ctx, kafka("replay", "--from-offsets", "earliest", "--to-file", fromTopics)...); err != nil {
		t.Fatalf("replay --brokers: %v\n%s", err, stderr)
	}
	if _, stderr, err := cli(t, ctx, append([]string{"replay", "--archive", archive, "--partitions", "3", "--to-file", fromArchive}, topics...)...); err != nil {
		t.Fatalf("replay --archive: %v\n%s", err, stderr)
	}
	a, _ := os.ReadFile(fromTopics)
	b, _ := os.ReadFile(fromArchive)
	if len(a) == 0 || string(a) != string(b) {
		t.Fatalf("replays of the topics (%d bytes) and of the archive (%d bytes) differ", len(a), len(b))
	}

	if _, stderr, err := cli(t, ctx, kafka("replay", "--to-topics", ".v2")...); err != nil {
		t.Fatalf("replay --to-topics: %v\n%s", err, stderr)
	}
	trTopic := topics[3]
	t.Cleanup(func() {
		adm := kafkatest.Admin(t, strings.Split(brokers, ","))
		for _, tp := range []string{trTopic, topics[5], topics[7], topics[9]} {
			adm.DeleteTopics(context.Background(), tp+".v2")
		}
	})
	transitions := strings.Count(string(a), `"topic":"`+trTopic+`"`)
	if n := len(kafkatest.ReadAll(t, strings.Split(brokers, ","), trTopic+".v2")); n != transitions || n == 0 {
		t.Errorf("%s.v2 holds %d records; the file has %d transitions", trTopic, n, transitions)
	}
	if n := len(kafkatest.ReadAll(t, strings.Split(brokers, ","), trTopic)); n != 0 {
		t.Errorf("the live transitions topic got %d records", n)
	}
}

// parquetEvent is an input event as a data-lake tool writes it to
// Parquet: a timestamp column and a decimal amount.
type parquetEvent struct {
	EventID  string    `parquet:"event_id"`
	UserID   string    `parquet:"user_id"`
	Type     string    `parquet:"type"`
	TS       time.Time `parquet:"ts,timestamp(millisecond)"`
	Amount   *int64    `parquet:"amount,optional,decimal(2:18)"`
	Currency *string   `parquet:"currency,optional"`
	Kind     *string   `parquet:"kind,optional"`
	Seq      int64     `parquet:"seq"`
}

// TestReplayParquetEqualsNDJSON: the same events as NDJSON and as Parquet
// (written with parquet-go as a sink would: timestamps and decimals in
// their logical types) replay to the same file, byte for byte.
func TestReplayParquetEqualsNDJSON(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	archive := filepath.Join(dir, "events.ndjson")
	if _, _, err := cli(t, ctx, "simulate", "--users", "200", "--days", "90", "--seed", "4", "--out", archive); err != nil {
		t.Fatal(err)
	}
	pq := filepath.Join(dir, "events.parquet")
	writeParquet(t, archive, pq)

	for _, a := range []string{archive, pq} {
		if _, stderr, err := cli(t, ctx, "replay", "--archive", a, "--partitions", "3", "--to-file", a+".out"); err != nil {
			t.Fatalf("replay %s: %v\n%s", a, err, stderr)
		}
	}
	x, _ := os.ReadFile(archive + ".out")
	y, _ := os.ReadFile(pq + ".out")
	if len(x) == 0 || string(x) != string(y) {
		t.Fatalf("replays of NDJSON (%d bytes) and Parquet (%d bytes) differ", len(x), len(y))
	}
}

// writeParquet writes the events of an NDJSON file to a Parquet file.
func writeParquet(t testing.TB, ndjson, path string) {
	t.Helper()
	data, err := os.ReadFile(ndjson)
	if err != nil {
		t.Fatal(err)
	}
	var rows []parquetEvent
	for _, line := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		var e struct {
			EventID  string          `json:"event_id"`
			UserID   string          `json:"user_id"`
			Type     string          `json:"type"`
			TS       json.RawMessage `json:"ts"`
			Amount   string          `json:"amount"`
			Currency string          `json:"currency"`
			Kind     string          `json:"kind"`
			Seq      int64           `json:"seq"`
		}
		if err := json.Unmarshal([]byte(line), &e); err != nil {
			t.Fatal(err)
		}
		r := parquetEvent{EventID: e.EventID, UserID: e.UserID, Type: e.Type, Seq: e.Seq}
		if ms, err := strconv.ParseInt(string(e.TS), 10, 64); err == nil {
			r.TS = time.UnixMilli(ms)
		} else if r.TS, err = time.Parse(time.RFC3339, strings.Trim(string(e.TS), `"`)); err != nil {
			t.Fatal(err)
		}
		if e.Amount != "" {
			whole, frac, ok := strings.Cut(e.Amount, ".")
			cents, err := strconv.ParseInt(whole+frac, 10, 64)
			if !ok || len(frac) != 2 || err != nil {
				t.Fatalf("amount %q: want two decimals", e.Amount)
			}
			r.Amount = &cents
		}
		if e.Currency != "" {
			r.Currency = &e.Currency
		}
		if e.Kind != "" {
			r.Kind = &e.Kind
		}
		rows = append(rows, r)
	}
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := parquet.Write(f, rows); err != nil {
		t.Fatal(err)
	}
}

// BenchmarkReplayArchive measures `lifecycle replay` from an NDJSON and a
// Parquet archive of the same population (simulator, 20,000 users, 180
// days, about 470k events), to a file: events/s of the whole command.
//
//	go test ./cmd/lifecycle -run '^$' -bench ReplayArchive -benchtime 3x
func BenchmarkReplayArchive(b *testing.B) {
	ctx := context.Background()
	dir := b.TempDir()
	nd := filepath.Join(dir, "events.ndjson")
	if _, _, err := cli(b, ctx, "simulate", "--users", "20000", "--days", "180", "--seed", "2", "--out", nd); err != nil {
		b.Fatal(err)
	}
	pq := filepath.Join(dir, "events.parquet")
	writeParquet(b, nd, pq)
	data, _ := os.ReadFile(nd)
	events := strings.Count(string(data), "\n")
	for _, archive := range []string{nd, pq} {
		b.Run(filepath.Ext(archive)[1:], func(b *testing.B) {
			for b.Loop() {
				if _, stderr, err := cli(b, ctx, "replay", "--archive", archive, "--to-file", filepath.Join(dir, "out.ndjson")); err != nil {
					b.Fatalf("%v\n%s", err, stderr)
				}
			}
			b.ReportMetric(float64(events)*float64(b.N)/b.Elapsed().Seconds(), "events/s")
		})
	}
}

// TestReplayHandover: a replay of the input topics with --handover leaves
// a state that `run` starts from (a group of its own, no restore) and
// continues exactly after: the replay's outputs and then the run's, on
// events produced afterwards, are together exactly what one replay of all
// the input writes, with nothing twice.
func TestReplayHandover(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	brokers := strings.Join(kafkatest.Brokers(t), ",")
	topics := []string{"--input-topics", strings.Join([]string{kafkatest.Name(t, "l"), kafkatest.Name(t, "p"), kafkatest.Name(t, "c")}, ","),
		"--transitions-topic", kafkatest.Name(t, "tr"), "--dlq-topic", kafkatest.Name(t, "dlq"),
		"--warnings-topic", kafkatest.Name(t, "warn"), "--segments-topic", kafkatest.Name(t, "seg"), "--metrics-topic", kafkatest.Name(t, "metrics")}
	kafka := func(a ...string) []string { return append(append(a, "--brokers", brokers), topics...) }
	group := kafkatest.Name(t, "g")
	if _, _, err := cli(t, ctx, kafka("topics", "create", "--partitions", "3", "--group", group)...); err != nil {
		t.Fatal(err)
	}
	if _, _, err := cli(t, ctx, kafka("simulate", "--users", "150", "--days", "60", "--seed", "3")...); err != nil {
		t.Fatal(err)
	}
	state, replayed := filepath.Join(dir, "handed"), filepath.Join(dir, "replayed.ndjson")
	if _, stderr, err := cli(t, ctx, kafka("replay", "--handover", state, "--to-file", replayed)...); err != nil || !strings.Contains(stderr, "state handed over") {
		t.Fatalf("replay --handover: %v\n%s", err, stderr)
	}
	// Later events: the same users and new ones, after the first period.
	if _, _, err := cli(t, ctx, kafka("simulate", "--users", "200", "--days", "30", "--seed", "4", "--start", "2026-03-10T00:00:00Z")...); err != nil {
		t.Fatal(err)
	}

	live := func() map[string]int {
		out := map[string]int{}
		for _, tp := range []string{topics[3], topics[5], topics[7], topics[9], topics[11]} {
			for _, m := range kafkatest.ReadAll(t, strings.Split(brokers, ","), tp) {
				out[tp+" "+string(m.Value)]++
			}
		}
		return out
	}
	logs := runUntilSettled(t, kafka("run", "--group", group, "--state-dir", state, "--http", "off"), func() int {
		n := 0
		for _, c := range live() {
			n += c
		}
		return n
	}, 15)
	if strings.Contains(logs, "restoring partition") || strings.Count(logs, "changelog seeded from local state") != 3 {
		t.Errorf("the run did not start from the handed-over state (seeding its changelog, 3 partitions, no restore):\n%s", logs)
	}

	full := filepath.Join(dir, "full.ndjson")
	if _, stderr, err := cli(t, ctx, kafka("replay", "--to-file", full)...); err != nil {
		t.Fatalf("replay of everything: %v\n%s", err, stderr)
	}
	fileOutputs := func(path string) map[string]int {
		out := map[string]int{}
		b, _ := os.ReadFile(path)
		for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
			var l struct {
				Topic string
				Value json.RawMessage
			}
			if err := json.Unmarshal([]byte(line), &l); err != nil {
				t.Fatal(err)
			}
			out[l.Topic+" "+string(l.Value)]++
		}
		return out
	}
	want, got := fileOutputs(full), fileOutputs(replayed)
	before := len(got)
	for k, n := range live() {
		got[k] += n
	}
	differ := 0
	for k, n := range want {
		if got[k] != n {
			if differ++; differ <= 5 {
				t.Errorf("%d× in the replay and the run together, %d× in one replay: %.200s", got[k], n, k)
			}
		}
	}
	if len(got) != len(want) || differ > 0 || before == 0 || len(got) == before {
		t.Errorf("replay %d + run = %d distinct outputs; one replay of everything: %d; %d differ", before, len(got), len(want), differ)
	}
}

// TestDiffOfChurnWindows checks diff on a story small enough to work out by
// hand, replayed with 30-day and 45-day churn windows up to day 100:
//   - ann: logins on days 0 and 40. At 30 days she churns on day 30,
//     returns on day 40 and churns again on day 70; at 45 days she churns
//     once, on day 85. Matched by occurrence, her first churn moved (day
//     30 to 85), her second and her return are gone.
//   - bob: one login on day 0. He churns on day 30 at 30 days and on day
//     45 at 45 days: the same transition, moved.
//   - cy: a login every 10 days: never churned, unchanged.
func TestDiffOfChurnWindows(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	day0 := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	var lines []string
	login := func(user string, day int) {
		lines = append(lines, fmt.Sprintf(`{"event_id":"%s-%d","user_id":"%s","type":"login","ts":"%s"}`, user, day, user, day0.AddDate(0, 0, day).Format(time.RFC3339)))
	}
	login("ann", 0)
	login("bob", 0)
	for d := 0; d <= 100; d += 10 {
		login("cy", d)
	}
	login("ann", 40)
	slices.SortStableFunc(lines, func(a, b string) int {
		return strings.Compare(a[strings.Index(a, `"ts"`):], b[strings.Index(b, `"ts"`):])
	})
	archive := filepath.Join(dir, "story.ndjson")
	os.WriteFile(archive, []byte(strings.Join(lines, "\n")+"\n"), 0o644)
	replay := func(churn string) string {
		out := filepath.Join(dir, churn+".ndjson")
		if _, stderr, err := cli(t, ctx, "replay", "--archive", archive, "--until", "2026-04-11", "--churn-after", churn, "--to-file", out); err != nil {
			t.Fatalf("replay: %v\n%s", err, stderr)
		}
		return out
	}
	out, _, err := cli(t, ctx, "diff", replay("30d"), replay("45d"), "--json", "--examples", "5")
	if err != nil {
		t.Fatal(err)
	}
	var rep struct {
		Cells []struct {
			Kind, Group, Name                  string
			Added, Removed, Changed, Unchanged int
			Examples                           map[string][]struct {
				UserID string `json:"user_id"`
			}
		}
	}
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	users := func(examples []struct {
		UserID string `json:"user_id"`
	}) (ids []string) {
		for _, e := range examples {
			ids = append(ids, e.UserID)
		}
		return ids
	}
	found := 0
	for _, c := range rep.Cells {
		if c.Kind != "transition" || c.Group != "to" {
			continue
		}
		switch c.Name {
		case "churned":
			found++
			if c.Removed != 1 || c.Changed != 2 || c.Added != 0 ||
				!slices.Equal(users(c.Examples["removed"]), []string{"ann"}) || !slices.Equal(users(c.Examples["changed"]), []string{"ann", "bob"}) {
				t.Errorf("→ churned: %+v; want ann's second removed, ann's first and bob's changed", c)
			}
		case "new":
			found++ // first activity of all three, and ann's return (churned → new)
			if c.Removed != 1 || c.Changed != 0 || c.Unchanged != 3 || !slices.Equal(users(c.Examples["removed"]), []string{"ann"}) {
				t.Errorf("→ new: %+v; want ann's return removed and three first visits unchanged", c)
			}
		}
	}
	if found != 2 {
		t.Errorf("no → churned or → new rows in:\n%s", out)
	}
}

// TestReplaySaysWhyDeadLetters: the summary counts the dead letters by
// reason, and names the way to keep records dated past today (a
// simulated history), which would otherwise vanish as future_timestamp.
func TestReplaySaysWhyDeadLetters(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	archive := filepath.Join(dir, "events.ndjson")
	start := time.Now().UTC().AddDate(0, 0, -60).Format(time.RFC3339)
	if _, _, err := cli(t, ctx, "simulate", "--users", "200", "--days", "90", "--seed", "5", "--bad-rate", "0.05", "--start", start, "--out", archive); err != nil {
		t.Fatal(err)
	}
	replay := func(args ...string) string {
		t.Helper()
		_, stderr, err := cli(t, ctx, append([]string{"replay", "--archive", archive, "--to-file", filepath.Join(dir, "out.ndjson")}, args...)...)
		if err != nil {
			t.Fatalf("replay: %v\n%s", err, stderr)
		}
		return stderr
	}
	got := replay()
	for _, want := range []string{"dead letters by reason:", "future_timestamp", "malformed_json", "--max-future-skew 0"} {
		if !strings.Contains(got, want) {
			t.Errorf("the summary lacks %q:\n%s", want, got)
		}
	}
	if got := replay("--max-future-skew", "0"); strings.Contains(got, "future_timestamp") || !strings.Contains(got, "dead letters by reason:") {
		t.Errorf("with --max-future-skew 0: want the bad records' reasons and no future_timestamp:\n%s", got)
	}
}
