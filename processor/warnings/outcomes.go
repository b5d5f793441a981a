package warnings

import (
	"encoding/binary"
	"errors"
	"math"
)

// Outcomes is a partition's record of how its users' silences ended, from
// which the watch level is chosen: the risk that a share Recall of the
// users who left had reached Lead before their churn. One level does not
// fit every population: where users come rarely or stay long, a departure
// looks like an ordinary gap for longer, and the risk a departure reaches
// in time is lower (README, "Churn warnings: measured"). The stream
// itself says what that risk is: every churn is a silence that ended in
// a departure, unless the user comes back.
//
// A churn counts as a departure once confirmWeeks have passed without a
// return (a return takes it back out): until then it sits in the week of
// its churn, so that users who lapse for a while and come back do not
// pull the level down. The level the warnings use changes only at
// Refresh, which the runtime calls at its RFM rebuild points, so the same
// input gives the same warnings whatever the batching; everything is
// stored with the partition's state.
type Outcomes struct {
	weeks     [pendingWeeks]int64 // the week (since the epoch) of each pending slot; 0: empty
	pending   [pendingWeeks]hist
	confirmed hist
	watch     int64 // the chosen watch risk in millionths; 0: none yet
	since     int64 // when the watch level last changed (Unix ms): no watch is due before it
}

// hist counts departures by the risk they reached Lead before their churn.
type hist [outcomeBins]uint32

const (
	outcomeBins  = 100 // risk bins of 0.01
	confirmWeeks = 4   // a churn without a return for this long is a departure
	pendingWeeks = confirmWeeks + 2
	weekMs       = 7 * 24 * 3600 * 1000
	// MinDepartures is the least confirmed departures a partition needs
	// before its own watch level replaces the configured one.
	MinDepartures = 50
)

func bin(r float64) int { return min(max(int(r*outcomeBins), 0), outcomeBins-1) }

func weekOf(t int64) int64 {
	w := t / weekMs
	if t%weekMs < 0 {
		w--
	}
	return w
}

// depart counts a churn at churnAt whose silence had reached risk r.
func (o *Outcomes) depart(churnAt int64, r float64) {
	if h := o.slot(weekOf(churnAt)); h != nil {
		h[bin(r)]++
		return
	}
	o.confirmed[bin(r)]++
}

// undepart takes back the churn at churnAt: the user came back.
func (o *Outcomes) undepart(churnAt int64, r float64) {
	b := bin(r)
	w := weekOf(churnAt)
	i := int(w % pendingWeeks)
	if i < 0 {
		i += pendingWeeks
	}
	h := &o.confirmed
	if o.weeks[i] == w {
		h = &o.pending[i]
	}
	if h[b] > 0 { // a model reloaded in between may move the bin: never below zero
		h[b]--
	}
}

// slot is the pending histogram of week w, nil when w is already
// confirmed. A slot still holding an older week confirms it first.
func (o *Outcomes) slot(w int64) *hist {
	i := int(w % pendingWeeks)
	if i < 0 {
		i += pendingWeeks
	}
	switch {
	case o.weeks[i] == w:
	case o.weeks[i] > w:
		return nil // older than every pending week
	default:
		o.confirm(i)
		o.weeks[i] = w
	}
	return &o.pending[i]
}

func (o *Outcomes) confirm(i int) {
	for b, n := range o.pending[i] {
		o.confirmed[b] += n
	}
	o.pending[i] = hist{}
	o.weeks[i] = 0
}

// Refresh confirms the churns of the weeks that lie confirmWeeks before
// event time at, and chooses the watch level from the confirmed
// departures: the highest risk that at least a share recall of them had
// reached. A level that changes takes effect at at.
func (o *Outcomes) Refresh(at int64, recall float64) {
	last := weekOf(at) - confirmWeeks
	for i, w := range o.weeks {
		if w != 0 && w < last {
			o.confirm(i)
		}
	}
	if recall <= 0 || o.Departures() < MinDepartures {
		return
	}
	need := recall * float64(o.Departures())
	var above float64
	for b := outcomeBins - 1; b >= 0; b-- {
		n := float64(o.confirmed[b])
		if above+n >= need {
			// Within a bin, departures are taken as spread evenly.
			r := (float64(b) + 1 - (need-above)/n) / outcomeBins
			if w := max(1, int64(math.Round(r*1e6))); w != o.watch {
				o.watch, o.since = w, at
			}
			return
		}
		above += n
	}
}

// Watch is the chosen watch risk and when it took effect; ok is false
// until there is one.
func (o *Outcomes) Watch() (risk float64, since int64, ok bool) {
	return float64(o.watch) / 1e6, o.since, o.watch > 0
}

// Departures is the number of confirmed departures.
func (o *Outcomes) Departures() uint64 {
	var n uint64
	for _, c := range o.confirmed {
		n += uint64(c)
	}
	return n
}

// AppendBinary appends the stored form of o: the watch level and since,
// then each histogram as (bin, count) pairs of its non-zero bins.
func (o *Outcomes) AppendBinary(b []byte) []byte {
	b = binary.AppendUvarint(b, uint64(o.watch))
	b = binary.AppendVarint(b, o.since)
	b = o.confirmed.append(b)
	for i := range o.pending {
		b = binary.AppendVarint(b, o.weeks[i])
		b = o.pending[i].append(b)
	}
	return b
}

func (h *hist) append(b []byte) []byte {
	n := 0
	for _, c := range h {
		if c != 0 {
			n++
		}
	}
	b = binary.AppendUvarint(b, uint64(n))
	for i, c := range h {
		if c != 0 {
			b = binary.AppendUvarint(b, uint64(i))
			b = binary.AppendUvarint(b, uint64(c))
		}
	}
	return b
}

// DecodeOutcomes decodes what AppendBinary wrote; empty b is a fresh
// Outcomes (a state from before them).
func DecodeOutcomes(b []byte) (*Outcomes, error) {
	o := &Outcomes{}
	if len(b) == 0 {
		return o, nil
	}
	d := decoder{b: b}
	o.watch = int64(d.uvarint())
	o.since = d.varint()
	d.hist(&o.confirmed)
	for i := range o.pending {
		o.weeks[i] = d.varint()
		d.hist(&o.pending[i])
	}
	if d.err || len(d.b) != 0 || o.watch < 0 || o.watch > 1e6 {
		return nil, errOutcomes
	}
	return o, nil
}

var errOutcomes = errors.New("warnings: corrupt outcomes encoding")

type decoder struct {
	b   []byte
	err bool
}

func (d *decoder) uvarint() uint64 {
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.err, d.b = true, nil
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) varint() int64 {
	v, n := binary.Varint(d.b)
	if n <= 0 {
		d.err, d.b = true, nil
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) hist(h *hist) {
	n := d.uvarint()
	for range min(n, outcomeBins) {
		i, c := d.uvarint(), d.uvarint()
		if i >= outcomeBins || c > math.MaxUint32 {
			d.err = true
			return
		}
		h[i] = uint32(c)
	}
	if n > outcomeBins {
		d.err = true
	}
}
