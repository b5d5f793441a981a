package retention

import (
	"math/bits"
	"time"
)

// DayMs is a UTC day in milliseconds.
const DayMs = int64(24 * time.Hour / time.Millisecond)

// Lateness is how many days before a user's latest activity an event may
// lie and still count as activity: the 64 days a user's Activity holds,
// less the 30 that placing it in a 30-day window needs.
const Lateness = 64 - 30

// DayOf is the UTC day of event time ms: days since 1970-01-01.
func DayOf(ms int64) int64 { return floorDiv(ms, DayMs) }

// WeekOf is the ISO week (Monday to Sunday) of day d, numbered from the
// week of 1970-01-01, a Thursday.
func WeekOf(d int64) int64 { return floorDiv(d+3, 7) }

// WeekStart is the day of week w's Monday.
func WeekStart(w int64) int64 { return w*7 - 3 }

// Date formats day d as 2006-01-02.
func Date(d int64) string { return time.UnixMilli(d * DayMs).UTC().Format(time.DateOnly) }

func floorDiv(a, b int64) int64 {
	q := a / b
	if a%b != 0 && (a < 0) != (b < 0) {
		q--
	}
	return q
}

// Activity is what a user's record keeps for the activity metrics.
type Activity struct {
	// Cohort is the day of the user's first applied event.
	Cohort int64
	// Days has bit i set when the user was active on day
	// DayOf(LastActivity)-i: the last 64 days, enough to tell whether an
	// event is the user's first of its day, week and 7- or 30-day window.
	Days uint64
}

// touch marks day d active in a, whose latest active day is last (for a
// user with no activity yet, d). It reports whether d is new for the
// user, the nearest active days before and after it (ok false for none
// within reach), whether it is the first of its week, and the latest
// active day after the event; d too late to place changes nothing.
func (a *Activity) touch(last, d int64) (r touched) {
	if a.Days == 0 || d > last {
		if shift := d - last; a.Days != 0 && shift < 64 {
			a.Days <<= uint(shift)
		} else if a.Days != 0 {
			a.Days = 0
		}
		last = d
	}
	off := last - d
	if off > Lateness || a.Days&(1<<uint(off)) != 0 {
		return r
	}
	r.isNew = true
	if older := a.Days >> uint(off+1); older != 0 {
		r.prev, r.hasPrev = d-1-int64(bits.TrailingZeros64(older)), true
	}
	if newer := a.Days & (1<<uint(off) - 1); newer != 0 {
		r.next, r.hasNext = last-int64(63-bits.LeadingZeros64(newer)), true
	}
	// The week's other days, as far as they are in the window (they all
	// are: off <= Lateness leaves at least 29 older days).
	ws := WeekStart(WeekOf(d))
	r.newWeek = true
	for x := ws; x < ws+7; x++ {
		if o := last - x; o >= 0 && o < 64 && a.Days&(1<<uint(o)) != 0 {
			r.newWeek = false
			break
		}
	}
	a.Days |= 1 << uint(off)
	return r
}

type touched struct {
	isNew, newWeek   bool
	prev, next       int64
	hasPrev, hasNext bool
}
