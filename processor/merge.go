package processor

import (
	"math"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/lifecycle-engine/lifecycle/schemas"
)

// item is one input record at the head of its topic, already decoded.
type item struct {
	topic int // index into Topics.Inputs
	msg   kafka.Message
	ev    schemas.Event
	err   error // a *schemas.RejectError when the record is bad
}

// orderTime is the event time the merge orders by. A rejected record has no
// trustworthy time; it goes first, as soon as it is at the head of its topic.
func (it *item) orderTime() int64 {
	if it.err != nil {
		return math.MinInt64
	}
	return it.ev.Time
}

// merger interleaves one partition of every input topic in event-time order:
// the head with the smallest time goes first, ties broken by topic name, then
// offset (design.md, Time). It only decides when every topic either has a
// head or is known to be caught up; otherwise a topic whose next record is
// still on its way could hold an earlier event. For data already in Kafka (a
// replay, a backlog) the order is therefore a function of the topics' content
// alone, not of fetch timing.
type merger struct {
	names []string // topic names, for ties
	heads []*item
	next  []int64 // offset after the last record received, per topic
	hwm   []int64 // latest known high watermark, per topic
	in    []<-chan kafka.Message
	dec   *schemas.Decoder

	closed bool // a fetcher stopped: the partition must restart

	// refetch replaces topic i's fetcher with a new one reading from
	// offset from, and returns its channel (see restartStalled).
	refetch func(i int, from int64) (<-chan kafka.Message, error)

	// waitingSince is when pop last started waiting for a topic whose
	// records are known to exist (zero while it is not waiting).
	waitingSince time.Time
}

func newMerger(names []string, in []<-chan kafka.Message, start, hwm []int64, dec *schemas.Decoder) *merger {
	return &merger{names: names, heads: make([]*item, len(names)), next: start, hwm: hwm, in: in, dec: dec}
}

// poll moves records that are already waiting into empty heads, without blocking.
func (m *merger) poll() {
	for i, h := range m.heads {
		if h != nil || m.in[i] == nil {
			continue
		}
		select {
		case msg, ok := <-m.in[i]:
			if !ok {
				m.in[i], m.closed = nil, true
				continue
			}
			m.take(i, msg)
		default:
		}
	}
}

func (m *merger) take(i int, msg kafka.Message) {
	it := &item{topic: i, msg: msg}
	it.ev, it.err = m.dec.Decode(msg.Key, msg.Value)
	m.heads[i] = it
	m.next[i] = msg.Offset + 1
	if msg.HighWaterMark > m.hwm[i] {
		m.hwm[i] = msg.HighWaterMark
	}
}

// pop returns the next record in merge order, or nil when that cannot be
// decided without waiting for a topic that may still have an earlier record.
func (m *merger) pop() *item {
	best := -1
	for i, h := range m.heads {
		if h == nil {
			if m.next[i] < m.hwm[i] {
				if m.waitingSince.IsZero() {
					m.waitingSince = time.Now()
				}
				return nil // more is on its way from topic i
			}
			continue // caught up: nothing earlier can come from topic i now
		}
		if best < 0 || m.before(h, m.heads[best]) {
			best = i
		}
	}
	m.waitingSince = time.Time{}
	if best < 0 {
		return nil
	}
	it := m.heads[best]
	m.heads[best] = nil
	return it
}

func (m *merger) before(a, b *item) bool {
	if ta, tb := a.orderTime(), b.orderTime(); ta != tb {
		return ta < tb
	}
	if m.names[a.topic] != m.names[b.topic] {
		return m.names[a.topic] < m.names[b.topic]
	}
	return a.msg.Offset < b.msg.Offset
}

// stalled reports whether the merge has waited longer than limit for
// records that the high watermark says exist: a fetch that hangs.
func (m *merger) stalled(now time.Time, limit time.Duration) bool {
	return !m.waitingSince.IsZero() && now.Sub(m.waitingSince) > limit
}

// restartStalled gives every topic the merge is waiting for a new fetcher,
// from the offset after its last record, and returns their names. kafka-go
// readers are reported to hang after broker restarts and fetch errors
// (field notes; kafka-go #1133, #1188); replacing the reader costs no
// rebalance. Records the old fetcher still delivers are dropped with its
// channel: the new one reads them again. It cannot help when the records
// were deleted by the broker (retention) before they were read: the log
// says so every time, and they are lost to every consumer.
func (m *merger) restartStalled() ([]string, error) {
	var names []string
	for i, h := range m.heads {
		if h != nil || m.next[i] >= m.hwm[i] {
			continue
		}
		in, err := m.refetch(i, m.next[i])
		if err != nil {
			return names, err
		}
		m.in[i] = in
		names = append(names, m.names[i])
	}
	m.waitingSince = time.Time{}
	return names, nil
}

// caughtUp reports whether every topic has been read to its known end.
func (m *merger) caughtUp() bool {
	for i, h := range m.heads {
		if h != nil || m.next[i] < m.hwm[i] {
			return false
		}
	}
	return true
}
