// Package httpapi is the processor's read side over HTTP: health and
// readiness probes, Prometheus metrics, and JSON views of users and of the
// population. It only reads; nothing here changes state.
//
// Listen runs the handler on a server with bounded time, connections and
// header sizes (ServerConfig), and with ServerConfig.Token requires a bearer
// token for everything but the probes and /metrics (RequireToken).
package httpapi

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/lifecycle-engine/lifecycle/processor"
	"github.com/lifecycle-engine/lifecycle/processor/retention"
	"github.com/lifecycle-engine/lifecycle/processor/rules"
	"github.com/lifecycle-engine/lifecycle/processor/segments"
	"github.com/lifecycle-engine/lifecycle/processor/warnings"
	"github.com/lifecycle-engine/lifecycle/schemas"
	"github.com/lifecycle-engine/lifecycle/state"
	"github.com/lifecycle-engine/lifecycle/state/record"
)

// Source is what the handlers read; *processor.Processor implements it.
type Source interface {
	Stats() processor.Stats
	Ready() bool
	User(id string) (rec record.User, partition int32, ok bool, err error)
	Predict(rec record.User, partition int32) *schemas.Prediction // nil without a model
	// Metrics are the retention metrics of every partition (the metrics
	// topic's latest records, summed).
	Metrics() retention.Totals
	// Disk is the state directory's size and its volume's room; false
	// when unknown.
	Disk() (state.DiskUse, bool)
}

// Handler serves:
//
//	GET /healthz        200 while the process runs (liveness)
//	GET /readyz         200 once the processor is in the group and processing, else 503 (also
//	                    while a partition's output writes keep failing)
//	GET /metrics        Prometheus text format
//	GET /v1/users/{id}  the user's committed state (UserView), 404 if unknown
//	GET /v1/stats       users per stage and the processor's counters (StatsView)
//	GET /v1/cohorts     DAU/WAU/MAU and daily and weekly cohort retention (CohortsView;
//	                    ?days=N or ?from=&to= dates, default the last 35 days)
//	GET /v1/flows       stage-to-stage flows, churn and return rates (FlowsView; default 30 days)
//	GET /v1/segments    the R×F grid of the last RFM rebuild, users per segment (SegmentsView)
//	GET /v1/warnings    churn warnings per day by level and reason (WarningsView; default 30 days)
//	GET /               the operator's page over /v1/stats (page.go), with its
//	GET /assets/...     embedded scripts and styles
//
// The handler itself checks no token: Listen wraps it with RequireToken.
func Handler(src Source) http.Handler {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}), collector{src})
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		if !src.Ready() {
			why := "not ready: joining the consumer group"
			st := src.Stats()
			if failing := st.SendFailing; len(failing) > 0 {
				why = fmt.Sprintf("not ready: the output writes of partitions %v have failed for more than a minute (see the log and lifecycle_output_errors_total)", failing)
			} else if missing := st.MissingTopics; len(missing) > 0 {
				why = fmt.Sprintf("not ready: the broker lists no partitions of the topics %v, so the group assigns nothing; create them (or correct --input-topics / --changelog-topic)", missing)
			}
			writeJSON(w, http.StatusServiceUnavailable, map[string]string{"status": why})
			return
		}
		writeJSON(w, http.StatusOK, map[string]string{"status": "ready"})
	})
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	mux.HandleFunc("GET /v1/users/{id}", func(w http.ResponseWriter, r *http.Request) {
		id := r.PathValue("id")
		rec, part, ok, err := src.User(id)
		switch {
		case errors.Is(err, processor.ErrNotOwned):
			// Ask another instance (the pods of a StatefulSet each own some partitions).
			writeJSON(w, http.StatusMisdirectedRequest, map[string]string{"error": err.Error()})
		case err != nil:
			writeJSON(w, http.StatusServiceUnavailable, map[string]string{"error": err.Error()})
		case !ok:
			writeJSON(w, http.StatusNotFound, map[string]string{"error": "no such user"})
		default:
			v := NewUserView(part, id, rec)
			v.Prediction = src.Predict(rec, part)
			writeJSON(w, http.StatusOK, v)
		}
	})
	mux.HandleFunc("GET /v1/stats", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, NewStatsView(src.Stats()))
	})
	handleRetention(mux, src)
	handlePage(mux)
	return mux
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

// UserView is a user's state as JSON (HTTP and `lifecycle inspect`).
type UserView struct {
	Partition    int32   `json:"partition"`
	UserID       string  `json:"user_id"`
	Stage        string  `json:"stage"`
	Since        string  `json:"since"`
	FirstSeen    string  `json:"first_seen"`
	LastActivity string  `json:"last_activity"`
	LastPurchase *string `json:"last_purchase"`
	Purchases    int64   `json:"purchases"`
	Spend        string  `json:"spend"`
	Logins       int64   `json:"logins"`
	Contents     int64   `json:"contents"`
	Returns      int64   `json:"returns"`
	PurchaseDays int64   `json:"purchase_days"`
	NextTimer    *string `json:"next_timer"`

	// Segment is the user's RFM score as of their last segment change; null
	// before the first. RFM are the raw values at the last activity.
	Segment      *schemas.SegmentScore `json:"segment"`
	RFM          schemas.RFM           `json:"rfm"`
	OpenWarnings []OpenWarning         `json:"open_warnings"`

	Prediction *schemas.Prediction `json:"prediction,omitempty"`

	// LastPurchaseOriginal is the audit of the last purchase applied when
	// it was in another currency, converted by the rates table (--rates-file):
	// as sent, the rate and what it came to. Absent when that purchase was
	// in the accounting currency, or there is none.
	LastPurchaseOriginal *OriginalView `json:"last_purchase_original,omitempty"`
}

// OriginalView is a converted purchase as it was sent: Amount in
// Currency, converted at Rate to Converted (in the accounting currency,
// rounded half to even to the micro).
type OriginalView struct {
	Amount    string `json:"amount"`
	Currency  string `json:"currency"`
	Rate      string `json:"rate"`
	Converted string `json:"converted"`
}

// OpenWarning is a warning reason raised and not recovered since.
type OpenWarning struct {
	Code  string `json:"code"`
	Level string `json:"level"`
	At    string `json:"at"`
}

// NewUserView builds the view of user id in partition p.
func NewUserView(p int32, id string, r record.User) UserView {
	u := r.User
	v := UserView{
		Partition: p, UserID: id, Stage: u.Stage.String(),
		Since: schemas.FormatTime(u.Since), FirstSeen: schemas.FormatTime(u.FirstSeen),
		LastActivity: schemas.FormatTime(u.LastActivity),
		Purchases:    u.Purchases, Spend: u.Spend.String(), Logins: u.Logins, Contents: u.Contents, Returns: u.Returns,
		PurchaseDays: u.Buys.Days,
		RFM:          schemas.RFM{Frequency: u.Purchases, Monetary: u.Spend.String()},
		OpenWarnings: []OpenWarning{},
	}
	if !r.Segment.IsNone() {
		v.Segment = &schemas.SegmentScore{Code: r.Segment.Code(), Segment: r.Segment.Segment.String()}
	}
	if u.Purchases > 0 {
		d := float64(u.LastActivity-u.LastPurchase) / float64(rules.Day)
		v.RFM.RecencyDays = &d
	}
	for i, code := range warnings.Codes {
		if r.Warn.Open&(1<<i) != 0 {
			v.OpenWarnings = append(v.OpenWarnings, OpenWarning{Code: code, Level: warnings.Level(r.Warn.LastLevel[i]).String(), At: schemas.FormatTime(r.Warn.LastAt[i])})
		}
	}
	if u.Purchases > 0 {
		s := schemas.FormatTime(u.LastPurchase)
		v.LastPurchase = &s
	}
	if o := r.LastOriginal; o != (schemas.Original{}) {
		v.LastPurchaseOriginal = &OriginalView{Amount: o.Amount.String(), Currency: o.Currency.String(),
			Rate: o.Rate.String(), Converted: o.Converted().String()}
	}
	if r.Wake != 0 {
		s := schemas.FormatTime(r.Wake)
		v.NextTimer = &s
	}
	return v
}

// StatsView is the population and the processor's counters as JSON.
type StatsView struct {
	Stages     map[string]int64 `json:"users_per_stage"`
	Segments   map[string]int64 `json:"users_per_segment"`
	Warnings   int64            `json:"warnings"`
	Partitions int              `json:"partitions_owned"`
	StreamTime *string          `json:"stream_time"`
	// StreamTimeHeld: --idle-advance is held, no input record having come
	// for --max-input-silence.
	StreamTimeHeld bool  `json:"stream_time_held"`
	Applied        int64 `json:"events_applied"`
	Rejected       int64 `json:"records_rejected"`
	Ignored        int64 `json:"records_ignored"`
	Duplicates     int64 `json:"duplicates_dropped"`
	// InputRecords is, per input topic, the records taken from it: one
	// topic that stops while the others go on shows here first.
	InputRecords map[string]int64 `json:"input_records"`
	// BreaksSeen is, per owned partition that saw any, the days it took
	// as breaks (--warn-detect-breaks), written as --warn-break-days
	// takes them.
	BreaksSeen  map[string]string `json:"breaks_seen"`
	Transitions int64             `json:"transitions"`
	Sent        int64             `json:"outputs_sent"`
	// Rules are the rules in effect: the rules file's version (absent
	// without one) and the hash of the settings.
	Rules RulesView `json:"rules"`

	// Restoring is how many of the owned partitions are not current yet
	// (restoring from the changelog, or reading its tail first); Lag the
	// input records not yet applied per owned partition and input topic
	// (absent while the partition restores); Recent the latest
	// transitions (at most engine.RecentKept per owned partition), oldest
	// first.
	Restoring int              `json:"partitions_restoring"`
	Lag       []LagView        `json:"lag"`
	Recent    []TransitionView `json:"recent_transitions"`
}

// LagView is one input topic-partition's lag.
type LagView struct {
	Topic     string `json:"topic"`
	Partition int32  `json:"partition"`
	Records   int64  `json:"records"`
}

// TransitionView is a recent transition.
type TransitionView struct {
	UserID   string `json:"user_id"`
	From     string `json:"from"`
	To       string `json:"to"`
	At       string `json:"at"` // event time
	Returned bool   `json:"returned"`
}

// RulesView names the rules in effect.
type RulesView struct {
	Version string `json:"version,omitempty"`
	Hash    string `json:"hash"`
}

// NewStatsView builds the view of st.
func NewStatsView(st processor.Stats) StatsView {
	v := StatsView{Stages: map[string]int64{}, Segments: map[string]int64{}, Partitions: st.Partitions, Applied: st.Applied,
		StreamTimeHeld: st.StreamTimeHeld, Rejected: st.Rejected, Ignored: st.Ignored, Duplicates: st.Duplicates, Transitions: st.Transitions, Warnings: st.Warnings, Sent: st.Sent,
		Rules:     RulesView{Version: st.Rules.Version, Hash: st.Rules.Hash},
		Restoring: st.Restoring, Lag: []LagView{}, Recent: []TransitionView{}, InputRecords: map[string]int64{},
		BreaksSeen: map[string]string{}}
	for p, days := range st.PartitionBreaks {
		v.BreaksSeen[strconv.Itoa(int(p))] = days
	}
	for i, topic := range st.InputTopics {
		v.InputRecords[topic] = st.InputRecords[i]
	}
	for _, l := range st.Lag {
		v.Lag = append(v.Lag, LagView{Topic: l.Topic, Partition: l.Partition, Records: l.Records})
	}
	for _, r := range st.Recent {
		v.Recent = append(v.Recent, TransitionView{UserID: r.UserID, From: r.From.String(), To: r.To.String(), At: schemas.FormatTime(r.At), Returned: r.Returned})
	}
	for _, s := range rules.Stages[1:] {
		v.Stages[s.String()] = st.Stages[s]
	}
	for i, n := range st.Segments {
		if i > 0 {
			v.Segments[segments.Segment(i).String()] = n
		}
	}
	if !st.StreamTime.IsZero() {
		s := st.StreamTime.Format(time.RFC3339)
		v.StreamTime = &s
	}
	return v
}

// collector turns a Stats snapshot into metrics at scrape time, so the hot
// path updates nothing but its own atomic counters.
type collector struct{ src Source }

var (
	descApplied        = prometheus.NewDesc("lifecycle_events_applied_total", "Input events applied to user state.", nil, nil)
	descRejected       = prometheus.NewDesc("lifecycle_records_rejected_total", "Input records sent to the dead-letter topic.", nil, nil)
	descDuplicates     = prometheus.NewDesc("lifecycle_duplicates_dropped_total", "Events dropped as re-sends of an applied event id.", nil, nil)
	descSkipped        = prometheus.NewDesc("lifecycle_records_skipped_total", "Re-delivered records below the stored offset.", nil, nil)
	descIgnored        = prometheus.NewDesc("lifecycle_records_ignored_total", "Records an input mapping says to ignore: read, not applied, not dead-lettered.", nil, nil)
	descInputRecords   = prometheus.NewDesc("lifecycle_input_records_total", "Input records taken from each input topic (applied, rejected, duplicates, skipped or ignored). A topic that stops while the others go on makes its users look silent: alert LifecycleInputTopicSilent.", []string{"topic"}, nil)
	descLost           = prometheus.NewDesc("lifecycle_input_records_lost_total", "Input records the broker deleted (retention) before they were read; any rise needs attention.", nil, nil)
	descTransitions    = prometheus.NewDesc("lifecycle_transitions_total", "Lifecycle transitions produced.", nil, nil)
	descSent           = prometheus.NewDesc("lifecycle_outputs_sent_total", "Output records acknowledged by Kafka.", nil, nil)
	descSendErrors     = prometheus.NewDesc("lifecycle_output_errors_total", "Failed output writes (each retried).", nil, nil)
	descRegistryErrors = prometheus.NewDesc("lifecycle_schema_registry_errors_total", "Schema registry requests that failed without an answer (each retried; with --input-format avro); while it rises, partitions whose records need an unknown schema wait.", nil, nil)
	descKafkaErrors    = prometheus.NewDesc("lifecycle_kafka_errors_total", "Errors joining the group, fetching or reaching the brokers (each retried); rises during a broker outage.", nil, nil)
	descUsers          = prometheus.NewDesc("lifecycle_users", "Users per lifecycle stage in the owned partitions.", []string{"stage"}, nil)
	descSegment        = prometheus.NewDesc("lifecycle_segment_users", "Users per RFM segment in the owned partitions.", []string{"segment"}, nil)
	descWarnings       = prometheus.NewDesc("lifecycle_warnings_total", "Churn warnings and recovered records produced.", nil, nil)
	descPartitions     = prometheus.NewDesc("lifecycle_partitions_owned", "Input partitions this instance processes.", nil, nil)
	descStreamTime     = prometheus.NewDesc("lifecycle_stream_time_seconds", "Event time reached by the least advanced owned partition.", nil, nil)
	descReady          = prometheus.NewDesc("lifecycle_ready", "1 when the processor is in the group and processing, and no partition's output writes have kept failing for a minute.", nil, nil)

	descFetchTimeouts  = prometheus.NewDesc("lifecycle_kafka_fetch_timeouts_total", "Input fetches whose read timed out (a slow broker or network); not counted in lifecycle_kafka_errors_total.", nil, nil)
	descEndsRequests   = prometheus.NewDesc("lifecycle_input_end_requests_total", "ListOffsets requests for the input topics' end offsets, which the merge asks for at live rates where a fetch response does not hold all of a partition's input topics (led by different brokers): a steady rise at live rates means each cycle pays a round trip (README.md, Performance).", nil, nil)
	descDeadOutputs    = prometheus.NewDesc("lifecycle_outputs_dead_total", "Outputs Kafka refused for good (too large, invalid), set aside with a notice on the dead-letter topic; any rise needs attention.", nil, nil)
	descStreamHeld     = prometheus.NewDesc("lifecycle_stream_time_held", "1 while --idle-advance is held because no input record came for --max-input-silence (an upstream outage, or inputs that are truly quiet); stream time then moves only with records.", nil, nil)
	descStreamJumps    = prometheus.NewDesc("lifecycle_stream_time_jumps_total", "Events that moved a partition's stream time ahead by more than a week at once.", nil, nil)
	descBreakDays      = prometheus.NewDesc("lifecycle_warning_break_days_seen_total", "Days on which a partition saw far fewer of its users than usual, taken as a break that the churn warnings do not count in silences (a holiday, or an input that stopped).", nil, nil)
	descPartStreamTime = prometheus.NewDesc("lifecycle_partition_stream_time_seconds", "Event time reached by each owned partition.", []string{"partition"}, nil)
	descWatch          = prometheus.NewDesc("lifecycle_warning_watch_risk", "The risk at which each owned partition's churn warnings come due at watch, chosen from its own departures (--warn-recall); absent while --warn-risk's applies.", []string{"partition"}, nil)
	descStoreReads     = prometheus.NewDesc("lifecycle_user_store_reads_total", "Users read from Pebble because the user cache did not hold them (--max-users-cached); each is a block cache lookup, and a file read on a miss.", nil, nil)
	descCachedUsers    = prometheus.NewDesc("lifecycle_users_cached", "Users the owned partitions' user caches hold between batches (at most --max-users-cached per partition).", nil, nil)
	descCacheBytes     = prometheus.NewDesc("lifecycle_user_cache_bytes", "Bytes the owned partitions' user caches take (stored records and ids, overwritten ones until the cache compacts).", nil, nil)
	descSendFailing    = prometheus.NewDesc("lifecycle_partitions_send_failing", "Owned partitions whose output writes have failed for more than a minute.", nil, nil)
	descStateBytes     = prometheus.NewDesc("lifecycle_state_bytes", "Bytes the state directory's store takes on disk (Pebble's count: tables, write-ahead log, manifest).", nil, nil)
	descDiskFree       = prometheus.NewDesc("lifecycle_state_disk_free_bytes", "Bytes available on the state directory's volume. When a write finds none, the process stops (exit status 75) and resumes, with nothing lost, once space is freed.", nil, nil)
	descDiskSize       = prometheus.NewDesc("lifecycle_state_disk_size_bytes", "Size of the state directory's volume.", nil, nil)
	descDiskSlow       = prometheus.NewDesc("lifecycle_state_disk_slow_total", "Reports of writes to the state directory slower than 5 s, one every 2 s while such a write lasts; --max-disk-stall stops the process when one lasts that long.", nil, nil)

	descLag           = prometheus.NewDesc("lifecycle_consumer_lag_records", "Input records between each owned partition's next record to apply and the topic's high watermark (absent while the partition restores).", []string{"topic", "partition"}, nil)
	descCommitSeconds = prometheus.NewDesc("lifecycle_batch_commit_seconds", "Seconds to write a committed batch (users, timers, outbox, input offsets) to Pebble atomically.", nil, nil)
	descEventToOutput = prometheus.NewDesc("lifecycle_event_to_output_seconds", "Seconds from the Kafka timestamp of an input record to the broker's acknowledgement (acks=all) of the outputs of its batch; one observation per delivery, for its oldest record, so an upper bound for the others.", nil, nil)
	descRestoring     = prometheus.NewDesc("lifecycle_partitions_restoring", "Owned partitions not current yet: restoring from the changelog, promoting a standby copy, or reading the changelog's tail first; they process no events and serve no reads meanwhile.", nil, nil)
	descRestoreRead   = prometheus.NewDesc("lifecycle_restore_records", "Changelog offsets read by each owned partition's restore since it was assigned; it reaches lifecycle_restore_records_target when the restore is done.", []string{"partition"}, nil)
	descRestoreTarget = prometheus.NewDesc("lifecycle_restore_records_target", "Changelog offsets each owned partition's restore has to read (the changelog's end at assignment, from where the local copy was).", []string{"partition"}, nil)
)

func (c collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descApplied, descRejected, descDuplicates, descSkipped, descIgnored, descInputRecords, descLost, descTransitions,
		descSent, descSendErrors, descKafkaErrors, descRegistryErrors, descUsers, descSegment, descWarnings, descPartitions, descStreamTime, descReady,
		descFetchTimeouts, descEndsRequests, descDeadOutputs, descStreamHeld, descStreamJumps, descBreakDays, descPartStreamTime, descWatch, descSendFailing,
		descStoreReads, descCachedUsers, descCacheBytes, descStateBytes, descDiskFree, descDiskSize, descDiskSlow,
		descLag, descCommitSeconds, descEventToOutput, descRestoring, descRestoreRead, descRestoreTarget} {
		ch <- d
	}
}

func (c collector) Collect(ch chan<- prometheus.Metric) {
	st := c.src.Stats()
	counter := func(d *prometheus.Desc, v int64) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v))
	}
	counter(descApplied, st.Applied)
	counter(descRejected, st.Rejected)
	counter(descDuplicates, st.Duplicates)
	counter(descSkipped, st.Skipped)
	counter(descIgnored, st.Ignored)
	counter(descLost, st.Lost)
	for i, topic := range st.InputTopics {
		ch <- prometheus.MustNewConstMetric(descInputRecords, prometheus.CounterValue, float64(st.InputRecords[i]), topic)
	}
	counter(descTransitions, st.Transitions)
	counter(descSent, st.Sent)
	counter(descSendErrors, st.SendErrors)
	counter(descKafkaErrors, st.KafkaErrors)
	counter(descRegistryErrors, st.RegistryErrors)
	counter(descWarnings, st.Warnings)
	counter(descFetchTimeouts, st.FetchTimeouts)
	counter(descEndsRequests, st.EndsRequests)
	counter(descDeadOutputs, st.DeadOutputs)
	counter(descStreamJumps, st.StreamJumps)
	counter(descBreakDays, st.BreakDays)
	counter(descStoreReads, st.StoreReads)
	ch <- prometheus.MustNewConstMetric(descCachedUsers, prometheus.GaugeValue, float64(st.CachedUsers))
	ch <- prometheus.MustNewConstMetric(descCacheBytes, prometheus.GaugeValue, float64(st.CacheBytes))
	for p, t := range st.PartitionStreamTimes {
		ch <- prometheus.MustNewConstMetric(descPartStreamTime, prometheus.GaugeValue, float64(t.UnixMilli())/1000, strconv.Itoa(int(p)))
	}
	for p, w := range st.PartitionWatch {
		ch <- prometheus.MustNewConstMetric(descWatch, prometheus.GaugeValue, w, strconv.Itoa(int(p)))
	}
	ch <- prometheus.MustNewConstMetric(descSendFailing, prometheus.GaugeValue, float64(len(st.SendFailing)))
	held := 0.0
	if st.StreamTimeHeld {
		held = 1
	}
	ch <- prometheus.MustNewConstMetric(descStreamHeld, prometheus.GaugeValue, held)
	if d, ok := c.src.Disk(); ok {
		ch <- prometheus.MustNewConstMetric(descStateBytes, prometheus.GaugeValue, float64(d.StoreBytes))
		ch <- prometheus.MustNewConstMetric(descDiskFree, prometheus.GaugeValue, float64(d.FreeBytes))
		ch <- prometheus.MustNewConstMetric(descDiskSize, prometheus.GaugeValue, float64(d.TotalBytes))
		ch <- prometheus.MustNewConstMetric(descDiskSlow, prometheus.CounterValue, float64(d.SlowWrites))
	}
	for _, l := range st.Lag {
		ch <- prometheus.MustNewConstMetric(descLag, prometheus.GaugeValue, float64(l.Records), l.Topic, strconv.Itoa(int(l.Partition)))
	}
	cs, eo := st.CommitSeconds, st.EventToOutput
	ch <- prometheus.MustNewConstHistogram(descCommitSeconds, cs.Count(), cs.Sum.Seconds(), cs.Cumulative())
	ch <- prometheus.MustNewConstHistogram(descEventToOutput, eo.Count(), eo.Sum.Seconds(), eo.Cumulative())
	ch <- prometheus.MustNewConstMetric(descRestoring, prometheus.GaugeValue, float64(st.Restoring))
	for _, r := range st.Restores {
		part := strconv.Itoa(int(r.Partition))
		ch <- prometheus.MustNewConstMetric(descRestoreRead, prometheus.GaugeValue, float64(r.Read), part)
		ch <- prometheus.MustNewConstMetric(descRestoreTarget, prometheus.GaugeValue, float64(r.Target), part)
	}
	for i, n := range st.Segments {
		if i > 0 {
			ch <- prometheus.MustNewConstMetric(descSegment, prometheus.GaugeValue, float64(n), segments.Segment(i).String())
		}
	}
	for _, s := range rules.Stages[1:] {
		ch <- prometheus.MustNewConstMetric(descUsers, prometheus.GaugeValue, float64(st.Stages[s]), s.String())
	}
	ch <- prometheus.MustNewConstMetric(descPartitions, prometheus.GaugeValue, float64(st.Partitions))
	if !st.StreamTime.IsZero() {
		ch <- prometheus.MustNewConstMetric(descStreamTime, prometheus.GaugeValue, float64(st.StreamTime.UnixMilli())/1000)
	}
	ready := 0.0
	if c.src.Ready() {
		ready = 1
	}
	ch <- prometheus.MustNewConstMetric(descReady, prometheus.GaugeValue, ready)
}
