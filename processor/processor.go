package processor

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/lifecycle-engine/lifecycle/processor/engine"
	"github.com/lifecycle-engine/lifecycle/processor/produce"
	"github.com/lifecycle-engine/lifecycle/state/record"

	"github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"go.uber.org/zap"

	"github.com/lifecycle-engine/lifecycle/schemas"
	"github.com/lifecycle-engine/lifecycle/state"
)

// Processor is one member of the lifecycle consumer group.
type Processor struct {
	cfg        Config
	store      *state.Store
	partitions atomic.Int32 // input partition count, known once Run has checked the topics
	ready      atomic.Bool  // a member of the group with its partitions started
	model      atomic.Pointer[engine.Model]
	kafka      *kgo.Client // the admin client's, for endOffsets
	// kafkaErrors counts errors of the group, the readers and the broker
	// check: an outage shows as a rising count (each is retried).
	kafkaErrors atomic.Int64
	// fetchTimeouts counts reads that timed out (not errors; see newFetcher).
	fetchTimeouts atomic.Int64

	afterCommit func() // test hook for every partition; nil in production

	mu struct {
		sync.Mutex
		parts map[int32]*partitionStats // owned now
		gone  Stats                     // counters of partitions no longer owned
	}
}

// New returns a processor that keeps its state in store.
func New(cfg Config, store *state.Store) (*Processor, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	p := &Processor{store: store}
	p.cfg = cfg.withDefaults().withEngine(&p.model)
	p.mu.parts = map[int32]*partitionStats{}
	return p, nil
}

// SetModel makes later outputs use m (nil: no prediction). It is safe to
// call while the processor runs, as SIGHUP does.
func (p *Processor) SetModel(m *engine.Model) { p.model.Store(m) }

// ModelID is the id of the model in use, "" for none.
func (p *Processor) ModelID() string {
	if m := p.model.Load(); m != nil {
		return m.ID
	}
	return ""
}

// Run joins the consumer group and processes the partitions it is given
// until ctx ends; then it commits what it has applied, sends the outbox,
// leaves the group and returns nil. It returns an error when it cannot start
// (topics missing or not co-partitioned, brokers unreachable).
func (p *Processor) Run(ctx context.Context) error {
	err := p.run(ctx)
	if err != nil && ctx.Err() != nil {
		// Stopped while starting (SIGTERM during the connection check, for
		// one): a clean stop, not a failure.
		p.cfg.Log.Info("stopped while starting", zap.Error(err))
		return nil
	}
	return err
}

// waitForBrokers returns once the brokers answer. While none does it keeps
// trying, as Kafka's own clients do, so that an instance started during a
// broker outage (or before the broker, as in docker compose) goes to work
// when it ends; configuration errors (credentials, TLS) return at once.
func (p *Processor) waitForBrokers(ctx context.Context, adm *kadm.Client) error {
	backoff := time.Second
	for {
		err := p.cfg.Conn.Check(ctx, adm)
		if err == nil || !errors.Is(err, ErrUnreachable) || ctx.Err() != nil {
			return err
		}
		p.kafkaErrors.Add(1)
		p.cfg.Log.Warn("waiting for the brokers", zap.Duration("retry_in", backoff), zap.Error(err))
		select {
		case <-time.After(backoff):
		case <-ctx.Done():
			return err
		}
		backoff = min(2*backoff, 15*time.Second)
	}
}

func (p *Processor) run(ctx context.Context) error {
	cfg := &p.cfg
	log := cfg.Log
	cl, err := cfg.Conn.client()
	if err != nil {
		return err
	}
	adm := kadm.NewClient(cl)
	defer adm.Close()
	p.kafka = cl
	if err := p.waitForBrokers(ctx, adm); err != nil {
		return err
	}
	partitions, err := CheckTopics(ctx, adm, cfg.Topics)
	if err != nil {
		return err
	}
	if err := checkStoreLayout(p.store, partitions); err != nil {
		return err
	}
	p.partitions.Store(partitions)

	// Outputs are sized to what their topics take: kafka-go's own default
	// batch limit (1 MiB) would refuse a dead letter that the topic takes.
	limits, err := maxMessageBytes(ctx, adm, cfg.Topics.Outputs()...)
	if err != nil {
		log.Warn("could not read the output topics' max.message.bytes; assuming Kafka's default", zap.Error(err))
	}
	cfg.dlqMaxBytes = limits[cfg.Topics.DLQ]
	cfg.engine.DLQMaxBytes = cfg.dlqMaxBytes
	w := cfg.Conn.Writer()
	defer w.Close()
	for _, n := range limits {
		w.BatchBytes = max(w.BatchBytes, int64(n))
	}
	clw := changelogWriter(cfg.Conn)
	defer clw.Close()

	// With standbys the group also hands out the changelog's partitions:
	// a member's are the ones it keeps a standby copy of (balancer.go).
	balancer := copartitionBalancer{held: p.held}
	topics := cfg.Topics.Inputs
	if cfg.StandbyReplicas > 0 {
		balancer.changelog, balancer.standbys = cfg.Topics.Changelog, cfg.StandbyReplicas
		topics = append(slices.Clone(topics), cfg.Topics.Changelog)
	}
	group, err := kafka.NewConsumerGroup(kafka.ConsumerGroupConfig{
		ID:                    cfg.Group,
		Brokers:               cfg.Conn.Brokers,
		Dialer:                cfg.Conn.dialer(),
		Topics:                topics,
		GroupBalancers:        []kafka.GroupBalancer{balancer},
		StartOffset:           kafka.FirstOffset,
		HeartbeatInterval:     cfg.SessionTimeout / 10,
		SessionTimeout:        cfg.SessionTimeout,
		RebalanceTimeout:      30 * time.Second,
		JoinGroupBackoff:      time.Second,
		WatchPartitionChanges: true,
		ErrorLogger: kafka.LoggerFunc(func(msg string, args ...any) {
			p.kafkaErrors.Add(1)
			log.Sugar().Warnf("kafka group: "+msg, args...)
		}),
	})
	if err != nil {
		return fmt.Errorf("processor: join group %s: %w", cfg.Group, err)
	}
	log.Info("started", zap.String("group", cfg.Group), zap.Int32("partitions", partitions), zap.Strings("inputs", cfg.Topics.Inputs))

	var runErr error
	for {
		gen, err := group.Next(ctx)
		if err != nil {
			if ctx.Err() != nil {
				break
			}
			if errors.Is(err, kafka.ErrGroupClosed) {
				runErr = err
				break
			}
			p.kafkaErrors.Add(1)
			log.Warn("joining the group failed; retrying", zap.Error(err))
			select {
			case <-time.After(time.Second):
			case <-ctx.Done():
			}
			continue
		}
		p.startGeneration(ctx, gen, adm, writers{w, clw}, partitions)
		p.ready.Store(true)
	}
	p.ready.Store(false)
	// Closing the group ends the generation: every partition commits, sends
	// its outbox and returns before Close does; then the member leaves.
	if err := group.Close(); err != nil {
		log.Warn("leaving the group", zap.Error(err))
	}
	if err := p.store.Sync(); err != nil {
		runErr = errors.Join(runErr, err)
	}
	log.Info("stopped")
	return runErr
}

// ErrStoreLayout is returned when the state directory was built for
// another input partition count.
var ErrStoreLayout = errors.New("processor: the state directory was built for another partition count")

// checkStoreLayout refuses a store whose partitions were built for another
// partition count, before anything is read, written or seeded from it:
// its users would belong to other partitions now, and a changelog seeded
// from it would hand them to a fresh instance.
func checkStoreLayout(store *state.Store, partitions int32) error {
	ids, err := store.Partitions()
	if err != nil {
		return err
	}
	for _, id := range ids {
		meta, ok, err := store.Meta(id)
		if err != nil {
			return err
		}
		if ok && (meta.Partitions != partitions || id >= partitions) {
			return layoutError(id, meta.Partitions, partitions)
		}
	}
	return nil
}

func layoutError(id, built, now int32) error {
	return fmt.Errorf("%w: its partition %d was built when the input topics had %d partitions; they have %d now, so users map to other partitions. Use a new --state-dir (it restores from the changelog), or give the topics %d partitions again", ErrStoreLayout, id, built, now, built)
}

// writers are the producers a partition sends with.
type writers struct{ outputs, changelog messageWriter }

// startGeneration starts one goroutine per assigned partition number (the
// balancer gives partition p of every input topic to the same member) and
// one per standby copy.
func (p *Processor) startGeneration(ctx context.Context, gen *kafka.Generation, adm *kadm.Client, w writers, partitions int32) {
	log := p.cfg.Log.With(zap.Int32("generation", gen.ID))
	ids := map[int]bool{}
	var standbys []int
	for topic, as := range gen.Assignments {
		for _, a := range as {
			if topic == p.cfg.Topics.Changelog {
				standbys = append(standbys, a.ID)
			} else {
				ids[a.ID] = true
			}
		}
	}
	owned := make([]int, 0, len(ids))
	for id := range ids {
		owned = append(owned, id)
	}
	sort.Ints(owned)
	sort.Ints(standbys)
	log.Info("partitions assigned", zap.Ints("partitions", owned), zap.Ints("standbys", standbys))
	for _, id := range standbys {
		gen.Start(func(gctx context.Context) {
			slog := log.With(zap.Int32("partition", int32(id)), zap.Bool("standby", true))
			if err := p.runStandby(gctx, gen, adm, int32(id), slog); err != nil && gctx.Err() == nil {
				slog.Error("standby stopped; it starts again with the next generation", zap.Error(err))
			}
		})
	}
	if len(owned) == 0 {
		return
	}
	ends, err := adm.ListEndOffsets(ctx, append([]string{p.cfg.Topics.Changelog}, p.cfg.Topics.Inputs...)...)
	if err == nil {
		err = ends.Error()
	}
	if err != nil {
		log.Warn("listing end offsets failed; partitions start without them", zap.Error(err))
	}
	for _, id := range owned {
		id := int32(id)
		committed := map[string]int64{}
		for topic, as := range gen.Assignments {
			for _, a := range as {
				if a.ID == int(id) && a.Offset >= 0 {
					committed[topic] = a.Offset
				}
			}
		}
		gen.Start(func(gctx context.Context) {
			plog := log.With(zap.Int32("partition", id))
			if err := p.runPartition(gctx, gen, adm, id, partitions, committed, ends, w, plog); err != nil && gctx.Err() == nil {
				plog.Error("partition stopped; the group will rebalance and retry", zap.Error(err))
			}
		})
	}
}

// runPartition owns partition id for one generation: it makes the local
// state current (from the changelog when it is not), then consumes.
func (p *Processor) runPartition(ctx context.Context, gen offsetCommitter, adm *kadm.Client, id, partitions int32, committed map[string]int64, ends kadm.ListedOffsets, w writers, log *zap.Logger) error {
	cfg := p.cfg
	cfg.Log = log
	stats := &partitionStats{}
	p.own(id, stats)
	defer p.disown(id, stats)

	clEnd, ok := ends.Lookup(cfg.Topics.Changelog, id)
	if !ok || clEnd.Err != nil {
		return fmt.Errorf("processor: the end offset of changelog %s/%d is unknown; retrying with the next generation", cfg.Topics.Changelog, id)
	}
	meta, haveLocal, err := p.store.Meta(id)
	if err != nil {
		return err
	}
	standbyAt, standby, err := p.store.Standby(id)
	if err != nil {
		return err
	}
	var clMeta *record.Meta
	if haveLocal && !standby {
		if clMeta, err = p.newestMeta(ctx, id, clEnd.Offset); err != nil {
			return err
		}
	}
	seeded := false
	switch {
	case standby:
		// A standby copy: what the changelog got since it last applied.
		if err := p.promote(ctx, id, standbyAt, clEnd.Offset, stats, log); err != nil {
			return err
		}
	case !localStateCurrent(meta, haveLocal, committed, clMeta):
		if err := p.restore(ctx, id, clEnd.Offset, stats, log); err != nil {
			return err
		}
	case clEnd.Offset == 0:
		if err := p.seedChangelog(ctx, id, w.changelog, log); err != nil {
			return err
		}
		seeded = true
	default:
		log.Info("local state is current; no restore needed")
	}
	// Batches the changelog never got (a crash after their commit) are
	// owed to it before any new one: their users' current records.
	owed, logFrom, logTo, err := p.unlogged(id)
	if err != nil {
		return err
	}
	if seeded {
		owed = nil // the seed holds every user
	}

	// The sender lives until the partition has committed its last batch;
	// sendCtx ends only when the shutdown deadline passes.
	sendCtx, cancelSend := context.WithCancel(context.Background())
	defer cancelSend()
	jobs := make(chan job, 16)
	snd := &sender{partition: id, jobs: jobs, w: w.outputs, changelog: w.changelog, store: p.store, commit: gen, dlq: cfg.Topics.DLQ, dlqMaxBytes: cfg.dlqMaxBytes,
		stats: stats, log: log, session: cfg.SessionTimeout, lastContact: time.Now(), committed: map[string]int64{}}
	for _, topic := range cfg.Topics.Inputs {
		// What the group had at assignment: safe to commit again when only
		// checking that this member is still in the group.
		snd.committed[topic] = max(committed[topic], 0)
	}
	// send hands a job to the sender; it fails at once when the sender has
	// stopped (it lost the partition, or the shutdown deadline passed), so
	// the partition stops too instead of waiting for a queue nobody drains.
	var sendErr error
	sendExited := make(chan struct{})
	go func() { sendErr = snd.run(sendCtx); close(sendExited) }()
	send := func(j job) error {
		select {
		case jobs <- j:
			return nil
		case <-sendExited:
			return fmt.Errorf("processor: the sender of partition %d stopped: %w", id, sendErr)
		}
	}
	sendResult := func() error { <-sendExited; return sendErr }
	part, err := p.openPartition(id, partitions, logTo, stats, log, send)
	if err != nil {
		close(jobs)
		return errors.Join(err, sendResult())
	}

	// Outputs committed but not acknowledged before the last stop go first.
	seqs, outs, err := p.store.Outbox(id)
	if err != nil {
		close(jobs)
		return errors.Join(err, sendResult())
	}
	first := job{outs: outs, changelog: owed, logFrom: logFrom, logTo: logTo}
	if len(outs) > 0 {
		log.Info("resending outputs left in the outbox", zap.Int("records", len(outs)))
		first.from, first.to = seqs[0], seqs[len(seqs)-1]+1
	}
	if len(owed) > 0 {
		log.Info("republishing to the changelog what a crash kept from it", zap.Int("records", len(owed)), zap.Uint64("batches", logTo-logFrom))
	}
	if first.to > first.from || first.logTo > first.logFrom {
		_ = send(first)
	}

	loopErr := p.consume(ctx, adm, part, ends, log)

	// Stop: commit what was applied, then let the sender drain, but not
	// for longer than the shutdown timeout.
	deadline := time.AfterFunc(cfg.ShutdownTimeout, cancelSend)
	defer deadline.Stop()
	err = part.shutdown()
	close(jobs)
	err = errors.Join(err, sendResult())
	if errors.Is(loopErr, context.Canceled) || errors.Is(loopErr, kafka.ErrGenerationEnded) {
		loopErr = nil
	}
	log.Info("partition released", zap.Int64("stream_time", part.eng.StreamTime()))
	return errors.Join(loopErr, err)
}

// consume starts a fetcher per input topic and runs the partition's loop
// until ctx ends or something fails; the fetchers are stopped and joined
// before it returns.
func (p *Processor) consume(ctx context.Context, adm *kadm.Client, part *partition, ends kadm.ListedOffsets, log *zap.Logger) error {
	inputs := p.cfg.Topics.Inputs
	fctx, stop := context.WithCancel(ctx)
	var wg sync.WaitGroup
	defer wg.Wait()
	defer stop()

	notify := make(chan struct{}, 1)
	cancels := make([]context.CancelFunc, len(inputs))
	// fetch starts topic i's fetcher at offset from, stopping the one it
	// replaces (merger.restartStalled).
	fetch := func(i int, from int64) (<-chan kafka.Message, error) {
		topic := inputs[i]
		f, err := newFetcher(p.cfg.Conn, topic, part.id, from, notify, fetchCounters{&p.kafkaErrors, &p.fetchTimeouts}, log.With(zap.String("topic", topic)))
		if err != nil {
			return nil, fmt.Errorf("processor: reader for %s/%d: %w", topic, part.id, err)
		}
		if cancels[i] != nil {
			cancels[i]()
			p.kafkaErrors.Add(1) // a stalled reader is a Kafka error too
		}
		var c context.Context
		c, cancels[i] = context.WithCancel(fctx)
		wg.Add(1)
		go func() { defer wg.Done(); f.run(c) }()
		return f.out, nil
	}
	chans := make([]<-chan kafka.Message, len(inputs))
	start := make([]int64, len(inputs))
	hwm := make([]int64, len(inputs))
	for i, topic := range inputs {
		offset, ok := part.eng.Offset(topic)
		from := offset
		if !ok {
			from = kafka.FirstOffset
		}
		if end, ok := ends.Lookup(topic, part.id); ok {
			hwm[i] = end.Offset
		} else {
			hwm[i] = math.MaxInt64 // unknown: wait for this topic's records
		}
		start[i] = offset
		var err error
		if chans[i], err = fetch(i, from); err != nil {
			return err
		}
		log.Info("reading", zap.String("topic", topic), zap.Int64("offset", offset), zap.Bool("from_start", !ok))
	}
	m := newMerger(inputs, chans, start, hwm, schemas.NewDecoder(p.cfg.Decoder))
	m.skew = p.cfg.MaxFutureSkew
	m.refetch = fetch
	for i, topic := range inputs {
		_, m.held[i] = part.eng.Offset(topic)
	}
	m.ends, m.endsC, m.notify = func() ([]int64, error) {
		lctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		return endOffsets(lctx, p.kafka, inputs, part.id)
	}, make(chan endsAnswer, 1), notify
	m.logStart = func(i int) (int64, error) {
		lctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		starts, err := adm.ListStartOffsets(lctx, inputs[i])
		if err != nil {
			return 0, fmt.Errorf("processor: log start offset of %s: %w", inputs[i], err)
		}
		o, ok := starts.Lookup(inputs[i], part.id)
		if !ok || o.Err != nil {
			return 0, fmt.Errorf("processor: log start offset of %s/%d: %v", inputs[i], part.id, o.Err)
		}
		return o.Offset, nil
	}
	return part.loop(ctx, m, notify)
}

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
	st.KafkaErrors = p.kafkaErrors.Load()
	st.FetchTimeouts = p.fetchTimeouts.Load()
	minStream := int64(math.MaxInt64)
	st.PartitionStreamTimes = map[int32]time.Time{}
	for id, s := range p.mu.parts {
		if s.restoring.Load() {
			st.Restoring++
		}
		if since := s.sendFailingSince.Load(); since != 0 && time.Since(time.Unix(0, since)) > sendFailingLimit {
			st.SendFailing = append(st.SendFailing, id)
		}
		s.addCounters(&st)
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
	}
	if minStream != math.MaxInt64 {
		st.StreamTime = time.UnixMilli(minStream).UTC()
	}
	sort.Slice(st.Recent, func(i, j int) bool { return st.Recent[i].At < st.Recent[j].At })
	slices.Sort(st.SendFailing)
	return st
}

// Errors of Processor.User.
var (
	ErrNotOwned  = errors.New("processor: another instance processes this user's partition")
	ErrRestoring = errors.New("processor: the partition is restoring from the changelog")
)

// Ready reports whether the processor is a member of the group, has
// started the partitions it was given, and none of them has failed to
// write its outputs for longer than sendFailingLimit (the readiness probe).
func (p *Processor) Ready() bool { return p.ready.Load() && len(p.Stats().SendFailing) == 0 }

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
