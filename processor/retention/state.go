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
	storedDay
}

// storedDay is a day record as stored: its counts, and how many users the
// 7- and 30-day windows gain (less lose) on it. A user newly active on d
// enters the windows ending on d… and leaves them after; counting the
// entries and exits, not every window, touches two records per window
// instead of up to thirty. WAU and MAU are their running sums, computed
// when the day is published.
type storedDay struct {
	schemas.MetricsDay
	Delta7  int64 `json:"delta_7d"`
	Delta30 int64 `json:"delta_30d"`
}

// head is the state's own record: the last boundary, and the deltas of
// the days pruned before it (the running sums start there).
type head struct {
	Published int64 `json:"published"`
	Base7     int64 `json:"base_7d"`
	Base30    int64 `json:"base_30d"`
	// WindowsFrom is windowsFrom as stored (nil: none), so that a restart
	// between two boundaries still republishes the days whose WAU and MAU
	// changed before it. A pointer, so that day 0 (1970-01-01, where a ts
	// of 0 lands) is told from none: as a plain number, 0 meant none, and
	// a restart lost the days from there (FuzzHostileHistories found it).
	WindowsFrom *int64 `json:"windows_from,omitempty"`
}

type weekRec struct {
	flags
	schemas.MetricsWeek
}

// State is one partition's retention metrics. The engine's goroutine owns it.
type State struct {
	days     map[int64]*dayRec
	weeks    map[int64]*weekRec
	rfm      *schemas.MetricsRFM
	rfmFlags flags
	head
	headChanged bool // since the last Changes
	// windowsFrom is the first day whose WAU and MAU changed since the
	// last boundary (MaxInt64: none).
	windowsFrom int64
	deleted     []string
	changed     []recKey // the records changed since the last Changes, in the order they changed
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
	s := &State{days: map[int64]*dayRec{}, weeks: map[int64]*weekRec{}, windowsFrom: math.MaxInt64}
	for _, r := range records {
		if err := s.load(r); err != nil {
			return nil, fmt.Errorf("retention: record %q: %w", r.Key, err)
		}
	}
	return s, nil
}

func (s *State) load(r KV) error {
	if r.Key == keyHead {
		if err := json.Unmarshal(r.Value, &s.head); err != nil {
			return err
		}
		if s.WindowsFrom != nil {
			s.windowsFrom = *s.WindowsFrom
		}
		return nil
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
		return json.Unmarshal(body, &rec.storedDay)
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

// parseDay reads a day key's date (Date). Go writes a year after 9999
// with more digits ("10000-01-30"), which time.Parse does not read back:
// such days exist where stream time passes the last instant the decoder
// accepts (an event at 9999-12-31, then the timers after it), and a
// partition whose stored state could not be read would not start again.
func parseDay(date string) (int64, error) {
	t, err := time.Parse(time.DateOnly, date)
	if err != nil {
		i := len(date) - len("-01-02")
		if i <= 4 {
			return 0, err
		}
		y, yerr := strconv.Atoi(date[:i])
		md, mderr := time.Parse(time.DateOnly, "2000"+date[i:]) // a leap year: every month and day
		if yerr != nil || mderr != nil || y <= 9999 {
			return 0, err
		}
		t = time.Date(y, md.Month(), md.Day(), 0, 0, 0, 0, time.UTC)
	}
	return DayOf(t.UnixMilli()), nil
}

func dayKey(d int64) string  { return "d/" + Date(d) }
func weekKey(w int64) string { return "w/" + Date(WeekStart(w)) }

// horizon is the first day whose records are kept (updates to older ones
// are dropped): KeepDays before the last boundary. It moves only at
// boundaries, which every run reaches at the same input record.
func (s *State) horizon() int64 {
	if s.Published == 0 {
		return math.MinInt64
	}
	return DayOf(s.Published) - KeepDays
}

func (s *State) weekHorizon() int64 {
	if s.Published == 0 {
		return math.MinInt64
	}
	return WeekOf(DayOf(s.Published)) - KeepWeeks
}

func (s *State) mark(f *flags, key recKey) {
	f.unpublished = true
	s.touch(f, key)
}

// day returns day d's record for an update, nil when d is pruned.
func (s *State) day(d int64) *storedDay {
	if d < s.horizon() {
		return nil
	}
	r := s.days[d]
	if r == nil {
		r = &dayRec{}
		s.days[d] = r
	}
	s.mark(&r.flags, recKey{'d', d})
	return &r.storedDay
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
	s.window(d, 7, tc, &s.Base7, func(r *storedDay) *int64 { return &r.Delta7 })
	s.window(d, 30, tc, &s.Base30, func(r *storedDay) *int64 { return &r.Delta30 })
	if k := WeekOf(d) - WeekOf(a.Cohort); tc.newWeek && k >= 1 && k <= schemas.RetainedWeeks {
		if r := s.week(WeekOf(d)); r != nil {
			r.RetainedBack[k-1]++
		}
	}
}

// window adds the user newly active on d to the n-day windows ending on
// the days that no other active day of theirs covers yet, [lo, hi]: one
// entry on lo, one exit on hi+1 (delta: the day's field). A day before the
// horizon counts in base.
func (s *State) window(d, n int64, tc touched, base *int64, delta func(*storedDay) *int64) {
	lo, hi := d, d+n-1
	if tc.hasPrev {
		lo = max(lo, tc.prev+n)
	}
	if tc.hasNext {
		hi = min(hi, tc.next-1)
	}
	if lo > hi {
		return
	}
	for _, c := range [2]struct{ day, by int64 }{{lo, 1}, {hi + 1, -1}} {
		if r := s.day(c.day); r != nil {
			*delta(r) += c.by
		} else {
			*base += c.by
			s.headChanged = true
		}
	}
	if lo < s.windowsFrom {
		from := lo
		s.windowsFrom, s.WindowsFrom, s.headChanged = lo, &from, true
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
	return b, b > s.Published && b > 0
}

// Publish ends the period up to boundary b: it deletes the records older
// than the horizon (with tombstones for the topic) and returns, in key
// order, every record of a day before b or of a week that changed since
// the last boundary, the days whose WAU or MAU moved, the days that ended
// since then (a quiet day has a WAU too), and the stages record of
// stages, for partition p, stamped with the rules in effect. The records
// are published then: the state remembers it in its next Changes. Days
// from b on (the windows counted ahead) wait for their own boundary.
func (s *State) Publish(p int32, b int64, stages schemas.MetricsStages, stamp *schemas.Rules) ([]Published, error) {
	// The first day that ended since the last boundary (at the first, the
	// first day there is).
	from := int64(math.MaxInt64)
	if s.Published != 0 {
		from = DayOf(s.Published-1) + 1
	} else {
		for d := range s.days {
			from = min(from, d)
		}
	}
	s.Published, s.headChanged = b, true
	last := DayOf(b - 1)
	for x := max(min(from, s.windowsFrom), s.horizon()); x <= last; x++ {
		s.day(x)
	}
	s.windowsFrom, s.WindowsFrom = math.MaxInt64, nil
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
	days := slices.Sorted(maps.Keys(s.days))
	for _, d := range days {
		if r := s.days[d]; d < h {
			s.Base7 += r.Delta7
			s.Base30 += r.Delta30
			delete(s.days, d)
			s.deleted = append(s.deleted, dayKey(d))
			tombstone(schemas.MetricDay + "/" + Date(d))
		}
	}
	run7, run30 := s.Base7, s.Base30
	for _, d := range days {
		r := s.days[d]
		if r == nil {
			continue
		}
		run7 += r.Delta7
		run30 += r.Delta30
		if d <= last && r.unpublished {
			r.Active7, r.Active30 = run7, run30
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
			f, body = &r.flags, &r.storedDay
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
	if s.headChanged {
		v, _ := json.Marshal(s.head)
		dst = append(dst, KV{Key: keyHead, Value: v})
		s.headChanged = false
	}
	return dst, nil
}
