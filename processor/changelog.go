package processor

import (
	"context"
	"fmt"
	"time"

	"github.com/segmentio/kafka-go"
	"go.uber.org/zap"

	"github.com/lifecycle-engine/lifecycle/state"
)

// Changelog record keys: a kind byte, then the user id for user records.
// Values are the store's own encodings (versioned), so a restore writes
// what the owner wrote.
const (
	changelogUser = 'u'
	changelogMeta = 'm'
)

// userRecord is the changelog message of user id's stored record enc.
func userRecord(topic string, partition int32, id string, enc []byte) kafka.Message {
	return kafka.Message{Topic: topic, Partition: int(partition), Key: append([]byte{changelogUser}, id...), Value: enc}
}

// metaRecord is the changelog message of a partition's metadata.
func metaRecord(topic string, partition int32, m state.Meta) kafka.Message {
	return kafka.Message{Topic: topic, Partition: int(partition), Key: []byte{changelogMeta}, Value: state.EncodeMeta(m)}
}

// changelogWriter writes each message to the partition it names: partition
// p of the changelog holds the state of input partition p, whatever the key
// would hash to.
func changelogWriter(c Conn) *kafka.Writer {
	w := c.Writer()
	w.Balancer = kafka.BalancerFunc(func(m kafka.Message, _ ...int) int { return m.Partition })
	return w
}

// localStateCurrent decides whether partition id's local state can be used
// as it is: it must exist and have applied at least what the group has
// committed. Offsets are committed only after the changelog has the state
// that produced them, so local state at or past them is as new as the
// changelog's or newer; state older than them belongs to an earlier owner's
// era and is replaced from the changelog.
func localStateCurrent(meta state.Meta, ok bool, committed map[string]int64) bool {
	if !ok {
		return false
	}
	for topic, c := range committed {
		if meta.Offsets[topic] < c {
			return false
		}
	}
	return true
}

// restore replaces partition id's local state with the changelog's: every
// user record (with its timer index entry) and the metadata. It reads the
// changelog partition from its start to end, the end offset at assignment.
func (p *Processor) restore(ctx context.Context, id int32, end int64, w messageWriter, stats *partitionStats, log *zap.Logger) error {
	stats.restoring.Store(true)
	defer stats.restoring.Store(false)
	log.Info("restoring partition from the changelog", zap.String("changelog", p.cfg.Topics.Changelog), zap.Int64("records", end))
	start := time.Now()

	b := p.store.NewBatch(id)
	defer b.Close()
	if err := b.Clear(); err != nil {
		return err
	}
	var meta state.Meta
	haveMeta := false
	wakes := map[string]int64{} // timer entry written per user, so a newer version moves it
	// kept is, per user, the input offsets of the record restored so far.
	// Offsets only grow in a correct history, so a record with smaller ones
	// that comes later in the log is a stale write (a paused former owner
	// finishing a write already in flight): it is ignored.
	kept := map[string][state.MaxInputs]int64{}
	overtaken := map[string]bool{} // users whose newest record a stale one followed
	metaOvertaken := false
	if end > 0 {
		r := kafka.NewReader(kafka.ReaderConfig{
			Brokers: p.cfg.Conn.Brokers, Dialer: p.cfg.Conn.dialer(), Topic: p.cfg.Topics.Changelog, Partition: int(id),
			MinBytes: 1, MaxBytes: 16 << 20, MaxWait: 250 * time.Millisecond, QueueCapacity: 10_000,
		})
		defer r.Close()
		if err := r.SetOffset(kafka.FirstOffset); err != nil {
			return err
		}
		progress, n := time.Now(), 0
		stale := 0
		defer func() {
			if stale > 0 {
				log.Warn("ignored stale changelog records (written late by a former owner)", zap.Int("records", stale))
			}
		}()
		for {
			m, err := r.FetchMessage(ctx)
			if err != nil {
				return fmt.Errorf("processor: restoring partition %d: %w", id, err)
			}
			n++
			switch {
			case len(m.Key) > 1 && m.Key[0] == changelogUser:
				uid := string(m.Key[1:])
				rec, err := state.DecodeRecord(m.Value)
				if err != nil {
					return fmt.Errorf("processor: changelog %s/%d offset %d: %w", m.Topic, m.Partition, m.Offset, err)
				}
				if prev, ok := kept[uid]; ok && behind(rec.Offsets[:], prev[:]) {
					stale++
					overtaken[uid] = true
					break
				}
				if err := b.PutUser(uid, rec, wakes[uid]); err != nil {
					return err
				}
				wakes[uid], kept[uid] = rec.Wake, rec.Offsets
			case len(m.Key) == 1 && m.Key[0] == changelogMeta:
				next, err := state.DecodeMeta(m.Value)
				if err != nil {
					return fmt.Errorf("processor: changelog %s/%d offset %d: %w", m.Topic, m.Partition, m.Offset, err)
				}
				if haveMeta && metaBehind(next, meta) {
					stale++
					metaOvertaken = true
					break
				}
				meta, haveMeta = next, true
			}
			if n%10_000 == 0 {
				if err := b.Commit(); err != nil {
					return err
				}
			}
			if time.Since(progress) > 2*time.Second {
				progress = time.Now()
				log.Info("restoring", zap.Int("records", n), zap.Int64("remaining", end-m.Offset-1),
					zap.Float64("records_per_second", float64(n)/time.Since(start).Seconds()))
			}
			if m.Offset+1 >= end {
				break
			}
		}
	}
	if err := b.Commit(); err != nil {
		return err
	}
	// Users per stage are recounted: the users may be ahead of the
	// metadata when the last batch reached the changelog only in part.
	meta.Stages = [len(meta.Stages)]int64{}
	meta.Segments = [len(meta.Segments)]int64{}
	users := 0
	if err := p.store.Users(id, func(_ string, r state.Record) error {
		meta.Stages[r.User.Stage]++
		meta.Segments[r.Segment.Segment]++
		users++
		return nil
	}); err != nil {
		return err
	}
	if haveMeta || users > 0 {
		if meta.Offsets == nil {
			meta.Offsets = map[string]int64{}
		}
		if err := b.PutMeta(meta); err != nil {
			return err
		}
		if err := b.Commit(); err != nil {
			return err
		}
	}
	if err := p.store.Sync(); err != nil {
		return err
	}
	// Compaction keeps the last record of a key: put the winners back on
	// top of the stale records that followed them.
	if len(overtaken) > 0 || metaOvertaken {
		var msgs []kafka.Message
		for uid := range overtaken {
			r, ok, err := p.store.User(id, uid)
			if err != nil {
				return err
			}
			if ok {
				msgs = append(msgs, userRecord(p.cfg.Topics.Changelog, id, uid, state.EncodeRecord(r)))
			}
		}
		msgs = append(msgs, metaRecord(p.cfg.Topics.Changelog, id, meta))
		if err := w.WriteMessages(ctx, msgs...); err != nil {
			return fmt.Errorf("processor: republishing overtaken changelog records of partition %d: %w", id, err)
		}
		log.Warn("republished changelog records that stale writes had followed", zap.Int("users", len(overtaken)))
	}
	log.Info("partition restored", zap.Int("users", users), zap.Duration("took", time.Since(start)))
	return nil
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
	err = p.store.Users(id, func(uid string, r state.Record) error {
		n++
		batch = append(batch, userRecord(p.cfg.Topics.Changelog, id, uid, state.EncodeRecord(r)))
		if len(batch) == 5000 {
			return flush()
		}
		return nil
	})
	if err != nil {
		return err
	}
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
// current metadata. Sent before any new batch, they make the changelog
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
			msgs = append(msgs, userRecord(p.cfg.Topics.Changelog, id, uid, state.EncodeRecord(r)))
		}
	}
	meta, ok, err := p.store.Meta(id)
	if err != nil {
		return nil, 0, 0, err
	}
	if ok {
		msgs = append(msgs, metaRecord(p.cfg.Topics.Changelog, id, meta))
	}
	return msgs, from, to, nil
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
func metaBehind(a, b state.Meta) bool {
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
