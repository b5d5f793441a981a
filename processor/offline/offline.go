// Package offline runs the engine over input records without Kafka, one
// engine per partition over an in-memory store, exactly as `lifecycle run`
// applies them from Kafka: the same partitioning (the key's Murmur2 hash),
// the same merge order of the input topics, the same stage model,
// warnings, segments, timers and model. `lifecycle evaluate` scores what it
// writes and `lifecycle replay` writes it to a file: both are the product's
// outputs for those records, not a copy of its logic.
package offline

import (
	"bytes"
	"context"
	"fmt"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/lifecycle-engine/lifecycle/processor/engine"
	"github.com/lifecycle-engine/lifecycle/processor/produce"
	"github.com/lifecycle-engine/lifecycle/processor/warnings"
	"github.com/lifecycle-engine/lifecycle/schemas"
	"github.com/lifecycle-engine/lifecycle/state/record"
)

// Config is the engine as `lifecycle run` would run it, and the input
// topics' partition count.
type Config struct {
	Engine        engine.Config // defaults applied; BatchRecords and MaxUsersCached only change speed
	Partitions    int32
	Decoder       schemas.DecoderConfig
	MaxFutureSkew time.Duration // as run's --max-future-skew
	// Store, when set, gives the store of each partition (a Pebble store to
	// hand over to `lifecycle run`); nil: one in memory per partition.
	Store func(p int32) engine.Store
	// From and Until (Unix ms; 0: open) leave out the valid events whose
	// time is before From or not before Until: a replay of a time range
	// starts from a fresh state at From. Records the decoder rejects are
	// kept (they are dead-lettered): their time is not known.
	From, Until int64
}

// Record is an input record as a producer sends it: to which input topic
// (index into Engine.Topics.Inputs), with which key and value.
type Record struct {
	Topic      int
	Key, Value []byte
	// Time is the record's Kafka timestamp (Unix ms): when it was sent. A
	// simulated population sends each event at its time, as if it ran
	// then; 0 means sent now, and the future check compares with the wall
	// clock, as the runtime does for a file produced today.
	Time int64
	// Unread, when set, says why the record could not be read from Kafka
	// (its batch decompresses beyond the bound, or not at all): Key and
	// Value are empty and the record is dead-lettered (engine.Unread).
	Unread string
}

// Runner queues records per partition and input topic, then runs them.
type Runner struct {
	cfg   Config
	dec   *schemas.Decoder
	now   time.Time
	parts [][][]*engine.Input // partition → topic → records in the order sent
	next  [][]int64           // partition → topic → next offset
	store []engine.Store      // each partition's state, once Run has run
	stats []engine.Stats      // each partition's counters, for Progress
	total atomic.Int64        // records queued
}

// Progress is how far Run is: records applied (or dead-lettered or
// dropped as duplicates) of those queued, and the latest event time a
// partition has reached (Unix ms, 0 before any).
func (r *Runner) Progress() (done, total, streamTime int64) {
	for i := range r.stats {
		s := &r.stats[i]
		done += s.Applied.Load() + s.Rejected.Load() + s.Duplicates.Load() + s.Skipped.Load() + s.Ignored.Load()
		streamTime = max(streamTime, s.Snapshot().StreamTime)
	}
	return done, r.total.Load(), streamTime
}

// New returns an empty Runner of cfg.
func New(cfg Config) (*Runner, error) {
	if cfg.Partitions < 1 {
		return nil, fmt.Errorf("offline: %d partitions; want 1 or more", cfg.Partitions)
	}
	r := &Runner{cfg: cfg, dec: schemas.NewDecoder(cfg.Decoder), now: time.Now(),
		parts: make([][][]*engine.Input, cfg.Partitions), next: make([][]int64, cfg.Partitions),
		stats: make([]engine.Stats, cfg.Partitions)}
	for p := range r.parts {
		r.parts[p] = make([][]*engine.Input, len(cfg.Engine.Topics.Inputs))
		r.next[p] = make([]int64, len(cfg.Engine.Topics.Inputs))
	}
	return r, nil
}

// Add queues a record, as a producer appends it to its topic's partition,
// and returns it decoded: Err is set for a record the engine will
// dead-letter, else Event is the event it will apply. It returns nil for
// an event outside [From, Until), which it leaves out.
func (r *Runner) Add(rec Record) *engine.Input {
	p := produce.PartitionOf(rec.Key, r.cfg.Partitions)
	return r.AddRead(p, r.next[p][rec.Topic], rec)
}

// AddRead is Add of a record read from Kafka: at its partition p and
// offset, whatever its key hashes to, so that the state's input offsets
// are the topics' own (a hand-over continues from them). Offsets of a
// topic partition must increase.
func (r *Runner) AddRead(p int32, offset int64, rec Record) *engine.Input {
	in := r.decode(r.dec, p, offset, rec)
	if in != nil {
		r.parts[p][rec.Topic] = append(r.parts[p][rec.Topic], in)
	}
	return in
}

// decode makes rec, read at partition p and offset, the engine's input,
// decoded with dec, and counts it; nil for an event outside [From, Until).
func (r *Runner) decode(dec *schemas.Decoder, p int32, offset int64, rec Record) *engine.Input {
	in := &engine.Input{Topic: rec.Topic, Partition: p, Offset: offset, Key: rec.Key, Value: rec.Value}
	now := r.now
	if rec.Time != 0 {
		in.Time = time.UnixMilli(rec.Time)
		now = in.Time
	}
	if rec.Unread != "" {
		engine.Unread(in, rec.Unread)
	} else {
		engine.Decode(in, dec, r.cfg.MaxFutureSkew, now)
	}
	if in.Err == nil {
		if t := in.Event.Time; t < r.cfg.From || r.cfg.Until != 0 && t >= r.cfg.Until {
			return nil
		}
		in.Value = nil // only a dead letter copies it
	} else {
		// A copy: a value read from Kafka shares the buffer of its whole
		// fetch, which it would keep until the run.
		in.Value = bytes.Clone(in.Value)
	}
	r.next[p][rec.Topic] = offset + 1
	r.total.Add(1)
	return in
}

// Run applies every queued record and, when until is after a partition's
// stream time, advances it there (as idle advance would, firing the
// timers due before it; 0: no advance, as `lifecycle run` without
// --idle-advance). Each output goes to out with its partition, partition
// by partition, in each partition's commit order, whatever the order the
// partitions were run in. Partitions run in parallel, one per CPU, each
// at most that many ahead of the one being written out. Run can be called
// once.
func (r *Runner) Run(until int64, out func(p int32, o record.Output) error) error {
	return r.run(until, out, func(p int32) (engine.Next, func()) {
		topics := make([]engine.Next, len(r.parts[p]))
		for i, t := range r.parts[p] {
			topics[i] = engine.Each(t)
		}
		r.parts[p] = nil // the engine's store holds what is needed from here
		return engine.MergeNext(r.cfg.Engine.Topics.Inputs, topics), func() {}
	})
}

// Source reads partition p of input topic topic (an index into
// Engine.Topics.Inputs) for RunFrom: it calls add with each record and
// its offset, in offset order, and returns once its range is read, or
// with ctx's error once ctx ends.
type Source func(ctx context.Context, p int32, topic int, add func(offset int64, rec Record)) error

// RunFrom is Run of the records read from read while the partitions run,
// in place of records queued by Add: each input topic of a partition is
// read as its engine takes it (a few fetches ahead), so a replay holds
// the users' state and its outputs, not its input. Progress counts the
// records read so far.
func (r *Runner) RunFrom(ctx context.Context, read Source, until int64, out func(p int32, o record.Output) error) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	return r.run(until, out, func(p int32) (engine.Next, func()) {
		ctx, stop := context.WithCancel(ctx)
		var readers sync.WaitGroup
		topics := make([]engine.Next, len(r.cfg.Engine.Topics.Inputs))
		for i := range topics {
			ch := make(chan *engine.Input, streamAhead)
			var err error
			readers.Add(1)
			go func() {
				defer readers.Done()
				defer close(ch)
				dec := schemas.NewDecoder(r.cfg.Decoder) // a decoder serves one goroutine
				err = read(ctx, p, i, func(offset int64, rec Record) {
					if in := r.decode(dec, p, offset, rec); in != nil {
						select {
						case ch <- in:
						case <-ctx.Done():
						}
					}
				})
			}()
			topics[i] = func() (*engine.Input, error) {
				if in, ok := <-ch; ok {
					return in, nil
				}
				return nil, err // ch is closed after err is set
			}
		}
		return engine.MergeNext(r.cfg.Engine.Topics.Inputs, topics), func() {
			stop()
			readers.Wait()
		}
	})
}

// streamAhead is how many decoded records of one topic partition RunFrom
// holds ahead of its engine.
const streamAhead = 1024

// run runs every partition's inputs (inputs gives them, and a func to
// call once they are no longer read) as Run says.
func (r *Runner) run(until int64, out func(p int32, o record.Output) error, inputs func(p int32) (engine.Next, func())) error {
	n := len(r.parts)
	r.store = make([]engine.Store, n)
	type result struct {
		outputs []record.Output
		err     error
	}
	results := make([]chan result, n)
	for p := range results {
		results[p] = make(chan result, 1)
	}
	workers := min(runtime.GOMAXPROCS(0), n)
	ahead := make(chan struct{}, workers) // a token per partition run and not yet written out
	stop := make(chan struct{})
	defer close(stop)
	go func() {
		for p := range n {
			select {
			case ahead <- struct{}{}:
			case <-stop:
				return
			}
			go func() {
				var res result
				if r.cfg.Store != nil {
					r.store[p] = r.cfg.Store(int32(p))
				} else {
					r.store[p] = engine.NewMemStore()
				}
				sink := func(c engine.Commit) error {
					res.outputs = append(res.outputs, c.Outputs...)
					return nil
				}
				next, done := inputs(int32(p))
				res.err = engine.Drive(r.cfg.Engine, r.store[p], int32(p), r.cfg.Partitions, next, until, &r.stats[p], sink)
				done()
				results[p] <- res
			}()
		}
	}()
	for p := range n {
		res := <-results[p]
		if res.err != nil {
			return res.err
		}
		for _, o := range res.outputs {
			if err := out(int32(p), o); err != nil {
				return err
			}
		}
		<-ahead
	}
	return nil
}

// Outcomes returns, after Run, each partition's record of how its
// silences ended, with the watch level the warnings chose from it.
func (r *Runner) Outcomes() ([]*warnings.Outcomes, error) {
	var all []*warnings.Outcomes
	for p, store := range r.store {
		m, _, err := store.Meta(int32(p))
		if err != nil {
			return nil, err
		}
		o, err := warnings.DecodeOutcomes(m.Outcomes)
		if err != nil {
			return nil, fmt.Errorf("offline: partition %d: %w", p, err)
		}
		all = append(all, o)
	}
	return all, nil
}

// EachUser calls fn with every user's state and partition after Run,
// partition by partition, in user id order within a partition.
func (r *Runner) EachUser(fn func(p int32, id string, u *record.User) error) error {
	for p, store := range r.store {
		var ids []string
		if err := store.UserIDs(int32(p), func(id []byte) { ids = append(ids, string(id)) }); err != nil {
			return err
		}
		slices.Sort(ids)
		for _, id := range ids {
			u, ok, err := store.User(int32(p), id)
			if err != nil {
				return err
			}
			if ok {
				if err := fn(int32(p), id, &u); err != nil {
					return err
				}
			}
		}
	}
	return nil
}
