package predict

import (
	"fmt"
	"slices"

	"github.com/lifecycle-engine/lifecycle/schemas"
)

// Period is the unit of time of a Summary and of prediction horizons.
type Period uint8

// The periods a model can be fitted with.
const (
	Day  Period = 1
	Week Period = 7
)

// dayMillis is one day in Unix milliseconds.
const dayMillis = 24 * 60 * 60 * 1000

// Millis returns the length of p in milliseconds; 0 for an invalid Period.
func (p Period) Millis() int64 {
	switch p {
	case Day, Week:
		return int64(p) * dayMillis
	}
	return 0
}

// String returns "day" or "week".
func (p Period) String() string {
	switch p {
	case Day:
		return "day"
	case Week:
		return "week"
	}
	return fmt.Sprintf("Period(%d)", uint8(p))
}

// ParsePeriod maps "day" or "week" to its Period.
func ParsePeriod(s string) (Period, error) {
	switch s {
	case "day":
		return Day, nil
	case "week":
		return Week, nil
	}
	return 0, fmt.Errorf("predict: period %q: use day or week", s)
}

// MarshalText writes "day" or "week".
func (p Period) MarshalText() ([]byte, error) {
	if p.Millis() == 0 {
		return nil, fmt.Errorf("predict: invalid period %d", uint8(p))
	}
	return []byte(p.String()), nil
}

// UnmarshalText reads "day" or "week".
func (p *Period) UnmarshalText(b []byte) error {
	v, err := ParsePeriod(string(b))
	if err != nil {
		return err
	}
	*p = v
	return nil
}

// Summary is what the models know of one user (see the package
// documentation for the exact conventions).
type Summary struct {
	X         float64 // repeat transactions: distinct purchase days after the first
	Tx        float64 // time of the last purchase day since the first, in periods
	T         float64 // time from the first purchase day to now, in periods
	MeanValue float64 // mean value of the repeat transactions, in currency units (0 when X is 0)
}

// Valid reports whether s is a possible summary: finite, X a whole number
// ≥ 0, 0 ≤ Tx ≤ T, Tx = 0 when X = 0, MeanValue ≥ 0.
func (s Summary) Valid() bool {
	ok := s.X >= 0 && s.X == float64(int64(s.X)) && s.Tx >= 0 && s.T >= s.Tx &&
		s.MeanValue >= 0 && s.T < 1e12 && s.MeanValue < 1e300
	if s.X == 0 {
		ok = ok && s.Tx == 0
	}
	return ok
}

// DayStart returns the start (00:00 UTC) of the day of t, both in Unix
// milliseconds.
func DayStart(t int64) int64 {
	d := t / dayMillis
	if t%dayMillis < 0 {
		d--
	}
	return d * dayMillis
}

// Tracker is the per-user state the models need, kept incrementally: 40
// bytes, fixed size, updated by Add in O(1) for every purchase. The zero
// Tracker has seen no purchase.
//
// Purchases should be added in event-time order. Out-of-order purchases are
// handled exactly when they fall on the first or the last purchase day or
// before the first; one that falls strictly between the first and the last
// purchase day counts as a new purchase day, because the Tracker does not
// remember the days in between (an over-count when that day already had a
// purchase). Duplicated events must be dropped before Add.
type Tracker struct {
	First       int64          // start (Unix ms, 00:00 UTC) of the first purchase day
	Last        int64          // start of the latest purchase day
	Days        int64          // distinct purchase days; 0: no purchase yet
	FirstValue  schemas.Micros // total value of the first purchase day
	RepeatValue schemas.Micros // total value of all later purchase days
}

// Add records a purchase of amount at t (Unix ms). Totals and the day
// count saturate (schemas.AddSat).
func (tr *Tracker) Add(t int64, amount schemas.Micros) {
	d := DayStart(t)
	switch {
	case tr.Days == 0:
		*tr = Tracker{First: d, Last: d, Days: 1, FirstValue: amount}
	case d == tr.First:
		tr.FirstValue = schemas.AddSat(tr.FirstValue, amount)
	case d < tr.First: // late: the old first day becomes a repeat day
		tr.RepeatValue = schemas.AddSat(tr.RepeatValue, tr.FirstValue)
		tr.First, tr.FirstValue = d, amount
		tr.Days = schemas.AddSat(tr.Days, 1)
	case d == tr.Last:
		tr.RepeatValue = schemas.AddSat(tr.RepeatValue, amount)
	case d > tr.Last:
		tr.Last = d
		tr.Days = schemas.AddSat(tr.Days, 1)
		tr.RepeatValue = schemas.AddSat(tr.RepeatValue, amount)
	default: // late, between First and Last: assume a new day
		tr.Days = schemas.AddSat(tr.Days, 1)
		tr.RepeatValue = schemas.AddSat(tr.RepeatValue, amount)
	}
}

// Summary returns the user's Summary at now (Unix ms) in periods of p; ok
// is false when the user has no purchase or p is invalid. A now before the
// last purchase day counts as that day.
func (tr *Tracker) Summary(now int64, p Period) (s Summary, ok bool) {
	pm := p.Millis()
	if tr.Days == 0 || pm == 0 {
		return Summary{}, false
	}
	if now < tr.Last {
		now = tr.Last
	}
	fp := float64(pm)
	s = Summary{
		X:  float64(tr.Days - 1),
		Tx: float64(tr.Last-tr.First) / fp,
		T:  float64(now-tr.First) / fp,
	}
	if tr.Days > 1 {
		s.MeanValue = float64(tr.RepeatValue) / schemas.MicrosPerUnit / s.X
	}
	return s, true
}

// SummaryFrom returns the Summary at now of one user's purchases: times
// (Unix ms) and their amounts (amounts may be nil: all 0). Purchases on days
// starting after now are ignored; ok is false when none is left. The
// purchases may be in any order.
func SummaryFrom(times []int64, amounts []schemas.Micros, now int64, p Period) (s Summary, ok bool) {
	if amounts != nil && len(amounts) != len(times) {
		panic("predict: SummaryFrom: times and amounts differ in length")
	}
	idx := make([]int, 0, len(times))
	for i, t := range times {
		if DayStart(t) <= now {
			idx = append(idx, i)
		}
	}
	slices.SortStableFunc(idx, func(i, j int) int {
		switch {
		case times[i] < times[j]:
			return -1
		case times[i] > times[j]:
			return 1
		}
		return 0
	})
	var tr Tracker
	for _, i := range idx {
		var a schemas.Micros
		if amounts != nil {
			a = amounts[i]
		}
		tr.Add(times[i], a)
	}
	return tr.Summary(now, p)
}
