package processor

import (
	"context"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"go.uber.org/zap"
)

// inputClock is when the process last saw an input record come, for
// Config.MaxInputSilence: idle advance lets stream time follow the wall
// clock only while the inputs are seen to be live. When every input goes
// silent at once, the likelier cause is upstream (producers down, the
// broker unreachable, a connector stopped) than every user quiet at the
// same moment; stream time following the clock through it would fire the
// inactivity timers of users whose events are only delayed, and churn and
// warn them for a silence that was not theirs. Held, the delayed events
// are applied in event time when they come.
type inputClock struct {
	// last is when records last came (Unix ns): a fetch that brought
	// some, or an end offset of any input partition that moved (watchEnds).
	last atomic.Int64
	held atomic.Bool // stream time is held now (lifecycle_stream_time_held)
	// ends is, per input partition (by number), what watchEnds last
	// learned of its topics' ends (unread).
	ends atomic.Pointer[map[int32]inputEnds]
	log  *zap.Logger
}

// inputEnds is what watchEnds learned of one input partition: each input
// topic's last stable offset (in Topics.Inputs order), and whether one of
// them had a transaction open (its high watermark past that offset).
type inputEnds struct {
	stable []int64
	open   bool
}

// unread reports whether input partition p, read up to next (per input
// topic), had records it has not read when the ends were last asked for:
// committed ones past next (the merge's own ends may not know of them
// yet), or a transaction's still open, which come when it commits, with
// their event times. Idle advance waits for them, as it waits for records
// on their way.
func (c *inputClock) unread(p int32, next []int64) bool {
	all := c.ends.Load()
	if all == nil {
		return false
	}
	e, ok := (*all)[p]
	if !ok {
		return false
	}
	if e.open {
		return true
	}
	for i, s := range e.stable {
		if i < len(next) && s > next[i] {
			return true
		}
	}
	return false
}

func newInputClock(now time.Time, log *zap.Logger) *inputClock {
	c := &inputClock{log: log}
	c.last.Store(now.UnixNano())
	return c
}

// seen records that input records came at now.
func (c *inputClock) seen(now time.Time) { c.last.Store(now.UnixNano()) }

// idleAdvance is the stream time idle advance may take a caught-up
// partition to at now: the wall clock minus the allowed lateness, but
// the clock at most silence past the last record seen. silence 0 never
// holds. The first partition to find the hold begun or ended logs it,
// once for the process.
func (c *inputClock) idleAdvance(now time.Time, silence, lateness time.Duration) time.Time {
	if silence <= 0 {
		return now.Add(-lateness)
	}
	last := time.Unix(0, c.last.Load())
	until := last.Add(silence)
	if now.Before(until) {
		if c.held.CompareAndSwap(true, false) {
			c.log.Info("input records again: stream time follows the wall clock again (--idle-advance)", zap.Time("last_record_seen", last))
		}
		return now.Add(-lateness)
	}
	if c.held.CompareAndSwap(false, true) {
		c.log.Warn("no input record for --max-input-silence: stream time held instead of following the wall clock, so that an upstream outage does not churn and warn users whose events are only delayed; it follows the clock again with the next record",
			zap.Time("last_record_seen", last), zap.Duration("max_input_silence", silence), zap.Time("stream_time_held_at", until.Add(-lateness)))
	}
	return until.Add(-lateness)
}

// watchEnds tells c of records produced to any partition of topics,
// whoever owns it, by asking for their end offsets every interval until
// ctx ends: an instance whose own partitions are quiet while the group's
// others are busy is not in an outage, and should not hold its stream
// time. It also learns what each partition has to read (unread). Two
// ListOffsets requests an interval (a minute by default): the high
// watermarks and the last stable offsets.
func (c *inputClock) watchEnds(ctx context.Context, adm *kadm.Client, topics []string, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	var last map[string]map[int32]int64
	for {
		if ends, err := adm.ListEndOffsets(ctx, topics...); err == nil {
			now := map[string]map[int32]int64{}
			moved := false
			ends.Each(func(o kadm.ListedOffset) {
				if o.Err != nil {
					return
				}
				if now[o.Topic] == nil {
					now[o.Topic] = map[int32]int64{}
				}
				now[o.Topic][o.Partition] = o.Offset
				if before, ok := last[o.Topic][o.Partition]; ok && o.Offset > before {
					moved = true
				}
			})
			if moved {
				c.seen(time.Now())
			}
			last = now
			if stable, err := adm.ListCommittedOffsets(ctx, topics...); err == nil {
				c.ends.Store(partitionInputEnds(topics, ends, stable))
			}
		}
		select {
		case <-t.C:
		case <-ctx.Done():
			return
		}
	}
}

// partitionInputEnds is, per partition, the topics' last stable offsets
// (stable) and whether a high watermark (ends) is past one of them. A
// topic without an answer counts as read (0).
func partitionInputEnds(topics []string, ends, stable kadm.ListedOffsets) *map[int32]inputEnds {
	out := map[int32]inputEnds{}
	for i, topic := range topics {
		for p, o := range stable[topic] {
			if o.Err != nil {
				continue
			}
			e := out[p]
			if e.stable == nil {
				e.stable = make([]int64, len(topics))
			}
			e.stable[i] = o.Offset
			if hw, ok := ends.Lookup(topic, p); ok && hw.Err == nil && hw.Offset > o.Offset {
				e.open = true
			}
			out[p] = e
		}
	}
	return &out
}

// endsInterval is how often watchEnds asks: a few times within the
// silence that holds stream time and within the allowed lateness (an open
// transaction must be seen before idle advance passes its records' event
// times), at most once a minute and at least every 100 ms. A zero
// silence (never held) or lateness does not count.
func endsInterval(silence, lateness time.Duration) time.Duration {
	d := time.Minute
	for _, w := range []time.Duration{silence, lateness} {
		if w > 0 {
			d = min(d, w/3)
		}
	}
	return max(d, 100*time.Millisecond)
}
