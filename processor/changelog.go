package processor

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kadm"
	"go.uber.org/zap"

	"github.com/lifecycle-engine/lifecycle/processor/retention"
	"github.com/lifecycle-engine/lifecycle/state/record"
)

// Changelog record keys: a kind byte, then the user id for user records
// and the record's key for retention records. Values are the store's own
// encodings (versioned), so a restore writes what the owner wrote; a
// retention record without a value was deleted (pruned). A group record
// (no value) opens a write of several produce batches (changelogWrites).
const (
	changelogUser      = 'u'
	changelogMeta      = 'm'
	changelogRetention = 'r'
	changelogGroup     = 'g'
)

// epochHeader stamps every changelog record with its writer's epoch
// (record.Meta.Epoch): each owner of a partition writes with a higher one
// than every record it found, so that a restore can tell a former owner's
// write that landed late (it was in flight while that owner was paused
// past its session) from the current owner's, even when both applied the
// same input offsets (a timer's warning, an RFM rebuild), which the
// offsets alone cannot (applier.add).
const epochHeader = "lifecycle.epoch"

// epochOf is the epoch m was written with; 0 for records of older
// versions, written before epochs.
func epochOf(m kafka.Message) uint64 {
	for _, h := range m.Headers {
		if h.Key == epochHeader {
			e, err := strconv.ParseUint(string(h.Value), 10, 64)
			if err == nil {
				return e
			}
		}
	}
	return 0
}

// changelogIDHeader stamps each metadata record with the topic ID of the
// changelog its writer's ownership started on. A changelog deleted and
// created anew holds only what was written to it since, until an owner
// seeds it from its local state (makeCurrent): an owner that had not
// noticed the new topic yet stamped its metadata with the deleted topic's
// ID, the seed stamps the new one's. A restore or a standby's promotion
// refuses a changelog whose newest metadata names another topic
// (ErrChangelogUnseeded) instead of bringing back only the users written
// to it since. Records of older versions, and of brokers without topic
// IDs, have none.
const changelogIDHeader = "lifecycle.changelog-id"

// inputIDHeader stamps each metadata record with the topic ID of each
// input topic, once per topic: the ID, then the topic's name. The
// metadata's offsets are positions in those topics; an input deleted and
// created anew starts its offsets again at 0, and a state that applied
// the deleted topic would take the new one's records as applied already.
// makeCurrent refuses such a state (ErrInputRestarted), even when the new
// topic has since grown past the state's position.
const inputIDHeader = "lifecycle.input-id"

// stamps are what a metadata record's headers say of the topics its
// writer worked on (changelogIDHeader, inputIDHeader); zero IDs when it
// has none.
type stamps struct {
	changelog kadm.TopicID
	inputs    map[string]kadm.TopicID
}

func stampsOf(m kafka.Message) stamps {
	var s stamps
	for _, h := range m.Headers {
		switch {
		case h.Key == changelogIDHeader && len(h.Value) == len(s.changelog):
			copy(s.changelog[:], h.Value)
		case h.Key == inputIDHeader && len(h.Value) > len(kadm.TopicID{}):
			if s.inputs == nil {
				s.inputs = map[string]kadm.TopicID{}
			}
			var id kadm.TopicID
			n := copy(id[:], h.Value)
			s.inputs[string(h.Value[n:])] = id
		}
	}
	return s
}

// ownershipWriter is a partition's changelog writer for one ownership: it
// stamps every message with the ownership's epoch, and metadata records
// also with the IDs of the changelog and the inputs it started on.
type ownershipWriter struct {
	w      messageWriter
	header []kafka.Header // shared, read only
	meta   []kafka.Header // the same, and the IDs that are known
}

func stampOwnership(w messageWriter, epoch uint64, on stamps) ownershipWriter {
	e := kafka.Header{Key: epochHeader, Value: strconv.AppendUint(nil, epoch, 10)}
	ow := ownershipWriter{w: w, header: []kafka.Header{e}, meta: []kafka.Header{e}}
	if on.changelog != (kadm.TopicID{}) {
		ow.meta = append(ow.meta, kafka.Header{Key: changelogIDHeader, Value: on.changelog[:]})
	}
	for _, topic := range slices.Sorted(maps.Keys(on.inputs)) {
		if id := on.inputs[topic]; id != (kadm.TopicID{}) {
			ow.meta = append(ow.meta, kafka.Header{Key: inputIDHeader, Value: append(id[:], topic...)})
		}
	}
	return ow
}

func (w ownershipWriter) WriteMessages(ctx context.Context, msgs ...kafka.Message) error {
	stamped := make([]kafka.Message, len(msgs))
	for i, m := range msgs {
		h := w.header
		if isMeta(m) {
			h = w.meta
		}
		if len(m.Headers) == 0 {
			m.Headers = h
		} else {
			m.Headers = append(slices.Clip(m.Headers), h...)
		}
		stamped[i] = m
	}
	return w.w.WriteMessages(ctx, stamped...)
}

// userRecord is the changelog message of user id's stored record enc.
func userRecord(topic string, partition int32, id string, enc []byte) kafka.Message {
	return kafka.Message{Topic: topic, Partition: int(partition), Key: append([]byte{changelogUser}, id...), Value: enc}
}

// retentionRecord is the changelog message of a retention record.
func retentionRecord(topic string, partition int32, r retention.KV) kafka.Message {
	return kafka.Message{Topic: topic, Partition: int(partition), Key: append([]byte{changelogRetention}, r.Key...), Value: r.Value}
}

// retentionRecords are the changelog messages of every retention record
// of partition id.
func (p *Processor) retentionRecords(id int32) ([]kafka.Message, error) {
	recs, err := p.store.Retention(id)
	msgs := make([]kafka.Message, len(recs))
	for i, r := range recs {
		msgs[i] = retentionRecord(p.cfg.Topics.Changelog, id, r)
	}
	return msgs, err
}

// metaRecord is the changelog message of a partition's metadata.
func metaRecord(topic string, partition int32, m record.Meta) kafka.Message {
	return kafka.Message{Topic: topic, Partition: int(partition), Key: []byte{changelogMeta}, Value: record.EncodeMeta(m)}
}

// changelogWriter writes each message to the partition it names: partition
// p of the changelog holds the state of input partition p, whatever the key
// would hash to. Its batch limits are the chunks' (changelogWrites), so
// kafka-go never splits a chunk: each goes to Kafka as one record batch,
// which the broker appends whole or not at all. kafka-go allocates room
// for BatchSize messages in every batch, so a live stream's small writes
// go through a writer whose BatchSize is small (a BatchSize of 10,000 for
// them cost a quarter of a paced run's CPU: BENCHMARKS.md, "Latency").
func changelogWriter(c Conn, lim chunkLimits) *sizedWriter {
	writer := func(size int) *kafka.Writer {
		w := c.Writer()
		w.Balancer = kafka.BalancerFunc(func(m kafka.Message, _ ...int) int { return m.Partition })
		w.BatchSize, w.BatchBytes = size, int64(lim.bytes)
		return w
	}
	return &sizedWriter{small: writer(smallWrite), large: writer(lim.records)}
}

// smallWrite is the most records a changelog write of a live stream's
// cycle usually holds.
const smallWrite = 200

// sizedWriter writes each call's messages with the writer whose BatchSize
// holds them, small or large, so that a call that fits one produce batch
// is one.
type sizedWriter struct{ small, large *kafka.Writer }

func (w *sizedWriter) WriteMessages(ctx context.Context, msgs ...kafka.Message) error {
	if len(msgs) <= smallWrite {
		return w.small.WriteMessages(ctx, msgs...)
	}
	return w.large.WriteMessages(ctx, msgs...)
}

func (w *sizedWriter) Close() error { return errors.Join(w.small.Close(), w.large.Close()) }

// chunkLimits bound one produce batch of the changelog.
type chunkLimits struct{ records, bytes int }

// changelogChunkLimits returns the chunk limits for a changelog topic whose
// max.message.bytes is topicMax: 10,000 records (kafka-go allocates room
// for BatchSize messages per batch) and at most 4 MiB, below the topic's
// limit by room for the batch's own header.
func changelogChunkLimits(topicMax int) chunkLimits {
	return chunkLimits{records: 10_000, bytes: max(1<<10, min(4<<20, topicMax-4<<10))}
}

// messageBytes is at least what kafka-go counts for m against BatchBytes
// (Message.totalSize: 22 bytes and the key and value, for a record without
// headers) and at least m's size in a record batch, compressed or not.
func messageBytes(m kafka.Message) int { return 64 + len(m.Key) + len(m.Value) }

// changelogWrites cuts one write of the changelog (the records of one
// batch, or of several gathered ones, each ending with its metadata) into
// chunks that each fit one produce batch. A crash between two chunks leaves
// the changelog with part of the write, and a restore must not apply that
// part: user records would survive it (each carries the offsets it
// applied), the retention counters would not (a user's first activity of
// a day would be counted again, or never). So a write of more than one
// chunk is a group: a group record first, then the records, then the
// newest metadata record last of all (the older ones are dropped: the
// newest says everything they say). A restore applies a group only once
// its metadata record arrives, and drops a group cut short (applier.add).
// The chunks must be written in order, each acknowledged before the next.
func changelogWrites(msgs []kafka.Message, lim chunkLimits) [][]kafka.Message {
	total := 0
	for _, m := range msgs {
		total += messageBytes(m)
	}
	if len(msgs) <= lim.records && total <= lim.bytes {
		return [][]kafka.Message{msgs} // one produce batch: whole or not at all
	}
	last := -1
	for i, m := range msgs {
		if isMeta(m) {
			last = i
		}
	}
	var group []kafka.Message
	if last >= 0 { // always, but for a write without metadata, which nothing makes
		m := msgs[0]
		group = append(group, kafka.Message{Topic: m.Topic, Partition: m.Partition, Key: []byte{changelogGroup}})
	}
	for i, m := range msgs {
		if !isMeta(m) || i == last {
			group = append(group, m)
		}
	}
	var chunks [][]kafka.Message
	start, size := 0, 0
	for i, m := range group {
		n := messageBytes(m)
		if i > start && (i-start == lim.records || size+n > lim.bytes) {
			chunks = append(chunks, group[start:i])
			start, size = i, 0
		}
		size += n
	}
	return append(chunks, group[start:])
}

// isMeta reports whether m is a changelog metadata record.
func isMeta(m kafka.Message) bool { return len(m.Key) == 1 && m.Key[0] == changelogMeta }

// localStateCurrent decides whether partition id's local state can be used
// as it is: it must exist, have applied at least what the group has
// committed, and have made at least as many commits as the changelog's
// newest metadata (cl, when known) records. Offsets are committed only
// after the changelog has the state that produced them, so local state at
// or past them is as new as the changelog's or newer, unless the disk lost
// commits that the changelog got (a truncated WAL): then it has fewer
// commits, and going on from it would write older records over newer ones
// with the same offsets (timers, rebuilds). State older than either belongs
// to an earlier era and is replaced from the changelog.
func localStateCurrent(meta record.Meta, ok bool, committed map[string]int64, cl *record.Meta) bool {
	if !ok || cl != nil && meta.Commits < cl.Commits {
		return false
	}
	for topic, c := range committed {
		if meta.Offsets[topic] < c {
			return false
		}
	}
	return true
}

// seedChangelog writes every user record and the metadata of partition id
// to an empty changelog partition: after the changelog topic was created
// anew, or for state from before it existed. Afterwards the changelog holds
// every user, as a restore needs.
func (p *Processor) seedChangelog(ctx context.Context, id int32, w messageWriter, log *zap.Logger) error {
	meta, ok, err := p.store.Meta(id)
	if err != nil || !ok {
		return err
	}
	var batch []kafka.Message
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		err := w.WriteMessages(ctx, batch...)
		batch = batch[:0]
		return err
	}
	n := 0
	err = p.store.Users(id, func(uid string, r record.User) error {
		n++
		batch = append(batch, userRecord(p.cfg.Topics.Changelog, id, uid, record.EncodeUser(r)))
		if len(batch) == 5000 {
			return flush()
		}
		return nil
	})
	if err != nil {
		return err
	}
	ret, err := p.retentionRecords(id)
	if err != nil {
		return err
	}
	batch = append(batch, ret...)
	batch = append(batch, metaRecord(p.cfg.Topics.Changelog, id, meta))
	if err := flush(); err != nil {
		return fmt.Errorf("processor: seeding the changelog of partition %d: %w", id, err)
	}
	log.Info("changelog seeded from local state", zap.Int("users", n))
	return nil
}

// unlogged returns the changelog records that batches committed locally
// but never acknowledged by the changelog (a crash between the two) still
// owe: the current record of every user their markers name, and the
// current metadata, with every retention record (they are few, and the
// markers do not name them). Sent before any new batch, they make the changelog
// converge to local state again (state/unlogged.go says why it must).
// [from, to) are the markers' sequence numbers, to delete once sent.
func (p *Processor) unlogged(id int32) (msgs []kafka.Message, from, to uint64, err error) {
	from, to, ids, err := p.store.Unlogged(id)
	if err != nil || from == to {
		return nil, from, to, err
	}
	for _, uid := range ids {
		r, ok, err := p.store.User(id, uid)
		if err != nil {
			return nil, 0, 0, err
		}
		if ok { // a new user left unchanged by its batch is not stored
			msgs = append(msgs, userRecord(p.cfg.Topics.Changelog, id, uid, record.EncodeUser(r)))
		}
	}
	ret, err := p.retentionRecords(id)
	if err != nil {
		return nil, 0, 0, err
	}
	msgs = append(msgs, ret...)
	meta, ok, err := p.store.Meta(id)
	if err != nil {
		return nil, 0, 0, err
	}
	if ok {
		msgs = append(msgs, metaRecord(p.cfg.Topics.Changelog, id, meta))
	}
	return msgs, from, to, nil
}

// changelogTail is what the newest records of a partition's changelog
// say.
type changelogTail struct {
	// meta is the newest metadata record; nil when there is none.
	meta *record.Meta
	// epoch is the highest epoch of the records read: every record since
	// that metadata is among them.
	epoch uint64
	// on is what the newest metadata's writer started on: the IDs of
	// the changelog and the inputs.
	on stamps
}

// newestMeta reads the tail of partition id's changelog, whose end offset
// is end: each batch's records end with a metadata record, so it is found
// among the last records, unless a long write was cut short (then the
// whole partition is read).
func (p *Processor) newestMeta(ctx context.Context, id int32, end int64) (tail changelogTail, err error) {
	for _, back := range []int64{256, 1 << 16, end} {
		from := max(0, end-back)
		if from >= end {
			return tail, nil
		}
		r := kafka.NewReader(kafka.ReaderConfig{
			Brokers: p.cfg.Conn.Brokers, Dialer: p.cfg.Conn.Dialer(), Topic: p.cfg.Topics.Changelog, Partition: int(id),
			MinBytes: 1, MaxBytes: 16 << 20, MaxWait: 250 * time.Millisecond,
		})
		tail.meta = nil
		err = r.SetOffset(from)
		for err == nil {
			rctx, cancel := context.WithTimeout(ctx, 30*time.Second)
			var m kafka.Message
			m, err = r.FetchMessage(rctx)
			cancel()
			if err != nil {
				break
			}
			tail.epoch = max(tail.epoch, epochOf(m))
			if isMeta(m) {
				meta, derr := record.DecodeMeta(m.Value)
				if derr != nil {
					err = fmt.Errorf("processor: changelog %s/%d offset %d: %w", m.Topic, m.Partition, m.Offset, derr)
					break
				}
				tail.meta, tail.on = &meta, stampsOf(m)
			}
			if m.Offset+1 >= end {
				break
			}
		}
		closeReader(r)
		if err != nil {
			return changelogTail{}, fmt.Errorf("processor: reading the newest metadata of changelog %s/%d: %w", p.cfg.Topics.Changelog, id, err)
		}
		if tail.meta != nil || from == 0 {
			return tail, nil
		}
	}
	return tail, nil
}

// closeReader closes a changelog reader without waiting. Read up to the
// changelog's end, the reader has already sent its next fetch, which the
// broker holds for the reader's MaxWait since nothing comes, and Close
// waits for it: about 190 ms before every ownership could start (the tail
// read, a restore, a promotion). Nothing reads from it any more, and its
// goroutine ends with that fetch.
func closeReader(r *kafka.Reader) { go r.Close() }

// behind reports whether offsets a are behind b: smaller in some input and
// larger in none.
func behind(a, b []int64) bool {
	less := false
	for i := range a {
		if a[i] > b[i] {
			return false
		}
		less = less || a[i] < b[i]
	}
	return less
}

// metaBehind reports whether metadata a has applied less than b.
func metaBehind(a, b record.Meta) bool {
	less := false
	for topic, bo := range b.Offsets {
		ao := a.Offsets[topic]
		if ao > bo {
			return false
		}
		less = less || ao < bo
	}
	return less
}
