package processor

import (
	"cmp"
	"errors"
	"fmt"
	"math"
	"slices"
	"sort"
	"time"

	"github.com/lifecycle-engine/lifecycle/processor/engine"
	"github.com/lifecycle-engine/lifecycle/processor/produce"
	"github.com/lifecycle-engine/lifecycle/processor/warnings"
	"github.com/lifecycle-engine/lifecycle/schemas"
	"github.com/lifecycle-engine/lifecycle/state"
	"github.com/lifecycle-engine/lifecycle/state/record"
)

func (p *Processor) own(id int32, s *partitionStats) {
	p.mu.Lock()
	p.mu.parts[id] = s
	p.mu.Unlock()
}

func (p *Processor) disown(id int32, s *partitionStats) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.mu.parts[id] == s {
		delete(p.mu.parts, id)
	}
	s.addCounters(&p.mu.gone)
}

// Stats returns a snapshot of the processor's counters.
func (p *Processor) Stats() Stats {
	p.mu.Lock()
	defer p.mu.Unlock()
	st := p.mu.gone
	st.Recent = nil
	st.Stages = [len(st.Stages)]int64{}
	st.Segments = [len(st.Segments)]int64{}
	st.Partitions = len(p.mu.parts)
	st.InputTopics = p.cfg.Topics.Inputs
	st.Rules = p.rules
	st.KafkaErrors = p.kafkaErrors.Load()
	if s := p.cfg.Schemas; s != nil {
		st.RegistryErrors = s.Failures()
	}
	st.FetchTimeouts = p.fetchTimeouts.Load()
	st.EndsRequests = p.endsRequests.Load()
	st.StreamTimeHeld = p.clock.held.Load()
	minStream := int64(math.MaxInt64)
	st.PartitionStreamTimes = map[int32]time.Time{}
	st.PartitionWatch = map[int32]float64{}
	st.PartitionBreaks = map[int32]string{}
	for id, s := range p.mu.parts {
		running := s.restoring.Load()
		if running {
			st.Restoring++
		}
		if target := s.restoreTarget.Load(); target >= 0 {
			st.Restores = append(st.Restores, RestoreProgress{Partition: id, Read: s.restoreRead.Load(), Target: target, Running: running})
		}
		for i, topic := range p.cfg.Topics.Inputs {
			if n := s.lag[i].Load(); n >= 0 {
				st.Lag = append(st.Lag, PartitionLag{Topic: topic, Partition: id, Records: n})
			}
		}
		if since := s.sendFailingSince.Load(); since != 0 && time.Since(time.Unix(0, since)) > sendFailingLimit {
			st.SendFailing = append(st.SendFailing, id)
		}
		s.addCounters(&st)
		st.CachedUsers += s.CachedUsers.Load()
		st.CacheBytes += s.CacheBytes.Load()
		snap := s.Snapshot()
		for i, n := range snap.Stages {
			st.Stages[i] += n
		}
		for i, n := range snap.Segments {
			st.Segments[i] += n
		}
		if snap.StreamTime > 0 { // a partition without events has no stream time yet
			minStream = min(minStream, snap.StreamTime)
			st.PartitionStreamTimes[id] = time.UnixMilli(snap.StreamTime).UTC()
		}
		st.Recent = append(st.Recent, snap.Recent...)
		if snap.Watch > 0 {
			st.PartitionWatch[id] = snap.Watch
		}
		if len(snap.Breaks) > 0 {
			st.PartitionBreaks[id] = warnings.FormatBreaks(snap.Breaks)
		}
	}
	if minStream != math.MaxInt64 {
		st.StreamTime = time.UnixMilli(minStream).UTC()
	}
	sort.Slice(st.Recent, func(i, j int) bool { return st.Recent[i].At < st.Recent[j].At })
	slices.Sort(st.SendFailing)
	if m := p.missing.Load(); m != nil {
		st.MissingTopics = slices.Clone(*m)
	}
	slices.SortFunc(st.Lag, func(a, b PartitionLag) int {
		return cmp.Or(cmp.Compare(a.Partition, b.Partition), cmp.Compare(a.Topic, b.Topic))
	})
	slices.SortFunc(st.Restores, func(a, b RestoreProgress) int { return cmp.Compare(a.Partition, b.Partition) })
	return st
}

// Errors of Processor.User.
var (
	ErrNotOwned  = errors.New("processor: another instance processes this user's partition")
	ErrRestoring = errors.New("processor: the partition is restoring from the changelog")
)

// Disk is the state directory's size and the room left on its volume;
// false when the filesystem cannot say. It is not part of Stats, which
// the bench and /readyz poll: it asks Pebble for its metrics.
func (p *Processor) Disk() (state.DiskUse, bool) {
	d, err := p.store.Disk()
	return d, err == nil
}

// Ready reports whether the processor is a member of the group, has
// started the partitions it was given, none of them has failed to write
// its outputs for longer than sendFailingLimit, and, when it assigned the
// group's partitions, the broker listed every subscribed topic (the
// readiness probe).
func (p *Processor) Ready() bool {
	if !p.ready.Load() {
		return false
	}
	st := p.Stats()
	return len(st.SendFailing) == 0 && len(st.MissingTopics) == 0
}

// sendFailingLimit is how long a partition's writes may keep failing
// before the instance reports itself not ready.
const sendFailingLimit = time.Minute

// User returns the committed state of user id (at most one batch behind
// the partition's memory), the partition it lives in, and whether it exists.
func (p *Processor) User(id string) (record.User, int32, bool, error) {
	n := p.partitions.Load()
	if n == 0 {
		return record.User{}, 0, false, errors.New("processor: not started yet")
	}
	part := produce.PartitionOf([]byte(id), n)
	p.mu.Lock()
	s := p.mu.parts[part]
	p.mu.Unlock()
	switch {
	case s == nil:
		// Local state of a partition this instance does not own may be old.
		return record.User{}, part, false, fmt.Errorf("%w: user %q is in partition %d", ErrNotOwned, id, part)
	case s.restoring.Load():
		return record.User{}, part, false, fmt.Errorf("%w: partition %d; try again shortly", ErrRestoring, part)
	}
	r, ok, err := p.store.User(part, id)
	return r, part, ok, err
}

// Predict scores a stored user at its partition's current stream time; nil
// without a model or a purchase.
func (p *Processor) Predict(r record.User, part int32) *schemas.Prediction {
	m := p.model.Load()
	if m == nil {
		return nil
	}
	p.mu.Lock()
	s := p.mu.parts[part]
	p.mu.Unlock()
	at := r.User.LastActivity
	if s != nil {
		at = max(at, s.Snapshot().StreamTime)
	}
	return engine.PredictAt(m, p.cfg.Prediction, r.User.Buys, at)
}
