package retention

import (
	"encoding/json"
	"fmt"
	"sync"
	"time"

	"github.com/lifecycle-engine/lifecycle/schemas"
)

// Latest is the latest record of each key of the metrics topic, as a
// compacted topic's reader sees it: every instance keeps one, fed from the
// topic, to serve the whole picture. Safe for concurrent use.
type Latest struct {
	mu struct {
		sync.Mutex
		recs map[string]schemas.Metrics
	}
}

// NewLatest returns an empty Latest.
func NewLatest() *Latest {
	l := &Latest{}
	l.mu.recs = map[string]schemas.Metrics{}
	return l
}

// Put takes the record of key: a later one replaces it, one without a
// value (a tombstone) deletes it.
func (l *Latest) Put(key, value []byte) error {
	var m schemas.Metrics
	if len(value) > 0 {
		if err := json.Unmarshal(value, &m); err != nil {
			return fmt.Errorf("retention: metrics record %q: %w", key, err)
		}
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(value) == 0 {
		delete(l.mu.recs, string(key))
	} else {
		l.mu.recs[string(key)] = m
	}
	return nil
}

// Totals sums the latest records over the partitions.
func (l *Latest) Totals() Totals {
	l.mu.Lock()
	recs := make([]schemas.Metrics, 0, len(l.mu.recs))
	for _, m := range l.mu.recs {
		recs = append(recs, m)
	}
	l.mu.Unlock()
	return Sum(recs)
}

// Totals are the metrics of every partition summed per period.
type Totals struct {
	Days   map[int64]*schemas.MetricsDay  // by day (DayOf)
	Weeks  map[int64]*schemas.MetricsWeek // by week (WeekOf)
	RFM    schemas.MetricsRFM             // Rebuilt: the latest rebuild of a partition
	Stages schemas.MetricsStages
	// Partitions counts the partitions with a stages record; AsOf is the
	// latest boundary among them (Unix ms, 0 for none).
	Partitions int
	AsOf       int64
}

// Sum adds up records of the metrics topic, the latest of each key.
func Sum(recs []schemas.Metrics) Totals {
	t := Totals{Days: map[int64]*schemas.MetricsDay{}, Weeks: map[int64]*schemas.MetricsWeek{},
		Stages: schemas.MetricsStages{Stages: map[string]int64{}, Segments: map[string]int64{}}}
	for _, m := range recs {
		switch {
		case m.Day != nil:
			d, err := parseDay(m.Period)
			if err != nil {
				continue
			}
			t.Days[d] = addDay(t.Days[d], m.Day)
		case m.Week != nil:
			d, err := parseDay(m.Period)
			if err != nil {
				continue
			}
			w := t.Weeks[WeekOf(d)]
			if w == nil {
				w = &schemas.MetricsWeek{}
				t.Weeks[WeekOf(d)] = w
			}
			for k, n := range m.Week.RetainedBack {
				w.RetainedBack[k] += n
			}
		case m.RFM != nil:
			for r := range m.RFM.Users {
				for f := range m.RFM.Users[r] {
					t.RFM.Users[r][f] += m.RFM.Users[r][f]
					t.RFM.Monetary[r][f] = schemas.AddSat(t.RFM.Monetary[r][f], m.RFM.Monetary[r][f])
				}
			}
			t.RFM.NonBuyers += m.RFM.NonBuyers
			t.RFM.Rebuilt = max(t.RFM.Rebuilt, m.RFM.Rebuilt) // one time format: the text order is the time order
		case m.Stages != nil:
			for k, n := range m.Stages.Stages {
				t.Stages.Stages[k] += n
			}
			for k, n := range m.Stages.Segments {
				t.Stages.Segments[k] += n
			}
			t.Partitions++
			if at, err := time.Parse(time.RFC3339Nano, m.At); err == nil {
				t.AsOf = max(t.AsOf, at.UnixMilli())
			}
		}
	}
	return t
}

func addDay(sum, d *schemas.MetricsDay) *schemas.MetricsDay {
	if sum == nil {
		sum = &schemas.MetricsDay{}
	}
	sum.Active += d.Active
	sum.Active7 += d.Active7
	sum.Active30 += d.Active30
	sum.New += d.New
	for k, n := range d.RetainedBack {
		sum.RetainedBack[k] += n
	}
	sum.Flows = addMap(sum.Flows, d.Flows)
	sum.Warnings = addMap(sum.Warnings, d.Warnings)
	return sum
}

func addMap(sum, m map[string]int64) map[string]int64 {
	if len(m) == 0 {
		return sum
	}
	if sum == nil {
		sum = map[string]int64{}
	}
	for k, n := range m {
		sum[k] += n
	}
	return sum
}
