// Package segments is the RFM model of domain.md ("RFM: value segmentation")
// as pure functions: a user's raw Values (days since the last purchase,
// purchases, spend) and the cuts of their partition's population → a Score:
// R, F and M from 1 to 5 by quintile, and one of the eight named segments.
//
// # The model
//
// Only buyers count: a user who never purchased scores none and is not part
// of the population. 5 is best in every dimension: the most recent (fewest
// days), the most purchases, the biggest spend. F and M count all time, or,
// with Config.Window, the last Window of event time (see Window). The
// segments split each dimension in two at the population's median: "recent"
// is fewer days than the median buyer, high F and high M are above the
// median buyer; M high is "important", low is "general".
//
// # The cuts
//
// The runtime rebuilds a Population on a schedule of event time
// (Config.RebuildPoint): it Adds every user's current Values and Seals. One
// DDSketch per dimension (relative accuracy SketchAccuracy, dense stores)
// gives the 20/40/60/80 % quantiles and the median. A cut at fraction q
// puts the ceil(q×n) least valuable buyers on its lower side; it is the edge
// of the sketch bin holding the last of them, on the valuable side, so it
// is within about 0.8 % of the exact order statistic and every value in one
// bin lands on the same side. A value tied with a cut (in its bin) goes to
// the less valuable side: the lower score, "low", "not recent". With heavy
// ties (most buyers bought once) several cuts coincide and the scores in
// between stay empty. Scores use the cuts of the last Seal, so users can be
// scored while the next rebuild is fed. Before the first Seal, and after a
// Seal of a population without buyers, every user scores none.
//
// # Hysteresis
//
// The cuts move with every rebuild and a user's values move with every
// purchase and every day; a user near a cut would flip back and forth, and
// every flip is an output that CRM systems act on. So each cut has a dead
// band of ±Hysteresis × the distance to the nearest neighbouring cut (the
// quintile cuts have each other and 0 as neighbours; the median has the 40
// and 60 % cuts): a user keeps the side of the cut their previous Score was
// on until their value leaves the dead band. The same holds for the
// high/low splits, which the previous Segment records. With Hysteresis at
// most 0.5 neighbouring dead bands never overlap, so a value clearly inside
// a band always gets that band's score, whatever the previous score. The
// default 0.1 makes the dead band a tenth of the narrower neighbouring band
// on each side (for values spread evenly there, about 2 % of the buyers
// around a quintile cut and 1 % around the median), while still moving a
// user as soon as their value is a tenth of a band past the cut.
// A user without a previous score gets the plain answer.
//
// # Determinism
//
// Nothing here reads a clock or draws a random number; time is the event
// time passed in. A DDSketch's quantiles depend only on how many values fall
// in each bin: the counts are float64 sums of 1 (exact below 2^53), the
// dense store is walked in bin order, and there are no maps. So the cuts
// are a function of the multiset of Values, not of the order of the scan
// (the default store of sketches-go, BufferedPaginatedStore, sorts its
// buffer and would also be order-independent; a dense store is used for
// speed and simplicity). Bins come from math.Log and cuts from math.Exp,
// which on amd64 are assembly and elsewhere pure Go: a value within one ulp
// of a bin edge could in principle land in another bin on another GOARCH,
// so replays that must match bit for bit should run on the same GOARCH.
package segments
