package bench

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/lifecycle-engine/lifecycle/processor"
)

// start runs "lifecycle run" as instance name (A or B) of group, its state
// and log in dir.
func (f *FailoverRunner) start(name, dir, group string, t processor.Topics, standbys int) (*instance, error) {
	in, err := startInstance(f.cfg.Binary, f.connArgs, f.env, name, dir, group, t, f.keep,
		"--session-timeout", f.cfg.SessionTimeout.String(), "--standby-replicas", strconv.Itoa(standbys))
	if err != nil {
		return nil, err
	}
	f.progress("started instance %s: pid %d, --standby-replicas %d, log %s", name, in.cmd.Process.Pid, standbys, in.logPath)
	return in, nil
}

// startInstance runs "<binary> run" as instance name of group on topics t,
// with the connection flags and environment connArgs and env and the
// flags extra, its state and log in dir (kept: the log stays after the
// bench).
func startInstance(binary string, connArgs, env []string, name, dir, group string, t processor.Topics, kept bool, extra ...string) (*instance, error) {
	stateDir := filepath.Join(dir, strings.ToLower(name))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	args := append([]string{"run"}, connArgs...)
	args = append(args, "--group", group, "--state-dir", stateDir,
		"--input-topics", strings.Join(t.Inputs, ","), "--transitions-topic", t.Transitions, "--warnings-topic", t.Warnings,
		"--segments-topic", t.Segments, "--metrics-topic", t.Metrics, "--dlq-topic", t.DLQ, "--changelog-topic", t.Changelog,
		"--http", "off", "--log-format", "json", "--log-level", "info")
	args = append(args, extra...)
	in := &instance{name: name, logPath: filepath.Join(dir, strings.ToLower(name)+".log"), kept: kept, done: make(chan struct{})}
	file, err := os.Create(in.logPath)
	if err != nil {
		return nil, err
	}
	in.file = file
	in.cmd = exec.Command(binary, args...)
	in.cmd.Env = append(os.Environ(), env...)
	in.cmd.Stdout, in.cmd.Stderr = file, in
	in.started = time.Now()
	if err := in.cmd.Start(); err != nil {
		file.Close()
		return nil, fmt.Errorf("starting instance %s (%s run): %w", name, binary, err)
	}
	go func() {
		in.err = in.cmd.Wait()
		file.Close()
		close(in.done)
	}()
	return in, nil
}

// instance is a "lifecycle run" process; its log (JSON lines on stderr)
// is kept, each line with the time it arrived, and copied to logPath.
type instance struct {
	name    string
	cmd     *exec.Cmd
	started time.Time
	logPath string
	kept    bool // logPath stays after the bench
	file    *os.File
	done    chan struct{} // closed when the process has exited
	err     error         // its exit, once done

	mu      sync.Mutex
	partial []byte
	lines   []logLine
}

type logLine struct {
	at     time.Time
	raw    string
	Msg    string `json:"msg"`
	Level  string `json:"level"`
	fields map[string]any
}

func (l logLine) num(key string) float64 {
	v, _ := l.fields[key].(float64)
	return v
}

func (l logLine) ints(key string) []int {
	vs, _ := l.fields[key].([]any)
	out := make([]int, 0, len(vs))
	for _, v := range vs {
		if f, ok := v.(float64); ok {
			out = append(out, int(f))
		}
	}
	return out
}

// Write takes the process's stderr.
func (in *instance) Write(p []byte) (int, error) {
	now := time.Now()
	in.file.Write(p)
	in.mu.Lock()
	defer in.mu.Unlock()
	in.partial = append(in.partial, p...)
	for {
		i := bytes.IndexByte(in.partial, '\n')
		if i < 0 {
			break
		}
		line := in.partial[:i]
		l := logLine{at: now, raw: string(line)}
		if json.Unmarshal(line, &l.fields) == nil {
			l.Msg, _ = l.fields["msg"].(string)
			l.Level, _ = l.fields["level"].(string)
		} else {
			l.Msg = string(line)
		}
		in.lines = append(in.lines, l)
		in.partial = in.partial[i+1:]
	}
	in.partial = slices.Clip(in.partial)
	return len(p), nil
}

func (in *instance) linesSince(t time.Time) []logLine {
	in.mu.Lock()
	defer in.mu.Unlock()
	i, _ := slices.BinarySearchFunc(in.lines, t, func(l logLine, t time.Time) int { return l.at.Compare(t) })
	return slices.Clone(in.lines[i:])
}

func (in *instance) lastMsg() string {
	in.mu.Lock()
	defer in.mu.Unlock()
	if len(in.lines) == 0 {
		return "(none)"
	}
	return in.lines[len(in.lines)-1].Msg
}

// settled reports the instance's latest assignment (generation and owned
// partitions) when each of those partitions has since become ready.
func (in *instance) settled() (generation float64, owned []int, ok bool) {
	in.mu.Lock()
	defer in.mu.Unlock()
	at := -1
	for i := len(in.lines) - 1; i >= 0; i-- {
		if in.lines[i].Msg == "partitions assigned" {
			at = i
			break
		}
	}
	if at < 0 {
		return 0, nil, false
	}
	owned = in.lines[at].ints("partitions")
	ready := map[int]bool{}
	for _, l := range in.lines[at+1:] {
		switch l.Msg {
		case "partition restored", "standby promoted", "local state is current; no restore needed", "changelog seeded from local state":
			ready[int(l.num("partition"))] = true
		}
	}
	for _, p := range owned {
		if !ready[p] {
			return 0, nil, false
		}
	}
	return in.lines[at].num("generation"), owned, true
}

// exited describes the early exit of the process, with its last log lines.
func (in *instance) exited() error {
	return fmt.Errorf("instance %s exited (%v); its log: %s%s", in.name, in.err, in.logNote(), in.tail(15))
}

// logNote names the instance's log file, which is removed at the end
// without --keep.
func (in *instance) logNote() string {
	if in.kept {
		return in.logPath
	}
	return in.logPath + " (removed at the end; --keep keeps it)"
}

func (in *instance) tail(n int) string {
	in.mu.Lock()
	defer in.mu.Unlock()
	var sb strings.Builder
	for _, l := range in.lines[max(0, len(in.lines)-n):] {
		sb.WriteString("\n  ")
		if l.Level != "" {
			sb.WriteString(l.Level + " ")
		}
		sb.WriteString(l.Msg)
	}
	if sb.Len() > 0 {
		return "; its last lines:" + sb.String()
	}
	return ""
}

// kill sends SIGKILL and waits for the process to be gone.
func (in *instance) kill() error {
	if err := in.cmd.Process.Kill(); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return fmt.Errorf("killing instance %s: %w", in.name, err)
	}
	select {
	case <-in.done:
		return nil
	case <-time.After(10 * time.Second):
		return fmt.Errorf("instance %s (pid %d) still runs 10s after SIGKILL", in.name, in.cmd.Process.Pid)
	}
}

// stop ends the process: SIGTERM (it leaves the group), SIGKILL after 30s.
func (in *instance) stop() {
	select {
	case <-in.done:
		return
	default:
	}
	in.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-in.done:
	case <-time.After(30 * time.Second):
		in.kill()
	}
}
