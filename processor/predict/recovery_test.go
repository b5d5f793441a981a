package predict

import (
	"math"
	"math/rand/v2"
	"testing"
	"time"

	"gonum.org/v1/gonum/stat/distuv"
)

// simulate draws n customers from BG/NBD(bg) and Gamma-Gamma(gg), each
// observed for T ~ Uniform(tMin, tMax) periods after a first purchase at 0,
// with a deterministic seed.
func simulate(n int, bg BGNBD, gg GammaGamma, tMin, tMax float64, seed uint64) []Summary {
	src := rand.NewPCG(seed, 0x1ce)
	rng := rand.New(src)
	lambda := distuv.Gamma{Alpha: bg.R, Beta: bg.Alpha, Src: src}
	drop := distuv.Beta{Alpha: bg.A, Beta: bg.B, Src: src}
	nu := distuv.Gamma{Alpha: gg.Q, Beta: gg.Gamma, Src: src}
	out := make([]Summary, n)
	for i := range out {
		T := tMin + (tMax-tMin)*rng.Float64()
		l, p := lambda.Rand(), drop.Rand()
		var x, tx, t float64
		for {
			t += rng.ExpFloat64() / l
			if t > T {
				break
			}
			x++
			tx = t
			if rng.Float64() < p {
				break // dropped out after this purchase
			}
		}
		s := Summary{X: x, Tx: tx, T: T}
		if x > 0 {
			spend := distuv.Gamma{Alpha: gg.P, Beta: nu.Rand(), Src: src}
			sum := 0.0
			for range int(x) {
				sum += spend.Rand()
			}
			s.MeanValue = sum / x
		}
		out[i] = s
	}
	return out
}

// TestParameterRecovery: fitting populations simulated from known
// parameters gives those parameters back: within 10% for r, α and p, 15% for
// a, b (the dropout parameters) and for q, γ (strongly correlated: the data
// pin down the mean spend p·γ/(q−1), checked within 3%, far better than q
// and γ apart). The fitted log-likelihood must also be at least that of the
// true parameters: the optimizer found the maximum, the rest is sampling
// noise.
func TestParameterRecovery(t *testing.T) {
	cases := []struct {
		name       string
		n          int
		bg         BGNBD
		gg         GammaGamma
		tMin, tMax float64
	}{
		{"CDNOW-like", 40000, BGNBD{0.25, 4, 0.8, 2.5}, GammaGamma{6, 4, 15}, 26, 78},
		{"frequent buyers", 25000, BGNBD{1.5, 8, 1.8, 6}, GammaGamma{3, 8, 40}, 52, 104},
	}
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			data := simulate(c.n, c.bg, c.gg, c.tMin, c.tMax, uint64(i+1))
			t0 := time.Now()
			m, err := Fit(data, Week)
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("fitted in %v: BG/NBD %+v (true %+v), %d iterations; Gamma-Gamma %+v (true %+v) on %d repeat buyers",
				time.Since(t0), m.BGNBD, c.bg, m.BGNBDFit.Iterations, m.GammaGamma, c.gg, m.GammaGammaFit.Users)
			for _, p := range []struct {
				name            string
				got, want, relT float64
			}{
				{"r", m.BGNBD.R, c.bg.R, 0.10}, {"alpha", m.BGNBD.Alpha, c.bg.Alpha, 0.10},
				{"a", m.BGNBD.A, c.bg.A, 0.15}, {"b", m.BGNBD.B, c.bg.B, 0.15},
				{"p", m.GammaGamma.P, c.gg.P, 0.10}, {"q", m.GammaGamma.Q, c.gg.Q, 0.15}, {"gamma", m.GammaGamma.Gamma, c.gg.Gamma, 0.15},
				{"mean spend", m.GammaGamma.PopulationMean(), c.gg.PopulationMean(), 0.03},
			} {
				if e := relErr(p.got, p.want); e > p.relT || math.IsNaN(e) {
					t.Errorf("%s = %.4g, true %g: relative error %.3f > %.2f", p.name, p.got, p.want, e, p.relT)
				}
			}
			var llBG, llGG float64
			for _, s := range data {
				llBG += c.bg.LogLik(s)
				if usableSpend(s) {
					llGG += c.gg.LogLik(s)
				}
			}
			if m.BGNBDFit.LogLik < llBG || m.GammaGammaFit.LogLik < llGG {
				t.Errorf("fitted LL %.2f, %.2f below the true parameters' %.2f, %.2f", m.BGNBDFit.LogLik, m.GammaGammaFit.LogLik, llBG, llGG)
			}
		})
	}
}
