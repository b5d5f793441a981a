package produce

import (
	"context"
	"fmt"
	"time"

	"github.com/segmentio/kafka-go"
)

// Sink produces records in large batches: one WriteMessages call per few
// thousand records is what makes a kafka-go producer fast. The simulator,
// the demo and the benchmarks load their events with it.
type Sink struct {
	ctx context.Context
	w   *kafka.Writer
	buf []kafka.Message
}

// NewSink returns a sink writing with w (closed by Close).
func NewSink(ctx context.Context, w *kafka.Writer) *Sink { return &Sink{ctx: ctx, w: w} }

// Add queues m. Leave its Time zero: the Kafka timestamp is then the time
// of sending, not the event's time (which is in the payload); records
// stamped months in the past are deleted by the broker's time-based
// retention (7 days by default) at its next check, under a processor still
// reading them.
func (s *Sink) Add(m kafka.Message) error {
	s.buf = append(s.buf, m)
	if len(s.buf) >= 5000 {
		return s.Flush()
	}
	return nil
}

// Flush sends what is queued. Right after topics are created, a broker may
// list a partition's leader a moment before the partition accepts writes:
// that is retried for 30 s, sending again only the records that failed,
// so each is in Kafka once.
func (s *Sink) Flush() error {
	if len(s.buf) == 0 {
		return nil
	}
	deadline := time.Now().Add(30 * time.Second)
	pending := s.buf
	for {
		err := s.w.WriteMessages(s.ctx, pending...)
		if err == nil {
			s.buf = s.buf[:0]
			return nil
		}
		if !Refused(err) || time.Now().After(deadline) || s.ctx.Err() != nil {
			return fmt.Errorf("producing events: %w", err)
		}
		pending = FailedOnly(pending, err)
		time.Sleep(100 * time.Millisecond)
	}
}

// Close closes the writer (without flushing).
func (s *Sink) Close() error { return s.w.Close() }
