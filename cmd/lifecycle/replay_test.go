package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/lifecycle-engine/lifecycle/processor/kafkatest"
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
		{[]string{"replay", "--archive", dir, "--to-topics", ".v2"}, "--to-topics needs --brokers"},
		{[]string{"replay", "--brokers", "h:1", "--to-topics", " "}, "would write to the live output topics"},
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
		"--warnings-topic", kafkatest.Name(t, "warn"), "--segments-topic", kafkatest.Name(t, "seg")}
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
	if _, stderr, err := cli(t, ctx, kafka("replay", "--to-file", fromTopics)...); err != nil {
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
