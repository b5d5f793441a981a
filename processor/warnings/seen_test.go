package warnings

import (
	"slices"
	"testing"

	"github.com/lifecycle-engine/lifecycle/processor/rules"
)

// d0 is a Monday (2025-01-06), day 20094 since the epoch.
const d0 = int64(20094)

// feed gives o the active users of each day from day on (one visit
// each, the day's first for every user), passing each day as stream time
// reaches the next, and returns the days seen as breaks.
func feed(o *Outcomes, day int64, active []uint32, given []Span) (seen []Span) {
	for i, n := range active {
		at := (day + int64(i)) * rules.Day
		seen = append(seen, o.PassDays(at, given)...)
		for range n {
			o.Visit(0, at+1)
		}
	}
	return seen
}

func repeat(n uint32, days int) []uint32 { return slices.Repeat([]uint32{n}, days) }

// seeBreak gives o four weeks of perDay active users a day, then days at
// a tenth of that, then a usual day: the days at a tenth are seen.
func seeBreak(o *Outcomes, days int, perDay uint32) []Span {
	active := append(append(repeat(perDay, 28), repeat(perDay/10, days)...), perDay, perDay)
	return feed(o, d0, active, nil)
}

func days(from int64, n int) Span {
	return Span{From: from * rules.Day, To: (from + int64(n)) * rules.Day}
}

func TestPassDaysSeesBreaks(t *testing.T) {
	t.Run("a drop of most users for a few days", func(t *testing.T) {
		var o Outcomes
		seen := seeBreak(&o, 3, 1000)
		if want := []Span{days(d0+28, 1), days(d0+29, 1), days(d0+30, 1)}; !slices.Equal(seen, want) {
			t.Errorf("seen %v, want the three days after four weeks %v", seen, want)
		}
		if want := []Span{days(d0+28, 3)}; !slices.Equal(o.SeenBreaks(), want) {
			t.Errorf("SeenBreaks %v, want the three days as one %v", o.SeenBreaks(), want)
		}
	})
	t.Run("the usual spread is no break", func(t *testing.T) {
		var o Outcomes
		// Weekdays 1,000 ± 10 %, weekends 300: a weekday population.
		var active []uint32
		for i := range 120 {
			n := uint32(900 + (i*37)%200)
			if i%7 >= 5 {
				n = 300
			}
			active = append(active, n)
		}
		if seen := feed(&o, d0, active, nil); len(seen) > 0 {
			t.Errorf("seen %v in a population without breaks", seen)
		}
	})
	t.Run("a third off is a break when the partition is large enough", func(t *testing.T) {
		for _, c := range []struct {
			usual uint32
			see   bool
		}{{1000, true}, {120, false}} {
			var o Outcomes
			active := append(repeat(c.usual, 28), c.usual*2/3, c.usual)
			if seen := feed(&o, d0, active, nil); (len(seen) == 1) != c.see {
				t.Errorf("%d users a day, %d on one: seen %v, want seen %v", c.usual, c.usual*2/3, seen, c.see)
			}
		}
	})
	t.Run("a weekend between break days is taken into them", func(t *testing.T) {
		week := func(weekday, weekend uint32) []uint32 {
			return []uint32{weekday, weekday, weekday, weekday, weekday, weekend, weekend}
		}
		var active []uint32
		for range 4 {
			active = append(active, week(1000, 10)...)
		}
		active = append(append(append(active, week(100, 1)...), week(100, 1)...), 1000)
		for _, c := range []struct {
			name  string
			given []Span
			want  []Span
		}{
			{"", nil, []Span{days(d0+28, 12)}},
			{"not over a given day", []Span{days(d0+34, 1)}, []Span{days(d0+28, 5), days(d0+35, 5)}},
		} {
			var o Outcomes
			feed(&o, d0, active, c.given)
			if !slices.Equal(o.SeenBreaks(), c.want) {
				t.Errorf("%s: seen %v, want %v", c.name, o.SeenBreaks(), c.want)
			}
		}
		// A weekend that could be judged and was no break is not taken.
		var o Outcomes
		active = nil
		for range 4 {
			active = append(active, week(1000, 500)...)
		}
		feed(&o, d0, append(append(active, week(100, 500)...), week(100, 500)...), nil)
		if want := []Span{days(d0+28, 5), days(d0+35, 5)}; !slices.Equal(o.SeenBreaks(), want) {
			t.Errorf("seen %v, want the weekdays alone %v", o.SeenBreaks(), want)
		}
	})
	t.Run("a small partition sees none", func(t *testing.T) {
		var o Outcomes
		if seen := feed(&o, d0, append(repeat(16, 28), 0, 0, 16), nil); len(seen) > 0 {
			t.Errorf("16 users a day, then none: seen %v; b − 4√b is 0 there", seen)
		}
	})
	t.Run("a lasting drop is the usual after two weeks", func(t *testing.T) {
		var o Outcomes
		seen := feed(&o, d0, append(repeat(1000, 28), repeat(400, 35)...), nil)
		if want := []Span{days(d0+28, 14)}; !slices.Equal(o.SeenBreaks(), want) || len(seen) != 14 {
			t.Errorf("seen %v, want its first two weeks %v", o.SeenBreaks(), want)
		}
	})
	t.Run("days without records, passed at once", func(t *testing.T) {
		var o Outcomes
		feed(&o, d0, repeat(1000, 28), nil)
		seen := o.PassDays((d0+38)*rules.Day, nil) // nothing on days 28 to 37
		if len(seen) != 10 || !slices.Equal(o.SeenBreaks(), []Span{days(d0+28, 10)}) {
			t.Errorf("a jump over ten empty days: seen %v (%v)", o.SeenBreaks(), seen)
		}
		// Empty days are never the usual: five weeks of them are a break
		// to their end, and the first day with records after them is not.
		feed(&o, d0+38, append(repeat(0, 25), 1000), nil)
		o.PassDays((d0+64)*rules.Day, nil)
		if !slices.Equal(o.SeenBreaks(), []Span{days(d0+28, 35)}) {
			t.Errorf("five weeks without records: seen %v", o.SeenBreaks())
		}
		// A jump of years judges a year of them and stops, and the
		// breaks seen long ago are dropped.
		o.PassDays((d0+38+100_000)*rules.Day, nil)
		if !o.DaysPassed((d0+38+100_001)*rules.Day) || o.DaysPassed((d0+38+100_000)*rules.Day) {
			t.Error("the day counted is not stream time's after a jump")
		}
		if len(o.SeenBreaks()) != 0 {
			t.Errorf("breaks seen 100,000 days ago still kept: %v", o.SeenBreaks())
		}
	})
	t.Run("given break days are not judged", func(t *testing.T) {
		var o Outcomes
		given := []Span{days(d0+28, 2)}
		seen := feed(&o, d0, append(repeat(1000, 28), 0, 0, 0, 1000), given)
		if want := []Span{days(d0+30, 1)}; !slices.Equal(seen, want) {
			t.Errorf("seen %v, want only the day after the given ones %v", seen, want)
		}
		c := Config{Breaks: given, Outcomes: &o}
		// The given and the seen days together: three days not counted.
		if got := c.counted((d0+27)*rules.Day, (d0+32)*rules.Day); got != 2*rules.Day {
			t.Errorf("counted over five days with three of breaks = %v days", float64(got)/float64(rules.Day))
		}
		if got := c.after((d0+27)*rules.Day, 2*rules.Day); got != (d0+32)*rules.Day {
			t.Errorf("after two counted days from day 27 = day %v, want 32", float64(got)/float64(rules.Day)-float64(d0))
		}
		// Detection turned off: the days seen before count again.
		c.NoBreakDetection = true
		if got := c.counted((d0+27)*rules.Day, (d0+32)*rules.Day); got != 3*rules.Day {
			t.Errorf("counted without detection = %v days, want 3 (only the given days left out)", float64(got)/float64(rules.Day))
		}
	})
	t.Run("late events and repeat visits count once", func(t *testing.T) {
		var o Outcomes
		o.PassDays(d0*rules.Day, nil)
		o.Visit(0, d0*rules.Day+5)                 // a first visit
		o.Visit(d0*rules.Day+5, d0*rules.Day+9)    // the same user again that day
		o.Visit((d0-1)*rules.Day, d0*rules.Day+10) // a user back from yesterday
		o.Visit(0, (d0-1)*rules.Day)               // a late event of yesterday
		if o.seen.active != 2 {
			t.Errorf("active %d, want 2", o.seen.active)
		}
	})
}
