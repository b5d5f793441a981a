package bench

import (
	"context"
	"fmt"
	"os"
	"runtime/pprof"
	"sync"
	"sync/atomic"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kadm"

	"github.com/lifecycle-engine/lifecycle/processor"
)

// preloaded is what preloading a phase wrote.
type preloaded struct {
	bytes  int64 // keys and values
	events int
	users  int // distinct
}

// drainTimes is the timing of a drain: from the processor's start, the
// first record applied and the last; cpu is the process's CPU seconds in
// between the start and the last.
type drainTimes struct {
	start, first, finished time.Time
	cpu                    float64
}

// drain preloads, runs the baseline, then drains with the processor and
// takes the memory figures while the processor still holds its users.
// phase names its topics and group ("" for drain or memory): each phase
// must have its own, or it would read an earlier one's input and state.
func (r *Runner) drain(ctx context.Context, phase string, baseline, memoryOnly bool) (*DrainResult, *MemoryResult, error) {
	n := r.cfg.Events
	switch {
	case memoryOnly:
		phase, n = "memory", max(r.cfg.Events, r.cfg.Users)
	case phase == "":
		phase = "drain"
	}
	t, group, err := r.topics(ctx, phase)
	if err != nil {
		return nil, nil, err
	}
	load, err := r.preloadPhase(ctx, phase, t, n)
	if err != nil {
		return nil, nil, err
	}
	r.sum.Events = load.events

	res := &DrainResult{}
	if baseline {
		if res.Baseline, err = r.baseline(ctx, t.Inputs, int64(load.events)); err != nil {
			return nil, nil, err
		}
	}
	mem := memoryBefore(r.embedded)
	p, err := r.openProcessor(group, t)
	if err != nil {
		return nil, nil, err
	}
	defer p.close()
	profile := r.cfg.CPUProfile
	if memoryOnly {
		profile = ""
	}
	stopProfile, err := startCPUProfile(profile)
	if err != nil {
		return nil, nil, err
	}
	defer stopProfile()

	tm, err := r.timeDrain(ctx, p, phase, load.events)
	if err != nil {
		return nil, nil, err
	}
	stopProfile()
	st := r.drainResult(ctx, res, p.proc, tm, load, t.Changelog)
	r.progress("%s: %d events in %.2fs after %.2fs startup: %.0f events/s, %.1f MB/s, %.2f CPU s per million; %d transitions",
		phase, load.events, res.Processor.Seconds, res.StartupSeconds, res.Processor.EventsPerSec, res.Processor.MBPerSec, res.Processor.CPUSecPerM, st.Transitions)
	r.progress("%s: per event: %.3f store reads (%.3f misses), %.3f timer moves, %.2f changelog records",
		phase, res.StoreReadsPerEvent, res.StoreMissesPerEvent, res.TimerMovesPerEvent, float64(res.ChangelogRecords)/float64(max(load.events, 1)))

	if err := r.memoryAfter(p, mem, st, load.users); err != nil {
		return nil, nil, err
	}
	return res, mem, nil
}

// preloadPhase preloads n events of the workload into t, with progress
// lines for phase.
func (r *Runner) preloadPhase(ctx context.Context, phase string, t processor.Topics, n int) (preloaded, error) {
	r.progress("%s: preloading %d events of %d users into %d partitions", phase, n, r.cfg.Users, r.partitions)
	t0 := time.Now()
	var load preloaded
	var err error
	if load.bytes, load.events, load.users, err = r.preload(ctx, t, n, r.cfg.Users); err != nil {
		return load, err
	}
	r.progress("%s: preloaded %d events of %d users (%.1f MB) in %.1fs", phase, load.events, load.users, float64(load.bytes)/1e6, time.Since(t0).Seconds())
	return load, nil
}

// startCPUProfile starts a CPU profile into file, unless file is "". stop
// ends it; it may be called more than once.
func startCPUProfile(file string) (stop func(), err error) {
	if file == "" {
		return func() {}, nil
	}
	f, err := os.Create(file)
	if err != nil {
		return nil, err
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, err
	}
	return sync.OnceFunc(func() {
		pprof.StopCPUProfile()
		f.Close()
	}), nil
}

// timeDrain starts the processor and waits until it has seen n events
// (Stats.Applied + Rejected + Duplicates), with a progress line every 2 s.
// It fails when the processor stops or makes no progress for 2 minutes.
func (r *Runner) timeDrain(ctx context.Context, p *procRun, phase string, n int) (drainTimes, error) {
	tm := drainTimes{start: time.Now()}
	cpu0 := cpuSeconds()
	p.start(ctx)
	lastProgress, lastSeen, lastChange := time.Now(), int64(-1), time.Now()
	tick := time.NewTicker(2 * time.Millisecond)
	defer tick.Stop()
	for tm.finished.IsZero() {
		select {
		case err := <-p.done:
			p.done = nil
			return tm, fmt.Errorf("the processor stopped during the drain: %v", err)
		case <-ctx.Done():
			return tm, ctx.Err()
		case <-tick.C:
		}
		st := p.proc.Stats()
		seen := st.Applied + st.Rejected + st.Duplicates
		if seen > 0 && tm.first.IsZero() {
			tm.first = time.Now()
		}
		if seen >= int64(n) {
			tm.finished = time.Now()
			break
		}
		if seen != lastSeen {
			lastSeen, lastChange = seen, time.Now()
		} else if time.Since(lastChange) > 2*time.Minute {
			return tm, fmt.Errorf("the drain made no progress for 2 minutes at %d of %d events", seen, n)
		}
		if time.Since(lastProgress) > 2*time.Second {
			lastProgress = time.Now()
			r.progress("%s: %d of %d events applied (%.0f/s so far)", phase, seen, n, float64(seen)/time.Since(tm.start).Seconds())
		}
	}
	tm.cpu = cpuSeconds() - cpu0
	return tm, nil
}

// outputsSettle is how long the drain's outputs must stay all acked, with
// no new one counted, before drainResult takes the counts.
const outputsSettle = 500 * time.Millisecond

// drainResult fills res from the drain's timing, once the outputs are
// acknowledged too, and from the changelog; it returns the processor's
// Stats at the end.
func (r *Runner) drainResult(ctx context.Context, res *DrainResult, proc *processor.Processor, tm drainTimes, load preloaded, changelog string) processor.Stats {
	n := load.events
	seconds := tm.finished.Sub(tm.first).Seconds()
	res.Processor = Throughput{Events: int64(n), Bytes: load.bytes, Seconds: seconds,
		EventsPerSec: float64(n) / seconds, MBPerSec: float64(load.bytes) / 1e6 / seconds, CPUSecPerM: tm.cpu / float64(n) * 1e6}
	res.StartupSeconds = tm.first.Sub(tm.start).Seconds()
	res.LoadAvg = loadAvg()
	// Wait until the outputs are acknowledged too, and no more come: after
	// the last event each partition fires the timers it passed in rounds,
	// and between two rounds every output counted so far may be acked
	// already (a 3M-user drain once counted 2,044 transitions fewer than
	// the runs after it).
	var st processor.Stats
	var acked time.Time // when every output counted was first acked, since the count last changed
	outputs := int64(-1)
	for time.Since(tm.finished) < time.Minute {
		st = proc.Stats()
		n := st.Transitions + st.Warnings + st.SegmentChanges + st.MetricsRecords + st.Rejected
		if n != outputs {
			outputs, acked = n, time.Time{}
		}
		if st.Sent >= n {
			if acked.IsZero() {
				acked = time.Now()
			}
			if time.Since(acked) >= outputsSettle {
				break
			}
		}
		time.Sleep(2 * time.Millisecond)
	}
	if acked.IsZero() {
		acked = time.Now()
	}
	res.OutputsSeconds = acked.Sub(tm.start).Seconds()
	res.Transitions, res.Warnings, res.SegmentChanges = st.Transitions, st.Warnings, st.SegmentChanges
	if n := float64(st.Applied + st.Rejected + st.Duplicates); n > 0 {
		res.StoreReadsPerEvent, res.StoreMissesPerEvent, res.TimerMovesPerEvent = float64(st.StoreReads)/n, float64(st.StoreMisses)/n, float64(st.TimerMoves)/n
	}
	if commits, records, err := r.countCommits(ctx, changelog); err != nil {
		r.progress("counting the commits in the changelog: %v", err)
	} else {
		res.Commits, res.ChangelogRecords = commits, records
		res.RecordsPerCommit = float64(n) / float64(max(commits, 1))
	}
	if res.Baseline != nil {
		res.Ratio = res.Processor.EventsPerSec / res.Baseline.EventsPerSec
	}
	return st
}

// changelogSettles is how long the changelog's end must stay put before
// the commits are counted: longer than the senders' changelog wait.
const changelogSettles = 300 * time.Millisecond

// countCommits reads the changelog to its end and counts its metadata
// records (one per committed batch) and all its records. The senders
// write the changelog a moment after the outputs (the changelog stage
// waits for more batches, processor/sender.go), so its end is taken once
// it has stopped moving.
func (r *Runner) countCommits(ctx context.Context, topic string) (commits, records int64, err error) {
	var ends kadm.ListedOffsets
	for start, last := time.Now(), int64(-1); ; {
		ends, err = r.adm.ListEndOffsets(ctx, topic)
		if err == nil {
			err = ends.Error()
		}
		if err != nil {
			return 0, 0, err
		}
		var total int64
		ends.Each(func(o kadm.ListedOffset) { total += o.Offset })
		if total == last || time.Since(start) > 10*time.Second {
			break
		}
		last = total
		time.Sleep(changelogSettles)
	}
	var c, n atomic.Int64
	rctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	err = r.readToEnd(rctx, ends, func(m kafka.Message) {
		n.Add(1)
		if len(m.Key) == 1 && m.Key[0] == 'm' {
			c.Add(1)
		}
	})
	if err != nil {
		return 0, 0, err
	}
	return c.Load(), n.Load(), nil
}
