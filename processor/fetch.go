package processor

import (
	"context"
	"errors"
	"io"
	"net"
	"sync/atomic"
	"time"

	"github.com/segmentio/kafka-go"
	"go.uber.org/zap"
)

// fetcher reads one topic-partition from a start offset and hands records
// to the partition's goroutine in offset order. Each input topic has its own
// channel, so a topic that runs ahead in event time blocks only its own
// fetcher while the merge waits for the others.
type fetcher struct {
	r      *kafka.Reader
	out    chan kafka.Message
	notify chan<- struct{} // poked after each record, so the partition wakes up
	log    *zap.Logger
	// schemas, when set, is asked for each record's schema before the
	// record is handed on (Config.Schemas): a registry outage holds the
	// fetch, not the merge, so shutting down is never held up by it.
	schemas     SchemaSource
	schemaWaits *atomic.Int64 // fetchers in Prefetch now (Processor.schemaWaits)
}

// fetchCounters are where a fetcher's reader reports its troubles.
type fetchCounters struct {
	errors   *atomic.Int64 // real failures: lifecycle_kafka_errors_total
	timeouts *atomic.Int64 // network read timeouts, which an idle partition sees in ordinary operation
}

func newFetcher(c Conn, topic string, partition int32, offset int64, notify chan<- struct{}, counters fetchCounters, log *zap.Logger) (*fetcher, error) {
	r := kafka.NewReader(kafka.ReaderConfig{
		Brokers:   c.Brokers,
		Dialer:    c.Dialer(),
		Topic:     topic,
		Partition: int(partition),
		// Fetch what is there at once (MinBytes 1) but in large batches when
		// there is a backlog; wait at most MaxWait on an idle partition. The
		// broker answers as soon as a record comes, so MaxWait only sets
		// how often a quiet partition is polled: the idle cost. (kafka-go
		// asks the broker to wait MaxWait less a second for the round trip.)
		MinBytes:       1,
		MaxBytes:       8 << 20,
		MaxWait:        2 * time.Second,
		QueueCapacity:  4096,
		ReadBackoffMin: 50 * time.Millisecond,
		ReadBackoffMax: 2 * time.Second,
		ErrorLogger: kafka.LoggerFunc(func(msg string, args ...any) {
			switch {
			case timedOut(args):
				// kafka-go reports a read that timed out at the end of a
				// quiet partition as an error and reconnects; it is not
				// a failure, and an alert on the error count must not
				// page for it. A real outage shows in other errors too.
				counters.timeouts.Add(1)
				log.Sugar().Debugf("kafka reader: "+msg, args...)
				return
			case canceled(args):
				// The reader is being closed (the partition stops).
				log.Sugar().Debugf("kafka reader: "+msg, args...)
				return
			}
			counters.errors.Add(1)
			log.Sugar().Warnf("kafka reader: "+msg, args...)
		}),
	})
	if err := r.SetOffset(offset); err != nil {
		r.Close()
		return nil, err
	}
	return &fetcher{r: r, out: make(chan kafka.Message, 1024), notify: notify, log: log}, nil
}

// run fetches until ctx ends or the reader fails for good, then closes out.
func (f *fetcher) run(ctx context.Context) {
	defer close(f.out)
	defer f.r.Close()
	for {
		m, err := f.r.FetchMessage(ctx)
		if err != nil {
			if ctx.Err() == nil && !errors.Is(err, io.EOF) {
				f.log.Error("fetch failed; the partition will restart", zap.Error(err))
			}
			return
		}
		if f.schemas != nil {
			f.schemaWaits.Add(1)
			err := f.schemas.Prefetch(ctx, m.Value)
			f.schemaWaits.Add(-1)
			if err != nil {
				return // ctx ended: the record is read again by the next owner
			}
		}
		select {
		case f.out <- m:
		case <-ctx.Done():
			return
		}
		select {
		case f.notify <- struct{}{}:
		default:
		}
	}
}

// timedOut reports whether a reader's log arguments carry a network
// timeout.
func timedOut(args []any) bool {
	for _, a := range args {
		var ne net.Error
		if err, ok := a.(error); ok && errors.As(err, &ne) && ne.Timeout() {
			return true
		}
	}
	return false
}

// canceled reports whether a reader's log arguments carry the cancellation
// of its own context: it is being closed.
func canceled(args []any) bool {
	for _, a := range args {
		if err, ok := a.(error); ok && errors.Is(err, context.Canceled) {
			return true
		}
	}
	return false
}
