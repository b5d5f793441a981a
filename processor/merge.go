package processor

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/lifecycle-engine/lifecycle/processor/engine"
	"github.com/lifecycle-engine/lifecycle/schemas"
)

// merger interleaves one partition of every input topic in event-time order:
// the head with the smallest time goes first, ties broken by topic name, then
// offset (ARCHITECTURE.md, Time). It only decides when every topic either has a
// head or is known to be caught up; otherwise a topic whose next record is
// still on its way could hold an earlier event. For data already in Kafka (a
// replay, a backlog) the order is therefore a function of the topics' content
// alone, not of fetch timing.
type merger struct {
	names []string // topic names, for ties
	heads []*engine.Input
	next  []int64 // offset after the last record received, per topic
	// held says, per topic, whether next is a position the partition had
	// reached (a stored offset, or after a record), not a fresh start.
	held []bool
	// lost collects the ranges of records the broker deleted before they
	// were read, found at gaps and stalls, until the partition reports them.
	lost []lostRange
	hwm  []int64 // latest known high watermark, per topic
	in   []<-chan kafka.Message
	dec  *schemas.Decoder
	skew time.Duration // Config.MaxFutureSkew

	closed bool // a topic's channel closed: the partition must restart
	// backwards is set, and the merge takes nothing more, when a topic's
	// records start again below the position reached: the topic was
	// deleted and created anew, or truncated (ErrInputRestarted).
	backwards error

	// refetch replaces topic i's source with a new one reading from
	// offset from, and returns its channel (see restartStalled).
	refetch func(i int, from int64) (<-chan kafka.Message, error)
	// logStart asks the broker for topic i's log start offset: the first
	// record it still has.
	logStart func(i int) (int64, error)
	// fetchedStart is topic i's log start offset as its latest fetch
	// said it, -1 when no fetch has.
	fetchedStart func(i int) int64

	// waitingSince is when pop last started waiting for a topic whose
	// records are known to exist (zero while it is not waiting).
	waitingSince time.Time

	// ends, when set, asks the broker for every topic's end offset in
	// this partition. A topic read to the end offset it last saw may have
	// got records since: a record produced after that was known does not
	// pass over it until ends has confirmed the ends again (confirm).
	ends      func() ([]int64, error)
	confirmed []int64 // the ends at the last confirmation; nil before one
	endsC     chan endsAnswer
	asking    bool
	notify    chan<- struct{} // poked when an answer arrives
	endsErrs  int             // confirmations that failed (the records waiting then went on)

	// fetchedEnds, when set, returns every topic's end in this partition
	// as one fetch response said them, and which response (inputs.go,
	// fetchedEnds): a confirmation that came with the records, taken
	// before asking. fetchedFrom is the response last taken.
	fetchedEnds func() ([]int64, uint64, bool)
	fetchedFrom uint64
}

type endsAnswer struct {
	ends []int64
	err  error
}

// newMerger returns a merger whose log start is unknown (logStart and
// fetchedStart answer -1) until the caller sets them.
func newMerger(names []string, in []<-chan kafka.Message, start, hwm []int64, dec *schemas.Decoder) *merger {
	return &merger{names: names, heads: make([]*engine.Input, len(names)), next: start, held: make([]bool, len(names)), hwm: hwm, in: in, dec: dec,
		logStart: func(int) (int64, error) { return -1, nil }, fetchedStart: func(int) int64 { return -1 }}
}

// poll moves records that are already waiting into empty heads, and the
// answer of a confirmation of end offsets, without blocking.
func (m *merger) poll() {
	select {
	case a := <-m.endsC:
		m.asking = false
		if a.err != nil {
			// Liveness over order: the records waiting go on.
			m.endsErrs++
			a.ends = slices.Clone(m.confirmed)
			if a.ends == nil {
				a.ends = make([]int64, len(m.heads))
			}
			for i, h := range m.heads {
				if h != nil {
					a.ends[i] = max(a.ends[i], h.Offset+1)
				}
			}
		}
		m.confirm(a.ends)
	default:
	}
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
	if _, ok := msg.WriterData.(topicGone); ok {
		m.backwards = inputGone(m.names[i], int32(msg.Partition))
		m.in[i] = nil
		return
	}
	if m.held[i] && msg.Offset < m.next[i] {
		// The fetching client went back to the log start: the position
		// is past the topic's end.
		m.backwards = inputRestarted(m.names[i], int32(msg.Partition), m.next[i], msg.Offset)
		m.in[i] = nil
		return
	}
	// The fetching client skips silently to the log start when the next
	// offset was deleted, and over an aborted transaction's records: a
	// gap is records lost only below the log start, which the fetches
	// say. Before one has (or from a broker whose fetches do not), a gap
	// of one is taken for a transaction of one record, and a longer one
	// is checked with the broker.
	if m.held[i] && msg.Offset > m.next[i] {
		start, err := m.fetchedStart(i), error(nil)
		if start < 0 && msg.Offset > m.next[i]+1 {
			start, err = m.logStart(i)
		}
		if err == nil && start > m.next[i] {
			m.lost = append(m.lost, lostRange{m.names[i], m.next[i], min(start, msg.Offset)})
		}
	}
	m.held[i] = true
	it := &engine.Input{Topic: i, Partition: int32(msg.Partition), Offset: msg.Offset, Key: msg.Key, Value: msg.Value, Time: msg.Time}
	if u, ok := msg.WriterData.(unreadBatch); ok {
		engine.Unread(it, u.why)
	} else if _, ok := msg.WriterData.(controlRecord); ok {
		it.Marker = true
	} else {
		engine.Decode(it, m.dec, m.skew, time.Now())
	}
	m.heads[i] = it
	m.next[i] = msg.Offset + 1
	if msg.HighWaterMark > m.hwm[i] {
		m.hwm[i] = msg.HighWaterMark
	}
}

// pop returns the next record in merge order, or nil when that cannot be
// decided without waiting for a topic that may still have an earlier record.
func (m *merger) pop() *engine.Input {
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
		if best < 0 || engine.Before(m.names, h, m.heads[best]) {
			best = i
		}
	}
	m.waitingSince = time.Time{}
	if best < 0 || !m.passes(m.heads[best]) {
		return nil
	}
	it := m.heads[best]
	m.heads[best] = nil
	return it
}

// passes reports whether it may pass over the topics whose heads are
// empty (read to their known end): whether it was in Kafka when their ends
// were last confirmed, so that they cannot have records produced before it
// that the merge has not seen. Without that, a topic that got records
// while another was being read (live input, or a backlog produced in
// parts) would be passed over by the other's later events, and the order
// would depend on timing (ARCHITECTURE.md, invariant 4; Kafka Streams waits for
// the same reason, KIP-695). The fetch responses confirm them as they
// come, when one response has all of this partition's topics (inputs.go,
// fetchedEnds); when not, it asks the broker (one answer covers every
// record produced before it: a whole backlog) and reports false; the
// answer wakes the loop.
func (m *merger) passes(it *engine.Input) bool {
	if m.ends == nil || m.confirmed != nil && it.Offset < m.confirmed[it.Topic] {
		return true
	}
	passes := false
	for i, h := range m.heads {
		passes = passes || h == nil && i != it.Topic
	}
	if !passes {
		return true
	}
	if m.fetchedEnds != nil {
		// The ends the fetches brought since the last ones taken: those
		// of the response that brought it, or a later one.
		if ends, from, ok := m.fetchedEnds(); ok && from != m.fetchedFrom {
			m.fetchedFrom = from
			m.confirm(ends)
			if it.Offset < ends[it.Topic] {
				for i, h := range m.heads {
					if h == nil && m.next[i] < m.hwm[i] {
						return false // its records are on their way, and wake the loop
					}
				}
				return true
			}
		}
	}
	if !m.asking {
		m.asking = true
		go func() {
			ends, err := m.ends()
			m.endsC <- endsAnswer{ends, err}
			select {
			case m.notify <- struct{}{}:
			default:
			}
		}()
	}
	return false
}

// confirm takes ends, every topic's end at one moment, as the last
// confirmation: the records below them were in Kafka then, and the merge
// waits for those it has not read.
func (m *merger) confirm(ends []int64) {
	newer := m.confirmed == nil
	for i, e := range ends {
		newer = newer || e > m.confirmed[i]
	}
	if !newer {
		return // no later than the one held: an answer overtaken by a fetch's
	}
	m.confirmed = ends
	for i, e := range ends {
		m.hwm[i] = max(m.hwm[i], e)
	}
}

// stalled reports whether the merge has waited longer than limit for
// records that the high watermark says exist: a fetch that hangs.
func (m *merger) stalled(now time.Time, limit time.Duration) bool {
	return !m.waitingSince.IsZero() && now.Sub(m.waitingSince) > limit
}

// ErrInputRestarted: an input topic's records start again below the
// position a partition's state has reached.
var ErrInputRestarted = errors.New("processor: an input topic starts again below what the state has applied")

// inputRestartedWayOn ends ErrInputRestarted's messages: what to do.
const inputRestartedWayOn = "The state is kept as it is and nothing more is read. To go on with the user history, rebuild the state from an archive of every event " +
	"(lifecycle replay --archive … --handover DIR) and run a new --group on it; to start the users anew, run a new --group with a new --state-dir"

// inputRestarted is the error for topic's partition, whose state has
// applied the records before offset applied, where the broker's records
// now end (or start again) at offset now. Every record up to applied
// would be taken as applied already (the users' records carry their
// offsets) and skipped, so the process stops rather than drop them
// without a word.
func inputRestarted(topic string, partition int32, applied, now int64) error {
	return fmt.Errorf("%w: %s/%d is at offset %d, and this partition's state has applied its records up to offset %d. "+
		"The topic was deleted and created anew (or truncated by an unclean leader election): its new records would be taken as applied already and skipped. "+
		"%s", ErrInputRestarted, topic, partition, now, applied, inputRestartedWayOn)
}

// inputGone is the error for topic's partition when the broker no longer
// has the topic it was reading.
func inputGone(topic string, partition int32) error {
	return fmt.Errorf("%w: %s/%d: the broker no longer has the topic this partition was read from (UNKNOWN_TOPIC_ID): it was deleted, perhaps to be created anew. "+
		"A topic created anew starts its offsets again at 0, below what this partition's state has applied, and its records would be taken as applied already and skipped. "+
		"%s", ErrInputRestarted, topic, partition, inputRestartedWayOn)
}

// lostRange is a stretch of a topic's records that the broker deleted
// (retention) before they were read: [from, to).
type lostRange struct {
	topic    string
	from, to int64
}

// restartStalled handles the topics the merge has waited on too long.
// When the broker's log of a topic now starts past the next offset, the
// records in between were deleted (retention) before they were read: no
// consumer can have them. The merge goes on from the log start, and the
// range goes to lost, to be reported, never passed over in silence.
// Otherwise the topic gets a new source, from the offset after its last
// record: its partition is removed from the fetching client and added
// again (inputs.go), which costs no rebalance. A watchdog on progress:
// fetches have been seen to hang after broker restarts (field notes, of
// kafka-go, which read the inputs until issue 18), and a partition the
// client reports a fatal error for is not fetched again until it is
// assigned anew. Records the old source fetched are dropped with it: the
// new one reads them again. It returns the names of the topics given new
// sources.
func (m *merger) restartStalled() (restarted []string, err error) {
	for i, h := range m.heads {
		if h != nil || m.next[i] >= m.hwm[i] {
			continue
		}
		from := m.next[i]
		// Unknown when the broker cannot answer (an outage, which is
		// also when fetches hang): then only the source is replaced.
		if start, err := m.logStart(i); err == nil && start > from {
			if m.held[i] {
				m.lost = append(m.lost, lostRange{m.names[i], from, start})
			}
			from, m.next[i] = start, start
			if from >= m.hwm[i] {
				continue // nothing left to read: caught up
			}
		}
		in, err := m.refetch(i, from)
		if err != nil {
			return restarted, err
		}
		m.in[i] = in
		restarted = append(restarted, m.names[i])
	}
	m.waitingSince = time.Time{}
	return restarted, nil
}

// lag returns topic i's records between the next one to apply and its
// latest known high watermark, -1 while that is unknown.
func (m *merger) lag(i int) int64 {
	if m.hwm[i] == math.MaxInt64 {
		return -1
	}
	pos := m.next[i]
	if h := m.heads[i]; h != nil {
		pos = h.Offset
	}
	return max(m.hwm[i]-pos, 0)
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
