package warnings

import "math/bits"

// firstSilences is a partition's record of how its users' first silences
// ended: the silence after a user's only visit so far, in a return (by
// its length) or in a churn. A first visit tells nothing of the user's
// own rhythm, so the rhythm model can only give such a silence the
// population prior's risk, and how likely a first visit is to be the last
// differs most between populations of all the silences
// (processor/quality/FINDINGS.md, "First visits"): in a "buy till you
// die" population nobody leaves at the first purchase; in an app's, many
// try it once. The partition's own first silences say which: of those
// that lasted longer than this one, the share that ended in a churn.
//
// Like the watch level, the record changes only at Refresh, so that the
// same input gives the same warnings whatever the batching: returned and
// departed count as silences end, atRefresh and departedAtRefresh are
// what the risk is taken from. A churn counts when it comes (a return
// takes it back), as the levels' scores count them.
type firstSilences struct {
	returned          [firstBins]uint32 // first silences that ended in a return, by length (firstBin)
	departed          uint32            // first silences that ended in a churn, not taken back
	atRefresh         [firstBins]uint32 // returned at the last Refresh
	departedAtRefresh uint32
	longer            [firstBins]uint32 // from atRefresh: the returns longer than each bin (not stored)
}

// firstBins cover silences from a minute to about 4 years in steps of an
// eighth of a doubling (firstBin); longer ones share the last.
const firstBins = 21 * 8

// firstPrior is how many silences' worth of the rhythm model's risk the
// first-silence risk starts from: with few first silences ended it is the
// model's, and each ended one moves it toward the partition's share. The
// same weight as the kinds of visit's (hazardPrior).
const firstPrior = hazardPrior

// firstBin is the bin of a silence of ms: log-spaced, 8 per doubling of
// its minutes, in integers so that every machine bins alike.
func firstBin(ms int64) int {
	x := uint64(max(ms/60000, 0)) + 1
	e := bits.Len64(x) - 1
	var m uint64
	if e >= 3 {
		m = x >> (e - 3) & 7
	} else {
		m = x << (3 - e) & 7
	}
	return min(e*8+int(m), firstBins-1)
}

// returnAfter counts a first silence of ms that ended in a return.
func (f *firstSilences) returnAfter(ms int64) { f.returned[firstBin(ms)]++ }

// depart counts a first silence that ended in a churn; undepart takes it
// back when the user returns after ms.
func (f *firstSilences) depart() { f.departed++ }

func (f *firstSilences) undepart(ms int64) {
	decr(&f.departed)
	f.returnAfter(ms)
}

// refresh takes the counts the risk is computed from; it reports whether
// they changed.
func (f *firstSilences) refresh() bool {
	if f.atRefresh == f.returned && f.departedAtRefresh == f.departed {
		return false
	}
	f.atRefresh, f.departedAtRefresh = f.returned, f.departed
	f.sumLonger()
	return true
}

func (f *firstSilences) sumLonger() {
	var n uint32
	for b := firstBins - 1; b >= 0; b-- {
		f.longer[b] = n
		n += f.atRefresh[b]
	}
}

// known reports whether the last Refresh counted any first silence: until
// then the risk is the rhythm model's.
func (f *firstSilences) known() bool {
	return f.departedAtRefresh > 0 || f.longer[0]+f.atRefresh[0] > 0
}

// risk is the risk of a first silence of ms: the share of the partition's
// first silences longer than it that ended in a churn, with firstPrior
// silences at model, the rhythm model's risk.
func (f *firstSilences) risk(ms int64, model float64) float64 {
	d := float64(f.departedAtRefresh)
	return (d + firstPrior*model) / (d + float64(f.longer[firstBin(ms)]) + firstPrior)
}
