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

// ReplayInputs reads cfg's input topics for `lifecycle replay`:
// partitions 0 to partitions − 1 of every input topic, from the first
// record stamped at or after from (Unix ms; 0: the earliest record the
// broker still has) up to the end offsets at the call, partition by
// partition and each topic in offset order, and calls add with each
// record, its partition and its offset.
// They are read as `lifecycle run` reads them (inputs.go), with the same
// bound on what a record batch may decompress to: the records of a batch
// beyond it, or that cannot be decompressed, come as stand-ins
// (offline.Record.Unread) that the engine dead-letters as run does, so a
// hostile batch neither stalls a replay nor takes its memory.
// Records keep their Kafka timestamps, so a replay judges a future
// timestamp as the live run did. done is called after each partition with
// the records read so far.
func ReplayInputs(ctx context.Context, cfg Config, partitions int32, from int64, add func(p int32, offset int64, r offline.Record), done func(p int32, records int64)) error {
	inputs := cfg.Topics.Inputs
	adm, err := cfg.Conn.Admin()
	if err != nil {
		return err
	}
	defer adm.Close()
	ends, err := adm.ListEndOffsets(ctx, inputs...)
	if err == nil {
		err = ends.Error()
	}
	if err != nil {
		return fmt.Errorf("replay: end offsets of the inputs: %w", err)
	}
	var starts kadm.ListedOffsets
	if from > 0 {
		starts, err = adm.ListOffsetsAfterMilli(ctx, from, inputs...)
	} else {
		starts, err = adm.ListStartOffsets(ctx, inputs...)
	}
	if err == nil {
		err = starts.Error()
	}
	if err != nil {
		return fmt.Errorf("replay: start offsets of the inputs: %w", err)
	}
	log := cfg.Log
	if log == nil {
		log = zap.NewNop()
	}
	var fetchErrors, fetchTimeouts atomic.Int64
	in, err := newInputs(cfg.Conn, 0, cfg.maxBatchBytes(), nil, nil, fetchCounters{&fetchErrors, &fetchTimeouts}, log)
	if err != nil {
		return fmt.Errorf("replay: %w", err)
	}
	defer in.close()
	// The ranges are fetched concurrently (one client: a fetch brings
	// every open range's records) and handed to add in partition and topic
	// order.
	type fetched struct {
		recs    []offline.Record
		offsets []int64
		err     error
		done    chan struct{}
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	slots := make(chan struct{}, replayFetchers)
	ranges := make([][]*fetched, partitions)
	for p := range partitions {
		ranges[p] = make([]*fetched, len(inputs))
		for i, topic := range inputs {
			f := &fetched{done: make(chan struct{})}
			ranges[p][i] = f
			start, _ := starts.Lookup(topic, p)
			end, _ := ends.Lookup(topic, p)
			go func() {
				defer close(f.done)
				slots <- struct{}{}
				defer func() { <-slots }()
				f.err = readRange(ctx, in, topic, p, start.Offset, end.Offset, func(m kafka.Message) {
					// The key is kept to the run: a copy, so that it does
					// not keep the buffer of its whole fetch (AddRead copies
					// what it keeps of the value).
					rec := offline.Record{Topic: i, Key: bytes.Clone(m.Key), Value: m.Value}
					if !m.Time.IsZero() {
						rec.Time = m.Time.UnixMilli()
					}
					if u, ok := m.WriterData.(unreadBatch); ok {
						rec.Unread = u.why
					}
					f.recs = append(f.recs, rec)
					f.offsets = append(f.offsets, m.Offset)
				})
			}()
		}
	}
	var n int64
	for p := range partitions {
		for _, f := range ranges[p] {
			<-f.done
			if f.err != nil {
				return f.err
			}
			for k, r := range f.recs {
				add(p, f.offsets[k], r)
			}
			n += int64(len(f.recs))
			f.recs, f.offsets = nil, nil
		}
		done(p, n)
	}
	return nil
}

// replayFetchers is how many partition ranges a replay reads at once.
const replayFetchers = 8

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
// (exclusive) through in and calls fn with each record in offset order.
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
			fn(m)
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
	adm, err := c.Admin()
	if err != nil {
		return nil, err
	}
	defer adm.Close()
	resp, err := adm.CreateTopics(ctx, partitions, max(replication, 1), nil, names...)
	if err != nil {
		return nil, fmt.Errorf("replay: create topics: %w", err)
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
		if err := waitForTopics(ctx, adm, created); err != nil {
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
	ends, err := adm.ListEndOffsets(ctx, topics...)
	if err == nil {
		err = ends.Error()
	}
	if err != nil {
		return fmt.Errorf("%w: reading %s: %w", ErrMissingTopics, strings.Join(topics, ", "), err)
	}
	var fetchErrors, fetchTimeouts atomic.Int64
	in, err := newInputs(c, 0, maxBatchBytes(schemas.DefaultMaxRecordBytes), nil, nil, fetchCounters{&fetchErrors, &fetchTimeouts}, zap.NewNop())
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
