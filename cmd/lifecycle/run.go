package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"runtime/pprof"
	"strings"
	"syscall"
	"time"

	"go.uber.org/zap"

	"github.com/lifecycle-engine/lifecycle/processor"
	"github.com/lifecycle-engine/lifecycle/processor/engine"
	"github.com/lifecycle-engine/lifecycle/processor/httpapi"
	"github.com/lifecycle-engine/lifecycle/processor/rules"
	"github.com/lifecycle-engine/lifecycle/processor/segments"
	"github.com/lifecycle-engine/lifecycle/schemas"
	"github.com/lifecycle-engine/lifecycle/state"
)

// connFlags are the flags that say how to reach Kafka.
type connFlags struct {
	brokers                                            *string
	tls, tlsInsecure                                   *bool
	tlsCA, tlsCert, tlsKey, tlsServerName              *string
	saslMechanism, saslUser, saslPassword, saslPwdFile *string
	// compression is set by the commands that write (compressionFlag).
	compression *string
}

// compressionFlag adds --compression to the commands that write to Kafka.
func (fs *flagSet) compressionFlag(c *connFlags) {
	c.compression = fs.String("compression", "lz4", "codec of the record batches written (outputs, dead letters, changelog, metrics): lz4, zstd, snappy, gzip or none. zstd takes about 40 % less disk and network than lz4 for a few % more CPU; none takes 3-5 times the bytes and saved no CPU measured (BENCHMARKS.md, \"Compression\")")
}

func (fs *flagSet) connFlags() connFlags {
	return connFlags{
		brokers:       fs.String("brokers", "", "Kafka bootstrap brokers, host:port[,host:port…] (required)"),
		tls:           fs.Bool("tls", false, "connect with TLS (for SSL and SASL_SSL listeners); implied by the other --tls-* flags"),
		tlsCA:         fs.String("tls-ca-file", "", "PEM file of the CA that signed the brokers' certificates (default: the system's roots)"),
		tlsCert:       fs.String("tls-cert-file", "", "PEM client certificate, for brokers that require mutual TLS (with --tls-key-file)"),
		tlsKey:        fs.String("tls-key-file", "", "PEM private key of --tls-cert-file"),
		tlsServerName: fs.String("tls-server-name", "", "name to verify in the brokers' certificates (default: the host of each broker address)"),
		tlsInsecure:   fs.Bool("tls-insecure-skip-verify", false, "do not verify the brokers' certificates (testing only: anyone in the middle can read everything)"),
		saslMechanism: fs.String("sasl-mechanism", "", "SASL mechanism: PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512 (default: no SASL)"),
		saslUser:      fs.String("sasl-username", "", "SASL user name"),
		saslPassword:  fs.String("sasl-password", "", "SASL password; prefer the environment variable or --sasl-password-file, command lines are visible to other users"),
		saslPwdFile:   fs.String("sasl-password-file", "", "file holding the SASL password (a mounted secret); surrounding white space is ignored"),
	}
}

// codec is --compression, "" for a command without it.
func (c connFlags) codec() (processor.Compression, error) {
	if c.compression == nil {
		return "", nil
	}
	codec := processor.Compression(strings.ToLower(*c.compression))
	if err := codec.Validate(); err != nil {
		return "", fmt.Errorf("%w: --compression %q: use one of lz4, zstd, snappy, gzip or none", errUsage, *c.compression)
	}
	return codec, nil
}

func (c connFlags) conn() (processor.Conn, error) {
	b := list(*c.brokers)
	if len(b) == 0 {
		return processor.Conn{}, fmt.Errorf("%w: --brokers is required, for example --brokers 127.0.0.1:9092", errUsage)
	}
	conn := processor.Conn{Brokers: b}
	var err error
	if conn.Compression, err = c.codec(); err != nil {
		return conn, err
	}
	if *c.tls || *c.tlsCA != "" || *c.tlsCert != "" || *c.tlsKey != "" || *c.tlsServerName != "" || *c.tlsInsecure {
		t, err := processor.TLSFiles(*c.tlsCA, *c.tlsCert, *c.tlsKey, *c.tlsServerName, *c.tlsInsecure)
		if err != nil {
			return conn, fmt.Errorf("%w: %v", errUsage, err)
		}
		conn.TLS = t
	}
	if *c.saslMechanism != "" {
		pwd := *c.saslPassword
		if *c.saslPwdFile != "" {
			b, err := os.ReadFile(*c.saslPwdFile)
			if err != nil {
				return conn, fmt.Errorf("%w: --sasl-password-file: %v", errUsage, err)
			}
			pwd = strings.TrimSpace(string(b))
		}
		conn.SASL = &processor.SASL{Mechanism: strings.ToUpper(*c.saslMechanism), Username: *c.saslUser, Password: pwd}
		if err := conn.SASL.Validate(); err != nil {
			return conn, fmt.Errorf("%w: %v", errUsage, err)
		}
	} else if *c.saslUser != "" || *c.saslPassword != "" || *c.saslPwdFile != "" {
		return conn, fmt.Errorf("%w: SASL credentials given without --sasl-mechanism (PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512)", errUsage)
	}
	return conn, nil
}

// topicFlags name the topics.
type topicFlags struct{ inputs, transitions, dlq, warnings, segments, metrics, changelog *string }

func (fs *flagSet) topicFlags() topicFlags {
	d := processor.DefaultTopics()
	return topicFlags{
		inputs:      fs.String("input-topics", strings.Join(d.Inputs, ","), "co-partitioned input topics, comma-separated, keyed by user_id"),
		transitions: fs.String("transitions-topic", d.Transitions, "output topic for lifecycle transitions"),
		dlq:         fs.String("dlq-topic", d.DLQ, "output topic for rejected input records (dead letters)"),
		warnings:    fs.String("warnings-topic", d.Warnings, "output topic for churn warnings"),
		segments:    fs.String("segments-topic", d.Segments, "output topic for RFM segment changes"),
		metrics:     fs.String("metrics-topic", d.Metrics, "compacted output topic for the retention metrics (every instance reads it for /v1/cohorts, /v1/flows, /v1/segments)"),
		changelog:   fs.String("changelog-topic", "", "compacted topic holding every partition's state, for restores when partitions move (default <group>.changelog)"),
	}
}

// topics returns the topic names; the changelog belongs to the group.
func (t topicFlags) topics(group string) processor.Topics {
	cl := *t.changelog
	if cl == "" && group != "" {
		cl = processor.ChangelogTopic(group)
	}
	return processor.Topics{Inputs: list(*t.inputs), Transitions: *t.transitions, DLQ: *t.dlq,
		Warnings: *t.warnings, Segments: *t.segments, Metrics: *t.metrics, Changelog: cl}
}

// specFlags say how topics are created.
type specFlags struct {
	partitions  *int
	replication *int
}

func (fs *flagSet) specFlags() specFlags {
	return specFlags{
		partitions:  fs.Int("partitions", 8, "partitions of each topic when creating topics (the most instances that can share the work); when input topics exist already, their count, which the changelog must match"),
		replication: fs.Int("replication", 1, "replication factor when creating topics (3 in production)"),
	}
}

func (s specFlags) spec() (processor.TopicSpec, error) {
	if *s.partitions < 1 || *s.partitions > 10000 {
		return processor.TopicSpec{}, fmt.Errorf("%w: --partitions %d: use 1 to 10000", errUsage, *s.partitions)
	}
	if *s.replication < 1 || *s.replication > 32 {
		return processor.TopicSpec{}, fmt.Errorf("%w: --replication %d: use 1 to 32", errUsage, *s.replication)
	}
	return processor.TopicSpec{Partitions: int32(*s.partitions), Replication: int16(*s.replication)}, nil
}

// predictionFlags are the settings of the scores made with a model.
type predictionFlags struct {
	horizon, clvHorizon *int
	discount            *float64
}

func (fs *flagSet) predictionFlags() predictionFlags {
	return predictionFlags{
		horizon:    fs.Int("prediction-horizon", 13, "periods (of the model) of the expected purchases"),
		clvHorizon: fs.Int("clv-horizon", 52, "periods (of the model) the lifetime value covers"),
		discount:   fs.Float64("discount", 0.0019, "discount rate per period for the lifetime value"),
	}
}

func (p predictionFlags) config() (engine.Prediction, error) {
	switch {
	case *p.horizon < 1 || *p.clvHorizon < 1:
		return engine.Prediction{}, fmt.Errorf("%w: --prediction-horizon and --clv-horizon must be 1 or more", errUsage)
	case *p.discount < 0 || *p.discount >= 1:
		return engine.Prediction{}, fmt.Errorf("%w: --discount %v: use a rate per period from 0 to below 1, like 0.0019", errUsage, *p.discount)
	}
	return engine.Prediction{Horizon: *p.horizon, CLVHorizon: *p.clvHorizon, Discount: *p.discount}, nil
}

// ruleFlags are the stage thresholds.
func (fs *flagSet) ruleFlags() (churn, silent *time.Duration, matureAt *int) {
	churn = fs.duration("churn-after", rules.DefaultChurnAfter, "a user with no activity for longer than this is churned")
	silent = fs.duration("silent-after", rules.DefaultSilentAfter, "a buyer with no purchase for longer than this (but still active) is silent")
	matureAt = fs.Int("mature-at", rules.DefaultMatureAt, "purchase count from which a user is mature")
	return
}

func runRun(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("run", "--brokers H:P --group G --state-dir DIR [flags]",
		`Joins the consumer group and processes the input topics: every user's
lifecycle state is kept in the Pebble store in --state-dir, and every
transition is published to the transitions topic as it happens. Start more
instances with the same --group (each with its own --state-dir) to share the
partitions. SIGTERM or Ctrl-C: finish the batch, commit, leave the group, exit 0.
A full disk under --state-dir stops it with exit status 75, a write that
hangs for --max-disk-stall with 74; once the disk is back, a restart
resumes where it stopped, with nothing lost.

--shadow runs an instance beside the live ones with other rules (--rules
v2.yaml), on the same input, without touching the live group or outputs:
its group is <group>.shadow (with its own changelog) and its outputs go
to the live output topics' names with .shadow (lifecycle.transitions.shadow,
…; --create-topics creates them). Give it its own --state-dir. Compare
the two with lifecycle diff --brokers.`)
	cf := fs.connFlags()
	fs.compressionFlag(&cf)
	group := fs.String("group", "lifecycle", "consumer group id; instances with the same group share the work")
	rulesChange := fs.String("rules-change", "", `"forward": start even if the state was made with other rules, and apply the new ones from now on (default: refuse)`)
	shadow := fs.Bool("shadow", false, "run as the shadow of --group: group <group>.shadow, outputs to the output topics' names + .shadow")
	stateDir := fs.String("state-dir", "", "directory of the Pebble store (required; one per instance)")
	tf := fs.topicFlags()
	create := fs.Bool("create-topics", false, "create missing topics at start (with --partitions and --replication)")
	sf := fs.specFlags()
	churn, silent, matureAt := fs.ruleFlags()
	currency := fs.String("currency", schemas.DefaultCurrency, "the deployment's accounting currency; purchases in another go to the dead-letter topic, unless --rates-file converts them")
	maxBytes := fs.Int("max-record-bytes", schemas.DefaultMaxRecordBytes, "input records larger than this go to the dead-letter topic")
	batch := fs.Int("batch-records", 5000, "most input records per state commit")
	linger := fs.duration("linger", processor.DefaultLinger, "how long a batch waits for input records the broker has but the fetches have not handed over yet, before it is committed anyway (more records per commit against latency; a batch read to the input's end is committed at once); 1µs to 1s")
	fetchWait := fs.duration("fetch-wait", 0, "how long the broker may hold a fetch of the inputs to gather records: at live rates every partition then applies, commits and sends a wait's records at once, for about half the CPU per event at 2,000-5,000 events/s against about the wait in added latency; a backlog is fetched at once either way. 0: a record is fetched as soon as it comes; else 10ms to 1s")
	cached := fs.Int("max-users-cached", 100_000, "most user records kept in memory per partition, in their stored form (~210 bytes of heap each: 100k users ≈ 21 MB); colder ones are read from Pebble, through --block-cache-mb")
	blockCache := fs.Int("block-cache-mb", 64, "Pebble's block cache in MiB, for the reads of users outside the memory cache and of timers; raise it when users spill (more than --max-users-cached per partition)")
	idle := fs.Bool("idle-advance", false, "when caught up, let stream time follow the wall clock (minus --allowed-lateness) so churn is detected without new events; leave off for replays")
	lateness := fs.duration("allowed-lateness", 0, "how far stream time stays behind the wall clock with --idle-advance (0 means 5m)")
	silence := fs.duration("max-input-silence", 15*time.Minute, "with --idle-advance: when no input record has come for this long (fetched by this instance, or produced to any input partition), stream time stops following the wall clock until records come again, so that an upstream outage (producers or a connector down, the broker unreachable) does not churn and warn users whose events are only delayed; 0 never holds")
	shutdown := fs.duration("shutdown-timeout", 0, "longest a stopping partition may take to commit and send its outputs (0 means 15s)")
	maxStall := fs.duration("max-disk-stall", time.Minute, "stop (exit status 74) when a write to --state-dir has not completed for this long, so that the group gives this instance's partitions to another instead of waiting on a hung volume; writes slower than 5s are logged; 0 never stops")
	session := fs.duration("session-timeout", 30*time.Second, "how long the group waits for a silent instance before giving its partitions to others")
	standbys := fs.Int("standby-replicas", 0, "instances besides a partition's owner that keep a warm copy of its state by tailing its changelog, so that a failover applies only the changelog's tail instead of restoring it all; every instance of the group must use the same value")
	futureSkew := fs.duration("max-future-skew", time.Hour, "an event whose ts is further ahead than this of its record's Kafka timestamp (or of the wall clock, if earlier) goes to the DLQ as future_timestamp instead of moving stream time; 0 turns the check off")
	rfmWindow := fs.duration("rfm-window", 0, "F and M count purchases in this last stretch of event time, like 365d; 0 means all time")
	rfmRefresh := fs.duration("rfm-refresh", segments.DefaultRefresh, "how often, in event time, the population's RFM quintiles are rebuilt (each rebuild reads every buyer of a partition)")
	wf := fs.warnFlags()
	modelFile := fs.String("model", "", "model file from `lifecycle fit`: every transition then carries P(alive), expected purchases and CLV; SIGHUP reloads it")
	pf := fs.predictionFlags()
	rulesPath := fs.rulesFlag()
	rf := fs.registryFlags()
	hf := fs.httpFlags()
	lf := fs.logFlags()
	cpuProfile := fs.String("cpuprofile", "", "write a CPU profile of the whole run to this file, until it stops (for `lifecycle bench --isolate`)")
	if err := fs.parse(args, stdout); err != nil {
		return err
	}
	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err != nil {
			return fmt.Errorf("--cpuprofile: %w", err)
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return fmt.Errorf("--cpuprofile: %w", err)
		}
		defer pprof.StopCPUProfile()
	}
	rulesVersion, err := fs.applyRules(*rulesPath)
	if err != nil {
		return err
	}
	conn, err := cf.conn()
	if err != nil {
		return err
	}
	httpAddr, httpCfg, err := hf.config()
	if err != nil {
		return err
	}
	if *stateDir == "" {
		return fmt.Errorf("%w: --state-dir is required, for example --state-dir /var/lib/lifecycle", errUsage)
	}
	if *maxStall < 0 || (*maxStall > 0 && *maxStall < 5*time.Second) {
		return fmt.Errorf("%w: --max-disk-stall %v: use 0 (never stop) or 5s or more (a write is noticed as slow after 5s)", errUsage, *maxStall)
	}
	if *silence < 0 {
		return fmt.Errorf("%w: --max-input-silence %v: use a duration like 15m, or 0 to let stream time follow the wall clock however long the inputs are silent", errUsage, *silence)
	}
	// In Config a zero means "default"; on the command line it is a mistake.
	switch {
	case *matureAt < 1:
		return fmt.Errorf("%w: --mature-at %d must be 1 or more", errUsage, *matureAt)
	case *churn <= 0:
		return fmt.Errorf("%w: --churn-after must be positive, for example 30d", errUsage)
	case *silent <= 0:
		return fmt.Errorf("%w: --silent-after must be positive, for example 60d", errUsage)
	case *batch < 1:
		return fmt.Errorf("%w: --batch-records %d must be 1 or more", errUsage, *batch)
	case *linger <= 0 || *linger > time.Second:
		return fmt.Errorf("%w: --linger %v must be between 1µs and 1s, for example 5ms", errUsage, *linger)
	case *fetchWait != 0 && (*fetchWait < processor.MinFetchWait || *fetchWait > time.Second):
		return fmt.Errorf("%w: --fetch-wait %v must be 0 (fetch each record as it comes) or between %v and 1s, for example 10ms", errUsage, *fetchWait, processor.MinFetchWait)
	case *cached < 1:
		return fmt.Errorf("%w: --max-users-cached %d must be 1 or more", errUsage, *cached)
	case *blockCache < 1:
		return fmt.Errorf("%w: --block-cache-mb %d must be 1 or more", errUsage, *blockCache)
	}
	prediction, err := pf.config()
	if err != nil {
		return err
	}
	warn, err := wf.config()
	if err != nil {
		return err
	}
	log, err := lf.logger(stderr)
	if err != nil {
		return err
	}
	defer log.Sync()
	topics, groupID := tf.topics(*group), *group
	if *shadow {
		groupID = *group + ".shadow"
		topics = tf.topics(groupID)
		topics.Transitions += ".shadow"
		topics.DLQ += ".shadow"
		topics.Warnings += ".shadow"
		topics.Segments += ".shadow"
		topics.Metrics += ".shadow"
	}
	cfg := processor.Config{
		Segments:        segments.Config{Window: *rfmWindow, Refresh: *rfmRefresh},
		Warnings:        warn,
		Conn:            conn,
		Group:           groupID,
		Topics:          topics,
		Rules:           rules.Config{ChurnAfter: *churn, SilentAfter: *silent, MatureAt: *matureAt},
		BatchRecords:    *batch,
		Linger:          *linger,
		FetchWait:       *fetchWait,
		MaxUsersCached:  *cached,
		IdleAdvance:     *idle,
		AllowedLateness: *lateness,
		MaxInputSilence: *silence,
		ShutdownTimeout: *shutdown,
		SessionTimeout:  *session,
		MaxFutureSkew:   skewSetting(*futureSkew),
		StandbyReplicas: *standbys,
		Prediction:      prediction,
		RulesVersion:    rulesVersion,
		Log:             log,
	}
	cfg.Decoder.Currency = *currency
	cfg.Decoder.MaxRecordBytes = *maxBytes
	cfg.Decoder.Mapping = fs.inputs // the rules file's inputs:, if any
	cfg.Decoder.Rates = fs.rates    // --rates-file or the rules file's rates_file:, if any
	formats, err := rf.setup(ctx, cfg.Topics, *maxBytes, log)
	if err != nil {
		return err
	}
	formats.apply(&cfg)
	if err := cfg.Validate(); err != nil {
		return fmt.Errorf("%w: %v", errUsage, err)
	}
	if t := fs.rates; t != nil {
		log.Info("rates table loaded", zap.String("file", t.Name()), zap.Int("rates", t.Len()),
			zap.Stringers("currencies", t.Currencies()), zap.String("into", cfg.Decoder.Currency), zap.String("rules", cfg.RulesID()))
	}
	if *create {
		spec, err := sf.spec()
		if err != nil {
			return err
		}
		if err := createTopics(ctx, conn, cfg.Topics, spec, log); err != nil {
			return err
		}
	}
	store, err := openState(state.Options{Dir: *stateDir, CacheBytes: int64(*blockCache) << 20, Log: log,
		OnDiskFull: exitOnDiskFull(*stateDir, log, stderr), OnDiskSlow: onDiskSlow(*stateDir, *maxStall, log, stderr)}, log)
	if err != nil {
		return err
	}
	defer store.Close()
	if err := checkRules(store, cfg.RulesID(), *rulesChange, *stateDir, log); err != nil {
		return err
	}
	p, err := processor.New(cfg, store)
	if err != nil {
		return err
	}
	if *modelFile != "" {
		m, err := engine.LoadModel(*modelFile)
		if err != nil {
			return fmt.Errorf("%w: --model: %v", errUsage, err)
		}
		p.SetModel(m)
		log.Info("model loaded", zap.String("model", m.ID), zap.String("period", m.Period.String()))
		stopReload := reloadOnSIGHUP(*modelFile, p, log)
		defer stopReload()
	}
	if httpAddr != "" {
		stopHTTP, err := serveHTTP(httpAddr, httpapi.Handler(p), httpCfg, log)
		if err != nil {
			return err
		}
		defer stopHTTP()
	}
	return p.Run(ctx)
}

// serveHTTP listens on addr at once (so a busy port fails the start, not
// later) and serves h with the limits and token of cfg until the returned
// stop function is called.
func serveHTTP(addr string, h http.Handler, cfg httpapi.ServerConfig, log *zap.Logger) (stop func(), err error) {
	cfg.ErrorLog, err = zap.NewStdLogAt(log.With(zap.String("component", "http")), zap.WarnLevel)
	if err != nil {
		return nil, err
	}
	srv, err := httpapi.Listen(addr, h, cfg)
	if err != nil {
		return nil, fmt.Errorf("%w: --http %s: %v (give another address, or --http off)", errUsage, addr, err)
	}
	go func() {
		if err := srv.Serve(); err != nil {
			log.Error("http server stopped", zap.Error(err))
		}
	}()
	log.Info("http read side listening", zap.String("addr", srv.Addr().String()),
		zap.Bool("token_required", cfg.Token != ""), zap.Int("max_conns", cfg.MaxConns))
	return func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
	}, nil
}

func createTopics(ctx context.Context, conn processor.Conn, t processor.Topics, spec processor.TopicSpec, log *zap.Logger) error {
	cl, err := conn.Client()
	if err != nil {
		return err
	}
	defer cl.Close()
	created, partitions, err := processor.CreateTopics(ctx, cl, t, spec)
	if len(created) > 0 {
		log.Info("topics created", zap.Strings("topics", created), zap.Int32("partitions", partitions))
	}
	return err
}

// reloadOnSIGHUP reloads the model file on SIGHUP without a restart; a file
// that does not load leaves the current model in place.
func reloadOnSIGHUP(path string, p *processor.Processor, log *zap.Logger) (stop func()) {
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	done := make(chan struct{})
	go func() {
		for {
			select {
			case <-hup:
				m, err := engine.LoadModel(path)
				if err != nil {
					log.Error("model reload failed; keeping the current model", zap.Error(err))
					continue
				}
				p.SetModel(m)
				log.Info("model reloaded", zap.String("model", m.ID))
			case <-done:
				return
			}
		}
	}()
	return func() { signal.Stop(hup); close(done) }
}

// skewSetting maps --max-future-skew to Config.MaxFutureSkew, where 0 means
// the default and a negative value turns the check off.
func skewSetting(d time.Duration) time.Duration {
	if d <= 0 {
		return -1
	}
	return d
}

// checkRules refuses to start on a state made with other rules (another
// hash in a partition's Meta.Rules) unless change is "forward": the
// outputs would silently mix two sets of rules. A new version label over
// the same settings is no change.
func checkRules(store *state.Store, id, change, dir string, log *zap.Logger) error {
	if change != "" && change != "forward" {
		return fmt.Errorf("%w: --rules-change %q: the only choice is forward (the default refuses a change)", errUsage, change)
	}
	_, hash, _ := strings.Cut(id, "@")
	parts, err := store.Partitions()
	if err != nil {
		return err
	}
	for _, p := range parts {
		m, ok, err := store.Meta(p)
		if err != nil {
			return err
		}
		_, was, _ := strings.Cut(m.Rules, "@")
		if !ok || m.Rules == "" || was == hash {
			continue
		}
		if change != "forward" {
			return fmt.Errorf("%w: the state in %s was made with other rules (%s in partition %d; these are %s): start with those rules, or with --rules-change=forward to apply these from now on (README, \"Versioned rules and shadow runs\")", errUsage, dir, m.Rules, p, id)
		}
		log.Warn("rules changed: the new rules apply from now on", zap.String("was", m.Rules), zap.String("now", id))
		return nil
	}
	return nil
}

// openState opens the store of o.Dir. A store whose files show that the
// disk lost part of what was written (state.ErrDamaged) is moved aside,
// into DIR/damaged-TIME, and an empty one takes its place: every partition
// then restores from the changelog, as on a new machine. Kept rather than
// deleted, so that nothing stored is lost (the log says where); moved into
// a subdirectory, which Pebble ignores, rather than renamed, because
// --state-dir is often a volume's mount point.
func openState(o state.Options, log *zap.Logger) (*state.Store, error) {
	store, err := state.Open(o)
	if !errors.Is(err, state.ErrDamaged) {
		return store, err
	}
	aside := filepath.Join(o.Dir, "damaged-"+time.Now().UTC().Format("20060102T150405.000Z"))
	if merr := moveInto(o.Dir, aside); merr != nil {
		return nil, fmt.Errorf("%w; moving its files aside into %s failed too (%v): move or delete the files of %s, and its partitions restore from the changelog", err, aside, merr, o.Dir)
	}
	log.Error("the local state is damaged: its files were moved aside; every partition restores from the changelog. Delete them once you no longer need them",
		zap.Error(err), zap.String("state_dir", o.Dir), zap.String("moved_to", aside))
	return state.Open(o)
}

// moveInto moves the entries of dir, but earlier damaged-* directories,
// into the new directory sub of dir.
func moveInto(dir, sub string) error {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	if err := os.Mkdir(sub, 0o755); err != nil {
		return err
	}
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), "damaged-") {
			continue
		}
		if err := os.Rename(filepath.Join(dir, e.Name()), filepath.Join(sub, e.Name())); err != nil {
			return err
		}
	}
	return nil
}
