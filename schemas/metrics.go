package schemas

// The retention metrics topic (processor/retention): its kind for
// OutputID, its schema name (HeaderSchema) and its metric names.
const (
	KindMetrics       = "metrics"
	SchemaMetricsV1   = "metrics.v1"
	MetricsSchemaFile = "metrics.v1.schema.json"

	MetricDay    = "day"    // Metrics.Day of one UTC day
	MetricWeek   = "week"   // Metrics.Week of one ISO week (Monday to Sunday)
	MetricRFM    = "rfm"    // Metrics.RFM as of the partition's last RFM rebuild
	MetricStages = "stages" // Metrics.Stages as of At
)

// Metrics is one partition's counters of one period, the value of a record
// on lifecycle.metrics (schema metrics.v1), a compacted topic: the key is
// "<partition>/<metric>/<period>" ("3/day/2026-05-01", "3/rfm"), so the
// latest record of each key is the partition's current count of that
// period. A record with no value (a tombstone) deletes a period pruned
// from the state. To get the whole picture, sum the latest record of each
// key over the partitions (processor/retention.Totals).
type Metrics struct {
	ID        string `json:"id"` // deterministic: OutputID(key, KindMetrics, "", at, "")
	Partition int32  `json:"partition"`
	Metric    string `json:"metric"`           // day, week, rfm or stages
	Period    string `json:"period,omitempty"` // day: its date; week: the date of its Monday
	// At is the event-time boundary the record was published at: the
	// counts include every input before it.
	At     string         `json:"at"`
	Day    *MetricsDay    `json:"day,omitempty"`
	Week   *MetricsWeek   `json:"week,omitempty"`
	RFM    *MetricsRFM    `json:"rfm,omitempty"`
	Stages *MetricsStages `json:"stages,omitempty"`
	Rules  *Rules         `json:"rules,omitempty"` // with a rules file: the rules the counts were made under
}

// RetainedDays and RetainedWeeks are how far the cohorts' retention is kept.
const (
	RetainedDays  = 30
	RetainedWeeks = 12
)

// MetricsDay are one UTC day's counts (processor/retention's definitions).
type MetricsDay struct {
	Active   int64 `json:"active"`     // DAU: users active on the day
	Active7  int64 `json:"active_7d"`  // WAU: users active in the 7 days ending with it
	Active30 int64 `json:"active_30d"` // MAU: users active in the 30 days ending with it
	New      int64 `json:"new"`        // users whose first event is on the day: the cohort's size
	// RetainedBack[k-1] counts the users first seen k days before this day
	// who are active on it: the retention at day k of that cohort.
	RetainedBack [RetainedDays]int64 `json:"retained_back"`
	// Flows counts the transitions of the day by "from>to" stage names.
	Flows map[string]int64 `json:"flows,omitempty"`
	// Warnings counts the churn warnings of the day by "level/reason code"
	// (a warning with two reasons counts under both).
	Warnings map[string]int64 `json:"warnings,omitempty"`
}

// MetricsWeek are one ISO week's counts.
type MetricsWeek struct {
	// RetainedBack[k-1] counts the users first seen k weeks before this
	// week who are active in it.
	RetainedBack [RetainedWeeks]int64 `json:"retained_back"`
}

// MetricsRFM is the R×F grid of the last RFM rebuild: the buyers per cell
// and their total spend, by R and F score (index score-1, 5 best).
type MetricsRFM struct {
	Rebuilt   string      `json:"rebuilt"`
	Users     [5][5]int64 `json:"users"`           // [R-1][F-1]
	Monetary  [5][5]int64 `json:"monetary_micros"` // [R-1][F-1], in micros of the accounting currency
	NonBuyers int64       `json:"non_buyers"`
}

// MetricsStages are the users per stage and per named RFM segment.
type MetricsStages struct {
	Stages   map[string]int64 `json:"stages"`
	Segments map[string]int64 `json:"segments"`
}
