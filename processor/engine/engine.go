package engine

import (
	"encoding/json"
	"fmt"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/lifecycle-engine/lifecycle/processor/retention"
	"github.com/lifecycle-engine/lifecycle/processor/rules"
	"github.com/lifecycle-engine/lifecycle/processor/segments"
	"github.com/lifecycle-engine/lifecycle/processor/warnings"
	"github.com/lifecycle-engine/lifecycle/schemas"
	"github.com/lifecycle-engine/lifecycle/state/record"
)

// Topics names the topics an engine's records come from and its outputs go to.
type Topics struct {
	Inputs      []string // by Input.Topic
	Transitions string
	Warnings    string
	Segments    string
	DLQ         string
	// Metrics receives the retention metrics (processor/retention) at the
	// end of each UTC day of event time; empty: they are kept in the state but
	// not published, and no boundary commits (the stories of testdata/).
	Metrics string
}

// Config configures an engine. Every field is required (the runtime and
// evaluate fill in their defaults).
type Config struct {
	Topics     Topics
	Rules      rules.Config
	Warnings   warnings.Config
	Segments   segments.Config
	Prediction Prediction
	// BatchRecords is the most input records an open batch takes before a
	// rebuild commits it (Apply does not commit for size: the caller does).
	BatchRecords int
	// MaxUsersCached bounds the users kept in memory between commits (0:
	// none, every user read back from the store).
	MaxUsersCached int
	// DLQMaxBytes is the dead-letter topic's max.message.bytes: a copy
	// larger than that is cut (dlqOutput).
	DLQMaxBytes int
	// Model is the prediction model in use; nil or holding nil: none. The
	// runtime swaps it on SIGHUP.
	Model *atomic.Pointer[Model]
	// Log receives the engine's warnings. Default: none.
	Log *zap.Logger
	// Stamp, when set, is the `rules` field of every transition, warning
	// and segment change: which rules made it.
	Stamp *schemas.Rules
	// RulesID is "version@hash" of the rules in effect (the version empty
	// without a rules file), kept in each commit's Meta.Rules.
	RulesID string
}

// Commit is one committed batch, handed to the sink in commit order.
type Commit struct {
	// Users are the records the batch changed, in their stored form (the
	// changelog carries them).
	Users []UserRecord
	// Outputs went to the outbox at sequence numbers [OutboxFrom, OutboxTo).
	Outputs              []record.Output
	OutboxFrom, OutboxTo uint64
	// Meta is the partition's metadata after the batch: offsets, stream
	// time, counts.
	Meta record.Meta
	// Rebuilding marks a batch of an RFM rebuild that more batches follow.
	Rebuilding bool
	// Retention are the retention records the batch changed, in their
	// stored form (a nil Value: deleted); the changelog carries them.
	Retention []retention.KV
}

// UserRecord is a user's record in its stored form.
type UserRecord struct {
	ID  string
	Enc []byte
}

// entry is a user record decoded for the open batch.
type entry struct {
	id         string
	rec        record.User
	storedWake int64 // the timer index entry the store holds for this user
	// storedBuyer is the user's entry of the buyers index that the store
	// holds (the zero Buyer for none).
	storedBuyer record.Buyer
	dirty       bool
	cached      bool // the cache holds the stored form of rec
	stored      bool // the store holds a record of the user
}

// Engine applies one input partition's records to its users. It is owned
// by one goroutine; nothing in it is shared, so the hot path takes no lock.
type Engine struct {
	id    int32
	cfg   *Config
	log   *zap.Logger
	store Store
	stats *Stats
	sink  func(Commit) error

	meta record.Meta
	// The users of the open batch are decoded (hot); between batches a
	// user is cached in its stored form (cold, ~140 bytes where the decoded
	// entry takes ~650), up to MaxUsersCached, and decoded again when it
	// next appears (~0.4 µs).
	hot      map[string]*entry
	cold     *userCache
	known    *knownUsers // the users the store may hold
	dirty    []*entry
	pending  []record.Output // outputs of the open batch, in the order the rules made them
	records  int             // input records in the open batch
	write    record.Write    // reused for each commit
	stale    []record.Timer  // timer index entries to delete with the next commit
	readIDs  []string        // reused by readAhead
	encoded  []byte          // reused by cool to encode a user for the cache
	trs      []rules.Transition
	ws       []stagedWarning
	pop      *segments.Population
	ret      *retention.State
	outcomes *warnings.Outcomes // how silences ended: the warnings choose their watch level from it at each rebuild point
	// rebuilding is set while an RFM rebuild commits its batches.
	rebuilding bool
	// timerFloor is a wake time below which the timer index holds no entry
	// that is due and not yet handled: scans start there.
	timerFloor int64
	// timerNext is a wake time before which the index holds no entry at or
	// above timerFloor (0: unknown). Until stream time passes it there is
	// nothing to fire and no scan: a live stream commits small batches
	// often, and each scan is a new store iterator.
	timerNext int64
}

// New opens partition id of store, which the input topics have partitions
// of. Each commit is handed to sink before the next one is made.
func New(cfg *Config, store Store, id, partitions int32, stats *Stats, sink func(Commit) error) (*Engine, error) {
	meta, ok, err := store.Meta(id)
	if err != nil {
		return nil, err
	}
	if ok && meta.Partitions != partitions {
		return nil, &LayoutError{Partition: id, Stored: meta.Partitions, Now: partitions}
	}
	if meta.Offsets == nil {
		meta.Offsets = map[string]int64{}
	}
	meta.Partitions = partitions
	pop, err := segments.NewPopulationWith(cfg.Segments)
	if err != nil {
		return nil, err
	}
	if meta.Population != nil {
		var cuts segments.Cuts
		if err := json.Unmarshal(meta.Population, &cuts); err != nil {
			return nil, fmt.Errorf("engine: partition %d: stored RFM cuts: %w", id, err)
		}
		pop.Restore(cuts)
	}
	outcomes, err := warnings.DecodeOutcomes(meta.Outcomes)
	if err != nil {
		return nil, fmt.Errorf("engine: partition %d: %w", id, err)
	}
	if risk, _, ok := outcomes.Watch(); ok && cfg.Warnings.Recall > 0 {
		stats.setWatch(risk)
	}
	stats.setBreaks(outcomes.SeenBreaks())
	recs, err := store.Retention(id)
	if err != nil {
		return nil, err
	}
	ret, err := retention.New(recs)
	if err != nil {
		return nil, fmt.Errorf("engine: partition %d: %w", id, err)
	}
	known, err := loadKnownUsers(store, id, int(StoredUsers(&meta)))
	if err != nil {
		return nil, fmt.Errorf("engine: partition %d: %w", id, err)
	}
	log := cfg.Log
	if log == nil {
		log = zap.NewNop()
	}
	if cfg.Model == nil {
		cfg.Model = &atomic.Pointer[Model]{}
	}
	e := &Engine{
		id: id, cfg: cfg, store: store, stats: stats, sink: sink, meta: meta, pop: pop, ret: ret, known: known, log: log, outcomes: outcomes,
		hot:  make(map[string]*entry),
		cold: newUserCache(),
	}
	stats.setMeta(&meta)
	return e, nil
}

// LayoutError says that a partition's state was made for another input
// partition count: every user would now belong elsewhere.
type LayoutError struct {
	Partition   int32
	Stored, Now int32
}

func (e *LayoutError) Error() string {
	return fmt.Sprintf("engine: partition %d was built for %d input partitions; there are %d now", e.Partition, e.Stored, e.Now)
}

// Offset is where reading topic resumes: right after the last record
// whose effect is in the store. ok is false when the store has nothing for it.
func (e *Engine) Offset(topic string) (offset int64, ok bool) {
	offset, ok = e.meta.Offsets[topic]
	return offset, ok
}

// StreamTime is the partition's stream time (Unix ms; 0 before any event).
func (e *Engine) StreamTime() int64 { return e.meta.StreamTime }

// Dirty reports whether anything waits to be committed.
func (e *Engine) Dirty() bool { return e.records > 0 || len(e.dirty) > 0 || len(e.pending) > 0 }

// Full reports whether the open batch holds BatchRecords input records.
func (e *Engine) Full() bool { return e.records >= e.cfg.BatchRecords }

// AdvanceTo moves stream time up to t (the runtime's idle advance: the
// wall clock minus the allowed lateness), rebuilds the RFM population if
// that reaches a rebuild point, and flushes. It does nothing when stream
// time is at t already.
func (e *Engine) AdvanceTo(t int64) error {
	if t <= e.meta.StreamTime {
		return nil
	}
	if _, err := e.passDays(t); err != nil {
		return err
	}
	e.meta.StreamTime = t
	e.records++ // the new stream time must be committed
	if _, err := e.rebuildIfDue(e.meta.StreamTime); err != nil {
		return err
	}
	if _, err := e.publishIfDue(t); err != nil {
		return err
	}
	return e.Flush()
}

// StoredUsers is the number of users a partition's store holds, from its
// metadata: each was counted in a stage at its first event (a user is
// stored only with a transition out of none), and a restore counts them
// again.
func StoredUsers(m *record.Meta) int64 {
	var n int64
	for _, c := range m.Stages {
		n += c
	}
	return n
}

// streamJumpLogged is the advance of stream time by one event above which
// it is logged and counted (lifecycle_stream_time_jumps_total).
const streamJumpLogged = 7 * 24 * time.Hour
