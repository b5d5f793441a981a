package bench

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/segmentio/kafka-go"
)

// watchTransitions starts a reader on every partition of topic (the
// transitions), from its end; output gets the time the reader of uid's
// partition reads uid's transition. stop ends the readers.
func (f *FailoverRunner) watchTransitions(ctx context.Context, topic, uid string) (output <-chan time.Time, stop func(), err error) {
	ends, err := f.adm.ListEndOffsets(ctx, topic)
	if err == nil {
		err = ends.Error()
	}
	if err != nil {
		return nil, nil, err
	}
	out := make(chan time.Time, 1)
	rctx, stopReaders := context.WithCancel(ctx)
	var readers sync.WaitGroup
	stop = func() { stopReaders(); readers.Wait() }
	dialer := f.conn.Dialer()
	for _, o := range ends[topic] {
		rd := kafka.NewReader(kafka.ReaderConfig{Brokers: f.conn.Brokers, Dialer: dialer, Topic: topic, Partition: int(o.Partition),
			MinBytes: 1, MaxBytes: 8 << 20, MaxWait: 250 * time.Millisecond})
		if err := rd.SetOffset(o.Offset); err != nil {
			rd.Close()
			stop()
			return nil, nil, err
		}
		readers.Add(1)
		go func() {
			defer readers.Done()
			defer rd.Close()
			for {
				m, err := rd.FetchMessage(rctx)
				if err != nil {
					return
				}
				if string(m.Key) == uid {
					select {
					case out <- time.Now():
					default:
					}
					return
				}
			}
		}()
	}
	return out, stop, nil
}

// killA kills A (SIGKILL), at once produces msg, the new user's event, and
// returns the time of the kill. It takes the changelog's records as A
// left them: what a restore reads.
func (f *FailoverRunner) killA(ctx context.Context, r *FailoverResult, a *instance, w *kafka.Writer, msg kafka.Message, changelog string) (time.Time, error) {
	f.progress("%s: killing A (SIGKILL), then producing an event of the new user %s to partition %d", r.Mode, msg.Key, r.Partition)
	killed := time.Now()
	if err := a.kill(); err != nil {
		return killed, err
	}
	if err := w.WriteMessages(ctx, msg); err != nil {
		return killed, fmt.Errorf("producing the new user's event after the kill: %w", err)
	}
	r.Timeline["event_produced"] = time.Since(killed).Seconds()
	// The changelog as A left it (what a restore reads).
	var err error
	if r.ChangelogRecords, err = f.endsSum(ctx, changelog); err != nil {
		return killed, err
	}
	return killed, nil
}

// awaitOutput waits until the new user's transition is read, B exits or
// the timeout, with a progress line every 5 s; it returns when it was read.
func (f *FailoverRunner) awaitOutput(ctx context.Context, r *FailoverResult, b *instance, killed time.Time, output <-chan time.Time) (time.Time, error) {
	deadline := time.NewTimer(f.cfg.Timeout)
	defer deadline.Stop()
	tick := time.NewTicker(5 * time.Second)
	defer tick.Stop()
	for {
		select {
		case out := <-output:
			return out, nil
		case <-b.done:
			return time.Time{}, b.exited()
		case <-ctx.Done():
			return time.Time{}, ctx.Err()
		case <-deadline.C:
			return time.Time{}, fmt.Errorf("%s: the new user's transition was not read within %v of the kill (B's log: %s)%s", r.Mode, f.cfg.Timeout, b.logNote(), b.tail(15))
		case <-tick.C:
			f.progress("%s: %.0fs after the kill; B's last log line: %s", r.Mode, time.Since(killed).Seconds(), b.lastMsg())
		}
	}
}

// conclude completes r from the kill and the time out the new user's
// transition was read: B's log after the kill, the rest of the time, and
// whether B did what the mode expects.
func (r *FailoverResult) conclude(b *instance, killed, out time.Time) {
	r.TotalSeconds = out.Sub(killed).Seconds()
	r.Timeline["output_read"] = r.TotalSeconds
	r.readLog(b.linesSince(killed), killed, out)
	r.RestSeconds = r.TotalSeconds - r.SessionSeconds - r.RestoreSeconds
	r.LoadAvg = loadAvg()
	r.check()
	if r.Unexpected != "" {
		r.Unexpected += " (B's log: " + b.logNote() + ")"
	}
}

// readLog reads B's log after the kill: when it was assigned the partition
// and restored or promoted it, B's lines up to out, and its warnings and
// errors.
func (r *FailoverResult) readLog(lines []logLine, killed, out time.Time) {
	since := func(at time.Time) float64 { return at.Sub(killed).Seconds() }
	onPartition := func(l logLine) bool { return l.num("partition") == float64(r.Partition) }
	for _, l := range lines {
		if !l.at.After(out) && len(r.BLog) < 50 {
			r.BLog = append(r.BLog, l.raw)
		}
		switch {
		case l.Msg == "partitions assigned" && slices.Contains(l.ints("partitions"), r.Partition) && r.SessionSeconds == 0:
			r.SessionSeconds = since(l.at)
			r.Timeline["b_assigned"] = r.SessionSeconds
		case l.Msg == "restoring partition from the changelog" && onPartition(l):
			r.Timeline["restore_started"] = since(l.at)
		case l.Msg == "partition restored" && onPartition(l):
			r.Restored = true
			r.RestoreSeconds, r.RestoredRecords, r.RestoredUsers = l.num("took"), int64(l.num("records")), int64(l.num("users"))
			r.RestoreRecordsPerSec = l.num("records_per_second")
			r.Timeline["restore_done"] = since(l.at)
		case l.Msg == "standby promoted" && onPartition(l):
			r.Promoted = true
			r.RestoreSeconds, r.PromotedChangelogRecords, r.PromotedUsers = l.num("took"), int64(l.num("changelog_records")), int64(l.num("users"))
			r.Timeline["promoted"] = since(l.at)
		case l.Msg == "reading" && onPartition(l):
			if _, ok := r.Timeline["b_reading"]; !ok {
				r.Timeline["b_reading"] = since(l.at)
			}
		}
		if l.Level == "warn" || l.Level == "error" {
			if s := l.Level + ": " + l.Msg; !slices.Contains(r.Notices, s) && len(r.Notices) < 20 {
				r.Notices = append(r.Notices, s)
			}
		}
	}
}

// check sets Unexpected when B was not assigned the partition, or did not
// promote its standby copy (standby mode) or restore from the changelog
// (no-standby mode).
func (r *FailoverResult) check() {
	standby := r.StandbyReplicas > 0
	switch {
	case r.SessionSeconds == 0:
		r.Unexpected = fmt.Sprintf("B logged no \"partitions assigned\" with partition %d after the kill", r.Partition)
	case standby && r.Restored:
		r.Unexpected = "B restored the partition from the changelog instead of promoting its standby copy"
	case standby && !r.Promoted:
		r.Unexpected = "B logged no \"standby promoted\" for the partition"
	case !standby && r.Promoted:
		r.Unexpected = "B promoted a standby copy, but there were no standby replicas"
	case !standby && !r.Restored:
		r.Unexpected = "B logged no \"partition restored\" for the partition"
	}
}

// bState says how B took the partition over.
func (r *FailoverResult) bState() string {
	if r.Promoted {
		return "promoted its standby copy"
	}
	return "restored from the changelog"
}
