package processor

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/segmentio/kafka-go"
	"go.uber.org/zap"

	"github.com/lifecycle-engine/lifecycle/processor/produce"
	"github.com/lifecycle-engine/lifecycle/schemas"
	"github.com/lifecycle-engine/lifecycle/state"
	"github.com/lifecycle-engine/lifecycle/state/record"
)

// job is one committed batch whose outputs must reach Kafka before its
// state reaches the changelog, and both before its input offsets are
// committed to the consumer group.
type job struct {
	from, to uint64 // outbox sequence numbers [from, to)
	outs     []record.Output
	// logFrom, logTo are the batches' changelog markers [logFrom, logTo),
	// deleted once the changelog has their records.
	logFrom, logTo uint64
	changelog      []kafka.Message  // the batch's user records and metadata, for the partition's changelog partition
	offsets        map[string]int64 // next offset per input topic once this job is done
	// oldest is the earliest Kafka timestamp (Unix ns) of the input
	// records the batch applied, 0 for none (a timer pass, a resend).
	oldest int64
}

// messageWriter is the part of kafka.Writer the sender uses.
type messageWriter interface {
	WriteMessages(ctx context.Context, msgs ...kafka.Message) error
}

// offsetCommitter is the part of kafka.Generation the sender uses.
type offsetCommitter interface {
	CommitOffsets(offsets map[string]map[int]int64) error
}

// sender delivers one partition's outbox in commit order, in two stages
// that run at once (ARCHITECTURE.md, Delivery order):
//
//   - deliver writes each batch's outputs (acks=all), batch after batch;
//   - log then takes each delivered batch and writes its changelog records,
//     deletes its outputs from the outbox and commits the input offsets to
//     the group, batch after batch.
//
// So batch n+1's outputs may be in flight while batch n's changelog is
// written, but each batch reaches the changelog only after its own outputs,
// and the batches reach each stage in commit order. A new owner that
// restores from the changelog therefore never holds state whose outputs
// were not delivered; a crash between the stages leaves outputs in the
// outbox that are sent again (at-least-once, the same ids). Jobs waiting in
// a stage's queue are sent together, so a slow round trip is paid once for
// many small batches.
type sender struct {
	partition int32
	jobs      chan job
	w         messageWriter
	changelog messageWriter // writes each message to its Partition
	// changelogChunk bounds each write to the changelog to one produce
	// batch (changelogWrites).
	changelogChunk chunkLimits
	store          *state.Store
	commit         offsetCommitter
	format         OutputEncoder // Config.OutputFormat; nil writes the JSON as it is
	stats          *partitionStats
	log            *zap.Logger
	// dlq and dlqMaxBytes are where an output refused for good is
	// replaced by a notice (setAside), and that topic's size limit.
	dlq         string
	dlqMaxBytes int

	// A member that was paused (SIGSTOP, a long GC, a frozen VM) for longer
	// than the session timeout has lost its partitions without knowing it.
	// Before writing after such a gap, each stage checks that the group
	// still counts it as a member; a zombie writes nothing more, so it
	// cannot put stale state into the changelog after the new owner's.
	session     time.Duration
	contactMu   sync.Mutex       // both stages talk to the coordinator
	lastContact time.Time        // last time the coordinator accepted us
	committed   map[string]int64 // the offsets last committed, re-sent to check membership
}

// errNotMember is returned when the group no longer counts this instance as
// the partition's owner.
var errNotMember = errors.New("processor: no longer a member of the group's current generation; the partition belongs to another instance now")

// deliveredQueue is how many delivered batches may wait for the changelog
// stage: the outputs stage runs at most that far ahead. It holds more than
// the batches of a changelogLinger at live rates, so that the wait does
// not hold up the outputs.
const deliveredQueue = 256

// changelogLinger is how long the changelog stage waits after a delivered
// batch for the next ones, so that one WAL sync, one changelog request and
// one outbox deletion serve all the batches of that stretch: at a live
// rate each batch holds an event or two (BENCHMARKS.md, "The paced
// cycle"). It delays the changelog, the outbox deletion and the offsets,
// never the outputs. 100 ms rather than 20 took 5-15 % off the CPU per
// event at 2,000-5,000 events/s (BENCHMARKS.md, "The fetch wait"); a
// crash then sends again up to that much more of the outputs (the same
// ids), and a standby's copy trails by that much more.
const changelogLinger = 100 * time.Millisecond

// untilNext is the time from now to the next multiple of d since the
// epoch. Every partition's changelog stage waits to the same boundaries,
// so their WAL syncs meet in one fsync (Pebble joins concurrent syncs)
// where waits of their own would spread them over the interval.
func untilNext(now time.Time, d time.Duration) time.Duration {
	return d - time.Duration(now.UnixNano())%d
}

// run sends jobs until the queue is closed and drained, or ctx ends. Outputs
// it could not send stay in the outbox and are sent on the next start.
func (s *sender) run(ctx context.Context) error {
	delivered := make(chan job, deliveredQueue)
	// A failed changelog stage stops the outputs stage too: nothing may be
	// delivered that the changelog will not follow.
	dctx, stopDelivering := context.WithCancel(ctx)
	defer stopDelivering()
	logged := make(chan error, 1)
	go func() {
		err := s.logJobs(ctx, delivered)
		if err != nil {
			stopDelivering()
		}
		logged <- err
	}()
	err := s.deliver(dctx, delivered)
	close(delivered)
	logErr := <-logged
	if logErr != nil {
		return logErr // the cause; deliver's is then its cancellation
	}
	return err
}

// deliver is the first stage: it writes the outputs of each job, then
// hands the job to the changelog stage.
func (s *sender) deliver(ctx context.Context, delivered chan<- job) error {
	for {
		var j job
		var ok bool
		select {
		case j, ok = <-s.jobs:
		case <-ctx.Done(): // the shutdown deadline: what is left stays in the outbox
			return ctx.Err()
		}
		if !ok {
			return nil
		}
		j = gather(j, s.jobs)
		if err := s.checkMember(); err != nil {
			return err
		}
		msgs, err := outputMessages(j.outs, s.format)
		if err != nil {
			return err
		}
		if err := s.write(ctx, s.w, msgs); err != nil {
			return err
		}
		s.stats.sent.Add(int64(len(j.outs)))
		if j.oldest != 0 {
			// One observation per delivery: its oldest record waited longest.
			s.stats.eventToOutput.observe(time.Since(time.Unix(0, j.oldest)))
		}
		if len(j.outs) > 0 {
			crashPoint(crashSent)
		}
		j.outs = nil
		select {
		case delivered <- j:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// logJobs is the second stage: for each delivered job, the changelog
// records, then the outbox deletions and the group offsets.
func (s *sender) logJobs(ctx context.Context, delivered <-chan job) error {
	batch := s.store.NewBatch(s.partition)
	defer batch.Close()
	// Pebble keeps the last commits in the process until its WAL block
	// fills or a sync (state/doc.go): a kill after a quiet period would
	// otherwise lose the outbox deletions and re-send their outputs. A
	// sync once no job came for a moment costs nothing under load.
	idle := time.NewTimer(time.Hour)
	idle.Stop()
	defer idle.Stop()
	// The group offsets only serve lag monitoring and a new owner without
	// local state (the offsets that count are stored with the state): they
	// are committed at most every commitEvery while jobs come, and once
	// they stop. kafka-go's coordinator connection serves one request at a
	// time and its waiters spin, so a commit per small batch of a live
	// stream cost more CPU than the batch (BENCHMARKS.md, "Latency").
	var uncommitted map[string]int64
	linger := time.NewTimer(time.Hour)
	linger.Stop()
	defer linger.Stop()
	newest := make(map[string]int) // newestByKey's index, kept between writes
	for {
		var j job
		var ok bool
		select {
		case j, ok = <-delivered:
		case <-ctx.Done():
			return ctx.Err()
		case <-idle.C:
			if err := s.store.Sync(); err != nil {
				return err
			}
			s.commitOffsets(uncommitted)
			uncommitted = nil
			continue
		}
		if !ok {
			s.commitOffsets(uncommitted)
			return nil
		}
		// While the sent crash point is armed the stage does not wait: its
		// schedules kill between a batch's outputs and its changelog write,
		// and with the wait a small fixture's run died before any write
		// reached the changelog (4 runs in 5 of repro-sent-same-deleted),
		// so the restart seeded the changelog instead of finding its local
		// state current, the path the schedule is about.
		if len(delivered) < cap(delivered)/2 && !crashArmed(crashSent) {
			linger.Reset(untilNext(time.Now(), changelogLinger))
			select {
			case <-linger.C:
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		j = gather(j, delivered)
		j.changelog = newestByKey(j.changelog, newest)
		// Again before the changelog: a pause since the outputs were written
		// must not let stale state follow a new owner's into the changelog.
		if err := s.checkMember(); err != nil {
			return err
		}
		// The batches must be durable here before the changelog has them:
		// Pebble keeps its last commits in the process (state/doc.go), and
		// a kill would otherwise leave the changelog ahead of the disk,
		// which costs the next start a full restore (changelog.go,
		// localStateCurrent). One sync serves the jobs gathered, and
		// concurrent partitions' syncs share one fsync.
		if err := s.store.Sync(); err != nil {
			return err
		}
		lim := s.changelogChunk
		if crashArmed(crashChunked) {
			lim.records = min(lim.records, chunkedCrashRecords)
		}
		for i, chunk := range changelogWrites(j.changelog, lim) {
			if i > 0 {
				crashPoint(crashChunked)
			}
			if err := s.write(ctx, s.changelog, chunk); err != nil {
				return err
			}
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
		if j.offsets != nil {
			uncommitted = j.offsets
		}
		if time.Since(s.contact()) > commitEvery {
			s.commitOffsets(uncommitted)
			uncommitted = nil
		}
		idle.Reset(syncWhenIdle)
	}
}

// gather appends to j the jobs already waiting in queue, in order, so that
// one round trip serves them all.
func gather(j job, queue <-chan job) job {
	for {
		select {
		case next, ok := <-queue:
			if !ok {
				return j
			}
			j.outs = append(j.outs, next.outs...)
			j.changelog = append(j.changelog, next.changelog...)
			j.to, j.offsets, j.logTo = next.to, next.offsets, next.logTo
			if next.oldest != 0 && (j.oldest == 0 || next.oldest < j.oldest) {
				j.oldest = next.oldest
			}
		default:
			return j
		}
	}
}

// newestByKey keeps, of the changelog records of several gathered
// batches, only the last of each key, where it stands. At a live rate each
// batch repeats the partition's metadata and its day's and week's
// retention records (about 900 bytes), so most of a gathered write
// repeated what its last batch says again. Nothing reads the dropped
// records: a write reaches the changelog whole or not at all (one produce
// batch, or a group applied at its last record: changelogWrites), and the
// restore and the standbys apply a key's records in order, so each key's
// last record leaves them where all of them did; compaction would drop the
// others anyway. The records of one batch have a key each, so a write of
// one batch is left as it is. last is scratch space, cleared here.
func newestByKey(msgs []kafka.Message, last map[string]int) []kafka.Message {
	metas := 0
	for _, m := range msgs {
		if isMeta(m) {
			metas++
		}
	}
	if metas < 2 {
		return msgs
	}
	clear(last)
	for i, m := range msgs {
		last[string(m.Key)] = i
	}
	if len(last) == len(msgs) {
		return msgs
	}
	kept := msgs[:0]
	for i, m := range msgs {
		if last[string(m.Key)] == i {
			kept = append(kept, m)
		}
	}
	return kept
}

// syncWhenIdle is how long the sender waits without a job before it makes
// everything committed durable and commits the group offsets.
const syncWhenIdle = 200 * time.Millisecond

// commitEvery bounds how long group offsets may lag behind a busy sender.
const commitEvery = time.Second

// outputMessages makes the Kafka messages of outs, their values
// re-encoded by format when there is one (--output-format avro).
func outputMessages(outs []record.Output, format OutputEncoder) ([]kafka.Message, error) {
	msgs := make([]kafka.Message, len(outs))
	for i, o := range outs {
		m := kafka.Message{Topic: o.Topic, Key: o.Key, Value: o.Value}
		for _, h := range o.Headers {
			m.Headers = append(m.Headers, kafka.Header{Key: h.Key, Value: h.Value})
		}
		if format != nil {
			var err error
			if m.Value, err = format.Encode(o.Topic, string(headerValue(o.Headers, schemas.HeaderSchema)), o.Value); err != nil {
				return nil, err
			}
		}
		msgs[i] = m
	}
	return msgs, nil
}

// headerValue returns the value of the header key, nil when absent.
func headerValue(hs []record.Header, key string) []byte {
	for _, h := range hs {
		if h.Key == key {
			return h.Value
		}
	}
	return nil
}

// write sends msgs until Kafka acknowledges all of them. A failed or
// cancelled write may still have delivered some: what Kafka did not
// acknowledge is sent again, and consumers drop the duplicates by id
// (at-least-once, invariant 3). A record that Kafka refuses for good (too
// large, invalid) is set aside instead of retried for ever: the records
// of a refused set are then written one at a time, in order, to find it.
func (s *sender) write(ctx context.Context, w messageWriter, msgs []kafka.Message) error {
	backoff := 100 * time.Millisecond
	for attempt := 1; len(msgs) > 0; attempt++ {
		err := w.WriteMessages(ctx, msgs...)
		if err == nil {
			if attempt > 1 {
				s.log.Info("outputs delivered after retries", zap.Int("attempts", attempt))
			}
			break
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		var tooLarge kafka.MessageTooLargeError
		if errors.As(err, &tooLarge) { // refused by the client before anything was sent
			if err := s.setAside(ctx, tooLarge.Message, err); err != nil {
				return err
			}
			msgs = tooLarge.Remaining
			continue
		}
		var werrs kafka.WriteErrors
		if errors.As(err, &werrs) && len(werrs) == len(msgs) {
			msgs = produce.FailedOnly(msgs, err) // the others were delivered
			permanent := slices.ContainsFunc(werrs, func(e error) bool { return e != nil && refusedForGood(e) })
			switch {
			case permanent && len(msgs) == 1:
				return s.setAside(ctx, msgs[0], err)
			case permanent:
				for _, m := range msgs {
					if err := s.write(ctx, w, []kafka.Message{m}); err != nil {
						return err
					}
				}
				return nil
			}
		}
		s.stats.sendErrors.Add(1)
		s.stats.sendFailingSince.CompareAndSwap(0, time.Now().UnixNano())
		s.log.Warn("writing outputs failed; retrying", zap.Int("records", len(msgs)), zap.Int("attempt", attempt), zap.Error(err))
		select {
		case <-time.After(backoff):
		case <-ctx.Done():
			return ctx.Err()
		}
		backoff = min(2*backoff, 5*time.Second)
	}
	s.stats.sendFailingSince.Store(0)
	return nil
}

// refusedForGood reports whether Kafka's answer to a write means that the
// same record will never be accepted: retrying it would stall the
// partition for ever.
func refusedForGood(err error) bool {
	var tooLarge kafka.MessageTooLargeError
	if errors.As(err, &tooLarge) {
		return true
	}
	var ke kafka.Error
	if !errors.As(err, &ke) {
		return false
	}
	switch ke {
	case kafka.MessageSizeTooLarge, kafka.RecordListTooLarge, kafka.InvalidRecord, kafka.InvalidTopic,
		kafka.PolicyViolation, kafka.UnsupportedForMessageFormat:
		return true
	}
	return false
}

// noticeValueBytes is how much of a refused output's value its notice keeps.
const noticeValueBytes = 1 << 10

// setAside gives up on output m, which Kafka refused for good: it is
// logged as an error, counted (lifecycle_outputs_dead_total), and replaced
// on the dead-letter topic by a notice with its topic, id, size and hash
// and the start of its value (code schemas.DLQCodeOutputRefused). The
// partition goes on. A notice that is refused in turn is only logged.
func (s *sender) setAside(ctx context.Context, m kafka.Message, cause error) error {
	s.stats.deadOutputs.Add(1)
	var id string
	for _, h := range m.Headers {
		if h.Key == schemas.HeaderID {
			id = string(h.Value)
		}
		if h.Key == schemas.HeaderDLQCode && string(h.Value) == schemas.DLQCodeOutputRefused {
			s.log.Error("a notice of a refused output was refused too; dropped", zap.String("topic", m.Topic), zap.Error(cause))
			return nil
		}
	}
	s.log.Error("Kafka refused an output for good; set aside with a notice on the dead-letter topic",
		zap.String("topic", m.Topic), zap.String("id", id), zap.Int("bytes", len(m.Key)+len(m.Value)), zap.Error(cause))
	sum := sha256.Sum256(m.Value)
	n := kafka.Message{Topic: s.dlq, Key: m.Key, Value: m.Value[:min(len(m.Value), noticeValueBytes)], Headers: []kafka.Header{
		{Key: schemas.HeaderDLQReason, Value: []byte(schemas.TruncateReason("the broker refused this output for good: " + cause.Error()))},
		{Key: schemas.HeaderDLQCode, Value: []byte(schemas.DLQCodeOutputRefused)},
		{Key: schemas.HeaderDLQTopic, Value: []byte(m.Topic)},
		{Key: schemas.HeaderDLQOutputID, Value: []byte(id)},
		{Key: schemas.HeaderDLQOriginalSize, Value: strconv.AppendInt(nil, int64(len(m.Value)), 10)},
		{Key: schemas.HeaderDLQSHA256, Value: []byte(hex.EncodeToString(sum[:]))},
	}}
	if len(n.Key) > noticeValueBytes {
		n.Key = n.Key[:noticeValueBytes]
	}
	return s.write(ctx, s.w, []kafka.Message{n})
}

// checkMember returns errNotMember when the sender has been out of touch
// with the coordinator for more than a third of a session and the
// coordinator, asked again, no longer accepts this member.
func (s *sender) checkMember() error {
	if s.commit == nil || time.Since(s.contact()) < s.session/3 {
		return nil
	}
	err := s.commitRequest(nil) // the offsets last committed
	if isFenced(err) {
		s.log.Warn("stopped writing: this instance was out of touch for longer than its session", zap.Duration("out_of_touch", time.Since(s.contact())))
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

// contact is when the coordinator last accepted this member.
func (s *sender) contact() time.Time {
	s.contactMu.Lock()
	defer s.contactMu.Unlock()
	return s.lastContact
}

// commitRequest commits offsets, or with nil the offsets last committed
// again; it holds contactMu, so that the two stages' requests do not
// interleave their bookkeeping.
func (s *sender) commitRequest(offsets map[string]int64) error {
	s.contactMu.Lock()
	defer s.contactMu.Unlock()
	if offsets == nil {
		offsets = s.committed
	}
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
