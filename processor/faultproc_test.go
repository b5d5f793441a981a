package processor

// Helpers of the fault tests (fault_test.go): the lifecycle binary run as
// subprocesses that can be killed, stopped and restarted, and checks on
// what they leave in Kafka and in their state directories.

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

var build struct {
	once sync.Once
	path string
	err  error
}

// TestMain removes the binary lifecycleBinary built: 60 MB a run, which
// each run of the package's tests left in the temporary directory.
func TestMain(m *testing.M) {
	code := m.Run()
	if build.path != "" {
		os.RemoveAll(filepath.Dir(build.path))
	}
	os.Exit(code)
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
	for _, msg := range []string{"partition restored", "local state is current; no restore needed", "changelog seeded from local state", "standby promoted"} {
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
