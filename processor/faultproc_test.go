package processor

// Helpers of the fault tests (fault_test.go): the lifecycle binary run as
// subprocesses that can be killed, stopped and restarted, and checks on
// what they leave in Kafka and in their state directories.

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"

	"github.com/lifecycle-engine/lifecycle/processor/kafkatest"
	"github.com/lifecycle-engine/lifecycle/schemas"
	"github.com/lifecycle-engine/lifecycle/state"
	"github.com/lifecycle-engine/lifecycle/state/record"
)

var build struct {
	once sync.Once
	path string
	err  error
}

// lifecycleBinary builds ./cmd/lifecycle once per test binary run.
func lifecycleBinary(t *testing.T) string {
	t.Helper()
	build.once.Do(func() {
		dir, err := os.MkdirTemp("", "lifecycle-faulttest-")
		if err != nil {
			build.err = err
			return
		}
		build.path = filepath.Join(dir, "lifecycle")
		cmd := exec.Command("go", "build", "-o", build.path, "./cmd/lifecycle")
		cmd.Dir = ".." // the repository root; tests run in processor/
		if out, err := cmd.CombinedOutput(); err != nil {
			build.err = fmt.Errorf("go build ./cmd/lifecycle: %v\n%s", err, out)
		}
	})
	if build.err != nil {
		t.Fatal(build.err)
	}
	return build.path
}

// logLines collects a subprocess's output line by line.
type logLines struct {
	mu      sync.Mutex
	partial []byte
	lines   []string
}

func (l *logLines) Write(b []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.partial = append(l.partial, b...)
	for {
		i := bytes.IndexByte(l.partial, '\n')
		if i < 0 {
			break
		}
		l.lines = append(l.lines, string(l.partial[:i]))
		l.partial = l.partial[i+1:]
	}
	return len(b), nil
}

func (l *logLines) snapshot() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.lines...)
}

// logEntry is the part of a JSON log line the tests look at.
type logEntry struct {
	Level      string `json:"level"`
	Msg        string `json:"msg"`
	Partitions []int  `json:"partitions"`
	Partition  *int   `json:"partition"`
}

// proc is one run of the lifecycle binary.
type proc struct {
	name    string
	started time.Time
	cmd     *exec.Cmd
	out     *logLines
	done    chan struct{}
	state   *os.ProcessState // set when done is closed
	doomed  bool             // sent SIGKILL
}

// startProc starts `lifecycle run args...` with extra environment env.
func startProc(t *testing.T, name string, args, env []string) *proc {
	t.Helper()
	bin := lifecycleBinary(t)
	p := &proc{name: name, out: &logLines{}, done: make(chan struct{})}
	p.cmd = exec.Command(bin, append([]string{"run"}, args...)...)
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, EnvCrashAt+"=") {
			p.cmd.Env = append(p.cmd.Env, kv)
		}
	}
	p.cmd.Env = append(p.cmd.Env, env...)
	p.cmd.Stdout, p.cmd.Stderr = p.out, p.out
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("starting %s: %v", name, err)
	}
	p.started = time.Now()
	go func() {
		p.cmd.Wait()
		p.state = p.cmd.ProcessState
		close(p.done)
	}()
	return p
}

func (p *proc) signal(sig syscall.Signal) { p.cmd.Process.Signal(sig) }
func (p *proc) kill()                     { p.signal(syscall.SIGKILL) }
func (p *proc) term()                     { p.signal(syscall.SIGTERM) }
func (p *proc) pause()                    { p.signal(syscall.SIGSTOP) }
func (p *proc) resume()                   { p.signal(syscall.SIGCONT) }

// dump makes a running process print its goroutines (SIGQUIT) and exit.
func (p *proc) dump() {
	if p.exited() {
		return
	}
	p.signal(syscall.SIGQUIT)
	select {
	case <-p.done:
	case <-time.After(5 * time.Second):
	}
}

func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// wait waits for the process to end; it fails the test after timeout.
func (p *proc) wait(t *testing.T, timeout time.Duration) *os.ProcessState {
	t.Helper()
	select {
	case <-p.done:
		return p.state
	case <-time.After(timeout):
		p.kill()
		<-p.done
		t.Fatalf("%s did not exit within %v; killed", p.name, timeout)
		return nil
	}
}

// killed reports whether the process ended by SIGKILL.
func (p *proc) killed() bool {
	ws, ok := p.state.Sys().(syscall.WaitStatus)
	return ok && ws.Signaled() && ws.Signal() == syscall.SIGKILL
}

// up waits for the process's first log line. A SIGTERM that arrives while
// the Go runtime is still starting (before main installs its handler) kills
// the process outright, which is not the clean stop a test means to check.
func (p *proc) up(t *testing.T) {
	t.Helper()
	p.waitUntil(t, "its first log line", 60*time.Second, func() bool { return len(p.out.snapshot()) > 0 })
}

// stop sends SIGTERM once the process is up and checks that it exits 0.
func (p *proc) stop(t *testing.T) {
	t.Helper()
	p.up(t)
	p.term()
	if st := p.wait(t, 60*time.Second); st.ExitCode() != 0 {
		t.Errorf("%s after SIGTERM: %v, want exit 0\n%s", p.name, st, p.tail(30))
	}
}

// entries returns the JSON log entries with message msg.
func (p *proc) entries(msg string) []logEntry {
	var out []logEntry
	for _, l := range p.out.snapshot() {
		if !strings.Contains(l, msg) {
			continue
		}
		var e logEntry
		if json.Unmarshal([]byte(l), &e) == nil && e.Msg == msg {
			out = append(out, e)
		}
	}
	return out
}

// assigned reports whether the latest generation gave the process partitions.
func (p *proc) assigned() bool {
	es := p.entries("partitions assigned")
	return len(es) > 0 && len(es[len(es)-1].Partitions) > 0
}

// stateCurrent reports whether the process has made the local state of n
// partitions current (restored, found current, or found current and
// copied to an empty changelog), as each owner does
// before reading: only then does its state directory hold what the group
// has committed. (A SIGKILL can take a NoSync commit that Pebble had not
// yet written; the next owner restores it from the changelog.)
func (p *proc) stateCurrent(n int) bool {
	seen := map[int]bool{}
	for _, msg := range []string{"partition restored", "local state is current; no restore needed", "changelog seeded from local state"} {
		for _, e := range p.entries(msg) {
			if e.Partition != nil {
				seen[*e.Partition] = true
			}
		}
	}
	return len(seen) >= n
}

// logged reports whether any output line contains s.
func (p *proc) logged(s string) bool {
	for _, l := range p.out.snapshot() {
		if strings.Contains(l, s) {
			return true
		}
	}
	return false
}

// waitUntil polls cond until it holds; it fails the test after timeout or
// when the process exits first.
func (p *proc) waitUntil(t *testing.T, what string, timeout time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if p.exited() {
			t.Fatalf("%s exited (%v) before %s\n%s", p.name, p.state, what, p.tail(40))
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: no %s within %v\n%s", p.name, what, timeout, p.tail(40))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (p *proc) tail(n int) string {
	l := p.out.snapshot()
	if len(l) > n {
		l = l[len(l)-n:]
	}
	return fmt.Sprintf("--- last %d lines of %s ---\n%s", len(l), p.name, strings.Join(l, "\n"))
}

// rig runs lifecycle processes on one fixture, group and set of topics. It
// kills every process it started when the test ends and shows their logs
// if the test failed.
type rig struct {
	t       *testing.T
	f       *inputFixture
	cfg     Config
	adm     *kadm.Client
	batch   int
	session time.Duration
	mu      sync.Mutex
	procs   []*proc
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
		"--warnings-topic", c.Topics.Warnings, "--segments-topic", c.Topics.Segments,
		"--session-timeout", r.session.String(), "--batch-records", strconv.Itoa(r.batch), "--log-format", "json",
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
		case len(m.Key) == 1 && m.Key[0] == changelogMeta:
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

// errLines returns the process's output lines at level error or that are
// not JSON (the command's own last word, "lifecycle: …").
func (p *proc) errLines() []string {
	var out []string
	for _, l := range p.out.snapshot() {
		var e logEntry
		if json.Unmarshal([]byte(l), &e) != nil || e.Level == "error" || e.Level == "fatal" {
			out = append(out, l)
		}
	}
	return out
}
