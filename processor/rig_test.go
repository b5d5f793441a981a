package processor

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"

	"github.com/lifecycle-engine/lifecycle/processor/kafkatest"
	"github.com/lifecycle-engine/lifecycle/schemas"
	"github.com/lifecycle-engine/lifecycle/state"
	"github.com/lifecycle-engine/lifecycle/state/record"
)

// rig runs lifecycle processes on one fixture, group and set of topics. It
// kills every process it started when the test ends and shows their logs
// if the test failed.
type rig struct {
	t     *testing.T
	f     *inputFixture
	cfg   Config
	adm   *kadm.Client
	batch int
	// standbys is the --standby-replicas of every instance.
	standbys int
	session  time.Duration
	mu       sync.Mutex
	procs    []*proc
}

func newRig(t *testing.T, f *inputFixture, batch int) *rig {
	r := &rig{t: t, f: f, cfg: f.config(t), adm: kafkatest.Admin(t, f.brokers), batch: batch, session: 6 * time.Second}
	t.Cleanup(func() {
		r.mu.Lock()
		defer r.mu.Unlock()
		for _, p := range r.procs {
			if !p.exited() {
				p.kill()
				<-p.done
			}
		}
		if t.Failed() {
			// The tails here, the whole logs in files that outlive the test.
			dir, _ := os.MkdirTemp("", "lifecycle-faulttest-logs-")
			for i, p := range r.procs {
				t.Log(p.tail(60))
				name := filepath.Join(dir, fmt.Sprintf("%02d-%s.log", i, strings.NewReplacer(" ", "_", "/", "_", "(", "", ")", "").Replace(p.name)))
				os.WriteFile(name, []byte(strings.Join(p.out.snapshot(), "\n")+"\n"), 0o644)
			}
			t.Logf("full logs of the %d processes in %s", len(r.procs), dir)
		}
	})
	return r
}

func (r *rig) args(stateDir string) []string {
	c := r.cfg
	return []string{
		"--brokers", strings.Join(c.Conn.Brokers, ","), "--group", c.Group, "--state-dir", stateDir, "--http", "off",
		"--input-topics", strings.Join(c.Topics.Inputs, ","), "--transitions-topic", c.Topics.Transitions,
		"--dlq-topic", c.Topics.DLQ, "--changelog-topic", c.Topics.Changelog,
		"--warnings-topic", c.Topics.Warnings, "--segments-topic", c.Topics.Segments, "--metrics-topic", c.Topics.Metrics,
		"--session-timeout", r.session.String(), "--batch-records", strconv.Itoa(r.batch), "--log-format", "json",
		"--standby-replicas", strconv.Itoa(r.standbys),
	}
}

// start starts an instance on stateDir; env is extra environment.
func (r *rig) start(name, stateDir string, env ...string) *proc {
	r.t.Helper()
	p := startProc(r.t, name, r.args(stateDir), env)
	r.mu.Lock()
	r.procs = append(r.procs, p)
	r.mu.Unlock()
	return p
}

// progress returns the group's committed offsets and the end offsets,
// summed over every input partition, and whether every partition's
// committed offset is at its end.
func (r *rig) progress() (committed, end int64, caughtUp bool, err error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ends, err := r.adm.ListEndOffsets(ctx, r.cfg.Topics.Inputs...)
	if err == nil {
		err = ends.Error()
	}
	if err != nil {
		return 0, 0, false, err
	}
	offs, err := r.adm.FetchOffsets(ctx, r.cfg.Group)
	if err != nil {
		return 0, 0, false, err
	}
	caughtUp = true
	ends.Each(func(o kadm.ListedOffset) {
		end += o.Offset
		c, ok := offs.Lookup(o.Topic, o.Partition)
		if ok && c.Err == nil && c.At >= 0 {
			committed += c.At
			caughtUp = caughtUp && c.At == o.Offset
		} else {
			caughtUp = caughtUp && o.Offset == 0
		}
	})
	return committed, end, caughtUp, nil
}

// waitCaughtUp waits until the group has committed the end of every input
// partition. It fails the test after timeout, or when none of alive runs.
func (r *rig) waitCaughtUp(timeout time.Duration, alive ...*proc) {
	r.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		c, e, ok, err := r.progress()
		if err == nil && ok {
			return
		}
		running := false
		for _, p := range alive {
			running = running || !p.exited()
		}
		if len(alive) > 0 && !running {
			r.t.Fatalf("every instance exited before the group caught up (%d of %d committed)", c, e)
		}
		if time.Now().After(deadline) {
			r.t.Fatalf("the group did not catch up within %v: %d of %d committed (%v)", timeout, c, e, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// waitCommitted waits until the group has committed at least n records.
func (r *rig) waitCommitted(n int64, timeout time.Duration, p *proc) {
	r.t.Helper()
	p.waitUntil(r.t, fmt.Sprintf("%d records committed", n), timeout, func() bool {
		c, _, _, err := r.progress()
		return err == nil && c >= n
	})
}

// finalState starts an instance on a fresh state directory, which restores
// every partition from the changelog (the group is caught up, so it has
// nothing else to do), stops it, and returns the store it left.
func (r *rig) finalState(name string) *state.Store {
	r.t.Helper()
	dir := filepath.Join(r.t.TempDir(), "fresh")
	p := r.start(name, dir)
	n := int(r.f.partitions)
	p.waitUntil(r.t, "restore of every partition", 90*time.Second, func() bool {
		return len(p.entries("partition restored")) >= n
	})
	p.stop(r.t)
	if got := len(p.entries("partition restored")); got != n {
		r.t.Errorf("%s restored %d partitions, want %d", name, got, n)
	}
	return openDir(r.t, dir)
}

// openDir opens the store a stopped process left in dir.
func openDir(t *testing.T, dir string) *state.Store {
	t.Helper()
	s, err := state.Open(state.Options{Dir: dir})
	if err != nil {
		t.Fatalf("opening %s: %v", dir, err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// checkDLQAtLeastOnce is checkDLQ for runs with crashes: every invalid
// input record is dead-lettered at least once (re-sends are allowed), and
// every dead letter names an invalid input record and carries its bytes.
func checkDLQAtLeastOnce(t *testing.T, cfg Config, want int) {
	t.Helper()
	inputs := map[string][]byte{} // "topic/partition/offset" → bytes
	for _, topic := range cfg.Topics.Inputs {
		for _, m := range kafkatest.ReadAll(t, cfg.Conn.Brokers, topic) {
			inputs[fmt.Sprintf("%s/%d/%d", topic, m.Partition, m.Offset)] = m.Value
		}
	}
	got := map[string]bool{}
	for _, m := range kafkatest.ReadAll(t, cfg.Conn.Brokers, cfg.Topics.DLQ) {
		src := header(m, schemas.HeaderDLQTopic) + "/" + header(m, schemas.HeaderDLQPartition) + "/" + header(m, schemas.HeaderDLQOffset)
		b, ok := inputs[src]
		if !ok || !bytes.Equal(b, m.Value) {
			t.Errorf("dead letter for %s does not carry the original bytes", src)
		}
		got[src] = true
	}
	if len(got) != want {
		t.Errorf("%d input records dead-lettered, want %d", len(got), want)
	}
}

// checkChangelogMonotonic reads the changelog and checks that, within each
// partition, no record goes back in time: the metadata's input offsets and
// stream time, and each user record's input offsets, never decrease from
// one record to the next of the same key. A decrease means an instance that
// no longer owned the partition wrote stale state after the new owner's.
// It returns a description of each regression.
func changelogRegressions(t *testing.T, cfg Config) []string {
	t.Helper()
	type key struct {
		p int
		k string
	}
	lastUser := map[key]record.User{}
	lastMeta := map[int]record.Meta{}
	var bad []string
	report := func(format string, args ...any) { bad = append(bad, fmt.Sprintf(format, args...)) }
	for _, m := range kafkatest.ReadAll(t, cfg.Conn.Brokers, cfg.Topics.Changelog) {
		switch {
		case len(m.Key) > 1 && m.Key[0] == changelogUser:
			r, err := record.DecodeUser(m.Value)
			if err != nil {
				t.Fatalf("changelog %d/%d: %v", m.Partition, m.Offset, err)
			}
			k := key{m.Partition, string(m.Key[1:])}
			if prev, ok := lastUser[k]; ok {
				for i := range r.Offsets {
					if r.Offsets[i] < prev.Offsets[i] {
						report("changelog %d/%d: user %s goes back from input offsets %v to %v", m.Partition, m.Offset, k.k, prev.Offsets, r.Offsets)
						break
					}
				}
			}
			lastUser[k] = r
		case isMeta(m):
			meta, err := record.DecodeMeta(m.Value)
			if err != nil {
				t.Fatalf("changelog %d/%d: %v", m.Partition, m.Offset, err)
			}
			if prev, ok := lastMeta[m.Partition]; ok {
				back := meta.StreamTime < prev.StreamTime
				for topic, o := range prev.Offsets {
					back = back || meta.Offsets[topic] < o
				}
				if back {
					report("changelog %d/%d: partition metadata goes back from %v (stream time %d) to %v (stream time %d)",
						m.Partition, m.Offset, prev.Offsets, prev.StreamTime, meta.Offsets, meta.StreamTime)
				}
			}
			lastMeta[m.Partition] = meta
		}
	}
	return bad
}

// truncateNewest truncates the newest file in dir whose name matches
// pattern (filepath.Match) to half its size and describes what it did ("" when
// there is none).
func truncateNewest(t *testing.T, dir, pattern string) string {
	t.Helper()
	des, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var newest os.FileInfo
	for _, de := range des {
		if ok, _ := filepath.Match(pattern, de.Name()); !ok || !de.Type().IsRegular() || de.Name() == "LOCK" {
			continue
		}
		fi, err := de.Info()
		if err != nil {
			t.Fatal(err)
		}
		if fi.Size() > 0 && (newest == nil || fi.ModTime().After(newest.ModTime())) {
			newest = fi
		}
	}
	if newest == nil {
		return ""
	}
	if err := os.Truncate(filepath.Join(dir, newest.Name()), newest.Size()/2); err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf("%s (%d → %d bytes)", newest.Name(), newest.Size(), newest.Size()/2)
}
