package processor

import (
	"context"
	"fmt"
	"time"

	"github.com/segmentio/kafka-go"
	"go.uber.org/zap"

	"github.com/lifecycle-engine/lifecycle/processor/retention"
	"github.com/lifecycle-engine/lifecycle/state/record"
)

// Changelog record keys: a kind byte, then the user id for user records
// and the record's key for retention records. Values are the store's own
// encodings (versioned), so a restore writes what the owner wrote; a
// retention record without a value was deleted (pruned).
const (
	changelogUser      = 'u'
	changelogMeta      = 'm'
	changelogRetention = 'r'
)

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
// would hash to. Its BatchSize stays at 10,000 (the outputs' writer has
// 200, Conn.Writer): a sender cycle's changelog records then go in one
// produce batch, all or none, up to the batch byte limit. A batch split in
// two and cut by a crash leaves the changelog with part of it: user records
// survive that (each carries what it applied), the retention counters do
// not (README, "Retention metrics", known limits).
func changelogWriter(c Conn) *kafka.Writer {
	w := c.Writer()
	w.Balancer = kafka.BalancerFunc(func(m kafka.Message, _ ...int) int { return m.Partition })
	w.BatchSize = 10_000 // one produce batch per cycle (above)
	return w
}

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

// newestMeta returns the newest metadata record of partition id's
// changelog, whose end offset is end: each batch's records end with one,
// so it is found among the last records. nil when there is none.
func (p *Processor) newestMeta(ctx context.Context, id int32, end int64) (*record.Meta, error) {
	for _, back := range []int64{256, 1 << 16} {
		from := max(0, end-back)
		if from >= end {
			return nil, nil
		}
		r := kafka.NewReader(kafka.ReaderConfig{
			Brokers: p.cfg.Conn.Brokers, Dialer: p.cfg.Conn.Dialer(), Topic: p.cfg.Topics.Changelog, Partition: int(id),
			MinBytes: 1, MaxBytes: 16 << 20, MaxWait: 250 * time.Millisecond,
		})
		var newest *record.Meta
		err := r.SetOffset(from)
		for err == nil {
			rctx, cancel := context.WithTimeout(ctx, 30*time.Second)
			var m kafka.Message
			m, err = r.FetchMessage(rctx)
			cancel()
			if err != nil {
				break
			}
			if len(m.Key) == 1 && m.Key[0] == changelogMeta {
				meta, derr := record.DecodeMeta(m.Value)
				if derr != nil {
					err = fmt.Errorf("processor: changelog %s/%d offset %d: %w", m.Topic, m.Partition, m.Offset, derr)
					break
				}
				newest = &meta
			}
			if m.Offset+1 >= end {
				break
			}
		}
		r.Close()
		if err != nil {
			return nil, fmt.Errorf("processor: reading the newest metadata of changelog %s/%d: %w", p.cfg.Topics.Changelog, id, err)
		}
		if newest != nil || from == 0 {
			return newest, nil
		}
	}
	return nil, nil
}

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
