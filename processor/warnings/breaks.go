package warnings

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
	"time"
)

// Span is a stretch of event time, [From, To) in Unix ms.
type Span struct{ From, To int64 }

// counted is how much of [from, to) lies outside the breaks (Config.Breaks
// and the partition's seen breaks), in ms: the silence a user's rhythm is
// measured in. Without breaks it is to - from.
func (c Config) counted(from, to int64) int64 {
	d := to - from
	for bs := c.breaks(); ; {
		b, ok := bs.next()
		if !ok || b.From >= to {
			break
		}
		if b.To > from {
			d -= min(b.To, to) - max(b.From, from)
		}
	}
	return d
}

// after is the first time t with counted(from, t) = d (d > 0): from + d,
// pushed on by the breaks in between. Without breaks it is from + d.
func (c Config) after(from, d int64) int64 {
	t := from + d
	for bs := c.breaks(); ; {
		b, ok := bs.next()
		if !ok || b.From >= t {
			break
		}
		if b.To > from {
			t += b.To - max(b.From, from)
		}
	}
	return t
}

// breaks walks the given breaks and those the partition saw (unless
// NoBreakDetection: a state may hold some from before it was set), which
// never overlap (PassDays skips given days), in time order.
func (c Config) breaks() breakWalk {
	w := breakWalk{a: c.Breaks}
	if c.Outcomes != nil && !c.NoBreakDetection {
		w.b = c.Outcomes.seen.breaks
	}
	return w
}

// breakWalk merges two sorted lists of spans that do not overlap.
type breakWalk struct{ a, b []Span }

func (w *breakWalk) next() (Span, bool) {
	var s Span
	switch {
	case len(w.a) > 0 && (len(w.b) == 0 || w.a[0].From <= w.b[0].From):
		s, w.a = w.a[0], w.a[1:]
	case len(w.b) > 0:
		s, w.b = w.b[0], w.b[1:]
	default:
		return s, false
	}
	return s, true
}

// ParseBreaks reads days users stop together, "2026-12-24..2027-01-01,
// 2027-07-14": UTC days, each a day or an inclusive range of days, into
// sorted spans with overlapping and adjacent ones merged.
func ParseBreaks(s string) ([]Span, error) {
	var spans []Span
	for part := range strings.SplitSeq(s, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		first, last, isRange := strings.Cut(part, "..")
		if !isRange {
			last = first
		}
		from, err1 := time.Parse(time.DateOnly, strings.TrimSpace(first))
		to, err2 := time.Parse(time.DateOnly, strings.TrimSpace(last))
		if err1 != nil || err2 != nil {
			return nil, fmt.Errorf("break %q: want a day like 2026-12-25 or days like 2026-12-24..2027-01-01 (UTC)", part)
		}
		if to.Before(from) {
			return nil, fmt.Errorf("break %q: the last day is before the first", part)
		}
		spans = append(spans, Span{From: from.UnixMilli(), To: to.AddDate(0, 0, 1).UnixMilli()})
	}
	slices.SortFunc(spans, func(a, b Span) int { return cmp.Compare(a.From, b.From) })
	merged := spans[:0]
	for _, sp := range spans {
		if n := len(merged); n > 0 && sp.From <= merged[n-1].To {
			merged[n-1].To = max(merged[n-1].To, sp.To)
			continue
		}
		merged = append(merged, sp)
	}
	return merged, nil
}

// FormatBreaks writes whole-day spans as ParseBreaks reads them:
// "2025-05-12..2025-05-16,2025-07-21", so that the breaks a partition saw
// can be given as --warn-break-days as they are.
func FormatBreaks(spans []Span) string {
	var b strings.Builder
	for i, s := range spans {
		if i > 0 {
			b.WriteByte(',')
		}
		first, last := time.UnixMilli(s.From).UTC(), time.UnixMilli(s.To-1).UTC()
		b.WriteString(first.Format(time.DateOnly))
		if last.Format(time.DateOnly) != first.Format(time.DateOnly) {
			b.WriteString("..")
			b.WriteString(last.Format(time.DateOnly))
		}
	}
	return b.String()
}

// validBreaks says what is wrong with spans that are not sorted, apart
// and each non-empty, as counted and after need them.
func validBreaks(spans []Span) error {
	for i, b := range spans {
		if b.To <= b.From {
			return fmt.Errorf("warnings: Breaks[%d] is empty or backwards: %d to %d", i, b.From, b.To)
		}
		if i > 0 && b.From <= spans[i-1].To {
			return fmt.Errorf("warnings: Breaks[%d] starts before Breaks[%d] ends: sort and merge them (ParseBreaks does)", i, i-1)
		}
	}
	return nil
}
