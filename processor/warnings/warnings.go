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

// The levels. Watch, AtRisk and Critical rise with the risk; Recovered
// closes the warnings that were open when the user became active again.
const (
	Watch     Level = iota + 1 // the risk reached Config.Risk[0]: the silence is long for this user
	AtRisk                     // the risk reached Risk[1]
	Critical                   // the risk reached Risk[2]: most users this quiet have left
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
	CodeInactive      = "inactive"       // a silence long for this user's rhythm: the risk of rhythm.go
	CodeValuableQuiet = "valuable_quiet" // segment important keep / important retain, and quiet
	CodeLowPAlive     = "low_p_alive"    // the prediction model's P(alive) below PAliveBelow
	// Retired: a week's visits, purchases or spend far below the user's own
	// baseline. On both population families they warned at lower precision
	// than inactivity and added no recall (see doc.go); they are no longer
	// raised, and their slots stay so that stored states keep their layout.
	CodeFallingVisits    = "falling_visits"
	CodeFallingPurchases = "falling_purchases"
	CodeFallingSpend     = "falling_spend"
)

// Codes lists every reason code in storage order, retired ones included.
var Codes = [NumReasons]string{CodeInactive, CodeFallingVisits, CodeFallingPurchases, CodeFallingSpend, CodeValuableQuiet, CodeLowPAlive}

// NumReasons is the number of reason codes.
const NumReasons = 6

const (
	rInactive      = 0
	rValuableQuiet = 4
	rLowPAlive     = 5
)

// Raised are the reason codes that warnings can carry, in storage order.
var Raised = []string{CodeInactive, CodeValuableQuiet, CodeLowPAlive}

// raisedMask has the bits of the Raised reasons; activity resolves them.
const raisedMask = 1<<rInactive | 1<<rValuableQuiet | 1<<rLowPAlive

// Reason is one signal behind a warning, in the domain's words.
type Reason struct {
	Code      string  // one of Raised
	Detail    string  // for people: what was seen
	Value     float64 // the measured value (days silent, P(alive), …)
	Threshold float64 // what it was compared with
}

// Warning is one churn warning (or a Recovered record) for one user.
type Warning struct {
	Level Level
	// At is event time (Unix ms): the due time of the level (the last
	// activity + the silence at which the risk reaches it), the event's
	// time for Recovered. Never the firing time.
	At int64
	// Score is the probability that the user has left and will not come
	// back, 0..1: the share of the partition's warnings of this level whose
	// silence ended in a departure, once known (outcomes.go); the risk at
	// At (rhythm.go) until then. 0 for Recovered.
	Score float64
	// ChurnAt is when the stage model will declare the churn if the
	// silence goes on (Unix ms); 0 for Recovered.
	ChurnAt int64
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
	// Fired is how many levels (0..3) have come due in the current silence
	// (since LastActivity).
	Fired uint8
	// Warned is a bit set of the levels whose warning went out in the
	// current silence (bit l-1 for level l; a level held back by the
	// cool-down has none): the silences a level's Score is counted over,
	// so that it is the share of that level's warnings that were
	// departures (outcomes.go).
	Warned uint8
	// Open is a bit set of the reasons warned and not recovered since
	// (bit i = Codes[i]); OpenAt is the At of the latest warning that
	// opened one.
	Open   uint8
	OpenAt int64
	// LastAt and LastLevel are, per reason (index in Codes), the At and
	// level of its latest warning, for the cool-down; LastAt 0 = never.
	LastAt    [NumReasons]int64
	LastLevel [NumReasons]uint8
	// Gaps counts the visit gaps seen (saturating); GapLog and GapVar are
	// the weighted mean and variance of their ln(hours), in thousandths
	// (rhythm.go). First is the user's first activity: their tenure. All
	// four outlive a churn: a returning user keeps their rhythm.
	Gaps           uint32
	GapLog, GapVar int64
	First          int64
	// ChurnBin is, while churned, 1 + the risk bin (outcomes.go) the
	// departure was counted in, so that a return takes back exactly that
	// count whatever the partition learned since; 0: not known (a state
	// stored before it), the bin is computed again.
	ChurnBin uint8
	// Bought is whether the latest visit (activities less than MinGap
	// apart) had a purchase: the kind of visit the silence began with,
	// which the partition's outcomes may find likelier to be the last.
	Bought bool
}

// visitKind is the index of the kind of the latest visit in the outcomes'
// counts: 1 with a purchase, 0 without.
func (s *State) visitKind() int {
	if s.Bought {
		return 1
	}
	return 0
}

// afterChurn is what a State keeps across a churn: the cool-down memory,
// the rhythm and the kind of the last visit (a return's outcome is counted
// by it).
func (s *State) afterChurn() State {
	return State{LastAt: s.LastAt, LastLevel: s.LastLevel, Gaps: s.Gaps, GapLog: s.GapLog, GapVar: s.GapVar, First: s.First, Bought: s.Bought}
}

// OnEvent applies one event of the user (one that the stage model applied:
// not a re-sent duplicate) and appends the warnings it causes: Recovered
// when the user had open warnings and is active again before churning.
// ctx is the context after the event. Timers of the user due before ev.Time
// fire first, so calling Advance(streamTime) before is allowed but not
// required.
func (c Config) OnEvent(dst []Warning, s *State, ev schemas.Event, ctx Context) []Warning {
	if ctx.Stage == rules.None {
		return dst
	}
	dst = c.advance(dst, s, ctx, ev.Time)
	returned := false // from a churn, whose silence the outcomes counted then
	if s.ChurnedAt != 0 {
		if ev.Time < s.ChurnedAt {
			// Activity from before the churn, arriving late: the stage model
			// counts it without a return; so do the warnings.
			s.LastActivity = max(s.LastActivity, ev.Time)
			return dst
		}
		// A return: the stage model reports it ("returned"); the warnings
		// start afresh with the rhythm and the cool-down memory, and the
		// long gap joins the rhythm: this user lapses. The churn was not
		// a departure after all.
		if c.Outcomes != nil {
			b := int(s.ChurnBin) - 1
			if b < 0 {
				b = bin(c.departureRisk(s))
			}
			c.Outcomes.undepart(s.ChurnedAt, b, c.silence(s), ev.Time)
			if s.Gaps == 0 {
				c.Outcomes.first.undepart(c.counted(s.LastActivity, ev.Time))
			}
		}
		last := s.LastActivity
		*s = s.afterChurn()
		s.LastActivity = last
		returned = true
	}
	if s.First == 0 {
		s.First = ev.Time
	}
	bought := ev.Type == schemas.Purchase
	if ev.Time <= s.LastActivity && s.LastActivity != 0 {
		// Late or simultaneous: not a new visit, the silence goes on; a
		// purchase in the latest visit still makes it a buying one.
		if ev.Time > s.LastActivity-int64(c.MinGap/time.Millisecond) {
			s.Bought = s.Bought || bought
		}
		return dst
	}
	if open := s.Open & raisedMask; open != 0 && ev.Time >= s.OpenAt {
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
	newVisit := true
	if s.LastActivity != 0 {
		newVisit = ev.Time-s.LastActivity >= int64(c.MinGap/time.Millisecond)
		gap := c.counted(s.LastActivity, ev.Time) // the rhythm's, without breaks
		if c.Outcomes != nil && newVisit && !returned {
			// The silence's chance as the model saw it: before its gap joins the rhythm.
			c.Outcomes.stay(ev.Time, c.silence(s))
			if s.Gaps == 0 {
				c.Outcomes.first.returnAfter(gap)
			}
		}
		c.observeGap(s, gap)
	}
	if newVisit {
		s.Bought = bought
	} else {
		s.Bought = s.Bought || bought
	}
	s.LastActivity = ev.Time
	s.Fired, s.Warned = 0, 0
	return dst
}

// Advance fires the user's levels that are due before streamTime, oldest
// first, and appends them to dst, each with valuable_quiet and low_p_alive
// when ctx says so. A due time equal to streamTime has not passed: activity
// exactly then is in time. Nothing is due at or after the user's churn
// (LastActivity + ChurnAfter); once stream time passes it the user is
// churned and gets no more warnings until a return.
func (c Config) Advance(dst []Warning, s *State, ctx Context, streamTime int64) []Warning {
	if ctx.Stage == rules.None {
		return dst
	}
	return c.advance(dst, s, ctx, streamTime)
}

// Wake is the event time of the user's next due check, 0 for none: the
// runtime indexes users by it, like the stage timers, and calls Advance
// once stream time has passed it. The due time of the churn itself is
// included (it ends the warnings), so the runtime may stop tracking the
// user after it.
func (c Config) Wake(s *State, ctx Context) int64 {
	if ctx.Stage == rules.None {
		return 0
	}
	st := *s // Wake does not change the state
	c.bootstrap(&st, ctx)
	if st.ChurnedAt != 0 || st.LastActivity == 0 {
		return 0
	}
	churnAt := st.LastActivity + c.churnMs()
	if st.Fired >= 3 {
		return churnAt
	}
	return min(c.due(&st), churnAt)
}

// bootstrap starts the State of a user the stage model knew before the
// warnings did.
func (c Config) bootstrap(s *State, ctx Context) {
	if s.LastActivity == 0 && s.ChurnedAt == 0 && ctx.LastActivity != 0 && ctx.Stage != rules.Churned {
		s.LastActivity = ctx.LastActivity
		if s.First == 0 {
			s.First = ctx.LastActivity
		}
	}
}

// minWatch bounds the watch level a partition's departures may choose
// from below: a population whose departures look like ordinary gaps would
// otherwise be warned after every gap longer than usual. No measured
// population chose one below 0.26.
const minWatch = 0.1

// due is when the next level (s.Fired < 3) comes due in this silence.
func (c Config) due(s *State) int64 {
	if s.Fired == 0 && c.Recall > 0 && c.Outcomes != nil {
		if w, since, ok := c.Outcomes.Watch(); ok {
			// The partition's own watch level, kept below at_risk and
			// at least minWatch; a level lowered at since is not due
			// before then.
			return max(since, c.after(s.LastActivity, c.riskDue(s, min(max(w, minWatch), c.Risk[1]-0.05))))
		}
	}
	return c.after(s.LastActivity, c.riskDue(s, c.Risk[s.Fired]))
}

// departureRisk is the risk the user's silence reached Lead before the
// churn, had none of its days been a break: what a departure is counted
// at in the watch level's choice. A break is the exception the level must
// not learn from: break days hold a silence's risk back, and a third of
// the users leaving at once is seen as a break for its first weeks, whose
// departures, counted at their held-back risks, would pull the level of
// every later silence down.
func (c Config) departureRisk(s *State) float64 {
	lead := min(int64(c.Lead/time.Millisecond), c.churnMs())
	return c.riskAt(s, c.churnMs()-lead)
}

// score is what a warning of level lvl at risk in s's silence carries:
// the partition's share of departures at that level among silences of
// its class, once known (outcomes.go).
func (c Config) score(lvl Level, s *State, risk float64) float64 {
	if c.Outcomes == nil {
		return risk
	}
	return c.Outcomes.Score(lvl, c.scoreClass(s), risk)
}

// scoreClass is the class of s's silence the scores keep apart
// (ScoreClasses): 0, a first silence (no gap known); 1, a rhythm of no
// more gaps than the prior is worth (PriorWeight), mostly the prior's;
// 2, a rhythm learned from the user's own gaps.
func (c Config) scoreClass(s *State) int {
	switch {
	case s.Gaps == 0:
		return 0
	case float64(s.Gaps) <= c.PriorWeight:
		return 1
	}
	return 2
}

// silence is what the outcomes count of s's silence when it ends.
func (c Config) silence(s *State) silence {
	return silence{warned: s.Warned, kind: s.visitKind(), chance: c.baseChance(s), class: c.scoreClass(s)}
}

func (c Config) advance(dst []Warning, s *State, ctx Context, t int64) []Warning {
	c.bootstrap(s, ctx)
	if s.ChurnedAt != 0 || s.LastActivity == 0 {
		return dst
	}
	churnAt := s.LastActivity + c.churnMs()
	for s.Fired < 3 {
		due := c.due(s)
		if due >= t || due >= churnAt {
			break
		}
		// Levels due at the same time (all held back to the usual gap)
		// go out as one warning of the highest.
		s.Fired++
		for s.Fired < 3 && c.due(s) <= due {
			s.Fired++
		}
		lvl := Level(s.Fired)
		silence := due - s.LastActivity
		days := float64(silence) / float64(rules.Day)
		counted := c.counted(s.LastActivity, due)
		rs := []candidate{{idx: rInactive, v: days, usual: c.usualGapDays(s), breaks: float64(silence-counted) / float64(rules.Day),
			Reason: Reason{Code: CodeInactive, Value: round2(days), Threshold: round2(float64(c.churnMs()) / float64(rules.Day))}}}
		w := Warning{Level: lvl, At: due, Score: round2(c.score(lvl, s, c.riskAt(s, counted))), ChurnAt: churnAt}
		n := len(dst)
		if dst = c.emit(dst, s, w, c.extras(rs, s, ctx, due)); len(dst) > n {
			s.Warned |= 1 << (lvl - 1)
		}
	}
	if churnAt < t {
		// Churned: the warnings end; open ones are not recovered (the stage
		// model's "returned" covers a comeback). Fired and Warned stay: a
		// return takes the departure back with the levels it had warned.
		var churnBin uint8
		if c.Outcomes != nil {
			b := bin(c.departureRisk(s))
			c.Outcomes.depart(churnAt, b, c.silence(s))
			if s.Gaps == 0 {
				c.Outcomes.first.depart()
			}
			churnBin = uint8(b + 1)
		}
		last, fired, warned := s.LastActivity, s.Fired, s.Warned
		*s = s.afterChurn()
		s.LastActivity, s.ChurnedAt, s.Fired, s.Warned, s.ChurnBin = last, churnAt, fired, warned, churnBin
	}
	return dst
}

// candidate is a reason found at a check, before the cool-down. Its Detail
// is written when the reason is emitted.
type candidate struct {
	idx int
	Reason
	v       float64 // the unrounded days silent
	usual   float64 // inactive: the user's usual gap in days
	breaks  float64 // inactive: of v, the days of breaks (Config.Breaks), not counted
	segment string  // valuable_quiet: the user's segment
}

// describe writes the Detail of a reason.
func describe(r candidate) string {
	switch r.idx {
	case rInactive:
		if r.breaks > 0 {
			return fmt.Sprintf("no activity for %s days, %s of them break days not counted, where this user's usual gap is %s days; churned after %s", fmtDays(r.v), fmtDays(r.breaks), fmtDays(r.usual), fmtDays(r.Threshold))
		}
		return fmt.Sprintf("no activity for %s days, where this user's usual gap is %s days; churned after %s", fmtDays(r.v), fmtDays(r.usual), fmtDays(r.Threshold))
	case rValuableQuiet:
		return fmt.Sprintf("%s user without activity for %s days", r.segment, fmtDays(r.v))
	}
	return fmt.Sprintf("P(alive) %.2f below %.2f", r.Value, r.Threshold)
}

// extras adds valuable_quiet and low_p_alive to the reasons of a check at at.
func (c Config) extras(rs []candidate, s *State, ctx Context, at int64) []candidate {
	quiet := at - s.LastActivity
	if (ctx.Segment == SegmentImportantKeep || ctx.Segment == SegmentImportantRetain) && quiet >= int64(c.QuietAfter/time.Millisecond) {
		days := float64(quiet) / float64(rules.Day)
		rs = append(rs, candidate{idx: rValuableQuiet, v: days, segment: ctx.Segment,
			Reason: Reason{Code: CodeValuableQuiet, Value: round2(days), Threshold: c.QuietAfter.Hours() / 24}})
	}
	pAlive := ctx.PAlive
	if ctx.PAliveAt != nil {
		pAlive = ctx.PAliveAt(at)
	}
	if pAlive >= 0 && pAlive < c.PAliveBelow {
		rs = append(rs, candidate{idx: rLowPAlive, Reason: Reason{Code: CodeLowPAlive, Value: pAlive, Threshold: c.PAliveBelow}})
	}
	return rs
}

// emit appends w with the candidates that the cool-down lets through;
// nothing when none does. A reason warned less than Cooldown ago at the
// same or a higher level is held back; an escalation always goes out.
func (c Config) emit(dst []Warning, s *State, w Warning, rs []candidate) []Warning {
	cool := int64(c.Cooldown / time.Millisecond)
	for _, r := range rs {
		if last := s.LastAt[r.idx]; last != 0 && w.At-last < cool && uint8(w.Level) <= s.LastLevel[r.idx] {
			continue // cooling down, and not an escalation
		}
		s.LastAt[r.idx], s.LastLevel[r.idx] = w.At, uint8(w.Level)
		s.Open |= 1 << r.idx
		r.Detail = describe(r)
		w.Reasons = append(w.Reasons, r.Reason)
	}
	if len(w.Reasons) == 0 {
		return dst
	}
	s.OpenAt = w.At
	return append(dst, w)
}

func round2(f float64) float64 { return math.Round(f*100) / 100 }

func fmtDays(d float64) string { return fmt.Sprint(round2(d)) }
