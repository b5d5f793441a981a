package processor

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"go.uber.org/zap"

	"github.com/lifecycle-engine/lifecycle/processor/offline"
	"github.com/lifecycle-engine/lifecycle/processor/produce"
	"github.com/lifecycle-engine/lifecycle/schemas"
	"github.com/lifecycle-engine/lifecycle/state/record"
)

// InputPartitions checks that the input topics exist and are
// co-partitioned, and returns their partition count.
func InputPartitions(ctx context.Context, c Conn, inputs []string) (int32, error) {
	adm, err := c.Admin()
	if err != nil {
		return 0, err
	}
	defer adm.Close()
	if err := c.Check(ctx, adm); err != nil {
		return 0, err
	}
	details, err := adm.ListTopics(ctx, inputs...)
	if err != nil {
		return 0, fmt.Errorf("replay: list topics: %w", err)
	}
	for _, name := range inputs {
		if d, ok := details[name]; !ok || d.Err != nil {
			return 0, fmt.Errorf("%w: %s (name the input topics with --input-topics)", ErrMissingTopics, name)
		}
	}
	return inputPartitions(details, inputs)
}

// ReplaySource reads cfg's input topics for `lifecycle replay`
// (offline.Runner.RunFrom): each partition of every input topic from the
// first record stamped at or after a time (or the earliest the broker
// still has) up to the end offsets when it was opened, in offset order.
// They are read as `lifecycle run` reads them (inputs.go), with the same
// bound on what a record batch may decompress to: the records of a batch
// beyond it, or that cannot be decompressed, come as stand-ins
// (offline.Record.Unread) that the engine dead-letters as run does, so a
// hostile batch neither stalls a replay nor takes its memory. Records
// keep their Kafka timestamps, so a replay judges a future timestamp as
// the live run did.
type ReplaySource struct {
	in           *inputs
	topics       []string
	starts, ends kadm.ListedOffsets
	read         atomic.Int64
}

// rangeFetchWait is how long the broker may hold a fetch of readRange's
// client. A range read to the log end leaves a fetch of it waiting at the
// broker, and the client sends the next range's first fetch only after
// it returns: at run's 500 ms, a replay of 8 partitions took twice as long.
const rangeFetchWait = 10 * time.Millisecond

// newRangeInputs is the fetching client readRange reads through (a
// replay's, diff's): run's, with the bound maxBatch on what a record batch
// may decompress to, no schema registry and counters of its own.
func newRangeInputs(c Conn, maxBatch int, log *zap.Logger) (*inputs, error) {
	var fetchErrors, fetchTimeouts atomic.Int64
	return newInputs(c, rangeFetchWait, maxBatch, nil, nil, fetchCounters{&fetchErrors, &fetchTimeouts}, nil, log)
}

// OpenReplay lists the ranges to read: from is Unix ms, 0 for the
// earliest records. Close it after.
func OpenReplay(ctx context.Context, cfg Config, from int64) (*ReplaySource, error) {
	adm, err := cfg.Conn.Admin()
	if err != nil {
		return nil, err
	}
	defer adm.Close()
	s := &ReplaySource{topics: cfg.Topics.Inputs}
	// The last stable offsets: records of a transaction still open are
	// not read (inputs), so a range up to the high watermark would wait
	// for them.
	s.ends, err = adm.ListCommittedOffsets(ctx, s.topics...)
	if err == nil {
		err = s.ends.Error()
	}
	if err != nil {
		return nil, fmt.Errorf("replay: end offsets of the inputs: %w", err)
	}
	if from > 0 {
		s.starts, err = adm.ListOffsetsAfterMilli(ctx, from, s.topics...)
	} else {
		s.starts, err = adm.ListStartOffsets(ctx, s.topics...)
	}
	if err == nil {
		err = s.starts.Error()
	}
	if err != nil {
		return nil, fmt.Errorf("replay: start offsets of the inputs: %w", err)
	}
	log := cfg.Log
	if log == nil {
		log = zap.NewNop()
	}
	if s.in, err = newRangeInputs(cfg.Conn, cfg.maxBatchBytes(), log); err != nil {
		return nil, fmt.Errorf("replay: %w", err)
	}
	return s, nil
}

// Records is how many records the ranges hold (offsets: a compacted or
// transactional topic has fewer).
func (s *ReplaySource) Records() int64 {
	var n int64
	for _, topic := range s.topics {
		for p, end := range s.ends[topic] {
			if start, ok := s.starts.Lookup(topic, p); ok && start.Offset >= 0 {
				n += max(0, end.Offset-start.Offset)
			}
		}
	}
	return n
}

// Read reads partition p of input topic number topic, calling add with
// each record: an offline.Source.
func (s *ReplaySource) Read(ctx context.Context, p int32, topic int, add func(offset int64, rec offline.Record)) error {
	name := s.topics[topic]
	start, _ := s.starts.Lookup(name, p)
	end, _ := s.ends.Lookup(name, p)
	return readRange(ctx, s.in, name, p, start.Offset, end.Offset, func(m kafka.Message) {
		s.read.Add(1)
		// The key is kept while the record waits for its engine: a copy,
		// so that it does not keep the buffer of its whole fetch (the
		// Runner copies what it keeps of the value).
		rec := offline.Record{Topic: topic, Key: bytes.Clone(m.Key), Value: m.Value}
		if !m.Time.IsZero() {
			rec.Time = m.Time.UnixMilli()
		}
		if u, ok := m.WriterData.(unreadBatch); ok {
			rec.Unread = u.why
		}
		add(m.Offset, rec)
	})
}

// ReadSoFar is how many records Read has handed on.
func (s *ReplaySource) ReadSoFar() int64 { return s.read.Load() }

// Close stops the fetching client.
func (s *ReplaySource) Close() { s.in.close() }

// stallAfter is how long readRange waits for a record it knows exists;
// replaceAfter, how long before it replaces the range's source meanwhile.
// franz-go stops fetching a partition at a batch beyond the decompression
// bound until told to skip it, and the error that says so is lost when
// the client drops its buffered fetches (another range's source stopping):
// a new source fetches the batch again, and gets the error (the live
// merge does the same, merger.restartStalled).
const (
	stallAfter   = 30 * time.Second
	replaceAfter = 5 * time.Second
)

// readRange reads topic's partition p from offset start up to end
// (exclusive) through in and calls fn with each record in offset order:
// the committed ones (inputs), without the markers that end transactions.
func readRange(ctx context.Context, in *inputs, topic string, p int32, start, end int64, fn func(kafka.Message)) error {
	if start < 0 || start >= end {
		return nil
	}
	notify := make(chan struct{}, 1)
	s := in.open(topic, p, start, notify)
	defer func() { s.stop() }()
	replace := time.NewTicker(replaceAfter)
	defer replace.Stop()
	next, last := start, time.Now()
	for {
		select {
		case m := <-s.out:
			if _, marker := m.WriterData.(controlRecord); !marker {
				fn(m)
			}
			next, last = m.Offset+1, time.Now()
			if next >= end {
				return nil
			}
		case now := <-replace.C:
			if now.Sub(last) < replaceAfter {
				continue
			}
			if now.Sub(last) >= stallAfter {
				return fmt.Errorf("replay: %s/%d: no record for %s at offset %d of %d (deleted by retention meanwhile, or the broker is not answering); replay from a later --from", topic, p, stallAfter, next, end)
			}
			s.stop()
			s = in.open(topic, p, next, notify)
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// ReplayTopics names a replay's output topics: the live ones with suffix.
// It refuses a suffix that leaves a live name unchanged.
func ReplayTopics(t Topics, suffix string) ([]string, error) {
	t = t.withDefaults()
	if strings.TrimSpace(suffix) == "" {
		return nil, errors.New("replay: an empty suffix would write to the live output topics")
	}
	out := t.Outputs()
	for i := range out {
		out[i] += suffix
	}
	return out, nil
}

// ReplayWriter writes a replay's outputs to topics of its own, created
// with the inputs' partition count and keyed as run keys them (Murmur2),
// so that a user's outputs land in the partition number of the user's
// inputs.
type ReplayWriter struct {
	sink  *produce.Sink
	names map[string]string // live output topic → replay topic
}

// NewReplayWriter creates the replay topics (those missing) for the live
// outputs of t with suffix, and returns a writer to them. Existing replay
// topics with another partition count are refused.
func NewReplayWriter(ctx context.Context, c Conn, t Topics, suffix string, partitions int32, replication int16) (*ReplayWriter, error) {
	names, err := ReplayTopics(t, suffix)
	if err != nil {
		return nil, err
	}
	cl, err := c.Client()
	if err != nil {
		return nil, err
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	resp, err := createTopics(ctx, adm, partitions, max(replication, 1), t.withDefaults().Metrics+suffix, names)
	if err != nil {
		return nil, err
	}
	var created []string
	for _, name := range names {
		switch r := resp[name]; {
		case r.Err == nil:
			created = append(created, name)
		case !errors.Is(r.Err, kerr.TopicAlreadyExists):
			return nil, fmt.Errorf("replay: create topic %s: %w %s", name, r.Err, r.ErrMessage)
		}
	}
	if len(created) > 0 {
		if err := waitForTopics(ctx, cl, created); err != nil {
			return nil, err
		}
	}
	details, err := adm.ListTopics(ctx, names...)
	if err != nil {
		return nil, fmt.Errorf("replay: describe topics: %w", err)
	}
	for _, name := range names {
		if n := int32(len(details[name].Partitions)); n != partitions {
			return nil, fmt.Errorf("replay: topic %s has %d partitions, the inputs %d: delete it or choose another --to-topics suffix", name, n, partitions)
		}
	}
	live := t.withDefaults().Outputs()
	m := make(map[string]string, len(live))
	for i, name := range live {
		m[name] = names[i]
	}
	return &ReplayWriter{sink: produce.NewSink(ctx, c.Writer()), names: m}, nil
}

// ErrGroupActive is NewLiveWriter's error while the live group consumes.
var ErrGroupActive = errors.New("the live consumer group has members")

// NewLiveWriter returns a writer to the live output topics themselves, for
// a replay that must correct what the live run wrote. It refuses while the
// live group has members: a running instance would interleave its outputs
// with the replay's. Outputs the live run already wrote come again with
// the same ids, which consumers deduplicate.
func NewLiveWriter(ctx context.Context, c Conn, t Topics, group string) (*ReplayWriter, error) {
	adm, err := c.Admin()
	if err != nil {
		return nil, err
	}
	defer adm.Close()
	groups, err := adm.DescribeGroups(ctx, group)
	if err != nil {
		return nil, fmt.Errorf("replay: describe group %s: %w", group, err)
	}
	if g, ok := groups[group]; ok && g.Err == nil && len(g.Members) > 0 {
		return nil, fmt.Errorf("%w: group %s has %d members (state %s); stop its instances first, or write to --to-topics", ErrGroupActive, group, len(g.Members), g.State)
	}
	live := t.withDefaults().Outputs()
	details, err := adm.ListTopics(ctx, live...)
	if err != nil {
		return nil, fmt.Errorf("replay: describe topics: %w", err)
	}
	m := make(map[string]string, len(live))
	for _, name := range live {
		if d, ok := details[name]; !ok || d.Err != nil {
			return nil, fmt.Errorf("%w: %s", ErrMissingTopics, name)
		}
		m[name] = name
	}
	return &ReplayWriter{sink: produce.NewSink(ctx, c.Writer()), names: m}, nil
}

// Topics lists the replay topics written to, sorted.
func (w *ReplayWriter) Topics() []string {
	return slices.Sorted(maps.Values(w.names))
}

// Write queues o for its replay topic; batches are sent as they fill.
func (w *ReplayWriter) Write(o record.Output) error {
	m := kafka.Message{Topic: w.names[o.Topic], Key: o.Key, Value: o.Value}
	for _, h := range o.Headers {
		m.Headers = append(m.Headers, kafka.Header{Key: h.Key, Value: h.Value})
	}
	crashPoint(crashReplayed)
	return w.sink.Add(m)
}

// Close sends what is queued, waits for the acks and closes the writer.
func (w *ReplayWriter) Close() error {
	return errors.Join(w.sink.Flush(), w.sink.Close())
}

// ReadTopics reads every record of topics, from the earliest the broker
// still has up to the end offsets at the call, partition by partition in
// offset order, and calls fn with each as an output record: what
// `lifecycle diff --brokers` compares.
func ReadTopics(ctx context.Context, c Conn, topics []string, fn func(p int32, o record.Output) error) error {
	adm, err := c.Admin()
	if err != nil {
		return err
	}
	defer adm.Close()
	if err := c.Check(ctx, adm); err != nil {
		return err
	}
	starts, err := adm.ListStartOffsets(ctx, topics...)
	if err == nil {
		err = starts.Error()
	}
	if err != nil {
		return fmt.Errorf("%w: reading %s: %w", ErrMissingTopics, strings.Join(topics, ", "), err)
	}
	ends, err := adm.ListCommittedOffsets(ctx, topics...) // as OpenReplay
	if err == nil {
		err = ends.Error()
	}
	if err != nil {
		return fmt.Errorf("%w: reading %s: %w", ErrMissingTopics, strings.Join(topics, ", "), err)
	}
	in, err := newRangeInputs(c, maxBatchBytes(schemas.DefaultMaxRecordBytes), zap.NewNop())
	if err != nil {
		return err
	}
	defer in.close()
	for _, topic := range topics {
		parts := slices.Sorted(maps.Keys(ends[topic]))
		for _, p := range parts {
			start, _ := starts.Lookup(topic, p)
			var ferr error
			err := readRange(ctx, in, topic, p, start.Offset, ends[topic][p].Offset, func(m kafka.Message) {
				if ferr != nil {
					return
				}
				if u, ok := m.WriterData.(unreadBatch); ok {
					ferr = fmt.Errorf("reading %s/%d at offset %d: its record batch %s", topic, p, m.Offset, u.why)
					return
				}
				o := record.Output{Topic: topic, Key: m.Key, Value: m.Value}
				for _, h := range m.Headers {
					o.Headers = append(o.Headers, record.Header{Key: h.Key, Value: h.Value})
				}
				ferr = fn(p, o)
			})
			if err = errors.Join(err, ferr); err != nil {
				return err
			}
		}
	}
	return nil
}
