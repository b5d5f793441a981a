package processor

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/segmentio/kafka-go"
	"go.uber.org/zap"

	"github.com/lifecycle-engine/lifecycle/processor/engine"
	"github.com/lifecycle-engine/lifecycle/state"
	"github.com/lifecycle-engine/lifecycle/state/record"
)

// partition runs one input partition: the merge feeds its engine
// (processor/engine, the domain), and every batch the engine commits goes
// to the partition's sender.
type partition struct {
	id    int32
	cfg   *Config
	log   *zap.Logger
	store *markedStore
	stats *partitionStats
	eng   *engine.Engine
	send  func(job) error // hands a committed batch to the sender
	// schemaWaits counts the sources waiting for the schema registry
	// (Processor.schemaWaits): not stalled fetches.
	schemaWaits *atomic.Int64
	clock       *inputClock // the process's: how far idle advance may go
	// oldest is the earliest Kafka timestamp (Unix ns) of the records
	// applied since the last commit, 0 for none: the start of the batch's
	// event-to-output latency.
	oldest int64

	afterCommit func() // test hook, called after each commit; nil in production
}

// openPartition opens partition id's engine on store; the input topics
// have partitions partitions. logNext numbers the next batch's changelog
// marker (the markers left by the last run end before it); epoch is the
// ownership's (makeCurrent), stored with every commit.
func (p *Processor) openPartition(id, partitions int32, logNext, epoch uint64, stats *partitionStats, log *zap.Logger, send func(job) error) (*partition, error) {
	ec := p.cfg.engine
	ec.Log = log
	part := &partition{id: id, cfg: &p.cfg, log: log, stats: stats, send: send, afterCommit: p.afterCommit, schemaWaits: &p.schemaWaits, clock: p.clock,
		store: &markedStore{Store: p.store, next: logNext, epoch: epoch, commits: &stats.commits}}
	eng, err := engine.New(&ec, part.store, id, partitions, &stats.Stats, part.sink)
	var le *engine.LayoutError
	if errors.As(err, &le) {
		return nil, layoutError(le.Partition, le.Stored, le.Now)
	}
	if err != nil {
		return nil, err
	}
	part.eng = eng
	return part, nil
}

// markedStore adds to each batch the engine writes its changelog marker
// (state/unlogged.go): the users of the batch that the changelog does not
// have yet, deleted by the sender once it has them.
type markedStore struct {
	*state.Store
	next    uint64 // the next batch's marker
	epoch   uint64 // the ownership's, for the metadata (record.Meta.Epoch)
	ids     []string
	commits *histogram // times each write: lifecycle_batch_commit_seconds
}

func (s *markedStore) Write(p int32, w *record.Write) error {
	s.ids = s.ids[:0]
	for _, u := range w.Users {
		s.ids = append(s.ids, u.ID)
	}
	w.Marker = &record.Marker{Seq: s.next, IDs: s.ids}
	w.Meta.Epoch = s.epoch
	start := time.Now()
	if err := s.Store.Write(p, w); err != nil {
		return err
	}
	s.commits.observe(time.Since(start))
	s.next++
	return nil
}

// sink hands a batch the engine committed to the sender, as a job.
func (p *partition) sink(c engine.Commit) error {
	crashPoint(crashCommitted)
	j := job{from: c.OutboxFrom, to: c.OutboxTo, outs: c.Outputs, offsets: c.Meta.Offsets, oldest: p.oldest,
		logFrom: p.store.next - 1, logTo: p.store.next, changelog: make([]kafka.Message, 0, len(c.Users)+len(c.Retention)+1)}
	p.oldest = 0
	c.Meta.Epoch = p.store.epoch
	for _, u := range c.Users {
		j.changelog = append(j.changelog, userRecord(p.cfg.Topics.Changelog, p.id, u.ID, u.Enc))
	}
	for _, r := range c.Retention {
		j.changelog = append(j.changelog, retentionRecord(p.cfg.Topics.Changelog, p.id, r))
	}
	// Metadata goes last: a restore that sees it has seen the whole batch.
	j.changelog = append(j.changelog, metaRecord(p.cfg.Topics.Changelog, p.id, c.Meta))
	if err := p.send(j); err != nil {
		return err
	}
	if p.afterCommit != nil {
		p.afterCommit()
	}
	if c.Rebuilding {
		crashPointAfter(crashRebuilding, func() { p.store.Sync() })
	}
	return nil
}

var errFetcherStopped = errors.New("processor: an input source stopped")

// fetchStallLimit is how long the merge may wait for records known to
// exist before it replaces their sources (merger.restartStalled). Longer
// than a fetch may take (FetchMaxWait up to 1 s and franz-go's 10 s read
// timeout margin), so that a slow broker is not taken for a hung fetch.
const fetchStallLimit = 15 * time.Second

// loop is the partition's run loop: merge the inputs in event-time order,
// apply records, commit a batch when it is full or when the input has
// nothing more to give at once, fire overdue timers after each commit, and
// hand each committed batch to the sender.
//
// The send of each committed batch must not give up when ctx ends: a
// committed batch whose job is lost would be sent after newer ones, out of
// order (it gives up only when the shutdown deadline passes).
func (p *partition) loop(ctx context.Context, m *merger, notify <-chan struct{}) error {
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	// linger bounds how long a batch waits for records still on their way.
	linger := p.cfg.Linger
	lingerT := time.NewTimer(time.Hour)
	defer lingerT.Stop()
	var lingerStart time.Time
	p.reportLag(m)
	// Timers may be overdue already: the last run can have stopped (or
	// crashed) after a commit and before its timer pass, and without new
	// records nothing else would fire them.
	if err := p.eng.Flush(); err != nil {
		return err
	}
	for {
		m.poll()
		if m.backwards != nil {
			return m.backwards
		}
		p.reportLost(m)
		if it := m.pop(); it != nil {
			if !it.Marker {
				p.stats.taken[it.Topic].Add(1)
			}
			if err := p.eng.Apply(it); err != nil {
				return err
			}
			// After Apply: a commit it makes first (an RFM rebuild) does
			// not hold this record.
			if t := it.Time; !t.IsZero() && (p.oldest == 0 || t.UnixNano() < p.oldest) {
				p.oldest = t.UnixNano()
			}
			if p.eng.Full() {
				if err := p.eng.Flush(); err != nil {
					return err
				}
				lingerStart = time.Time{}
				p.reportLag(m)
				// With a backlog the loop never waits; stop here when asked.
				if err := ctx.Err(); err != nil {
					return err
				}
			}
			continue
		}
		if m.closed && ctx.Err() == nil {
			return errFetcherStopped
		}
		// Nothing can be applied without waiting. When the input is read to
		// its end, commit at once, so outputs leave as soon as it pauses;
		// when a topic still has records on their way, give them a moment
		// (linger) rather than commit a small batch.
		p.reportLag(m)
		var lingerC <-chan time.Time
		if p.eng.Dirty() {
			if lingerStart.IsZero() {
				lingerStart = time.Now()
			}
			wait := linger - time.Since(lingerStart)
			if m.caughtUp() || wait <= 0 {
				if err := p.eng.Flush(); err != nil {
					return err
				}
				lingerStart = time.Time{}
				continue
			}
			lingerT.Reset(wait)
			lingerC = lingerT.C
		}
		select {
		case <-notify:
		case <-lingerC:
		case now := <-tick.C:
			if m.stalled(now, fetchStallLimit) && p.schemaWaits.Load() == 0 {
				topics, err := m.restartStalled()
				if err != nil {
					return fmt.Errorf("processor: replacing a stalled source: %w", err)
				}
				p.reportLost(m)
				if len(topics) > 0 {
					p.log.Warn("fetching stalled: records the high watermark promised have not arrived; reading them again",
						zap.Duration("waited", fetchStallLimit), zap.Strings("topics", topics))
				}
			}
			if m.caughtUp() && p.cfg.IdleAdvance {
				// Stream time follows the wall clock minus the allowed
				// lateness when every input is caught up, while the
				// process's inputs are live and none of this partition's
				// has records it has not read, a transaction's still open
				// among them (inputClock). Whether the inputs are live is
				// judged on every tick, waiting or not, so that the hold's
				// log and lifecycle_stream_time_held follow them: a hold
				// begun in a quiet moment before a transaction opened
				// would otherwise be reported until it commits.
				to := p.clock.idleAdvance(now, p.cfg.MaxInputSilence, p.cfg.AllowedLateness)
				if !p.clock.unread(p.id, m.next) {
					if err := p.eng.AdvanceTo(to.UnixMilli()); err != nil {
						return err
					}
				}
			}
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// reportLost logs and counts the input records the merge found deleted by
// the broker before they were read. Nothing can bring them back; the
// error and lifecycle_input_records_lost_total say so.
func (p *partition) reportLost(m *merger) {
	for _, l := range m.lost {
		p.stats.lost.Add(l.to - l.from)
		p.log.Error("input records lost: the broker deleted them (retention) before they were read; going on from the first record it still has. Raise the topic's retention.ms, or produce backfills with the send time as the Kafka timestamp",
			zap.String("topic", l.topic), zap.Int64("from_offset", l.from), zap.Int64("to_offset", l.to), zap.Int64("records", l.to-l.from))
	}
	m.lost = m.lost[:0]
}

// reportLag publishes the lag of each input topic
// (lifecycle_consumer_lag_records). The loop calls it at its start, after
// each full batch and before it waits: not per record under a backlog.
func (p *partition) reportLag(m *merger) {
	for i := range m.heads {
		p.stats.lag[i].Store(m.lag(i))
	}
}

// shutdown commits what the partition has applied, so a clean stop loses no
// work and the next start resumes exactly after it.
func (p *partition) shutdown() error {
	crashPoint(crashRevoking)
	return p.eng.Close()
}
