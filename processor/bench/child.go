package bench

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/lifecycle-engine/lifecycle/processor"
)

// startChild runs the processor as a child process ("<Binary> run") of
// group on topics t, with the run's processor flags, and waits until it
// owns every partition. stop ends it (SIGTERM) and removes its directory.
func (r *Runner) startChild(ctx context.Context, group string, t processor.Topics) (*instance, func(), error) {
	if r.cfg.Binary == "" || r.cfg.ChildArgs == nil {
		return nil, nil, fmt.Errorf("latency: --isolate needs the lifecycle binary to start the processor")
	}
	dir, err := os.MkdirTemp("", "lifecycle-bench-child-")
	if err != nil {
		return nil, nil, err
	}
	var extra []string
	for _, f := range []struct {
		name string
		v    int
	}{{"--batch-records", r.cfg.BatchRecords}, {"--max-users-cached", r.cfg.MaxUsersCached}, {"--block-cache-mb", r.cfg.BlockCacheMB}} {
		if f.v > 0 {
			extra = append(extra, f.name, strconv.Itoa(f.v))
		}
	}
	if r.cfg.Linger > 0 {
		extra = append(extra, "--linger", r.cfg.Linger.String())
	}
	if r.cfg.FetchWait > 0 {
		extra = append(extra, "--fetch-wait", r.cfg.FetchWait.String())
	}
	if r.cfg.CPUProfile != "" {
		extra = append(extra, "--cpuprofile", r.cfg.CPUProfile)
	}
	connArgs, env := r.cfg.ChildArgs(r.conn, r.embedded)
	child, err := startInstance(r.cfg.Binary, connArgs, env, "processor", dir, group, t, r.keep, extra...)
	if err != nil {
		os.RemoveAll(dir)
		return nil, nil, err
	}
	stop := func() {
		child.stop()
		if !r.keep {
			os.RemoveAll(dir)
		}
	}
	r.progress("latency: started the processor as a child process: pid %d, log %s", child.cmd.Process.Pid, child.logPath)
	for deadline := time.Now().Add(2 * time.Minute); ; {
		if _, owned, ok := child.settled(); ok && len(owned) == int(r.partitions) {
			return child, stop, nil
		}
		select {
		case <-child.done:
			err := child.exited()
			stop()
			return nil, nil, err
		case <-ctx.Done():
			stop()
			return nil, nil, ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			stop()
			return nil, nil, fmt.Errorf("latency: the processor (pid %d) did not own all %d partitions within 2 minutes; its last log line: %s", child.cmd.Process.Pid, r.partitions, child.lastMsg())
		}
	}
}

// processCPU returns the CPU seconds (user and system, all threads) that
// process pid has used, from /proc/<pid>/stat; 0 when it cannot be read.
// Its clock ticks are Linux's USER_HZ, 100 a second on every architecture
// Go supports.
func processCPU(pid int) float64 {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0
	}
	// Fields after the command name, which is in parentheses and may hold
	// spaces: state is field 3, utime 14, stime 15.
	i := strings.LastIndexByte(string(b), ')')
	if i < 0 {
		return 0
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 13 {
		return 0
	}
	utime, err1 := strconv.ParseInt(f[11], 10, 64)
	stime, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0
	}
	return float64(utime+stime) / 100
}
