package processor

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"flag"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/segmentio/kafka-go"

	"github.com/lifecycle-engine/lifecycle/processor/kafkatest"
	"github.com/lifecycle-engine/lifecycle/processor/simulate"
)

var updateGolden = flag.Bool("update-golden", false, "TestGoldenOutputs: write testdata/golden-outputs.txt from this build")

// TestGoldenOutputs pins the outputs the rules make for the end-to-end
// population (its bad, duplicate and late records included): each output's
// id and a hash of its payload, from before the engine was taken out of
// the runtime. A refactoring that changes a single byte of any output
// fails here; a change of the rules on purpose updates the file
// (-update-golden) in the same commit. TestEndToEnd holds the runtime to
// the same reference.
func TestGoldenOutputs(t *testing.T) {
	brokers := kafkatest.Brokers(t)
	// One prefix, so that the topics' order (the merge's tie-break) is
	// the same in every run.
	prefix := kafkatest.Name(t, "golden")
	inputs := []string{prefix + ".1-login", prefix + ".2-purchase", prefix + ".3-content"}
	kafkatest.CreateTopics(t, brokers, 4, inputs...)
	sim := simulate.Config{Users: 400, Days: 120, Seed: 7, BadRate: 0.01, DupRate: 0.03, LateRate: 0.05,
		Topics: simulate.Topics{Login: inputs[0], Purchase: inputs[1], Content: inputs[2]}}
	var msgs []kafka.Message
	if _, err := simulate.Run(context.Background(), sim, func(r simulate.Record) error {
		msgs = append(msgs, kafka.Message{Topic: r.Topic, Key: r.Key, Value: r.Value})
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	kafkatest.Produce(t, brokers, msgs...)
	byID, _, _, _ := reference(t, Config{Topics: Topics{Inputs: inputs}}, brokers)
	var got []string
	for id, v := range byID {
		sum := sha256.Sum256(v)
		got = append(got, id+" "+hex.EncodeToString(sum[:8]))
	}
	slices.Sort(got)

	path := filepath.Join("testdata", "golden-outputs.txt")
	if *updateGolden {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(strings.Join(got, "\n")+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("wrote %d outputs to %s", len(got), path)
		return
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatalf("%v (create it with -update-golden)", err)
	}
	defer f.Close()
	var want []string
	for sc := bufio.NewScanner(f); sc.Scan(); {
		want = append(want, sc.Text())
	}
	if len(want) < 1000 {
		t.Fatalf("%s holds %d outputs; the population makes thousands", path, len(want))
	}
	missing, extra := diffSorted(want, got)
	for _, l := range missing[:min(len(missing), 10)] {
		t.Errorf("golden output missing or changed: %s", l)
	}
	for _, l := range extra[:min(len(extra), 10)] {
		t.Errorf("output not in the golden file: %s", l)
	}
	if len(missing)+len(extra) > 0 {
		t.Errorf("%d golden outputs missing or changed, %d new, of %d", len(missing), len(extra), len(want))
	}
}

// diffSorted returns the lines only in a and only in b, both sorted.
func diffSorted(a, b []string) (onlyA, onlyB []string) {
	i, j := 0, 0
	for i < len(a) || j < len(b) {
		switch {
		case j == len(b) || i < len(a) && a[i] < b[j]:
			onlyA = append(onlyA, a[i])
			i++
		case i == len(a) || b[j] < a[i]:
			onlyB = append(onlyB, b[j])
			j++
		default:
			i, j = i+1, j+1
		}
	}
	return onlyA, onlyB
}
