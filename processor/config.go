package processor

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/lifecycle-engine/lifecycle/processor/engine"
	"github.com/lifecycle-engine/lifecycle/processor/rules"
	"github.com/lifecycle-engine/lifecycle/processor/segments"
	"github.com/lifecycle-engine/lifecycle/processor/warnings"
	"github.com/lifecycle-engine/lifecycle/schemas"
	"github.com/lifecycle-engine/lifecycle/state/record"
)

// Topics names the topics the processor reads and writes.
type Topics struct {
	// Inputs are the co-partitioned event topics, keyed by user_id. Default
	// events.login, events.purchase, events.content.
	Inputs []string
	// Transitions receives lifecycle transitions. Default lifecycle.transitions.
	Transitions string
	// DLQ receives rejected input records. Default lifecycle.dlq.
	DLQ string
	// Warnings receives churn warnings. Default lifecycle.churn-warnings.
	Warnings string
	// Segments receives RFM segment changes. Default lifecycle.segments.
	Segments string
	// Metrics receives the retention metrics (processor/retention), a
	// compacted topic that every instance reads for the whole picture.
	// Default lifecycle.metrics.
	Metrics string
	// Changelog is the compacted topic that holds every partition's
	// committed state, so another instance can take a partition over.
	// Default: ChangelogTopic(group).
	Changelog string
}

// ChangelogTopic is the default changelog of a consumer group:
// "<group>.changelog", so the default group's is lifecycle.changelog.
func ChangelogTopic(group string) string { return group + ".changelog" }

// DefaultTopics returns the default topic names.
func DefaultTopics() Topics {
	return Topics{
		Inputs:      []string{schemas.DefaultLoginTopic, schemas.DefaultPurchaseTopic, schemas.DefaultContentTopic},
		Transitions: "lifecycle.transitions",
		DLQ:         "lifecycle.dlq",
		Warnings:    "lifecycle.churn-warnings",
		Segments:    "lifecycle.segments",
		Metrics:     "lifecycle.metrics",
	}
}

func (t Topics) withDefaults() Topics {
	d := DefaultTopics()
	if len(t.Inputs) == 0 {
		t.Inputs = d.Inputs
	}
	if t.Transitions == "" {
		t.Transitions = d.Transitions
	}
	if t.DLQ == "" {
		t.DLQ = d.DLQ
	}
	if t.Warnings == "" {
		t.Warnings = d.Warnings
	}
	if t.Segments == "" {
		t.Segments = d.Segments
	}
	if t.Metrics == "" {
		t.Metrics = d.Metrics
	}
	return t
}

// Outputs lists the output topics.
func (t Topics) Outputs() []string {
	return []string{t.Transitions, t.DLQ, t.Warnings, t.Segments, t.Metrics}
}

// DefaultLinger is Config.Linger's default (BENCHMARKS.md, "Latency").
const DefaultLinger = 5 * time.Millisecond

// MinFetchWait is the least Config.FetchWait other than 0: the fetching
// client (franz-go) accepts no shorter wait.
const MinFetchWait = 10 * time.Millisecond

// SchemaSource fetches the schemas input records need (Config.Schemas).
type SchemaSource interface {
	// Prefetch returns once the schema of value is known, or known not to
	// exist; it retries while the registry cannot be reached, and returns
	// only ctx's error.
	Prefetch(ctx context.Context, value []byte) error
	// Failures counts the registry requests that failed without an
	// answer: lifecycle_schema_registry_errors_total.
	Failures() int64
}

// OutputEncoder re-encodes output values (Config.OutputFormat).
type OutputEncoder interface {
	// Encode returns the value to write for an output to topic whose JSON
	// value is value and whose lifecycle.schema header is schema.
	Encode(topic, schema string, value []byte) ([]byte, error)
}

// Config configures a Processor. The zero value of a field means its default.
type Config struct {
	// Conn says how to reach the Kafka cluster. Conn.Brokers is required.
	Conn Conn
	// Group is the consumer group id. Required.
	Group string
	// Topics names the topics. Default: DefaultTopics.
	Topics Topics
	// Rules holds the stage thresholds. Default: rules.Config defaults.
	Rules rules.Config
	// Decoder holds the input contract's settings (currency, size limit).
	Decoder schemas.DecoderConfig
	// Schemas, when set, is asked for each input record's schema as the
	// record is fetched, before the merge decodes it (--input-format avro:
	// schemas/registry.Inputs, also Decoder.Format). It waits while the
	// registry cannot be reached, so the partition stalls instead of
	// dead-lettering records it could decode a minute later.
	Schemas SchemaSource
	// OutputFormat, when set, re-encodes outputs as they are sent
	// (--output-format avro: schemas/registry.Outputs). The state keeps
	// them as JSON; only the bytes on the output topics change.
	OutputFormat OutputEncoder
	// Prediction configures the scores computed with a model (SetModel).
	Prediction engine.Prediction
	// Warnings configures the churn warnings; its ChurnAfter is always the
	// stage model's.
	Warnings warnings.Config
	// Segments configures the RFM scores and segments.
	Segments segments.Config
	// RulesVersion is the version of the rules file the settings above came
	// from; when set, every transition, warning and segment change carries
	// it with RulesHash (schemas.Rules), and the state remembers them.
	RulesVersion string

	// BatchRecords is the most input records applied before state is
	// committed and outputs are sent. Default 5000. A batch is also committed
	// whenever the input has nothing more to give at once, so latency stays
	// low when the load is light.
	BatchRecords int
	// Linger is how long a batch waits for records that the broker has
	// but the fetches have not handed over yet, before it is committed
	// anyway: more records per commit against a few milliseconds of
	// latency. A batch whose inputs are read to their end is committed at
	// once. Default 5 ms.
	Linger time.Duration
	// FetchWait is how long the broker may hold a fetch of the input
	// partitions to gather records (a fetch answered at its minimum bytes
	// or after this wait, whichever first). At live rates every owned
	// partition then applies, commits and sends a wait's records at once
	// instead of a record or two at a time: the CPU per event falls by
	// about half at 2,000-5,000 events/s, and records wait half the wait on
	// average (BENCHMARKS.md, "The fetch wait"). Under a backlog fetches
	// fill at once, so the drain does not change. 0 (the default): a
	// fetch is answered as soon as a record comes. Otherwise 10 ms (the
	// Kafka client's least) to 1 s.
	FetchWait time.Duration
	// MaxUsersCached bounds the user records each partition keeps in memory;
	// colder ones are read from Pebble when needed. Default 100,000: ~21 MB
	// of heap per partition; at 3M users over 8 partitions it cost 0-12 %
	// more CPU per event than caching every user, for half the peak RSS
	// (BENCHMARKS.md, "The spill curve").
	MaxUsersCached int
	// IdleAdvance lets a caught-up partition's stream time follow the wall
	// clock minus AllowedLateness, so churn is detected even when no events
	// arrive. Default off: pure event time, as a replay needs.
	IdleAdvance bool
	// AllowedLateness is how far behind the wall clock stream time stays when
	// IdleAdvance is on. Default 5m.
	AllowedLateness time.Duration
	// MaxInputSilence is how long idle advance goes on after input
	// records last came (fetched by the process, or produced to any input
	// partition): stream time then stays where that took it until records
	// come again, so that an upstream outage (the
	// producers or the broker down) does not fire the timers of users
	// whose events are only delayed (inputClock). 0 never holds.
	MaxInputSilence time.Duration
	// ShutdownTimeout bounds how long a stopping partition may take to flush
	// state and send its outbox. Default 15s.
	ShutdownTimeout time.Duration
	// SessionTimeout is how long the group coordinator waits for a silent
	// member before giving its partitions to others. Default 30s.
	SessionTimeout time.Duration
	// StandbyReplicas is how many instances besides a partition's owner
	// keep a warm copy of its state by tailing its changelog, so that a
	// failover applies the changelog's tail instead of restoring it all.
	// Every instance of a group must use the same value. Default 0.
	StandbyReplicas int
	// MaxFutureSkew is how far an event's time may lie ahead of its
	// record's Kafka timestamp (or of the wall clock, when that is
	// earlier); an event further ahead is dead-lettered (admitTime).
	// Default 1h; negative turns the check off.
	MaxFutureSkew time.Duration

	// Log receives structured logs. Default: none.
	Log *zap.Logger

	// dlqMaxBytes is the dead-letter topic's max.message.bytes, read at
	// start: a copy larger than that is cut (engine.Config.DLQMaxBytes).
	dlqMaxBytes int
	// changelogChunk bounds one produce batch of the changelog, from its
	// max.message.bytes read at start (changelogWrites).
	changelogChunk chunkLimits
	// maxBatch bounds what one input record batch may decompress to; 0:
	// maxBatchBytes of the record size limit. Tests set it low.
	maxBatch int
	// changelogWatch is how often a generation asks for the changelog's
	// topic ID (watchChangelog); 0: changelogWatchEvery. Tests set it low.
	changelogWatch time.Duration
	// engine is the engines' configuration, made from the fields above
	// (withEngine).
	engine engine.Config
}

// maxBatchBytes is what one input record batch may decompress to
// (unreadBatch).
func (c *Config) maxBatchBytes() int {
	if c.maxBatch > 0 {
		return c.maxBatch
	}
	return maxBatchBytes(c.Decoder.MaxRecordBytes)
}

func (c Config) withDefaults() Config {
	c.Topics = c.Topics.withDefaults()
	if c.Topics.Changelog == "" && c.Group != "" {
		c.Topics.Changelog = ChangelogTopic(c.Group)
	}
	c.Rules = c.Rules.WithDefaults()
	c.Prediction = c.Prediction.WithDefaults()
	c.Warnings.ChurnAfter = c.Rules.ChurnAfter
	c.Warnings = c.Warnings.WithDefaults()
	c.Segments = c.Segments.WithDefaults()
	if c.Decoder.Currency == "" {
		c.Decoder.Currency = schemas.DefaultCurrency
	}
	if c.Decoder.MaxRecordBytes == 0 {
		c.Decoder.MaxRecordBytes = schemas.DefaultMaxRecordBytes
	}
	if c.BatchRecords == 0 {
		c.BatchRecords = 5000
	}
	if c.Linger == 0 {
		c.Linger = DefaultLinger
	}
	if c.MaxUsersCached == 0 {
		c.MaxUsersCached = 100_000
	}
	if c.AllowedLateness == 0 {
		c.AllowedLateness = 5 * time.Minute
	}
	if c.ShutdownTimeout == 0 {
		c.ShutdownTimeout = 15 * time.Second
	}
	if c.SessionTimeout == 0 {
		c.SessionTimeout = 30 * time.Second
	}
	if c.dlqMaxBytes == 0 {
		c.dlqMaxBytes = defaultMaxMessageBytes
	}
	if c.changelogChunk == (chunkLimits{}) {
		c.changelogChunk = changelogChunkLimits(defaultMaxMessageBytes)
	}
	if c.MaxFutureSkew == 0 {
		c.MaxFutureSkew = time.Hour
	}
	if c.Log == nil {
		c.Log = zap.NewNop()
	}
	return c
}

// RulesHash is 16 hex digits of a SHA-256 over every rule setting in
// effect (stages, warnings, segments, prediction, the input mapping when
// there is one, and the rates table with the accounting currency it
// converts into when there is one; defaults applied): equal hashes, equal
// rules, however they were written down.
func (c Config) RulesHash() string {
	c = c.withDefaults()
	// An input mapping changes what is computed (which records are which
	// events), so it is hashed too, resolved (preset expanded, conditions
	// in one form) so that equal mappings hash alike. Without one the
	// hash is what it was before mappings existed.
	var inputs *schemas.Mapping
	if m := c.Decoder.Mapping; m != nil {
		inputs = m
		if r, err := m.Resolve(); err == nil { // an invalid one fails Validate
			inputs = &r
		}
	}
	// A rates table changes the amounts (spend, RFM's M, CLV), so its
	// content is hashed: the SHA-256 of its canonical form (sorted, rates
	// without trailing zeros), so that the same rates hash alike however
	// the file is laid out, and a changed table is a rules change. The
	// accounting currency goes with it: the rates convert into it.
	// Without a table the hash is what it was before tables existed.
	type ratesHash struct{ Currency, Table string }
	var rates *ratesHash
	if t := c.Decoder.Rates; t != nil {
		rates = &ratesHash{Currency: c.Decoder.Currency, Table: t.Digest()}
	}
	b, err := json.Marshal(struct {
		Stages     rules.Config
		Warnings   warnings.Config
		Segments   segments.Config
		Prediction engine.Prediction
		Inputs     *schemas.Mapping `json:",omitempty"`
		Rates      *ratesHash       `json:",omitempty"`
	}{c.Rules, c.Warnings, c.Segments, c.Prediction, inputs, rates})
	if err != nil {
		panic(err) // plain structs of numbers
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:8])
}

// RulesID is "version@hash" of c's rules (the version empty without a
// rules file): what the state remembers of them (record.Meta.Rules).
func (c Config) RulesID() string { return c.RulesVersion + "@" + c.RulesHash() }

// RulesStamp is the stamp of c's rules: nil without a rules file.
func (c Config) RulesStamp() *schemas.Rules {
	if c.RulesVersion == "" {
		return nil
	}
	return &schemas.Rules{Version: c.RulesVersion, Hash: c.RulesHash()}
}

// Engine is the configuration c gives each partition's engine (defaults
// applied, no model): what evaluate and replay run, to get what run does.
func (c Config) Engine() engine.Config {
	return c.withDefaults().withEngine(nil).engine
}

// withEngine sets the engines' configuration from c's fields (defaults
// applied); model is the processor's, which SIGHUP swaps.
func (c Config) withEngine(model *atomic.Pointer[engine.Model]) Config {
	t := c.Topics
	c.engine = engine.Config{
		Topics: engine.Topics{Inputs: t.Inputs, Transitions: t.Transitions, Warnings: t.Warnings, Segments: t.Segments, DLQ: t.DLQ, Metrics: t.Metrics},
		Rules:  c.Rules, Warnings: c.Warnings, Segments: c.Segments, Prediction: c.Prediction,
		BatchRecords: c.BatchRecords, MaxUsersCached: c.MaxUsersCached, DLQMaxBytes: c.dlqMaxBytes,
		Model: model, Log: c.Log, Stamp: c.RulesStamp(), RulesID: c.RulesID(),
	}
	return c
}

// Validate names the first field that is wrong and what would be valid.
func (c Config) Validate() error {
	c = c.withDefaults()
	if len(c.Conn.Brokers) == 0 {
		return errors.New("processor: no brokers (set --brokers host:port[,host:port…])")
	}
	if err := c.Conn.SASL.Validate(); err != nil {
		return err
	}
	if err := c.Conn.Compression.Validate(); err != nil {
		return err
	}
	if c.Group == "" {
		return errors.New("processor: no consumer group (set --group, for example --group lifecycle)")
	}
	if n := len(c.Topics.Inputs); n > record.MaxInputs {
		return fmt.Errorf("processor: %d input topics; at most %d are supported", n, record.MaxInputs)
	}
	seen := map[string]bool{}
	for _, t := range append(append([]string{c.Topics.Changelog}, c.Topics.Inputs...), c.Topics.Outputs()...) {
		if t == "" {
			return errors.New("processor: a topic name is empty")
		}
		if seen[t] {
			return fmt.Errorf("processor: topic %q is named twice; inputs and outputs must all differ", t)
		}
		seen[t] = true
	}
	if err := c.Rules.Validate(); err != nil {
		return err
	}
	if err := c.Decoder.Validate(); err != nil {
		return err
	}
	if err := c.Warnings.Validate(); err != nil {
		return err
	}
	if err := c.Segments.Validate(); err != nil {
		return err
	}
	if c.BatchRecords < 1 {
		return fmt.Errorf("processor: batch records %d must be 1 or more", c.BatchRecords)
	}
	if c.Linger < 0 || c.Linger > time.Second {
		return fmt.Errorf("processor: linger %v must be between 0 and 1s", c.Linger)
	}
	if c.FetchWait != 0 && (c.FetchWait < MinFetchWait || c.FetchWait > time.Second) {
		return fmt.Errorf("processor: fetch wait %v must be 0 (answered at once) or between %v and 1s", c.FetchWait, MinFetchWait)
	}
	if c.MaxUsersCached < 1 {
		return fmt.Errorf("processor: max users cached %d must be 1 or more", c.MaxUsersCached)
	}
	if c.SessionTimeout < 6*time.Second || c.SessionTimeout > 30*time.Minute {
		return fmt.Errorf("processor: session timeout %v: use 6s to 30m (the broker's group.min/max.session.timeout.ms also apply)", c.SessionTimeout)
	}
	if c.StandbyReplicas < 0 {
		return fmt.Errorf("processor: standby replicas %d must be 0 or more", c.StandbyReplicas)
	}
	if c.AllowedLateness < 0 {
		return fmt.Errorf("processor: allowed lateness %v must not be negative", c.AllowedLateness)
	}
	if c.MaxInputSilence < 0 {
		return fmt.Errorf("processor: max input silence %v must not be negative (0 never holds stream time)", c.MaxInputSilence)
	}
	return nil
}
