package warnings

import (
	"fmt"
	"math"
	"time"

	"github.com/lifecycle-engine/lifecycle/processor/rules"
	"github.com/lifecycle-engine/lifecycle/schemas"
)

// Level is how urgent a warning is. The numbers are stored on disk (in
// State.LastLevel): append, never renumber.
type Level uint8

// The levels. Watch, AtRisk and Critical rise with the evidence; Recovered
// closes the warnings that were open when the user became active again.
const (
	Watch     Level = iota + 1 // first signs: half the churn threshold silent, a falling week
	AtRisk                     // 70 % of the threshold silent, a valuable user going quiet, a low P(alive)
	Critical                   // 85 % of the threshold silent: last chance before churn
	Recovered                  // active again before churning; carries the reasons that were open
)

var levelNames = [...]string{"none", "watch", "at_risk", "critical", "recovered"}

// String returns the wire name: "watch", "at_risk", "critical", "recovered".
func (l Level) String() string {
	if int(l) < len(levelNames) {
		return levelNames[l]
	}
	return "invalid"
}

// ParseLevel maps a wire name to its Level.
func ParseLevel(s string) (Level, bool) {
	for i, n := range levelNames[1:] {
		if n == s {
			return Level(i + 1), true
		}
	}
	return 0, false
}

// The reason codes. Their index in Codes is their bit in State.Open and
// their slot in State.LastAt: append, never reorder.
const (
	CodeInactive         = "inactive"          // days since the last activity vs the churn threshold
	CodeFallingVisits    = "falling_visits"    // a complete period's visits far below the user's baseline
	CodeFallingPurchases = "falling_purchases" // … purchases …
	CodeFallingSpend     = "falling_spend"     // … spend …
	CodeValuableQuiet    = "valuable_quiet"    // segment important keep / important retain, and quiet
	CodeLowPAlive        = "low_p_alive"       // the prediction model's P(alive) below PAliveBelow
)

// Codes lists every reason code in storage order.
var Codes = [NumReasons]string{CodeInactive, CodeFallingVisits, CodeFallingPurchases, CodeFallingSpend, CodeValuableQuiet, CodeLowPAlive}

// NumReasons is the number of reason codes.
const NumReasons = 6

const (
	rInactive = iota
	rFallingVisits
	rFallingPurchases
	rFallingSpend
	rValuableQuiet
	rLowPAlive
)

// activityResolves are the reasons that new activity resolves: the user is
// no longer quiet. Falling reasons are resolved by a period that is no
// longer falling.
const activityResolves = 1<<rInactive | 1<<rValuableQuiet | 1<<rLowPAlive

// Reason is one signal behind a warning, in the domain's words.
type Reason struct {
	Code      string  // one of Codes
	Detail    string  // for people: what was seen
	Value     float64 // the measured value (days silent, visits in the period, P(alive), …)
	Threshold float64 // what it was compared with
}

// Warning is one churn warning (or a Recovered record) for one user.
type Warning struct {
	Level Level
	// At is event time (Unix ms): the due time for timer warnings
	// (LastActivity + fraction × ChurnAfter, the end of an activity period),
	// the event's time for Recovered on activity. Never the firing time.
	At int64
	// Score is how likely the user is to churn, 0..1: the noisy-OR
	// 1 − Π(1 − p_r) over the warning's reasons, where p_r is the share of
	// warnings with that reason (and level) that were followed by a true
	// dropout on the reference simulation (see doc.go, reasonScore), and
	// 1 − P(alive) for low_p_alive. 0 for Recovered.
	Score   float64
	Reasons []Reason
	Trigger string // id of the event that caused it; "" for timers
}

// Codes returns the warning's reason codes joined by "+", as the runtime
// uses them in ids.
func (w Warning) Codes() string {
	s := ""
	for i, r := range w.Reasons {
		if i > 0 {
			s += "+"
		}
		s += r.Code
	}
	return s
}

// Context is what the runtime knows about the user besides State, at the
// moment of the call.
type Context struct {
	Stage rules.Stage // the stage after the event or timer; None: no warnings
	// LastActivity (Unix ms) from the stage model. Only used to start the
	// State of a user who existed before warnings were enabled (a zero State
	// of a user with a stage); afterwards State keeps its own copy, so the
	// order of the stage model's and the warnings' calls does not matter.
	LastActivity int64
	Segment      string  // RFM segment name, "" if unknown ("important keep", …)
	PAlive       float64 // from the prediction model; < 0 when there is no model or no purchase
	// PAliveAt, when set, is used instead of PAlive: P(alive) at the
	// moment of a check (< 0 for none). The runtime passes it so that a
	// timer fired late computes the same number as one fired on time.
	PAliveAt func(at int64) float64
}

// Segments whose users are valuable: high frequency and high monetary value,
// or high monetary value (domain.md, RFM).
const (
	SegmentImportantKeep   = "important keep"
	SegmentImportantRetain = "important retain"
)

// State is what the warnings remember about one user. Fixed size, integer
// fields only, so the runtime can store it as varints next to rules.User
// (AppendBinary, DecodeState). The zero State is a user not seen yet.
type State struct {
	// LastActivity is the latest event time applied (Unix ms).
	LastActivity int64
	// ChurnedAt is LastActivity + ChurnAfter once stream time has passed it
	// (the user churned, as the stage model says); 0 while the user is
	// active. Warnings stop; the next event at or after it is a return.
	ChurnedAt int64
	// PeriodStart is the start of the open activity period (Unix ms); 0
	// before the first event and after a churn. Periods last Config.Week and
	// start at the user's first event (again at a return).
	PeriodStart int64
	// Periods counts the complete periods folded into the baselines
	// (saturates at 2^32−1).
	Periods uint32
	// Visits and Purchases count the logins and purchases in the open
	// period; Spend sums its purchase amounts (micros).
	Visits, Purchases uint32
	Spend             int64
	// BaseVisits and BasePurchases are the baselines, in thousandths per
	// period; BaseSpend in micros per period. Each is an exponentially
	// weighted average of the complete periods (weight 1/4 for the newest;
	// the first period sets it), computed in integers.
	BaseVisits, BasePurchases, BaseSpend int64
	// Fired is how many inactivity levels (0..3) have come due in the
	// current quiet spell (since LastActivity).
	Fired uint8
	// Open is a bit set of the reasons warned and not recovered since
	// (bit i = Codes[i]); OpenAt is the At of the latest warning that
	// opened one.
	Open   uint8
	OpenAt int64
	// LastAt and LastLevel are, per reason (index in Codes), the At and
	// level of its latest warning, for the cool-down; LastAt 0 = never.
	LastAt    [NumReasons]int64
	LastLevel [NumReasons]uint8
}

// OnEvent applies one event of the user (one that the stage model applied:
// not a re-sent duplicate) and appends the warnings it causes: Recovered
// when the user had open warnings and is active again before churning, and
// falling_* warnings of periods the event completes. ctx is the context after
// the event. Timers of the user due before ev.Time fire first, so calling
// Advance(streamTime) before is allowed but not required.
func (c Config) OnEvent(dst []Warning, s *State, ev schemas.Event, ctx Context) []Warning {
	if ctx.Stage == rules.None {
		return dst
	}
	dst = c.advance(dst, s, ctx, ev.Time)
	if s.ChurnedAt != 0 {
		if ev.Time < s.ChurnedAt {
			// Activity from before the churn, arriving late: the stage model
			// counts it without a return; so do the warnings.
			s.LastActivity = max(s.LastActivity, ev.Time)
			return dst
		}
		// A return: the stage model reports it ("returned"); the warnings
		// start afresh, keeping only the cool-down memory.
		*s = State{LastAt: s.LastAt, LastLevel: s.LastLevel}
	}
	if s.PeriodStart == 0 {
		s.PeriodStart = ev.Time
	}
	for week := c.weekMs(); s.PeriodStart+week <= ev.Time; {
		dst = c.closePeriod(dst, s, ctx, false)
	}
	if ev.Time > s.LastActivity || s.LastActivity == 0 {
		if open := s.Open & activityResolves; open != 0 && ev.Time >= s.OpenAt {
			days := float64(ev.Time-s.LastActivity) / float64(rules.Day)
			var rs []Reason
			for i := range NumReasons {
				if open&(1<<i) != 0 {
					rs = append(rs, Reason{Code: Codes[i], Value: round2(days), Threshold: float64(c.churnMs()) / float64(rules.Day),
						Detail: fmt.Sprintf("active again (%s) after %s days without activity", ev.Type, fmtDays(days))})
				}
			}
			s.Open &^= open
			dst = append(dst, Warning{Level: Recovered, At: ev.Time, Reasons: rs, Trigger: ev.ID})
		}
		s.LastActivity = ev.Time
		s.Fired = 0
	}
	if ev.Time >= s.PeriodStart {
		switch ev.Type {
		case schemas.Login:
			s.Visits = satInc(s.Visits)
		case schemas.Purchase:
			s.Purchases = satInc(s.Purchases)
			s.Spend = schemas.AddSat(s.Spend, int64(ev.Amount))
		}
	}
	return dst
}

// Advance fires the user's warnings that are due before streamTime, oldest
// first, and appends them to dst: the inactivity levels (At = LastActivity +
// fraction × ChurnAfter) and the ends of activity periods (falling_*,
// At = the period's end), each with valuable_quiet and low_p_alive when ctx
// says so. A due time equal to streamTime has not passed: activity exactly
// then is in time. Nothing is due at or after the user's churn
// (LastActivity + ChurnAfter); once stream time passes it the user is
// churned and gets no more warnings until a return.
func (c Config) Advance(dst []Warning, s *State, ctx Context, streamTime int64) []Warning {
	if ctx.Stage == rules.None {
		return dst
	}
	return c.advance(dst, s, ctx, streamTime)
}

// Wake is the event time of the user's next due warning check, 0 for none:
// the runtime indexes users by it, like the stage timers, and calls Advance
// once stream time has passed it. The due time of the churn itself is
// included (it ends the warnings), so the runtime may stop tracking the
// user after it.
func (c Config) Wake(s *State, ctx Context) int64 {
	if ctx.Stage == rules.None {
		return 0
	}
	st := *s // Wake does not change the state
	c.bootstrap(&st, ctx)
	if st.ChurnedAt != 0 || st.PeriodStart == 0 {
		return 0
	}
	due, _ := c.nextDue(&st)
	return min(due, st.LastActivity+c.churnMs())
}

// maxSkipped bounds the period ends LazyWake looks past, and so its cost.
const maxSkipped = 32

// LazyWake is Wake without the period ends at which Advance would warn
// nothing given ctx (a quiet user with no baseline to fall from, say): the
// runtime indexes users by it and the skipped checks fold into the next
// one that matters, with the same result, since checks are functions of the
// state and their due time whenever they fire. That holds while ctx stays
// as it is; the runtime fires a user's timers before anything in ctx
// changes (an event, a new RFM segment) and calls LazyWake again after.
func (c Config) LazyWake(s *State, ctx Context) int64 {
	if ctx.Stage == rules.None {
		return 0
	}
	st := *s // the dry run works on a copy
	c.bootstrap(&st, ctx)
	if st.ChurnedAt != 0 || st.PeriodStart == 0 {
		return 0
	}
	churnAt := st.LastActivity + c.churnMs()
	var due int64
	var buf [2]Warning
	for range maxSkipped {
		d, inactive := c.nextDue(&st)
		if inactive || d >= churnAt {
			return min(d, churnAt)
		}
		if len(c.closePeriod(buf[:0], &st, ctx, true)) > 0 {
			return d
		}
		due = d
	}
	return due
}

// bootstrap starts the State of a user the stage model knew before the
// warnings did.
func (c Config) bootstrap(s *State, ctx Context) {
	if s.PeriodStart == 0 && s.LastActivity == 0 && s.ChurnedAt == 0 && ctx.LastActivity != 0 && ctx.Stage != rules.Churned {
		s.LastActivity = ctx.LastActivity
		s.PeriodStart = ctx.LastActivity
	}
}

// nextDue is the earliest pending check: the next inactivity level, or the
// end of the open period. inactive says which; at a tie the inactivity
// level comes first.
func (c Config) nextDue(s *State) (due int64, inactive bool) {
	pEnd := s.PeriodStart + c.weekMs()
	if s.Fired < 3 {
		if d := s.LastActivity + c.dueAfter(int(s.Fired)); d <= pEnd {
			return d, true
		}
	}
	return pEnd, false
}

func (c Config) advance(dst []Warning, s *State, ctx Context, t int64) []Warning {
	c.bootstrap(s, ctx)
	if s.ChurnedAt != 0 || s.PeriodStart == 0 {
		return dst
	}
	churnAt := s.LastActivity + c.churnMs()
	for {
		due, inactive := c.nextDue(s)
		if due >= t || due >= churnAt {
			break
		}
		if !inactive {
			dst = c.closePeriod(dst, s, ctx, false)
			continue
		}
		lvl := Level(s.Fired + 1)
		s.Fired++
		days := float64(due-s.LastActivity) / float64(rules.Day)
		churnDays := float64(c.churnMs()) / float64(rules.Day)
		rs := []candidate{{level: lvl, idx: rInactive, v: days, Reason: Reason{Code: CodeInactive, Value: round2(days), Threshold: churnDays}}}
		dst = c.emit(dst, s, c.extras(rs, s, ctx, due), due, false)
	}
	if churnAt < t {
		// Churned: the warnings end; open ones are not recovered (the stage
		// model's "returned" covers a comeback).
		*s = State{LastActivity: s.LastActivity, ChurnedAt: churnAt, LastAt: s.LastAt, LastLevel: s.LastLevel}
	}
	return dst
}

// candidate is a reason found at a check, before the cool-down. Its Detail
// is written when the reason is emitted (describe), not when it is found:
// LazyWake dry-runs the checks of a user at every change, and formatting
// texts nobody reads was most of that cost.
type candidate struct {
	level Level
	idx   int
	Reason
	v, base float64 // the unrounded figures the Detail gives
	segment string  // valuable_quiet: the user's segment
}

// describe writes the Detail of a reason found at a check at at.
func describe(r candidate, at int64) string {
	switch r.idx {
	case rInactive:
		return fmt.Sprintf("no activity for %s days; churned after %s", fmtDays(r.v), fmtDays(r.Threshold))
	case rValuableQuiet:
		return fmt.Sprintf("%s user without activity for %s days", r.segment, fmtDays(r.v))
	case rLowPAlive:
		return fmt.Sprintf("P(alive) %.2f below %.2f", r.Value, r.Threshold)
	}
	unit := fallingUnit(r.idx)
	return fmt.Sprintf("%s %s in the period to %s; usually %s", fmtNum(r.v, unit), fallingWhat(r.idx), fmtDate(at), fmtNum(r.base, unit))
}

// fallingWhat names what a falling_* reason counts.
func fallingWhat(idx int) string {
	switch idx {
	case rFallingVisits:
		return "visits"
	case rFallingPurchases:
		return "purchases"
	}
	return "spent"
}

// fallingUnit is the unit fmtNum formats a falling_* figure in.
func fallingUnit(idx int) float64 {
	if idx == rFallingSpend {
		return 100
	}
	return 1
}

// extras adds valuable_quiet and low_p_alive to the reasons of a check at at.
func (c Config) extras(rs []candidate, s *State, ctx Context, at int64) []candidate {
	quiet := at - s.LastActivity
	if (ctx.Segment == SegmentImportantKeep || ctx.Segment == SegmentImportantRetain) && quiet >= int64(c.QuietAfter/time.Millisecond) {
		days := float64(quiet) / float64(rules.Day)
		rs = append(rs, candidate{level: AtRisk, idx: rValuableQuiet, v: days, segment: ctx.Segment,
			Reason: Reason{Code: CodeValuableQuiet, Value: round2(days), Threshold: c.QuietAfter.Hours() / 24}})
	}
	pAlive := ctx.PAlive
	if ctx.PAliveAt != nil {
		pAlive = ctx.PAliveAt(at)
	}
	if pAlive >= 0 && pAlive < c.PAliveBelow {
		rs = append(rs, candidate{level: AtRisk, idx: rLowPAlive, Reason: Reason{Code: CodeLowPAlive, Value: pAlive, Threshold: c.PAliveBelow}})
	}
	return rs
}

// emit appends one warning with the candidates that the cool-down lets
// through; nothing when none does. A dry run leaves the Details empty.
func (c Config) emit(dst []Warning, s *State, rs []candidate, at int64, dry bool) []Warning {
	cool := int64(c.Cooldown / time.Millisecond)
	w := Warning{At: at}
	keep := 1.0
	for _, r := range rs {
		if last := s.LastAt[r.idx]; last != 0 && at-last < cool && uint8(r.level) <= s.LastLevel[r.idx] {
			continue // cooling down, and not an escalation
		}
		s.LastAt[r.idx], s.LastLevel[r.idx] = at, uint8(r.level)
		s.Open |= 1 << r.idx
		w.Level = max(w.Level, r.level)
		if !dry {
			r.Detail = describe(r, at)
		}
		w.Reasons = append(w.Reasons, r.Reason)
		p := reasonScore(r.idx, r.level)
		if r.idx == rLowPAlive {
			p = 1 - r.Value
		}
		keep *= 1 - p
	}
	if len(w.Reasons) == 0 {
		return dst
	}
	s.OpenAt = at
	w.Score = round2(1 - keep)
	return append(dst, w)
}

// closePeriod completes the open period: compares it with the baselines
// (falling_* warnings, or Recovered for falling reasons that are no longer
// so), folds it into them and opens the next one. A dry run (LazyWake) only
// needs to know whether it warns, and leaves the Details empty.
func (c Config) closePeriod(dst []Warning, s *State, ctx Context, dry bool) []Warning {
	end := s.PeriodStart + c.weekMs()
	var rs []candidate
	var healed []Reason
	// Once an inactivity level has come due in this quiet spell, the
	// inactivity warnings speak for the user: an empty week adds nothing.
	if s.Periods >= uint32(c.WarmupPeriods) && s.Fired == 0 {
		check := func(idx int, v, base float64, enough bool) {
			if !enough {
				return
			}
			lim := c.FallingRatio * base
			if v < lim {
				rs = append(rs, candidate{level: Watch, idx: idx, v: v, base: base, Reason: Reason{Code: Codes[idx], Value: round2(v), Threshold: round2(lim)}})
			} else if s.Open&(1<<idx) != 0 {
				r := Reason{Code: Codes[idx], Value: round2(v), Threshold: round2(lim)}
				if !dry {
					unit := fallingUnit(idx)
					r.Detail = fmt.Sprintf("%s back to %s in the period to %s; usually %s", fallingWhat(idx), fmtNum(v, unit), fmtDate(end), fmtNum(base, unit))
				}
				healed = append(healed, r)
				s.Open &^= 1 << idx
			}
		}
		bv := float64(s.BaseVisits) / 1000
		bp := float64(s.BasePurchases) / 1000
		bs := float64(s.BaseSpend) / schemas.MicrosPerUnit
		check(rFallingVisits, float64(s.Visits), bv, bv >= c.MinBaseline)
		check(rFallingPurchases, float64(s.Purchases), bp, bp >= c.MinBasePurchases)
		check(rFallingSpend, float64(s.Spend)/schemas.MicrosPerUnit, bs, bp >= c.MinBasePurchases && bs > 0)
	}
	// (3·base + x + 2) / 4, written so that no step can overflow for the
	// non-negative values it gets: the shift is the floor division, equal
	// to the truncating one for these operands.
	ewma := func(base, x int64) int64 {
		if s.Periods == 0 {
			return x
		}
		return base + schemas.AddSat(x-base, 2)>>2
	}
	s.BaseVisits = ewma(s.BaseVisits, int64(s.Visits)*1000)
	s.BasePurchases = ewma(s.BasePurchases, int64(s.Purchases)*1000)
	s.BaseSpend = ewma(s.BaseSpend, s.Spend)
	s.Periods = satInc(s.Periods)
	s.PeriodStart = end
	s.Visits, s.Purchases, s.Spend = 0, 0, 0
	if len(healed) > 0 {
		dst = append(dst, Warning{Level: Recovered, At: end, Reasons: healed})
	}
	return c.emit(dst, s, c.extras(rs, s, ctx, end), end, dry)
}

// reasonScore is the share of warnings with this reason that were followed
// by a true dropout (the precision of the rule) on the reference simulation,
// `lifecycle evaluate --users 5000 --days 180 --seed 1` with the default
// Config. For inactive (0.74 over all levels) it is spread over the levels
// by hand, rising with the time silent. low_p_alive uses 1 − P(alive).
func reasonScore(idx int, l Level) float64 {
	switch idx {
	case rInactive:
		switch l {
		case Watch:
			return 0.55
		case AtRisk:
			return 0.65
		default:
			return 0.75
		}
	case rFallingVisits:
		return 0.47
	case rFallingPurchases:
		return 0.42
	case rFallingSpend:
		return 0.43
	case rValuableQuiet:
		return 0.62
	}
	return 0
}

func satInc(n uint32) uint32 {
	if n == math.MaxUint32 {
		return n
	}
	return n + 1
}

func round2(f float64) float64 { return math.Round(f*100) / 100 }

func fmtDays(d float64) string { return trimFloat(round2(d)) }

func fmtNum(v, unit float64) string {
	if unit == 100 {
		return fmt.Sprintf("%.2f", v)
	}
	return trimFloat(math.Round(v*10) / 10)
}

func trimFloat(f float64) string { return fmt.Sprint(f) }

func fmtDate(ms int64) string { return time.UnixMilli(ms).UTC().Format("2006-01-02 15:04") }
