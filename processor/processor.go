package processor

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/lifecycle-engine/lifecycle/processor/engine"
	"github.com/lifecycle-engine/lifecycle/processor/retention"
	"github.com/lifecycle-engine/lifecycle/schemas"

	"github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kadm"
	"go.uber.org/zap"

	"github.com/lifecycle-engine/lifecycle/state"
)

// Processor is one member of the lifecycle consumer group.
type Processor struct {
	cfg        Config
	store      *state.Store
	partitions atomic.Int32 // input partition count, known once Run has checked the topics
	ready      atomic.Bool  // a member of the group with its partitions started
	model      atomic.Pointer[engine.Model]
	rules      schemas.Rules // in effect, for Stats
	ends       *endsAsker    // the merges' confirmations of end offsets
	inputs     *inputs       // fetches the owned input partitions (inputs.go)
	clock      *inputClock   // when the inputs last brought a record (Config.MaxInputSilence)
	// fail stops Run with an error that no rebalance can cure (set by
	// run): a partition's ErrInputRestarted or ErrChangelogUnseeded.
	fail context.CancelCauseFunc
	// kafkaErrors counts errors of the group, the input fetches and the
	// broker check: an outage shows as a rising count (each is retried).
	kafkaErrors atomic.Int64
	// schemaWaits counts the sources waiting for a schema registry
	// (Config.Schemas) now: a fetch held up by the registry is not a
	// stalled fetch to replace.
	schemaWaits atomic.Int64
	// fetchTimeouts counts input fetches that timed out (fetchHooks).
	fetchTimeouts atomic.Int64
	// endsRequests counts the endsAsker's requests: the merges'
	// confirmations that no fetch response gave.
	endsRequests atomic.Int64
	// unlisted holds the subscribed topics the broker did not list when
	// this member, as the group's leader, last assigned partitions
	// (copartitionBalancer); startGeneration takes it. One left by an
	// assignment whose generation never started (its sync failed) ends
	// the next generation early: a rebalance more, nothing else.
	unlisted atomic.Pointer[[]string]
	// missing is the last such report, kept until a generation assigns
	// again: while it stands this member is not ready (Ready, /readyz).
	missing atomic.Pointer[[]string]

	afterCommit   func() // test hook for every partition; nil in production
	beforeCurrent func() // test hook, called as each ownership starts to make its state current; nil in production

	// metrics is the latest record of each key of the metrics topic
	// (readMetrics): every partition's, whoever owns it.
	metrics *retention.Latest

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
	p := &Processor{store: store, metrics: retention.NewLatest()}
	p.cfg = cfg.withDefaults().withEngine(&p.model)
	p.clock = newInputClock(time.Now(), p.cfg.Log)
	p.rules = schemas.Rules{Version: cfg.RulesVersion, Hash: cfg.RulesHash()}
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

func (p *Processor) run(parent context.Context) error {
	cfg := &p.cfg
	log := cfg.Log
	ctx, fail := context.WithCancelCause(parent)
	defer fail(nil)
	p.fail = fail
	cl, err := cfg.Conn.Client()
	if err != nil {
		return err
	}
	adm := kadm.NewClient(cl)
	defer adm.Close()
	p.ends = newEndsAsker(cl, cfg.Topics.Inputs, &p.endsRequests)
	p.clock.seen(time.Now()) // the inputs' silence counts from the start
	// The group's partitions are fetched by one client for the process;
	// it is closed after the group, whose partitions stop their sources.
	in, err := newInputs(cfg.Conn, cfg.FetchWait, cfg.maxBatchBytes(), cfg.Schemas, &p.schemaWaits, fetchCounters{&p.kafkaErrors, &p.fetchTimeouts}, p.clock, log)
	if err != nil {
		return err
	}
	defer in.close()
	p.inputs = in
	if err := p.waitForBrokers(ctx, adm); err != nil {
		return err
	}
	partitions, warnings, err := CheckTopics(ctx, adm, cfg.Topics)
	if err != nil {
		return err
	}
	for _, w := range warnings {
		log.Warn(w)
	}
	if cfg.IdleAdvance {
		// Records for the group's other instances count as live inputs
		// too, and idle advance waits for what the ends say is unread.
		wctx, stopWatch := context.WithCancel(ctx)
		watched := make(chan struct{})
		go func() {
			defer close(watched)
			p.clock.watchEnds(wctx, adm, cfg.Topics.Inputs, endsInterval(cfg.MaxInputSilence, cfg.AllowedLateness))
		}()
		defer func() { stopWatch(); <-watched }()
	}
	if err := checkStoreLayout(p.store, partitions); err != nil {
		return err
	}
	p.partitions.Store(partitions)

	// Outputs are sized to what their topics take: a dead letter is cut to
	// fit its topic, and every partition's outputs go out in record
	// batches each topic takes (produce.Gather).
	limits, err := maxMessageBytes(ctx, adm, cfg.Topics.Outputs()...)
	if err != nil {
		log.Warn("could not read the output topics' max.message.bytes; assuming Kafka's default", zap.Error(err))
	}
	cfg.dlqMaxBytes = limits[cfg.Topics.DLQ]
	cfg.engine.DLQMaxBytes = cfg.dlqMaxBytes
	w := cfg.Conn.Gather(cfg.Topics.Outputs(), func(topic string) int { return limits[topic] })
	defer w.Close()
	clLimit, err := maxMessageBytes(ctx, adm, cfg.Topics.Changelog)
	if err != nil {
		log.Warn("could not read the changelog's max.message.bytes; assuming Kafka's default", zap.Error(err))
	}
	cfg.changelogChunk = changelogChunkLimits(clLimit[cfg.Topics.Changelog])
	clw := changelogWriter(cfg.Conn, cfg.changelogChunk)
	defer clw.Close()

	// With standbys the group also hands out the changelog's partitions:
	// a member's are the ones it keeps a standby copy of (balancer.go).
	balancer := copartitionBalancer{held: p.held, unlisted: func(t []string) { p.unlisted.Store(&t) }}
	topics := cfg.Topics.Inputs
	if cfg.StandbyReplicas > 0 {
		balancer.changelog, balancer.standbys = cfg.Topics.Changelog, cfg.StandbyReplicas
		topics = append(slices.Clone(topics), cfg.Topics.Changelog)
	}
	group, err := kafka.NewConsumerGroup(kafka.ConsumerGroupConfig{
		ID:                    cfg.Group,
		Brokers:               cfg.Conn.Brokers,
		Dialer:                cfg.Conn.Dialer(),
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
	metricsCtx, stopMetrics := context.WithCancel(ctx)
	metricsDone := make(chan error, 1)
	go func() { metricsDone <- p.readMetrics(metricsCtx, adm) }()
	defer func() {
		stopMetrics()
		if err := <-metricsDone; err != nil {
			log.Warn("the metrics topic could not be read: /v1/cohorts, /v1/flows and /v1/segments stay empty", zap.Error(err))
		}
	}()
	log.Info("started", zap.String("group", cfg.Group), zap.Int32("partitions", partitions), zap.Strings("inputs", cfg.Topics.Inputs))

	var runErr error
	for {
		gen, err := group.Next(ctx)
		if err != nil {
			if ctx.Err() != nil {
				if parent.Err() == nil {
					runErr = context.Cause(ctx) // p.fail's
				}
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
		if err := p.checkPartitionCount(ctx, adm, gen, partitions); err != nil {
			runErr = err
			break
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

// ErrPartitionsChanged is returned when the input topics' partition count
// changes under a running group.
var ErrPartitionsChanged = errors.New("processor: the input topics' partition count changed")

// checkPartitionCount stops a new generation that comes from partitions
// added to the input topics (kafka-go's group watches for them): a user's
// later events would then land in another partition than their state, so
// the new partitions must not be read, nor the old ones go on as if the
// user base had not been split. Without this the group rebalanced
// without end (10,954 generations in 45 s, measured on Kafka 4.3.1).
func (p *Processor) checkPartitionCount(ctx context.Context, adm *kadm.Client, gen *kafka.Generation, partitions int32) error {
	now := partitions
	for topic, as := range gen.Assignments {
		if topic == p.cfg.Topics.Changelog {
			continue
		}
		for _, a := range as {
			now = max(now, int32(a.ID)+1)
		}
	}
	details, err := adm.ListTopics(ctx, p.cfg.Topics.Inputs...)
	if err == nil {
		counts := make([]string, 0, len(p.cfg.Topics.Inputs))
		for _, name := range p.cfg.Topics.Inputs {
			n := int32(len(details[name].Partitions))
			if n > 0 {
				now = max(now, n)
			}
			counts = append(counts, fmt.Sprintf("%s has %d", name, n))
		}
		if now != partitions {
			return partitionsChanged(strings.Join(counts, ", "), partitions, now)
		}
	}
	if now != partitions {
		return partitionsChanged(fmt.Sprintf("partition %d assigned", now-1), partitions, now)
	}
	return nil
}

func partitionsChanged(what string, built, now int32) error {
	return fmt.Errorf("%w: %s; this group's state is partitioned for %d. A user's events from now on land in another partition than their state and earlier events, and lifecycle cannot split its state in place, so it stopped before reading the new partitions (the outputs so far stand). To go on with %d partitions, rebuild the state from an archive of every event, which replay partitions by user id: lifecycle replay --archive … --partitions %d --handover DIR, then run a new --group on DIR (README: Replay and backfills)",
		ErrPartitionsChanged, what, built, now, now)
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
