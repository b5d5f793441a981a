package predict

import (
	"math"
	"testing"
)

// seriesHyp2f1 sums the Gauss series of 2F1(a, b; c; z) term by term, for
// a, b, c > 0 and 0 ≤ z < 1 (all terms positive, so no cancellation): an
// independent, slow reference for hyp2f1.
func seriesHyp2f1(a, b, c, z float64) float64 {
	sum, term := 1.0, 1.0
	for n := 0.0; n < 5e7; n++ {
		term *= (a + n) * (b + n) / ((c + n) * (n + 1)) * z
		sum += term
		if term < 1e-17*sum && n > (a+b)/(1-z) {
			return sum
		}
		if math.IsInf(sum, 0) {
			return sum
		}
	}
	return math.NaN()
}

// TestHyp2f1 checks mathext.Hypergeo, as ExpectedPurchases calls it, against
// the plain series over the arguments BG/NBD produces: a = r+x, b = b+x,
// c = a+b+x−1 and z = n/(α+T+n) from 0 up to 0.9999, including a < 1
// (c−a−b < 0, where the function grows without bound as z → 1).
func TestHyp2f1(t *testing.T) {
	checked := 0
	for _, r := range []float64{0.05, 0.243, 1, 1.5, 8} {
		for _, pa := range []float64{0.3, 0.793, 1.7, 2, 3, 6} {
			for _, pb := range []float64{0.2, 2.426, 15} {
				for _, x := range []float64{0, 1, 2, 7, 30} {
					for _, z := range []float64{1e-6, 0.01, 0.3, 0.5, 0.75, 0.9, 0.95, 0.99, 0.999, 0.9999} {
						a, b, c := r+x, pb+x, pa+pb+x-1
						if c <= 0 {
							continue
						}
						want := seriesHyp2f1(a, b, c, z)
						if math.IsInf(want, 0) || math.IsNaN(want) || want > 1e250 {
							continue
						}
						got := hyp2f1(a, b, c, z)
						if relErr(got, want) > 1e-8 {
							t.Errorf("2F1(%g, %g; %g; %g) = %.15g, series %.15g (rel. error %.2g)", a, b, c, z, got, want, relErr(got, want))
						}
						checked++
					}
				}
			}
		}
	}
	t.Logf("%d points checked", checked)
}

// TestExpectedPurchasesShape: E[Y(n)] is finite, ≥ 0, starts at 0 and grows
// with n, for ordinary and extreme summaries and horizons.
func TestExpectedPurchasesShape(t *testing.T) {
	models := []BGNBD{{0.243, 4.414, 0.793, 2.426}, {2, 10, 3, 8}, {0.5, 1, 1, 3}, {0.1, 50, 0.2, 0.3}}
	sums := []Summary{{0, 0, 0, 0}, {0, 0, 38.86, 0}, {2, 30.43, 38.86, 20}, {1, 38, 38, 1}, {40, 3, 300, 1}, {25, 27, 37, 1}, {1, 0.14, 1, 1}}
	for _, m := range models {
		for _, s := range sums {
			prev := 0.0
			for _, n := range []float64{0, 0.5, 1, 4, 13, 39, 52, 104, 520, 5200} {
				e := m.ExpectedPurchases(s, n)
				if math.IsNaN(e) || math.IsInf(e, 0) || e < prev-1e-9*math.Max(1, prev) {
					t.Errorf("%+v %+v: E[Y(%g)] = %g after %g", m, s, n, e, prev)
				}
				prev = e
			}
		}
	}
}
