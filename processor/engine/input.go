package engine

import (
	"math"
	"time"

	"github.com/lifecycle-engine/lifecycle/schemas"
)

// Input is one input record: where it was, what it held, and what it
// decoded to (Decode).
type Input struct {
	Topic     int // index into Topics.Inputs
	Partition int32
	Offset    int64
	Key       []byte
	Value     []byte
	Time      time.Time // the record's Kafka timestamp
	Event     schemas.Event
	Err       error // why the record is rejected (dead-lettered); nil for a good one
	// Marker says the record is a transaction's commit or abort marker:
	// nothing to apply, but the position moves past it (Apply).
	Marker bool
}

// Decode decodes in's value with dec and checks its time against the
// record's Kafka timestamp (admitTime). now is the wall clock, used only
// where it is earlier than the timestamp.
func Decode(in *Input, dec *schemas.Decoder, skew time.Duration, now time.Time) {
	in.Event, in.Err = dec.Decode(in.Key, in.Value)
	admitTime(in, skew, now)
}

// Unread makes in the stand-in for a record the client could not read:
// its record batch decompresses beyond the bound, or not at all (why says
// which). It is dead-lettered as too large, by `run` and `replay` alike,
// so that one record cannot stall its partition (invariant 6).
func Unread(in *Input, why string) {
	in.Err = &schemas.RejectError{Reason: schemas.ReasonTooLarge, Detail: "its record batch " + why + "; not read"}
}

// admitTime dead-letters an event whose time lies more than skew ahead of
// its record's Kafka timestamp (ARCHITECTURE.md, invariant 6): a single ts of
// 9999 would otherwise move stream time to 9999 and fire every user's
// timers. The Kafka timestamp is part of the input, so a replay decides the
// same; the wall clock stands in only where it is earlier (a record
// stamped in the future, or without a timestamp), the one case in which
// the decision depends on when it is made. A negative skew turns it off.
func admitTime(in *Input, skew time.Duration, now time.Time) {
	if in.Err != nil || skew < 0 {
		return
	}
	ref := now.UnixMilli()
	if ts := in.Time.UnixMilli(); !in.Time.IsZero() && ts > 0 && ts < ref {
		ref = ts
	}
	if err := schemas.CheckFuture(in.Event.Time, ref, skew); err != nil {
		in.Err = err
	}
}

// OrderTime is the event time inputs are merged by. A rejected record has
// no trustworthy time, and a marker none; each goes first, as soon as it
// is at the head of its topic.
func (in *Input) OrderTime() int64 {
	if in.Err != nil || in.Marker {
		return math.MinInt64
	}
	return in.Event.Time
}

// Before is the merge order of two heads of different input topics: the
// smaller time first, ties broken by topic name, then offset
// (ARCHITECTURE.md, Time). Every reader of the inputs (the runtime's merge,
// Merge) uses it, so that they apply records in the same order.
func Before(names []string, a, b *Input) bool {
	if ta, tb := a.OrderTime(), b.OrderTime(); ta != tb {
		return ta < tb
	}
	if names[a.Topic] != names[b.Topic] {
		return names[a.Topic] < names[b.Topic]
	}
	return a.Offset < b.Offset
}

// Next yields inputs one at a time, and nil after the last.
type Next func() (*Input, error)

// Each yields ins in their order.
func Each(ins []*Input) Next {
	return func() (*Input, error) {
		if len(ins) == 0 {
			return nil, nil
		}
		in := ins[0]
		ins = ins[1:]
		return in, nil
	}
}

// MergeNext interleaves input topics (each in offset order) as the
// runtime's merge does for records already in Kafka: repeatedly the head
// that comes first (Before). It reads each topic only as far as the merge
// needs: a replay streams its topics through it.
func MergeNext(names []string, topics []Next) Next {
	heads := make([]*Input, len(topics))
	ended := make([]bool, len(topics))
	return func() (*Input, error) {
		best := -1
		for i, next := range topics {
			if heads[i] == nil && !ended[i] {
				in, err := next()
				if err != nil {
					return nil, err
				}
				heads[i], ended[i] = in, in == nil
			}
			if heads[i] != nil && (best < 0 || Before(names, heads[i], heads[best])) {
				best = i
			}
		}
		if best < 0 {
			return nil, nil
		}
		in := heads[best]
		heads[best] = nil
		return in, nil
	}
}

// Merge is MergeNext of complete topics, whole.
func Merge(names []string, topics [][]*Input) []*Input {
	nexts := make([]Next, len(topics))
	for i, t := range topics {
		nexts[i] = Each(t)
	}
	next := MergeNext(names, nexts)
	var out []*Input
	for in, _ := next(); in != nil; in, _ = next() {
		out = append(out, in)
	}
	return out
}
