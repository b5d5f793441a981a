package retention

import (
	"encoding/json"
	"fmt"
	"maps"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/lifecycle-engine/lifecycle/processor/rules"
	"github.com/lifecycle-engine/lifecycle/schemas"
)

// Interval is the event-time boundary at which changed records are
// published: the end of each UTC day of event time, when the day's counts
// are whole. Each boundary costs a commit (the timers due before it fire
// first): hourly boundaries cost a backlog drain 3.3 times the CPU
// (BENCHMARKS.md), daily ones nothing measurable.
const Interval = DayMs

// KeepDays and KeepWeeks are how long day and week records are kept
// before the last boundary; older ones are deleted and updates to them
// dropped.
const (
	KeepDays  = 400
	KeepWeeks = 58
)

// Stored keys of the records (KV.Key).
const (
	keyHead = "h"
	keyRFM  = "g"
)

// KV is a record in its stored form; a nil Value deletes it.
type KV struct {
	Key   string
	Value []byte
}

// Published is a record for the metrics topic; a nil Value is a tombstone.
type Published struct {
	Key   string // "<partition>/<metric>[/<period>]"
	ID    string
	Value []byte
}

// flags are what the state knows of a record besides its counts.
type flags struct {
	unpublished bool // changed since it was last published
	changed     bool // changed since the last Changes
}

type dayRec struct {
	flags
	schemas.MetricsDay
}

type weekRec struct {
	flags
	schemas.MetricsWeek
}

// State is one partition's retention metrics. The engine's goroutine owns it.
type State struct {
	days      map[int64]*dayRec
	weeks     map[int64]*weekRec
	rfm       *schemas.MetricsRFM
	rfmFlags  flags
	published int64 // the last boundary (Unix ms), 0 before the first
	head      bool  // published changed since the last Changes
	deleted   []string
	changed   []recKey // the records changed since the last Changes, in the order they changed
}

// recKey names a record: its kind ('d' day, 'w' week, 'g' the grid) and
// its day or week. Its stored key is formatted only at a commit.
type recKey struct {
	kind byte
	n    int64
}

func (k recKey) String() string {
	switch k.kind {
	case 'd':
		return dayKey(k.n)
	case 'w':
		return weekKey(k.n)
	}
	return keyRFM
}

// New returns the state stored as records (Load's input: Changes' output
// applied to a store).
func New(records []KV) (*State, error) {
	s := &State{days: map[int64]*dayRec{}, weeks: map[int64]*weekRec{}}
	for _, r := range records {
		if err := s.load(r); err != nil {
			return nil, fmt.Errorf("retention: record %q: %w", r.Key, err)
		}
	}
	return s, nil
}

func (s *State) load(r KV) error {
	if r.Key == keyHead {
		return json.Unmarshal(r.Value, &s.published)
	}
	if len(r.Value) < 1 {
		return fmt.Errorf("empty")
	}
	f := flags{unpublished: r.Value[0] == 1}
	body := r.Value[1:]
	switch {
	case r.Key == keyRFM:
		s.rfm, s.rfmFlags = &schemas.MetricsRFM{}, f
		return json.Unmarshal(body, s.rfm)
	case strings.HasPrefix(r.Key, "d/"):
		d, err := parseDay(r.Key[2:])
		if err != nil {
			return err
		}
		rec := &dayRec{flags: f}
		s.days[d] = rec
		return json.Unmarshal(body, &rec.MetricsDay)
	case strings.HasPrefix(r.Key, "w/"):
		d, err := parseDay(r.Key[2:])
		if err != nil {
			return err
		}
		rec := &weekRec{flags: f}
		s.weeks[WeekOf(d)] = rec
		return json.Unmarshal(body, &rec.MetricsWeek)
	}
	return fmt.Errorf("unknown key")
}

func parseDay(date string) (int64, error) {
	t, err := time.Parse(time.DateOnly, date)
	if err != nil {
		return 0, err
	}
	return DayOf(t.UnixMilli()), nil
}

func dayKey(d int64) string  { return "d/" + Date(d) }
func weekKey(w int64) string { return "w/" + Date(WeekStart(w)) }

// horizon is the first day whose records are kept (updates to older ones
// are dropped): KeepDays before the last boundary. It moves only at
// boundaries, which every run reaches at the same input record.
func (s *State) horizon() int64 {
	if s.published == 0 {
		return math.MinInt64
	}
	return DayOf(s.published) - KeepDays
}

func (s *State) weekHorizon() int64 {
	if s.published == 0 {
		return math.MinInt64
	}
	return WeekOf(DayOf(s.published)) - KeepWeeks
}

func (s *State) mark(f *flags, key recKey) {
	f.unpublished = true
	s.touch(f, key)
}

// day returns day d's record for an update, nil when d is pruned.
func (s *State) day(d int64) *schemas.MetricsDay {
	if d < s.horizon() {
		return nil
	}
	r := s.days[d]
	if r == nil {
		r = &dayRec{}
		s.days[d] = r
	}
	s.mark(&r.flags, recKey{'d', d})
	return &r.MetricsDay
}

func (s *State) week(w int64) *schemas.MetricsWeek {
	if w < s.weekHorizon() {
		return nil
	}
	r := s.weeks[w]
	if r == nil {
		r = &weekRec{}
		s.weeks[w] = r
	}
	s.mark(&r.flags, recKey{'w', w})
	return &r.MetricsWeek
}

// Event counts one applied event at time t of a user: a, the user's
// Activity, and last, their LastActivity before the event (ignored for
// their first event, first). Only a user's first event of a day changes
// anything, so the usual event costs a few comparisons.
func (s *State) Event(a *Activity, last int64, first bool, t int64) {
	d := DayOf(t)
	if first {
		*a = Activity{Cohort: d}
		if r := s.day(d); r != nil {
			r.New++
		}
	}
	lastDay := d
	if a.Days != 0 {
		lastDay = DayOf(last)
	}
	tc := a.touch(lastDay, d)
	if !tc.isNew {
		return
	}
	if r := s.day(d); r != nil {
		r.Active++
		if k := d - a.Cohort; k >= 1 && k <= schemas.RetainedDays {
			r.RetainedBack[k-1]++
		}
	}
	s.window(d, 7, tc, func(r *schemas.MetricsDay) { r.Active7++ })
	s.window(d, 30, tc, func(r *schemas.MetricsDay) { r.Active30++ })
	if k := WeekOf(d) - WeekOf(a.Cohort); tc.newWeek && k >= 1 && k <= schemas.RetainedWeeks {
		if r := s.week(WeekOf(d)); r != nil {
			r.RetainedBack[k-1]++
		}
	}
}

// window adds the user newly active on d to the n-day windows ending on
// the days that no other active day of theirs covers yet.
func (s *State) window(d, n int64, tc touched, add func(*schemas.MetricsDay)) {
	lo, hi := d, d+n-1
	if tc.hasPrev {
		lo = max(lo, tc.prev+n)
	}
	if tc.hasNext {
		hi = min(hi, tc.next-1)
	}
	for x := lo; x <= hi; x++ {
		if r := s.day(x); r != nil {
			add(r)
		}
	}
}

// flowKeys are the Flows keys, "from>to", by stage.
var flowKeys = func() (k [len(rules.Stages)][len(rules.Stages)]string) {
	for _, f := range rules.Stages {
		for _, t := range rules.Stages {
			k[f][t] = schemas.TransitionTarget(f.String(), t.String())
		}
	}
	return k
}()

// Transition counts a transition at time at.
func (s *State) Transition(from, to rules.Stage, at int64) {
	if r := s.day(DayOf(at)); r != nil {
		if r.Flows == nil {
			r.Flows = map[string]int64{}
		}
		r.Flows[flowKeys[from][to]]++
	}
}

// Warning counts one reason (code) of a churn warning of level at time at.
func (s *State) Warning(level, code string, at int64) {
	r := s.day(DayOf(at))
	if r == nil {
		return
	}
	if r.Warnings == nil {
		r.Warnings = map[string]int64{}
	}
	r.Warnings[level+"/"+code]++
}

// SetRFM replaces the R×F grid (at an RFM rebuild).
func (s *State) SetRFM(g schemas.MetricsRFM) {
	s.rfm = &g
	s.mark(&s.rfmFlags, recKey{kind: 'g'})
}

// Due returns the boundary that stream time t has reached, ok false when
// it is not past the last one published.
func (s *State) Due(t int64) (boundary int64, ok bool) {
	b := floorDiv(t, Interval) * Interval
	return b, b > s.published && b > 0
}

// Publish ends the period up to boundary b: it deletes the records older
// than the horizon (with tombstones for the topic) and returns, in key
// order, every record changed since the last boundary and the stages
// record of stages, for partition p, stamped with the rules in effect. The records are published then: the
// state remembers it in its next Changes.
func (s *State) Publish(p int32, b int64, stages schemas.MetricsStages, stamp *schemas.Rules) ([]Published, error) {
	s.published, s.head = b, true
	at := schemas.FormatTime(b)
	prefix := strconv.Itoa(int(p)) + "/"
	var out []Published
	add := func(key string, m schemas.Metrics) error {
		m.Partition, m.At, m.Rules = p, at, stamp
		m.ID = schemas.OutputID(prefix+key, schemas.KindMetrics, "", b, "")
		v, err := json.Marshal(m)
		out = append(out, Published{Key: prefix + key, ID: m.ID, Value: v})
		return err
	}
	tombstone := func(key string) {
		out = append(out, Published{Key: prefix + key, ID: schemas.OutputID(prefix+key, schemas.KindMetrics, "", b, "")})
	}
	h, wh := s.horizon(), s.weekHorizon()
	for _, d := range slices.Sorted(maps.Keys(s.days)) {
		r := s.days[d]
		switch {
		case d < h:
			delete(s.days, d)
			s.deleted = append(s.deleted, dayKey(d))
			tombstone(schemas.MetricDay + "/" + Date(d))
		case r.unpublished:
			day := r.MetricsDay
			if err := add(schemas.MetricDay+"/"+Date(d), schemas.Metrics{Metric: schemas.MetricDay, Period: Date(d), Day: &day}); err != nil {
				return nil, err
			}
			r.unpublished = false
			s.touch(&r.flags, recKey{'d', d})
		}
	}
	for _, w := range slices.Sorted(maps.Keys(s.weeks)) {
		r := s.weeks[w]
		switch {
		case w < wh:
			delete(s.weeks, w)
			s.deleted = append(s.deleted, weekKey(w))
			tombstone(schemas.MetricWeek + "/" + Date(WeekStart(w)))
		case r.unpublished:
			week := r.MetricsWeek
			if err := add(schemas.MetricWeek+"/"+Date(WeekStart(w)), schemas.Metrics{Metric: schemas.MetricWeek, Period: Date(WeekStart(w)), Week: &week}); err != nil {
				return nil, err
			}
			r.unpublished = false
			s.touch(&r.flags, recKey{'w', w})
		}
	}
	if s.rfm != nil && s.rfmFlags.unpublished {
		g := *s.rfm
		if err := add(schemas.MetricRFM, schemas.Metrics{Metric: schemas.MetricRFM, RFM: &g}); err != nil {
			return nil, err
		}
		s.rfmFlags.unpublished = false
		s.touch(&s.rfmFlags, recKey{kind: 'g'})
	}
	return out, add(schemas.MetricStages, schemas.Metrics{Metric: schemas.MetricStages, Stages: &stages})
}

// touch queues a record whose flags changed for the next Changes.
func (s *State) touch(f *flags, key recKey) {
	if !f.changed {
		f.changed = true
		s.changed = append(s.changed, key)
	}
}

// Changes returns the records changed since the last call, in their
// stored form (a one-byte published flag, then JSON), for the commit and
// the changelog; a nil Value deletes a pruned record.
func (s *State) Changes(dst []KV) ([]KV, error) {
	for _, k := range s.deleted {
		dst = append(dst, KV{Key: k})
	}
	s.deleted = s.deleted[:0]
	for _, k := range s.changed {
		var f *flags
		var body any
		switch k.kind {
		case 'g':
			f, body = &s.rfmFlags, s.rfm
		case 'd':
			r := s.days[k.n]
			if r == nil { // pruned after it changed
				continue
			}
			f, body = &r.flags, &r.MetricsDay
		default:
			r := s.weeks[k.n]
			if r == nil {
				continue
			}
			f, body = &r.flags, &r.MetricsWeek
		}
		v, err := json.Marshal(body)
		if err != nil {
			return dst, err
		}
		flag := byte(0)
		if f.unpublished {
			flag = 1
		}
		dst = append(dst, KV{Key: k.String(), Value: append([]byte{flag}, v...)})
		f.changed = false
	}
	s.changed = s.changed[:0]
	if s.head {
		v, _ := json.Marshal(s.published)
		dst = append(dst, KV{Key: keyHead, Value: v})
		s.head = false
	}
	return dst, nil
}
