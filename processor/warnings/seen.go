package warnings

import (
	"encoding/binary"
	"math"
	"slices"

	"github.com/lifecycle-engine/lifecycle/processor/rules"
)

// Breaks a partition sees: days on which far fewer of its users came than
// usually come on that weekday. Users who stop together (a public
// holiday, a company's summer weeks, an outage upstream) look to each
// user's own rhythm like a departure; to the partition they are a day
// unlike its others. Such a day is left out of every silence and gap, as
// a break day given in Config.Breaks is, from the moment stream time
// passes its end: until then it counts, so the warnings due on a break's
// first day go out (processor/quality/FINDINGS.md, "Breaks the partition
// sees").
//
// A day is a break when its active users x, against the median b of the
// last three of the same weekday, are below both seenBreakShare·b and
// b − seenBreakSigmas·√b: a drop that is large, and that the day-to-day
// spread of so many users' visits does not explain (b − 4√b is above 0
// only from b = 17 on, so a small partition sees none). Every day joins
// its weekday's history, breaks too, so a lasting drop (a population that
// shrank) is the new usual after two weeks, not a break for ever; but a
// break without a single active user does not: an outage of the inputs,
// however long, is a break to its end. A day
// too quiet by nature to be judged (a weekend of a weekday population, b
// of 16 or less) between two breaks seen at most three days apart is
// taken into them, when the second is seen: a break over a weekend is one
// break, as a large partition, which can judge its weekends, sees it.
const (
	seenBreakShare  = 0.75
	seenBreakSigmas = 4
	// seenHistory is how many of a weekday's last days make its usual.
	seenHistory = 3
	// seenKeptDays is how long a break seen is kept: a silence ends at
	// the churn, so only a gap of a user back after more than this long
	// would have left it out, and the state stays bounded.
	seenKeptDays = 400
)

// seenDays is what a partition keeps to see its breaks.
type seenDays struct {
	counting bool  // false until the first record
	day      int64 // the day (since the epoch) being counted
	active   uint32
	// usual holds per weekday (day mod 7) its last seenHistory days'
	// active users, the oldest first; n how many of them are filled.
	usual [7][seenHistory]uint32
	n     [7]uint8
	// breaks are the days seen as breaks: sorted, apart.
	breaks []Span
}

func dayOf(t int64) int64 { return floorDiv(t, rules.Day) }

// Visit counts the user whose activity at t came after their last one
// (at last, 0 for none) among the active users of t's day, when that day
// is the one being counted: the day stream time is in, so call DaysPassed
// first. A late event of an earlier day counts for none.
func (o *Outcomes) Visit(last, t int64) {
	d := dayOf(t)
	if o.seen.counting && d == o.seen.day && (last == 0 || dayOf(last) < d) && o.seen.active < math.MaxUint32 {
		o.seen.active++
	}
}

// DaysPassed reports whether stream time st has passed the end of the day
// being counted, or no day is counted yet: the runtime then fires every
// check due before the stream time it had, and calls PassDays.
func (o *Outcomes) DaysPassed(st int64) bool {
	return !o.seen.counting || dayOf(st) > o.seen.day
}

// PassDays judges every day that stream time st has passed since the
// last call, the days without a record counted with no active users, and
// starts counting st's day. Days within given break days (given, sorted)
// are neither judged nor kept in the usual. It returns the days it saw as
// breaks, for the runtime's log.
func (o *Outcomes) PassDays(st int64, given []Span) (seen []Span) {
	s := &o.seen
	now := dayOf(st)
	if !s.counting {
		s.counting, s.day = true, now
		return nil
	}
	for d := s.day; d < now; d++ {
		if d > s.day+366 {
			break // a year without records: enough
		}
		x := uint32(0)
		if d == s.day {
			x = s.active
		}
		from := d * rules.Day
		if inBreaks(given, from) {
			continue
		}
		wd := weekday(d)
		if s.n[wd] == seenHistory && isBreak(x, s.usual[wd]) {
			seen = append(seen, s.bridge(from, given)...)
			s.add(Span{From: from, To: from + rules.Day})
			seen = append(seen, Span{From: from, To: from + rules.Day})
			if x == 0 {
				continue // no record at all: the inputs down, or everyone away, never the new usual
			}
		}
		copy(s.usual[wd][:], s.usual[wd][1:])
		s.usual[wd][seenHistory-1] = x
		s.n[wd] = min(s.n[wd]+1, seenHistory)
	}
	s.day, s.active = now, 0
	i := 0
	for i < len(s.breaks) && s.breaks[i].To <= (now-seenKeptDays)*rules.Day {
		i++
	}
	s.breaks = s.breaks[i:]
	return seen
}

// SeenBreaks are the days the partition saw as breaks.
func (o *Outcomes) SeenBreaks() []Span { return o.seen.breaks }

func weekday(d int64) int { return int((d%7 + 7) % 7) }

func median(usual [seenHistory]uint32) float64 {
	u := usual
	slices.Sort(u[:])
	return float64(u[seenHistory/2])
}

func isBreak(x uint32, usual [seenHistory]uint32) bool {
	b := median(usual)
	return float64(x) < seenBreakShare*b && float64(x) < b-seenBreakSigmas*math.Sqrt(b)
}

// bridge takes the days between the last break seen and the day at from,
// when they are at most two and none could have been judged, into the
// breaks, and returns them. Not over a given break day: the two kinds
// never overlap (Config.breaks).
func (s *seenDays) bridge(from int64, given []Span) []Span {
	n := len(s.breaks)
	if n == 0 {
		return nil
	}
	gap := Span{From: s.breaks[n-1].To, To: from}
	if gap.To <= gap.From || gap.To-gap.From > 2*rules.Day {
		return nil
	}
	for t := gap.From; t < gap.To; t += rules.Day {
		b := median(s.usual[weekday(dayOf(t))])
		if b-seenBreakSigmas*math.Sqrt(b) > 0 || inBreaks(given, t) {
			return nil // a day that could have been seen, and was not, or a given one
		}
	}
	s.breaks[n-1].To = gap.To
	var days []Span
	for t := gap.From; t < gap.To; t += rules.Day {
		days = append(days, Span{From: t, To: t + rules.Day})
	}
	return days
}

// add appends a day after every break seen, merged with the last when
// they touch.
func (s *seenDays) add(day Span) {
	if n := len(s.breaks); n > 0 && s.breaks[n-1].To == day.From {
		s.breaks[n-1].To = day.To
		return
	}
	s.breaks = append(s.breaks, day)
}

// inBreaks reports whether t lies in one of spans (sorted).
func inBreaks(spans []Span, t int64) bool {
	i, _ := slices.BinarySearchFunc(spans, t, func(s Span, t int64) int {
		switch {
		case s.To <= t:
			return -1
		case s.From > t:
			return 1
		}
		return 0
	})
	return i < len(spans) && spans[i].From <= t && t < spans[i].To
}

func (s *seenDays) append(b []byte) []byte {
	if !s.counting {
		return append(b, 0)
	}
	b = append(b, 1)
	b = binary.AppendVarint(b, s.day)
	b = binary.AppendUvarint(b, uint64(s.active))
	for wd := range s.usual {
		b = append(b, s.n[wd])
		for _, x := range s.usual[wd] {
			b = binary.AppendUvarint(b, uint64(x))
		}
	}
	b = binary.AppendUvarint(b, uint64(len(s.breaks)))
	prev := int64(0)
	for _, sp := range s.breaks { // in days, each from the end of the one before
		b = binary.AppendVarint(b, (sp.From-prev)/rules.Day)
		b = binary.AppendUvarint(b, uint64((sp.To-sp.From)/rules.Day))
		prev = sp.To
	}
	return b
}

func (d *decoder) seenDays(s *seenDays) {
	if len(d.b) == 0 || d.b[0] > 1 {
		d.err = true
		return
	}
	s.counting, d.b = d.b[0] == 1, d.b[1:]
	if !s.counting {
		return
	}
	s.day = d.varint()
	s.active = d.uint32()
	for wd := range s.usual {
		if len(d.b) == 0 {
			d.err = true
			return
		}
		s.n[wd], d.b = d.b[0], d.b[1:]
		d.err = d.err || s.n[wd] > seenHistory
		for i := range s.usual[wd] {
			s.usual[wd][i] = d.uint32()
		}
	}
	n := d.uvarint()
	if n > uint64(len(d.b)) {
		d.err = true
		return
	}
	prev := int64(0)
	for i := range n {
		gap, days := d.varint(), d.uvarint()
		if d.err || days == 0 || days > math.MaxInt32 || gap > math.MaxInt32 || gap < math.MinInt32 || (i > 0 && gap <= 0) {
			d.err = true
			return
		}
		from := prev + gap*rules.Day
		s.breaks = append(s.breaks, Span{From: from, To: from + int64(days)*rules.Day})
		prev = from + int64(days)*rules.Day
	}
}
