package processor

import (
	"context"
	"errors"
	"time"

	"github.com/segmentio/kafka-go"
	"go.uber.org/zap"

	"github.com/lifecycle-engine/lifecycle/state"
)

// job is one committed batch whose outputs must reach Kafka before its
// state reaches the changelog, and both before its input offsets are
// committed to the consumer group.
type job struct {
	from, to uint64 // outbox sequence numbers [from, to)
	outs     []state.Output
	// logFrom, logTo are the batches' changelog markers [logFrom, logTo),
	// deleted once the changelog has their records.
	logFrom, logTo uint64
	changelog      []kafka.Message  // the batch's user records and metadata, for the partition's changelog partition
	offsets        map[string]int64 // next offset per input topic once this job is done
}

// messageWriter is the part of kafka.Writer the sender uses.
type messageWriter interface {
	WriteMessages(ctx context.Context, msgs ...kafka.Message) error
}

// offsetCommitter is the part of kafka.Generation the sender uses.
type offsetCommitter interface {
	CommitOffsets(offsets map[string]map[int]int64) error
}

// sender delivers one partition's outbox in commit order: write the outputs
// (acks=all), then the changelog records, then delete the outputs from the
// outbox and commit the input offsets to the group (design.md, Delivery
// ordering). A new owner that restores from the changelog therefore never
// holds state whose outputs were not delivered. Jobs waiting in the queue
// are sent together, so a slow broker round trip is paid once for many small
// batches.
type sender struct {
	partition int32
	jobs      chan job
	w         messageWriter
	changelog messageWriter // writes each message to its Partition
	store     *state.Store
	commit    offsetCommitter
	stats     *partitionStats
	log       *zap.Logger

	// A member that was paused (SIGSTOP, a long GC, a frozen VM) for longer
	// than the session timeout has lost its partitions without knowing it.
	// Before writing after such a gap, the sender checks that the group
	// still counts it as a member; a zombie writes nothing more, so it
	// cannot put stale state into the changelog after the new owner's.
	session     time.Duration
	lastContact time.Time        // last time the coordinator accepted us
	committed   map[string]int64 // the offsets last committed, re-sent to check membership
}

// errNotMember is returned when the group no longer counts this instance as
// the partition's owner.
var errNotMember = errors.New("processor: no longer a member of the group's current generation; the partition belongs to another instance now")

// run sends jobs until the queue is closed and drained, or ctx ends. Outputs
// it could not send stay in the outbox and are sent on the next start.
func (s *sender) run(ctx context.Context) error {
	batch := s.store.NewBatch(s.partition)
	defer batch.Close()
	// Pebble keeps the last commits in the process until its WAL block
	// fills or a sync (state/doc.go): a kill after a quiet period would
	// otherwise lose the outbox deletions and re-send their outputs. A
	// sync once no job came for a moment costs nothing under load.
	idle := time.NewTimer(time.Hour)
	idle.Stop()
	defer idle.Stop()
	for {
		var j job
		var ok bool
		select {
		case j, ok = <-s.jobs:
		case <-idle.C:
			if err := s.store.Sync(); err != nil {
				return err
			}
			continue
		}
		if !ok {
			return nil
		}
		for more := true; more; {
			select {
			case next, ok := <-s.jobs:
				if !ok {
					more = false
					break
				}
				j.outs = append(j.outs, next.outs...)
				j.changelog = append(j.changelog, next.changelog...)
				j.to, j.offsets, j.logTo = next.to, next.offsets, next.logTo
			default:
				more = false
			}
		}
		if err := s.checkMember(); err != nil {
			return err
		}
		if err := s.write(ctx, s.w, outputMessages(j.outs)); err != nil {
			return err
		}
		s.stats.sent.Add(int64(len(j.outs)))
		if len(j.outs) > 0 {
			crashPoint(crashSent)
		}
		// Again before the changelog: a pause during the outputs write must
		// not let stale state follow a new owner's into the changelog.
		if err := s.checkMember(); err != nil {
			return err
		}
		if err := s.write(ctx, s.changelog, j.changelog); err != nil {
			return err
		}
		crashPoint(crashChangelogged)
		if err := batch.DeleteOutputs(j.from, j.to); err != nil {
			return err
		}
		if err := batch.DeleteUnlogged(j.logFrom, j.logTo); err != nil {
			return err
		}
		if !batch.Empty() {
			if err := batch.Commit(); err != nil {
				return err
			}
		}
		// The group offsets only serve lag monitoring (the offsets that
		// count are stored with the state): when the next batch is already
		// waiting, its commit will carry these, a round trip later saved.
		if len(s.jobs) == 0 || time.Since(s.lastContact) > commitEvery {
			s.commitOffsets(j.offsets)
		}
		idle.Reset(syncWhenIdle)
	}
}

// syncWhenIdle is how long the sender waits without a job before it makes
// everything committed durable.
const syncWhenIdle = 200 * time.Millisecond

// commitEvery bounds how long group offsets may lag behind a busy sender.
const commitEvery = time.Second

func outputMessages(outs []state.Output) []kafka.Message {
	msgs := make([]kafka.Message, len(outs))
	for i, o := range outs {
		m := kafka.Message{Topic: o.Topic, Key: o.Key, Value: o.Value}
		for _, h := range o.Headers {
			m.Headers = append(m.Headers, kafka.Header{Key: h.Key, Value: h.Value})
		}
		msgs[i] = m
	}
	return msgs
}

// write sends msgs until Kafka acknowledges all of them. A failed or
// cancelled write may still have delivered some: the whole set is sent again,
// and consumers drop the duplicates by id (at-least-once, invariant 3).
func (s *sender) write(ctx context.Context, w messageWriter, msgs []kafka.Message) error {
	if len(msgs) == 0 {
		return nil
	}
	backoff := 100 * time.Millisecond
	for attempt := 1; ; attempt++ {
		err := w.WriteMessages(ctx, msgs...)
		if err == nil {
			if attempt > 1 {
				s.log.Info("outputs delivered after retries", zap.Int("attempts", attempt))
			}
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		s.stats.sendErrors.Add(1)
		s.log.Warn("writing outputs failed; retrying", zap.Int("records", len(msgs)), zap.Int("attempt", attempt), zap.Error(err))
		select {
		case <-time.After(backoff):
		case <-ctx.Done():
			return ctx.Err()
		}
		backoff = min(2*backoff, 5*time.Second)
	}
}

// checkMember returns errNotMember when the sender has been out of touch
// with the coordinator for more than half a session and the coordinator,
// asked again, no longer accepts this member.
func (s *sender) checkMember() error {
	if s.commit == nil || time.Since(s.lastContact) < s.session/3 {
		return nil
	}
	err := s.commitRequest(s.committed)
	if isFenced(err) {
		s.log.Warn("stopped writing: this instance was out of touch for longer than its session", zap.Duration("out_of_touch", time.Since(s.lastContact)))
		return errNotMember
	}
	return nil
}

// isFenced reports whether err says the member or its generation is gone.
func isFenced(err error) bool {
	return errors.Is(err, kafka.IllegalGeneration) || errors.Is(err, kafka.UnknownMemberId) || errors.Is(err, kafka.FencedInstanceID)
}

// commitOffsets records progress in the consumer group, for lag monitoring
// and for a new owner without local state. It is best effort: the offsets
// that count are the ones stored with the state in Pebble.
func (s *sender) commitOffsets(offsets map[string]int64) {
	if s.commit == nil || len(offsets) == 0 {
		return
	}
	if err := s.commitRequest(offsets); err != nil && !errors.Is(err, kafka.ErrGenerationEnded) {
		s.log.Warn("committing group offsets failed", zap.Error(err))
	}
}

func (s *sender) commitRequest(offsets map[string]int64) error {
	req := make(map[string]map[int]int64, len(offsets))
	for t, o := range offsets {
		req[t] = map[int]int64{int(s.partition): o}
	}
	err := s.commit.CommitOffsets(req)
	if err == nil {
		s.lastContact = time.Now()
		s.committed = offsets
	}
	return err
}
