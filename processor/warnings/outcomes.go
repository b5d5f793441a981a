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
//
// The same record makes the warnings' scores mean what they say: per
// level, the share of the silences warned at it that ended in a
// departure rather than a return is the score the level's warnings carry
// (Score), once enough of them have ended. The share is kept apart by how
// much of the user's rhythm the warning knew (ScoreClasses): a warning
// in a first silence, or of a rhythm still mostly the prior's, is wrong
// far more often than one of a rhythm learned from the user's own gaps.
type Outcomes struct {
	weeks     [pendingWeeks]int64 // the week (since the epoch) of each pending slot; 0: empty
	pending   [pendingWeeks]tally
	confirmed tally
	watch     int64    // the chosen watch risk in millionths; 0: none yet
	since     int64    // when the watch level last changed (Unix ms): no watch is due before it
	score     [3]int64 // per level, the share of its silences that ended in a departure, in millionths; 0: none yet
	// classScore is score per ScoreClass: the class's share pooled with
	// score; 0: no score yet.
	classScore [ScoreClasses][3]int64
	// early is, per level without a score at the last Refresh, its
	// silences that had ended then: [level][0 left, 1 ended].
	early [3][2]uint32
	// ended counts the silences that ended (in a return or a churn) by
	// the kind of visit that began them (visitKind), expected sums their
	// chances of being a departure as the rhythm model saw them, before
	// the kind's hazard (Config.baseChance), in millionths, and hazard is,
	// per kind, how much likelier than the partition's average a user is
	// to leave at such a visit, in millionths (0: not known yet, taken as
	// 1). unweighed are the silences of ended counted before the chances
	// were (a state stored before them): they weigh the average chance.
	ended     [2]uint64
	expected  [2]uint64
	unweighed [2]uint64
	hazard    [2]int64
	first     firstSilences // the first silences' ends (first.go)
	seen      seenDays      // the days the partition saw as breaks (seen.go)
}

// tally is the silences that ended in a week (or before the pending
// weeks): departures by the risk they had reached Lead before their
// churn, and per level the silences warned at it (State.Warned) that
// ended in a departure (left) or a return (stayed).
type tally struct {
	departed     hist
	left, stayed [3]uint32
	after        [2]uint32 // departures by the kind of their last visit
	// class is left and stayed per ScoreClass: [class][level][0 left, 1
	// stayed]. A state stored before the classes has none of its earlier
	// silences here, only in left and stayed.
	class [ScoreClasses][3][2]uint32
}

// hist counts departures by the risk they reached Lead before their churn.
type hist [outcomeBins]uint32

const (
	outcomeBins  = 100 // risk bins of 0.01
	confirmWeeks = 4   // a churn without a return for this long is a departure
	pendingWeeks = confirmWeeks + 2
	weekMs       = 7 * 24 * 3600 * 1000
	// MinDepartures is the least confirmed departures a partition needs
	// before its own watch level replaces the configured one, and
	// MinLevelSilences the least ended silences warned at a level before
	// its score is their share of departures.
	MinDepartures    = 50
	MinLevelSilences = 30
	// ScoreClasses is how many classes of silence the scores keep apart
	// (Config.scoreClass): a first silence, a rhythm still mostly the
	// prior's, a rhythm the user's own gaps have learned.
	ScoreClasses = 3
)

func bin(r float64) int { return min(max(int(r*outcomeBins), 0), outcomeBins-1) }

// slotOf is the pending slot week w uses.
func slotOf(w int64) int {
	i := int(w % pendingWeeks)
	if i < 0 {
		i += pendingWeeks
	}
	return i
}

func weekOf(t int64) int64 { return floorDiv(t, weekMs) }

// floorDiv is t / unit rounded down: the week or day of a time before
// the epoch too.
func floorDiv(t, unit int64) int64 {
	q := t / unit
	if t%unit < 0 {
		q--
	}
	return q
}

// silence is what the outcomes count of a silence: the levels of the bit
// set warned it warned (State.Warned), the kind of visit that began it
// (State.visitKind), its chance of being a departure (Config.baseChance)
// and its ScoreClass (Config.scoreClass).
type silence struct {
	warned uint8
	kind   int
	chance float64
	class  int
}

// depart counts a churn at churnAt of the silence s, which had reached
// the risk of bin b (bin) Lead before it.
func (o *Outcomes) depart(churnAt int64, b int, s silence) {
	o.end(s.kind, s.chance)
	t := o.tallyOf(churnAt)
	t.departed[b]++
	t.after[s.kind]++
	for i := range 3 {
		if s.warned&(1<<i) != 0 {
			t.left[i]++
			t.class[s.class][i][0]++
		}
	}
}

// undepart takes back the churn at churnAt of the silence s: the user came
// back at at. The silence stays counted as ended, now in a return.
func (o *Outcomes) undepart(churnAt int64, b int, s silence, at int64) {
	w := weekOf(churnAt)
	i := slotOf(w)
	t := &o.confirmed
	if o.weeks[i] == w {
		t = &o.pending[i]
	}
	// A bin computed again (State.ChurnBin) may differ: never below zero.
	decr(&t.departed[b])
	decr(&t.after[s.kind])
	for i := range 3 {
		if s.warned&(1<<i) != 0 {
			decr(&t.left[i])
			decr(&t.class[s.class][i][0])
		}
	}
	o.unchurned(at, s)
}

// stay counts the silence s that ended in a return at at.
func (o *Outcomes) stay(at int64, s silence) {
	o.end(s.kind, s.chance)
	o.unchurned(at, s)
}

// end counts an ended silence by its kind of visit and its chance.
func (o *Outcomes) end(kind int, chance float64) {
	o.ended[kind]++
	o.expected[kind] += uint64(math.Round(min(max(chance, 0), 1) * 1e6))
}

// unchurned counts the warned levels of the silence s, which ended in a
// return at at.
func (o *Outcomes) unchurned(at int64, s silence) {
	if s.warned == 0 {
		return
	}
	t := o.tallyOf(at)
	for i := range 3 {
		if s.warned&(1<<i) != 0 {
			t.stayed[i]++
			t.class[s.class][i][1]++
		}
	}
}

func decr(n *uint32) {
	if *n > 0 {
		*n--
	}
}

// tallyOf is where a silence that ended at t counts: its week's, or the
// confirmed one when that week is no longer pending.
func (o *Outcomes) tallyOf(t int64) *tally {
	if p := o.slot(weekOf(t)); p != nil {
		return p
	}
	return &o.confirmed
}

// slot is the pending tally of week w, nil when w is already confirmed.
// A slot still holding an older week confirms it first.
func (o *Outcomes) slot(w int64) *tally {
	i := slotOf(w)
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
	p, c := &o.pending[i], &o.confirmed
	for b, n := range p.departed {
		c.departed[b] += n
	}
	for l := range 3 {
		c.left[l] += p.left[l]
		c.stayed[l] += p.stayed[l]
		for k := range ScoreClasses {
			c.class[k][l][0] += p.class[k][l][0]
			c.class[k][l][1] += p.class[k][l][1]
		}
	}
	for k := range p.after {
		c.after[k] += p.after[k]
	}
	o.pending[i] = tally{}
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
	o.scoreLevels()
	if h := o.hazards(); h != o.hazard {
		o.hazard, o.since = h, at
	}
	if o.first.refresh() {
		o.since = at
	}
	if recall <= 0 || o.Departures() < MinDepartures {
		return
	}
	need := recall * float64(o.Departures())
	var above float64
	for b := outcomeBins - 1; b >= 0; b-- {
		n := float64(o.confirmed.departed[b])
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

// hazardPrior is how many departures' worth of "no difference between
// the kinds of visit" each kind's hazard starts from: a partition with few
// departures after one kind of visit keeps that kind near the average.
const hazardPrior = 10

// hazards is, per kind of visit, the share of silences after such visits
// that ended in a departure, relative to the share after any visit, from
// the confirmed departures: (D_k + hazardPrior) / (E_k + hazardPrior), E_k
// being the departures kind k would have if the kinds did not differ:
// the partition's departures shared out by the chances the rhythm model
// gave the kind's ended silences (expected). Shared out by the silences'
// number instead, as until 2026-12-06, a kind whose silences are mostly
// slow users' long gaps counted as likelier to be the last though the
// model already expected more departures of them
// (processor/quality/FINDINGS.md, "Where users leave"); the silences of
// a state from before weigh the average chance.
// The prior keeps a few departures from moving it far, so it
// needs no minimum of its own: it counts from the first departure, where
// waiting for MinDepartures (the watch level's minimum) left a fresh
// partition's first months treating every kind of visit alike
// (processor/quality/FINDINGS.md, "Cold start and steady state").
func (o *Outcomes) hazards() [2]int64 {
	c := o.confirmed.after
	d := float64(c[0]) + float64(c[1])
	weight := o.weights()
	n := weight[0] + weight[1]
	if d == 0 || n == 0 {
		return o.hazard
	}
	var h [2]int64
	for k := range h {
		expected := d * weight[k] / n
		h[k] = max(1, int64(math.Round((float64(c[k])+hazardPrior)/(expected+hazardPrior)*1e6)))
	}
	return h
}

// weights is, per kind, the departures its ended silences were expected
// to bring (expected), those without a chance (unweighed) at the average
// chance of those with one; the silences' numbers while none has one.
func (o *Outcomes) weights() [2]float64 {
	weighed := float64(o.ended[0]-o.unweighed[0]) + float64(o.ended[1]-o.unweighed[1])
	if weighed == 0 {
		return [2]float64{float64(o.ended[0]), float64(o.ended[1])}
	}
	mean := (float64(o.expected[0]) + float64(o.expected[1])) / weighed
	var w [2]float64
	for k := range w {
		w[k] = float64(o.expected[k]) + float64(o.unweighed[k])*mean
	}
	return w
}

// Hazard is how much likelier than the partition's average a user is to
// leave at a visit of kind (visitKind): 1 until the partition knows.
func (o *Outcomes) Hazard(kind int) float64 {
	if o == nil || o.hazard[kind] == 0 {
		return 1
	}
	return float64(o.hazard[kind]) / 1e6
}

// scoreLevels sets each level's score to the share of its ended silences
// that were departures, from the levels with MinLevelSilences of them,
// kept rising with the level (pooled with the level below where the
// shares fall: a higher level never claims less). Unlike the watch level,
// the scores count a churn as a departure from the week it happens, not
// confirmWeeks later (a return still takes it back): a partition's first
// scores come a month sooner, and the few churns that turn out to be
// lapses cost less than scoring with the risk that month. Measured on
// eleven populations, seeds 1 and 2: the Brier score fell on ten (heavy
// users 0.0467 → 0.0325) and rose on monthly users (0.1931 → 0.1944;
// processor/quality/FINDINGS.md, "Does the score mean what it says?").
// Each ScoreClass's scores are its own share pooled with these.
func (o *Outcomes) scoreLevels() {
	type block struct{ left, n float64 }
	var blocks []block
	var levels [][]int // the levels of each block
	var left, stayed [3]uint32
	var class [ScoreClasses][3][2]uint32
	for _, t := range o.tallies() {
		for l := range 3 {
			left[l] += t.left[l]
			stayed[l] += t.stayed[l]
			for k := range ScoreClasses {
				class[k][l][0] += t.class[k][l][0]
				class[k][l][1] += t.class[k][l][1]
			}
		}
	}
	for l := range 3 {
		n := float64(left[l] + stayed[l])
		if n < MinLevelSilences {
			break // the higher levels have fewer still
		}
		blocks = append(blocks, block{float64(left[l]), n})
		levels = append(levels, []int{l})
		for k := len(blocks) - 1; k > 0 && blocks[k].left/blocks[k].n < blocks[k-1].left/blocks[k-1].n; k-- {
			blocks[k-1] = block{blocks[k-1].left + blocks[k].left, blocks[k-1].n + blocks[k].n}
			levels[k-1] = append(levels[k-1], levels[k]...)
			blocks, levels = blocks[:k], levels[:k]
		}
	}
	for k, b := range blocks {
		for _, l := range levels[k] {
			o.score[l] = max(1, int64(math.Round(b.left/b.n*1e6)))
		}
	}
	for l := range 3 {
		o.early[l] = [2]uint32{}
		if o.score[l] == 0 {
			o.early[l] = [2]uint32{left[l], left[l] + stayed[l]}
		}
	}
	// Each class's share is pooled with the partition's, worth
	// MinLevelSilences silences: a class with few silences, or one that
	// does not differ, stays near the partition's share.
	for k := range ScoreClasses {
		for l := range 3 {
			if o.score[l] == 0 {
				o.classScore[k][l] = 0
				continue
			}
			c := class[k][l]
			share := (float64(c[0]) + MinLevelSilences*float64(o.score[l])/1e6) / (float64(c[0]+c[1]) + MinLevelSilences)
			if l > 0 {
				share = max(share, float64(o.classScore[k][l-1])/1e6)
			}
			o.classScore[k][l] = max(1, int64(math.Round(share*1e6)))
		}
	}
}

// tallies is the confirmed tally, then each pending one.
func (o *Outcomes) tallies() (t [1 + pendingWeeks]*tally) {
	t[0] = &o.confirmed
	for i := range o.pending {
		t[1+i] = &o.pending[i]
	}
	return t
}

// Score is the score of a warning of level (Watch, AtRisk, Critical)
// whose silence is of class (Config.scoreClass) and whose risk is risk:
// the share of the partition's silences of that class warned at the level
// that ended in a departure, pooled with the share of all its silences
// warned at the level, once MinLevelSilences have ended. Before that, the
// share of the first MinLevelSilences, with risk standing in for those
// not ended yet (risk alone before the first), never below the level
// below's score.
func (o *Outcomes) Score(level Level, class int, risk float64) float64 {
	if level < Watch || level > Critical {
		return risk
	}
	if s := o.known(level, class); s != 0 {
		return s
	}
	e := o.early[level-1]
	if e[1] == 0 || e[1] >= MinLevelSilences {
		return risk
	}
	s := (float64(e[0]) + float64(MinLevelSilences-e[1])*risk) / MinLevelSilences
	if level > Watch {
		s = max(s, o.known(level-1, class))
	}
	return s
}

// known is the score of level for class once the level has its share,
// else 0.
func (o *Outcomes) known(level Level, class int) float64 {
	if class >= 0 && class < ScoreClasses && o.classScore[class][level-1] != 0 {
		return float64(o.classScore[class][level-1]) / 1e6
	}
	return float64(o.score[level-1]) / 1e6
}

// Watch is the chosen watch risk and when it took effect; ok is false
// until there is one.
func (o *Outcomes) Watch() (risk float64, since int64, ok bool) {
	return float64(o.watch) / 1e6, o.since, o.watch > 0
}

// Departures is the number of confirmed departures.
func (o *Outcomes) Departures() uint64 {
	var n uint64
	for _, c := range o.confirmed.departed {
		n += uint64(c)
	}
	return n
}

// AppendBinary appends the stored form of o: the watch level, since and
// the levels' scores, then each tally: its histogram as (bin, count)
// pairs of the non-zero bins, and its level counts.
func (o *Outcomes) AppendBinary(b []byte) []byte {
	b = binary.AppendUvarint(b, uint64(o.watch))
	b = binary.AppendVarint(b, o.since)
	for _, s := range o.score {
		b = binary.AppendUvarint(b, uint64(s))
	}
	b = o.confirmed.append(b)
	for i := range o.pending {
		b = binary.AppendVarint(b, o.weeks[i])
		b = o.pending[i].append(b)
	}
	// Added with the kinds of visit; an encoding without them ends above.
	for k := range 2 {
		b = binary.AppendUvarint(b, o.ended[k])
		b = binary.AppendUvarint(b, uint64(o.hazard[k]))
		b = binary.AppendUvarint(b, uint64(o.confirmed.after[k]))
		for i := range o.pending {
			b = binary.AppendUvarint(b, uint64(o.pending[i].after[k]))
		}
	}
	// Added with the silences' chances; an encoding without them ends above.
	for k := range 2 {
		b = binary.AppendUvarint(b, o.expected[k])
		b = binary.AppendUvarint(b, o.unweighed[k])
	}
	// Added with the first silences; an encoding without them ends above.
	b = o.first.append(b)
	// Added with the score classes; an encoding without them ends above.
	for _, t := range o.tallies() {
		c := t.classCounts()
		b = appendSparse(b, c[:])
	}
	for k := range o.classScore {
		for _, s := range o.classScore[k] {
			b = binary.AppendUvarint(b, uint64(s))
		}
	}
	for _, e := range o.early {
		b = binary.AppendUvarint(b, uint64(e[0]))
		b = binary.AppendUvarint(b, uint64(e[1]))
	}
	// Added with the breaks the partition sees; an encoding without them ends above.
	return o.seen.append(b)
}

// classCounts is t.class flattened, as appendSparse writes it.
func (t *tally) classCounts() (c [ScoreClasses * 3 * 2]uint32) {
	for k := range t.class {
		for l := range t.class[k] {
			i := (k*3 + l) * 2
			c[i], c[i+1] = t.class[k][l][0], t.class[k][l][1]
		}
	}
	return c
}

// setClassCounts is the inverse of classCounts.
func (t *tally) setClassCounts(c [ScoreClasses * 3 * 2]uint32) {
	for k := range t.class {
		for l := range t.class[k] {
			i := (k*3 + l) * 2
			t.class[k][l][0], t.class[k][l][1] = c[i], c[i+1]
		}
	}
}

// append writes the returns at the last Refresh and those since, which
// are few: the record is stored with every commit.
func (f *firstSilences) append(b []byte) []byte {
	b = binary.AppendUvarint(b, uint64(f.departed))
	b = binary.AppendUvarint(b, uint64(f.departedAtRefresh))
	b = appendSparse(b, f.atRefresh[:])
	since := f.returned
	for i := range since {
		since[i] -= f.atRefresh[i] // never below: returns are only added
	}
	return appendSparse(b, since[:])
}

func (t *tally) append(b []byte) []byte {
	b = t.departed.append(b)
	for l := range 3 {
		b = binary.AppendUvarint(b, uint64(t.left[l]))
		b = binary.AppendUvarint(b, uint64(t.stayed[l]))
	}
	return b
}

func (h *hist) append(b []byte) []byte { return appendSparse(b, h[:]) }

// appendSparse appends counts as their number of non-zero entries, then
// (index, count) pairs of those.
func appendSparse(b []byte, counts []uint32) []byte {
	n := 0
	for _, c := range counts {
		if c != 0 {
			n++
		}
	}
	b = binary.AppendUvarint(b, uint64(n))
	for i, c := range counts {
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
	for l := range o.score {
		o.score[l] = int64(d.uvarint())
		d.err = d.err || o.score[l] > 1e6
	}
	d.tally(&o.confirmed)
	for i := range o.pending {
		o.weeks[i] = d.varint()
		d.tally(&o.pending[i])
	}
	for k := range 2 {
		if len(d.b) == 0 && k == 0 {
			break // stored before the kinds of visit
		}
		o.ended[k] = d.uvarint()
		o.hazard[k] = int64(d.uint32())
		o.confirmed.after[k] = d.uint32()
		for i := range o.pending {
			o.pending[i].after[k] = d.uint32()
		}
	}
	if len(d.b) > 0 { // stored with the silences' chances
		for k := range 2 {
			o.expected[k] = d.uvarint()
			o.unweighed[k] = d.uvarint()
			d.err = d.err || o.unweighed[k] > o.ended[k]
		}
	} else {
		o.unweighed = o.ended // counted without chances
	}
	if len(d.b) > 0 { // stored with the first silences
		f := &o.first
		f.departed, f.departedAtRefresh = d.uint32(), d.uint32()
		d.sparse(f.atRefresh[:])
		d.sparse(f.returned[:])
		for i, n := range f.atRefresh {
			f.returned[i] += n
			d.err = d.err || f.returned[i] < n
		}
		f.sumLonger()
	}
	if len(d.b) > 0 { // stored with the score classes
		for _, t := range o.tallies() {
			var c [ScoreClasses * 3 * 2]uint32
			d.sparse(c[:])
			t.setClassCounts(c)
		}
		for k := range o.classScore {
			for l := range o.classScore[k] {
				o.classScore[k][l] = int64(d.uvarint())
				d.err = d.err || o.classScore[k][l] > 1e6
			}
		}
		for l := range o.early {
			o.early[l] = [2]uint32{d.uint32(), d.uint32()}
			d.err = d.err || o.early[l][0] > o.early[l][1]
		}
	}
	if len(d.b) > 0 { // stored with the breaks the partition sees
		d.seenDays(&o.seen)
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

func (d *decoder) tally(t *tally) {
	d.hist(&t.departed)
	for l := range 3 {
		t.left[l], t.stayed[l] = d.uint32(), d.uint32()
	}
}

func (d *decoder) uint32() uint32 {
	v := d.uvarint()
	if v > math.MaxUint32 {
		d.err = true
	}
	return uint32(v)
}

func (d *decoder) hist(h *hist) { d.sparse(h[:]) }

// sparse decodes what appendSparse wrote into counts.
func (d *decoder) sparse(counts []uint32) {
	size := uint64(len(counts))
	n := d.uvarint()
	for range min(n, size) {
		i, c := d.uvarint(), d.uvarint()
		if i >= size || c > math.MaxUint32 {
			d.err = true
			return
		}
		counts[i] = uint32(c)
	}
	if n > size {
		d.err = true
	}
}
