package segments

import (
	"encoding/binary"
	"errors"
	"math"

	"github.com/lifecycle-engine/lifecycle/schemas"
)

// WindowBuckets is the number of buckets a Window keeps: the resolution of
// windowed F and M is Window/WindowBuckets.
const WindowBuckets = 12

// Window is one user's purchase history for windowed F and M: a ring of
// WindowBuckets buckets of Span/WindowBuckets milliseconds each, holding the
// number and the total of the purchases made in that stretch of event time.
// Bucket e (counted from the Unix epoch) covers [e×width, (e+1)×width) and
// lives in slot e mod WindowBuckets; Head is the newest bucket written.
//
// It has integer fields only (no slices, maps or pointers): AppendBinary
// writes it as varints. The zero Window (Span 0) counts all time and keeps
// nothing; get a windowed one from Config.NewWindow. Counts and totals, per
// bucket and summed over the window, saturate at their largest value
// (schemas.AddSat) rather than wrap, so a total is never negative.
type Window struct {
	Span  int64 // the window in ms; 0 = all time
	Head  int64 // the newest bucket number
	Count [WindowBuckets]int64
	Spend [WindowBuckets]schemas.Micros
}

func (w *Window) width() int64 { return w.Span / WindowBuckets }

func floorDiv(a, b int64) int64 {
	q := a / b
	if a%b != 0 && (a < 0) != (b < 0) {
		q--
	}
	return q
}

func slot(e int64) int {
	s := e % WindowBuckets
	if s < 0 {
		s += WindowBuckets
	}
	return int(s)
}

func (w *Window) empty() bool {
	for i := range w.Count {
		if w.Count[i] != 0 || w.Spend[i] != 0 {
			return false
		}
	}
	return true
}

// Add records a purchase of amount at event time t. Purchases may arrive
// late: one older than the whole ring (more than WindowBuckets buckets before
// the newest) is outside any window the user will be scored in and is
// dropped. Add does nothing on an all-time Window.
func (w *Window) Add(t int64, amount schemas.Micros) { w.add(t, 1, amount) }

func (w *Window) add(t, n int64, amount schemas.Micros) {
	if w.Span <= 0 {
		return
	}
	e := floorDiv(t, w.width())
	switch {
	case w.empty():
		w.Head = e
	case e > w.Head:
		if e-w.Head >= WindowBuckets {
			w.Count, w.Spend = [WindowBuckets]int64{}, [WindowBuckets]schemas.Micros{}
		} else {
			for x := w.Head + 1; x <= e; x++ {
				w.Count[slot(x)], w.Spend[slot(x)] = 0, 0
			}
		}
		w.Head = e
	case e <= w.Head-WindowBuckets:
		return
	}
	w.Count[slot(e)] = schemas.AddSat(w.Count[slot(e)], n)
	w.Spend[slot(e)] = schemas.AddSat(w.Spend[slot(e)], amount)
}

// InWindow returns the number and total of the purchases in the window that
// ends at now: the bucket holding now and the WindowBuckets-1 before it.
// Purchases after now (in buckets after now's) are not counted.
func (w *Window) InWindow(now int64) (int64, schemas.Micros) {
	if w.Span <= 0 {
		return 0, 0
	}
	ne := floorDiv(now, w.width())
	lo := max(ne, w.Head) - WindowBuckets + 1
	hi := min(ne, w.Head)
	var f int64
	var m schemas.Micros
	for e := lo; e <= hi; e++ {
		f = schemas.AddSat(f, w.Count[slot(e)])
		m = schemas.AddSat(m, w.Spend[slot(e)])
	}
	return f, m
}

// Values returns the user's RFM values at event time now. lastPurchase is
// the time of the user's last purchase; allTimeF and allTimeM are the number
// and total of all their purchases (the lifecycle state keeps them). With an
// all-time Window (Span 0) F and M are the all-time numbers; otherwise they
// count the window. A user has purchased when allTimeF > 0; a windowed user
// whose purchases all left the window keeps R and has F = M = 0.
// Recency is in days and never negative (a purchase after now counts as now).
func (w *Window) Values(now, lastPurchase, allTimeF int64, allTimeM schemas.Micros) Values {
	if allTimeF <= 0 {
		return Values{}
	}
	v := Values{
		RecencyDays:  float64(max(now-lastPurchase, 0)) / float64(Day),
		Frequency:    allTimeF,
		Monetary:     allTimeM,
		HasPurchased: true,
	}
	if w.Span > 0 {
		v.Frequency, v.Monetary = w.InWindow(now)
	}
	return v
}

// Refit returns w re-bucketed for the configuration c, for when the
// configured Window changed: each old bucket's purchases are placed at the
// start of that bucket. Going from all time to a window starts an empty
// history (the per-purchase times were never kept), so windowed F and M are
// exact again one Window after the change.
func (c Config) Refit(w Window) Window {
	span := c.windowMs()
	if w.Span == span {
		return w
	}
	n := Window{Span: span}
	if w.Span <= 0 || span <= 0 {
		return n
	}
	for e := w.Head - WindowBuckets + 1; e <= w.Head; e++ {
		if w.Count[slot(e)] != 0 || w.Spend[slot(e)] != 0 {
			n.add(e*w.width(), w.Count[slot(e)], w.Spend[slot(e)])
		}
	}
	return n
}

// windowFormat is the first byte of an encoded Window.
const windowFormat = 1

// AppendBinary appends w as a format byte and varints (Span, Head, then each
// bucket's count and spend, in slot order): 2 bytes for an all-time Window,
// 31 for an empty windowed one, about 60–90 with purchases in every bucket.
func (w *Window) AppendBinary(b []byte) ([]byte, error) {
	b = append(b, windowFormat)
	b = binary.AppendVarint(b, w.Span)
	if w.Span <= 0 {
		return b, nil
	}
	b = binary.AppendVarint(b, w.Head)
	for i := range w.Count {
		b = binary.AppendVarint(b, w.Count[i])
		b = binary.AppendVarint(b, int64(w.Spend[i]))
	}
	return b, nil
}

// ErrBadWindow is returned (wrapped) by DecodeWindow for bytes that are not
// an encoded Window.
var ErrBadWindow = errors.New("segments: invalid encoded window")

// DecodeWindow reads a Window written by AppendBinary from the start of b
// and returns it and the number of bytes read.
func DecodeWindow(b []byte) (Window, int, error) {
	var w Window
	if len(b) == 0 || b[0] != windowFormat {
		return w, 0, ErrBadWindow
	}
	pos := 1
	next := func() int64 {
		if pos < 0 {
			return 0
		}
		v, n := binary.Varint(b[pos:])
		if n <= 0 {
			pos = -1
			return 0
		}
		pos += n
		return v
	}
	w.Span = next()
	if pos > 0 && w.Span > 0 {
		w.Head = next()
		for i := range w.Count {
			w.Count[i] = next()
			w.Spend[i] = schemas.Micros(next())
		}
	}
	if pos < 0 || w.Span < 0 || (w.Span > 0 && w.Span < WindowBuckets) || w.Head == math.MinInt64 {
		return Window{}, 0, ErrBadWindow
	}
	return w, pos, nil
}
