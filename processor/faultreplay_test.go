package processor

import (
	"context"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/lifecycle-engine/lifecycle/processor/kafkatest"
	"github.com/lifecycle-engine/lifecycle/processor/offline"
	"github.com/lifecycle-engine/lifecycle/processor/simulate"
	"github.com/lifecycle-engine/lifecycle/schemas"
	"github.com/lifecycle-engine/lifecycle/state/record"
)

// TestReplayKilledAndRerun: a `lifecycle replay --to-topics` killed (kill
// -9) after some of its batches reached the replay topics, then run again
// to the end, leaves in them exactly the outputs of an uninterrupted
// replay, each id with the same bytes wherever it repeats: the first
// run's partial batches are duplicates by id, which consumers drop.
func TestReplayKilledAndRerun(t *testing.T) {
	sim := simulate.Config{Users: 3000, Days: 120, Seed: 37, BadRate: 0.01, DupRate: 0.02}
	f, msgs := newHeldFixture(t, sim, 4)
	kafkatest.Produce(t, f.brokers, msgs...)
	cfg := f.config(t)
	const suffix = ".replay"
	names, _ := ReplayTopics(cfg.Topics, suffix)
	t.Cleanup(func() { kafkatest.Admin(t, f.brokers).DeleteTopics(context.Background(), names...) })

	// What an uninterrupted replay writes, by id.
	want := map[string]string{}
	err := replayInputs(t, cfg, f.partitions, func(o record.Output) {
		want[outputKey(o.Topic+suffix, o.Key, o.Value, o.Headers)] = string(o.Value)
	})
	if err != nil || len(want) < 9000 {
		t.Fatalf("reference replay: %d outputs, %v; want over 9000, so that the kill at the 8000th comes after a batch was sent", len(want), err)
	}

	args := []string{"replay", "--brokers", strings.Join(f.brokers, ","), "--input-topics", strings.Join(cfg.Topics.Inputs, ","),
		"--transitions-topic", cfg.Topics.Transitions, "--dlq-topic", cfg.Topics.DLQ, "--warnings-topic", cfg.Topics.Warnings,
		"--segments-topic", cfg.Topics.Segments, "--metrics-topic", cfg.Topics.Metrics, "--to-topics", suffix}
	killed := exec.Command(lifecycleBinary(t), args...)
	killed.Env = append(killed.Environ(), EnvCrashAt+"="+crashReplayed+":8000")
	out, err := killed.CombinedOutput()
	if ws, ok := killed.ProcessState.Sys().(syscall.WaitStatus); !ok || !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
		t.Fatalf("the first replay was not killed: %v\n%s", err, out)
	}
	partial := 0
	for _, name := range names {
		partial += len(kafkatest.ReadAll(t, f.brokers, name))
	}
	if partial == 0 || partial >= len(want) {
		t.Fatalf("the killed replay left %d of %d outputs; want some, not all", partial, len(want))
	}
	if out, err := exec.Command(lifecycleBinary(t), args...).CombinedOutput(); err != nil {
		t.Fatalf("the second replay: %v\n%s", err, out)
	}

	got, records := map[string]string{}, 0
	for _, name := range names {
		for _, m := range kafkatest.ReadAll(t, f.brokers, name) {
			hs := make([]record.Header, len(m.Headers))
			for i, h := range m.Headers {
				hs[i] = record.Header{Key: h.Key, Value: h.Value}
			}
			k := outputKey(name, m.Key, m.Value, hs)
			if v, seen := got[k]; seen && v != string(m.Value) {
				t.Errorf("output %s repeats with other bytes:\n%s\n%s", k, v, m.Value)
			}
			got[k] = string(m.Value)
			records++
		}
	}
	missing := 0
	for k, v := range want {
		if got[k] != v {
			if missing++; missing <= 3 {
				t.Errorf("output %s: replayed %q, want %q", k, got[k], v)
			}
		}
	}
	if len(got) != len(want) || missing > 0 || records != len(want)+partial {
		t.Errorf("the replay topics hold %d records, %d distinct; want %d distinct plus the killed run's %d", records, len(got), len(want), partial)
	}
}

// replayInputs replays cfg's input topics as `lifecycle replay` does,
// calling out with each output.
func replayInputs(t *testing.T, cfg Config, partitions int32, out func(record.Output)) error {
	t.Helper()
	r, err := offline.New(offline.Config{Engine: cfg.Engine(), Partitions: partitions, Decoder: cfg.Decoder, MaxFutureSkew: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	src, err := OpenReplay(context.Background(), cfg, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	return r.RunFrom(context.Background(), src.Read, 0, func(_ int32, o record.Output) error {
		out(o)
		return nil
	})
}

// outputKey identifies an output: its deterministic id, or for a dead
// letter (which has none) where its record was read from.
func outputKey(topic string, key, value []byte, headers []record.Header) string {
	var id, from []string
	for _, h := range headers {
		switch h.Key {
		case schemas.HeaderID:
			id = append(id, string(h.Value))
		case schemas.HeaderDLQTopic, schemas.HeaderDLQPartition, schemas.HeaderDLQOffset:
			from = append(from, string(h.Value))
		}
	}
	return topic + " " + strings.Join(append(id, from...), "/")
}
