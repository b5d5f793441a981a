package httpapi

import (
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/lifecycle-engine/lifecycle/processor/retention"
	"github.com/lifecycle-engine/lifecycle/processor/rules"
	"github.com/lifecycle-engine/lifecycle/schemas"
)

// The retention views read retention.Totals: every partition's latest
// records of the metrics topic, summed (processor.readMetrics), so any
// instance answers for all of them. They show the days up to the latest
// boundary (the end of the last whole day of event time): the day in
// progress, and the 7- and 30-day windows already counted ahead, are
// left out.

// ActiveDay is one day's DAU, WAU and MAU.
type ActiveDay struct {
	Day string `json:"day"`
	DAU int64  `json:"dau"`
	WAU int64  `json:"wau"`
	MAU int64  `json:"mau"`
}

// Cohort is a daily or weekly cohort: its size and, for each k from 1 up
// to the latest day (week) there is, how many of its users were active
// on day (in week) k after it.
type Cohort struct {
	Cohort   string  `json:"cohort"` // its day; a weekly cohort's Monday
	Users    int64   `json:"users"`
	Retained []int64 `json:"retained"` // [k-1]
	// Rates are retained/users at day 1, 7, 14 and 30 (daily cohorts),
	// for the days that have come.
	Rates map[string]float64 `json:"rates,omitempty"`
}

// CohortsView is GET /v1/cohorts.
type CohortsView struct {
	AsOf       string      `json:"as_of"` // the latest boundary: the counts hold every input before it
	Partitions int         `json:"partitions"`
	Active     []ActiveDay `json:"active"`
	Daily      []Cohort    `json:"daily"`
	Weekly     []Cohort    `json:"weekly"`
}

// Flow is a stage-to-stage count.
type Flow struct {
	From  string `json:"from"`
	To    string `json:"to"`
	Users int64  `json:"users"`
}

// FlowDay is one day's churns and returns with their rates.
type FlowDay struct {
	Day        string  `json:"day"`
	Churned    int64   `json:"churned"`
	Returned   int64   `json:"returned"`
	ChurnRate  float64 `json:"churn_rate"`
	ReturnRate float64 `json:"return_rate"`
}

// FlowsView is GET /v1/flows.
type FlowsView struct {
	AsOf string `json:"as_of"`
	From string `json:"from"`
	To   string `json:"to"`
	// Flows are the transitions of [From, To] by stages; churned→* are
	// the returns.
	Flows []Flow `json:"flows"`
	// Churned and Returned are the users who churned (returned) in the
	// period; ActiveAtStart and ChurnedAtStart the users in an active
	// stage (churned) when it began; the rates are their ratios.
	Churned        int64     `json:"churned"`
	Returned       int64     `json:"returned"`
	ActiveAtStart  int64     `json:"active_at_start"`
	ChurnedAtStart int64     `json:"churned_at_start"`
	ChurnRate      float64   `json:"churn_rate"`
	ReturnRate     float64   `json:"return_rate"`
	Days           []FlowDay `json:"days"`
}

// SegmentsView is GET /v1/segments: the R×F grid of the last rebuild and
// the users per named segment now.
type SegmentsView struct {
	AsOf      string           `json:"as_of"`
	Rebuilt   string           `json:"rebuilt"`
	Users     [5][5]int64      `json:"users"`    // [R-1][F-1]
	Monetary  [5][5]string     `json:"monetary"` // [R-1][F-1], decimal in the accounting currency
	NonBuyers int64            `json:"non_buyers"`
	Segments  map[string]int64 `json:"segments"`
}

// WarningDay is one day's churn warnings.
type WarningDay struct {
	Day      string           `json:"day"`
	ByLevel  map[string]int64 `json:"by_level"`
	ByReason map[string]int64 `json:"by_reason"`
	Counts   map[string]int64 `json:"counts"` // by "level/reason"
}

// WarningsView is GET /v1/warnings.
type WarningsView struct {
	AsOf string       `json:"as_of"`
	Days []WarningDay `json:"days"`
}

// lastDay is the latest day with counts: the day before the boundary.
func lastDay(t retention.Totals) int64 { return retention.DayOf(t.AsOf - 1) }

func asOf(t retention.Totals) string {
	if t.AsOf == 0 {
		return ""
	}
	return schemas.FormatTime(t.AsOf)
}

// dayRange reads from and to (dates) of r, or the days ending with the
// latest one; an unreadable date is an error that says what to send.
func dayRange(r *http.Request, t retention.Totals, days int64) (from, to int64, err error) {
	to = lastDay(t)
	parse := func(name string, def int64) (int64, error) {
		v := r.URL.Query().Get(name)
		if v == "" {
			return def, nil
		}
		d, err := time.Parse(time.DateOnly, v)
		if err != nil {
			return 0, fmt.Errorf("%s=%q: want a date such as 2026-03-01", name, v)
		}
		return retention.DayOf(d.UnixMilli()), nil
	}
	if v := r.URL.Query().Get("days"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > retention.KeepDays {
			return 0, 0, fmt.Errorf("days=%q: want 1 to %d", v, retention.KeepDays)
		}
		days = int64(n)
	}
	if to, err = parse("to", to); err != nil {
		return 0, 0, err
	}
	if from, err = parse("from", to-days+1); err != nil {
		return 0, 0, err
	}
	if from > to {
		return 0, 0, fmt.Errorf("from %s is after to %s", retention.Date(from), retention.Date(to))
	}
	return from, to, nil
}

// NewCohortsView builds /v1/cohorts for the daily cohorts and active users
// of [from, to] and the weekly cohorts of the 12 weeks before to.
func NewCohortsView(t retention.Totals, from, to int64) CohortsView {
	v := CohortsView{AsOf: asOf(t), Partitions: t.Partitions, Active: []ActiveDay{}, Daily: []Cohort{}, Weekly: []Cohort{}}
	last := lastDay(t)
	day := func(d int64) schemas.MetricsDay {
		if r := t.Days[d]; r != nil && d <= last {
			return *r
		}
		return schemas.MetricsDay{}
	}
	for d := from; d <= to; d++ {
		r := day(d)
		v.Active = append(v.Active, ActiveDay{Day: retention.Date(d), DAU: r.Active, WAU: r.Active7, MAU: r.Active30})
		c := Cohort{Cohort: retention.Date(d), Users: r.New, Retained: []int64{}, Rates: map[string]float64{}}
		for k := int64(1); k <= schemas.RetainedDays && d+k <= last; k++ {
			n := day(d + k).RetainedBack[k-1]
			c.Retained = append(c.Retained, n)
			if (k == 1 || k == 7 || k == 14 || k == 30) && c.Users > 0 {
				c.Rates["d"+strconv.FormatInt(k, 10)] = ratio(n, c.Users)
			}
		}
		v.Daily = append(v.Daily, c)
	}
	lastWeek := retention.WeekOf(last)
	for w := lastWeek - schemas.RetainedWeeks; w <= lastWeek; w++ {
		c := Cohort{Cohort: retention.Date(retention.WeekStart(w)), Retained: []int64{}}
		for d := retention.WeekStart(w); d < retention.WeekStart(w)+7; d++ {
			c.Users += day(d).New
		}
		for k := int64(1); k <= schemas.RetainedWeeks && w+k <= lastWeek; k++ {
			var n int64
			if r := t.Weeks[w+k]; r != nil {
				n = r.RetainedBack[k-1]
			}
			c.Retained = append(c.Retained, n)
		}
		v.Weekly = append(v.Weekly, c)
	}
	return v
}

func ratio(n, of int64) float64 {
	if of == 0 {
		return 0
	}
	return float64(n) / float64(of)
}

// activeStages are the stages a churn leaves from.
var activeStages = []rules.Stage{rules.New, rules.Growing, rules.Mature, rules.Silent}

// NewFlowsView builds /v1/flows for [from, to]. The users per stage at
// the start of a day are those of the latest boundary less the flows of
// that day and every later one.
func NewFlowsView(t retention.Totals, from, to int64) FlowsView {
	v := FlowsView{AsOf: asOf(t), From: retention.Date(from), To: retention.Date(to), Flows: []Flow{}, Days: []FlowDay{}}
	last := lastDay(t)
	// at[s]: users in stage s at the start of the day being looked at,
	// walking back from the boundary.
	at := map[string]int64{}
	maps.Copy(at, t.Stages.Stages)
	startOf := map[int64]map[string]int64{}
	for d := last; d >= from; d-- {
		if r := t.Days[d]; r != nil {
			for k, n := range r.Flows {
				f, s, _ := strings.Cut(k, ">")
				at[s] -= n
				at[f] += n
			}
		}
		if d <= to {
			startOf[d] = maps.Clone(at)
		}
	}
	active := func(stages map[string]int64) (n int64) {
		for _, s := range activeStages {
			n += stages[s.String()]
		}
		return n
	}
	flows := map[string]int64{}
	for d := from; d <= to && d <= last; d++ {
		fd := FlowDay{Day: retention.Date(d)}
		if r := t.Days[d]; r != nil {
			for k, n := range r.Flows {
				flows[k] += n
				f, s, _ := strings.Cut(k, ">")
				if s == rules.Churned.String() {
					fd.Churned += n
				}
				if f == rules.Churned.String() {
					fd.Returned += n
				}
			}
		}
		fd.ChurnRate = ratio(fd.Churned, active(startOf[d]))
		fd.ReturnRate = ratio(fd.Returned, startOf[d][rules.Churned.String()])
		v.Churned += fd.Churned
		v.Returned += fd.Returned
		v.Days = append(v.Days, fd)
	}
	for _, k := range slices.Sorted(maps.Keys(flows)) {
		f, s, _ := strings.Cut(k, ">")
		v.Flows = append(v.Flows, Flow{From: f, To: s, Users: flows[k]})
	}
	v.ActiveAtStart, v.ChurnedAtStart = active(startOf[from]), startOf[from][rules.Churned.String()]
	v.ChurnRate, v.ReturnRate = ratio(v.Churned, v.ActiveAtStart), ratio(v.Returned, v.ChurnedAtStart)
	return v
}

// NewSegmentsView builds /v1/segments.
func NewSegmentsView(t retention.Totals) SegmentsView {
	v := SegmentsView{AsOf: asOf(t), Rebuilt: t.RFM.Rebuilt, Users: t.RFM.Users, NonBuyers: t.RFM.NonBuyers, Segments: t.Stages.Segments}
	for r := range v.Monetary {
		for f := range v.Monetary[r] {
			v.Monetary[r][f] = schemas.Micros(t.RFM.Monetary[r][f]).String()
		}
	}
	return v
}

// NewWarningsView builds /v1/warnings for [from, to].
func NewWarningsView(t retention.Totals, from, to int64) WarningsView {
	v := WarningsView{AsOf: asOf(t), Days: []WarningDay{}}
	for d := from; d <= to && d <= lastDay(t); d++ {
		wd := WarningDay{Day: retention.Date(d), ByLevel: map[string]int64{}, ByReason: map[string]int64{}, Counts: map[string]int64{}}
		if r := t.Days[d]; r != nil {
			for k, n := range r.Warnings {
				level, reason, _ := strings.Cut(k, "/")
				wd.ByLevel[level] += n
				wd.ByReason[reason] += n
				wd.Counts[k] = n
			}
		}
		v.Days = append(v.Days, wd)
	}
	return v
}

func handleRetention(mux *http.ServeMux, src Source) {
	ranged := func(days int64, view func(t retention.Totals, from, to int64) any) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			t := src.Metrics()
			from, to, err := dayRange(r, t, days)
			if err != nil {
				writeJSON(w, http.StatusBadRequest, map[string]string{"error": err.Error()})
				return
			}
			writeJSON(w, http.StatusOK, view(t, from, to))
		}
	}
	mux.HandleFunc("GET /v1/cohorts", ranged(35, func(t retention.Totals, from, to int64) any { return NewCohortsView(t, from, to) }))
	mux.HandleFunc("GET /v1/flows", ranged(30, func(t retention.Totals, from, to int64) any { return NewFlowsView(t, from, to) }))
	mux.HandleFunc("GET /v1/warnings", ranged(30, func(t retention.Totals, from, to int64) any { return NewWarningsView(t, from, to) }))
	mux.HandleFunc("GET /v1/segments", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, NewSegmentsView(src.Metrics()))
	})
}
