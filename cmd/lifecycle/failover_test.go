package main

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/lifecycle-engine/lifecycle/processor"
	"github.com/lifecycle-engine/lifecycle/processor/bench"
)

// asMainEnv makes the test binary act as the lifecycle command: bench
// failover starts its instances as "<this binary> run …".
const asMainEnv = "LIFECYCLE_TEST_AS_MAIN"

func TestMain(m *testing.M) {
	if os.Getenv(asMainEnv) == "1" {
		main()
	}
	os.Exit(m.Run())
}

// TestBenchFailover runs both modes of lifecycle bench failover on the
// embedded broker with a few thousand users: without standbys B restores
// the partition from the changelog, with one it promotes its standby copy.
// Nothing about speed is asserted.
func TestBenchFailover(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a broker and four instances, and waits out two session timeouts")
	}
	t.Setenv(asMainEnv, "1")
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	file := filepath.Join(t.TempDir(), "failover.json")
	out, errOut, err := cli(t, ctx, "bench", "failover", "--users", "3000", "--timeout", "90s", "--json", file)
	if err != nil {
		t.Fatalf("bench failover: %v\nstdout:\n%s\nstderr:\n%s", err, out, errOut)
	}
	raw, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	var s bench.FailoverSummary
	if err := json.Unmarshal(raw, &s); err != nil {
		t.Fatalf("the summary does not parse: %v\n%s", err, raw)
	}
	if len(s.Runs) != 2 || s.Runs[0].Mode != "no-standby" || s.Runs[1].Mode != "standby" {
		t.Fatalf("want a no-standby and a standby run:\n%s", raw)
	}
	none, standby := s.Runs[0], s.Runs[1]
	if !none.Restored || none.Promoted || none.RestoredRecords == 0 || none.RestoredUsers != 3000 {
		t.Errorf("without standbys B should have restored the 3000 users from the changelog: restored %v (%d records, %d users), promoted %v",
			none.Restored, none.RestoredRecords, none.RestoredUsers, none.Promoted)
	}
	if !standby.Promoted || standby.Restored || standby.PromotedUsers != 3000 {
		t.Errorf("with a standby B should have promoted its copy of the 3000 users: promoted %v (%d users), restored %v",
			standby.Promoted, standby.PromotedUsers, standby.Restored)
	}
	for _, r := range s.Runs {
		if r.Unexpected != "" || !(r.TotalSeconds > 0) || !(r.SessionSeconds > 0) || r.ChangelogRecords == 0 || r.Events != 3000 {
			t.Errorf("%s: incomplete: %+v", r.Mode, r)
		}
	}
	if !strings.Contains(out, "session: kill → B assigned") {
		t.Errorf("no summary table:\n%s", out)
	}
}

func TestBenchFailoverUsage(t *testing.T) {
	ctx := context.Background()
	if _, _, err := cli(t, ctx, "bench", "failover", "--mode", "sometimes"); !errors.Is(err, errUsage) || !strings.Contains(err.Error(), "use no-standby, standby or both") {
		t.Errorf("bench failover --mode sometimes: %v, want a usage error", err)
	}
	if _, _, err := cli(t, ctx, "bench", "failover", "--session-timeout", "1s"); !errors.Is(err, errUsage) {
		t.Errorf("bench failover --session-timeout 1s: %v, want a usage error", err)
	}
	out, _, err := cli(t, ctx, "bench", "failover", "--help")
	if !errors.Is(err, errHelp) || !strings.Contains(out, "standby promoted") || !strings.Contains(out, "--session-timeout") {
		t.Errorf("bench failover --help: %v\n%s", err, out)
	}
	if out, _, err := cli(t, ctx, "bench", "--help"); !errors.Is(err, errHelp) || !strings.Contains(out, "bench failover --help") {
		t.Errorf("bench --help does not point to bench failover: %v\n%s", err, out)
	}
}

// TestChildArgsCarryCompression: the instances a bench starts write with
// the bench's --compression, so its figures are that codec's.
func TestChildArgsCarryCompression(t *testing.T) {
	fs := newFlagSet("bench", "", "")
	cf := fs.connFlags()
	fs.compressionFlag(&cf)
	for _, embedded := range []bool{true, false} {
		args, _ := cf.childArgs(processor.Conn{Brokers: []string{"h:1"}, Compression: "zstd"}, embedded)
		if got := strings.Join(args, " "); !strings.Contains(got, "--compression zstd") {
			t.Errorf("embedded %v: child args %q lack --compression zstd", embedded, got)
		}
	}
}
