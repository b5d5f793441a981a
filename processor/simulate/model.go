package simulate

import (
	"math"
	"math/rand/v2"
)

// Parameters of the behaviour model (see doc.go for the narrative).
const (
	msPerMinute = 60_000
	msPerHour   = 60 * msPerMinute
	msPerDay    = 24 * msPerHour

	// Visit rate per day: Pareto(xm, alpha), capped.
	visitRateMin   = 0.08 // xm: the rarest users visit about once in 12 days
	visitRateAlpha = 1.2  // tail index: ~5% of users visit daily or more
	visitRateMax   = 6.0  // nobody averages more than 6 visits a day

	// Lifetime after arrival: Weibull(shape, scale) with a per-user scale
	// lifetimeScale · (rate/visitRateRef)^lifetimeRateExp · LogNormal(0, lifetimeSigma).
	lifetimeShape   = 0.7  // < 1: the hazard falls with age, many leave early
	lifetimeScale   = 90.0 // days, for a user with the reference visit rate
	visitRateRef    = 0.15 // about the median visit rate
	lifetimeRateExp = 0.35 // frequent visitors stay longer
	lifetimeSigma   = 0.5
	lifetimeMinMs   = 2 * msPerHour // everybody finishes the first visit

	// Fading before dropout: over the last fadeDays the visit rate falls
	// linearly from 1 to fadeFloor times the user's rate.
	fadeDays  = 21.0
	fadeFloor = 0.15

	// Lapses ("vacations"): they start at a calendar rate of one per
	// lapseEveryDays days of activity and last lapseMinDays + Exp(lapseMeanDays).
	lapseEveryDays = 250.0
	lapseMinDays   = 20.0
	lapseMeanDays  = 25.0
	lapseMaxDays   = 120.0

	// Purchases: a user is a potential buyer with probability buyerShare; a
	// buyer buys on a visit with probability LogNormal(ln buyMedian, buySigma),
	// capped at buyMax.
	buyerShare = 0.5
	buyMedian  = 0.10
	buySigma   = 1.0
	buyMax     = 0.8
	// Basket amounts: per-user median 25·LogNormal(0, basketUserSigma); each
	// amount is that median · LogNormal(0, basketSigma), in cents; a share of
	// charmShare is rounded to a .99 price.
	basketMedian    = 25.0
	basketUserSigma = 0.5
	basketSigma     = 0.6
	charmShare      = 0.4
	amountMinCents  = 50
	amountMaxCents  = 500_000
	purchaseDelayMs = 7 * msPerMinute // mean delay of a purchase after its login (plus one minute)

	// Content: a user contributes with probability contentShare; a
	// contributor posts on a visit with probability LogNormal(ln contentMedian, contentSigma), capped.
	contentShare   = 0.7
	contentMedian  = 0.12
	contentSigma   = 1.0
	contentMax     = 0.9
	contentDelayMs = 12 * msPerMinute // mean delay of a content event after its login

	// Minimum gap between the end of one visit and the next login.
	minGapMs = msPerMinute

	// Share of events whose ts is written as integer epoch milliseconds.
	epochTsPercent = 10
)

// hourWeight is the relative activity per local hour of day (0..23).
var hourWeight = [24]float64{
	0.30, 0.20, 0.15, 0.10, 0.10, 0.15, 0.35, 0.60, 0.80, 0.90, 1.00, 1.05,
	1.15, 1.10, 1.00, 1.00, 1.05, 1.15, 1.30, 1.45, 1.55, 1.50, 1.10, 0.60,
}

var hourWeightMax, hourWeightMean = func() (max, mean float64) {
	for _, w := range hourWeight {
		max = math.Max(max, w)
		mean += w / 24
	}
	return max, mean
}()

// Content kinds and their weights; "review" is only chosen by users who
// have bought something before.
var contentKinds = [...]string{"like", "comment", "answer", "post", "review"}

var contentWeights = [...]float64{40, 25, 12, 13, 10}

// Event types as stored in the per-user buffer.
const (
	evLogin uint8 = iota
	evPurchase
	evContent
)

// event is one generated, not yet emitted valid event.
type event struct {
	ts    int64 // Unix ms
	cents int64 // purchase amount
	typ   uint8
	kind  uint8 // index into contentKinds
}

// user is the O(1)-sized state of one simulated user.
type user struct {
	r   *rand.Rand
	pcg rand.PCG
	idx int    // 1-based
	key []byte // user id

	arrival, dropout, limit int64   // Unix ms; limit = min(dropout, end of period)
	rate                    float64 // visits per day
	scale                   float64 // Weibull scale of the lifetime, days
	pBuy, pContent          float64
	basket                  float64 // per-user median basket, currency units
	pLapse                  float64 // per-visit probability that a lapse follows
	tz                      int64   // offset of local time from UTC, ms

	seq                 int
	visits, purchases   int
	contents, longGaps  int
	spent               int64
	lastLogin, lastTime int64 // ts of the previous login / previous event

	pending [3]event
	n, head int
}

// newUser draws the fixed traits of user idx (1-based) from its own stream.
func newUser(u *user, seed int64, idx int, start, end int64) {
	u.pcg = *rand.NewPCG(uint64(seed), splitmix64(uint64(idx)))
	u.r = rand.New(&u.pcg)
	u.idx = idx
	r := u.r
	period := float64(end - start)

	// Arrival: density falling linearly over the period (75% in the first
	// half), thinned by the daily rhythm.
	u.tz = int64(r.IntN(19)-9) * msPerHour
	for {
		f := 1 - math.Sqrt(1-r.Float64())
		t := start + int64(f*period)
		if t >= end {
			t = end - 1
		}
		if r.Float64()*hourWeightMax < u.hourW(t) {
			u.arrival = t
			break
		}
	}

	u.rate = math.Min(visitRateMin*math.Pow(1-r.Float64(), -1/visitRateAlpha), visitRateMax)

	u.scale = lifetimeScale * math.Pow(u.rate/visitRateRef, lifetimeRateExp) * math.Exp(lifetimeSigma*r.NormFloat64())
	life := u.scale * math.Pow(-math.Log(1-r.Float64()), 1/lifetimeShape) * msPerDay
	if life < lifetimeMinMs {
		life = lifetimeMinMs
	}
	if life > float64(end-start)*2 {
		life = float64(end-start) * 2
	}
	u.dropout = u.arrival + int64(life)
	u.limit = min(u.dropout, end)

	if r.Float64() < buyerShare {
		u.pBuy = math.Min(buyMedian*math.Exp(buySigma*r.NormFloat64()), buyMax)
	}
	u.basket = basketMedian * math.Exp(basketUserSigma*r.NormFloat64())
	if r.Float64() < contentShare {
		u.pContent = math.Min(contentMedian*math.Exp(contentSigma*r.NormFloat64()), contentMax)
	}
	u.pLapse = lapseChance(u.rate)

	u.lastTime = u.arrival
	u.visit(u.arrival)
}

// lapseChance is the probability that a lapse follows a visit, for a
// user with the given visit rate per day.
func lapseChance(rate float64) float64 { return math.Min(1/(rate*lapseEveryDays), 0.5) }

func (u *user) hourW(t int64) float64 {
	h := ((t+u.tz)%msPerDay + msPerDay) % msPerDay / msPerHour
	return hourWeight[h]
}

// next fills the pending buffer with the next visit; it reports false once
// the user has no further visit before dropout or the end of the period.
func (u *user) next() bool {
	r := u.r
	t := u.lastTime + minGapMs
	if r.Float64() < u.pLapse {
		d := math.Min(lapseMinDays+lapseMeanDays*r.ExpFloat64(), lapseMaxDays)
		t += int64(d * msPerDay)
	}
	// Thinning: candidates at the peak rate, accepted with the relative
	// weight of the hour and the fade factor.
	candPerMs := u.rate * hourWeightMax / hourWeightMean / msPerDay
	for {
		t += int64(r.ExpFloat64() / candPerMs)
		if t >= u.limit {
			return false
		}
		w := u.hourW(t) / hourWeightMax
		if left := float64(u.dropout-t) / msPerDay; left < fadeDays {
			w *= fadeFloor + (1-fadeFloor)*left/fadeDays
		}
		if r.Float64() < w {
			break
		}
	}
	u.visit(t)
	return u.n > 0
}

// visit generates the events of a visit starting with a login at t.
func (u *user) visit(t int64) {
	r := u.r
	u.n, u.head = 0, 0
	if t >= u.limit {
		return
	}
	if u.visits > 0 && t-u.lastLogin > LongGap.Milliseconds() {
		u.longGaps++
	}
	u.visits++
	u.lastLogin = t
	u.pending[0] = event{ts: t, typ: evLogin}
	u.n = 1
	if u.pBuy > 0 && r.Float64() < u.pBuy {
		ts := t + msPerMinute + int64(r.ExpFloat64()*purchaseDelayMs)
		if ts < u.limit {
			u.pending[u.n] = event{ts: ts, typ: evPurchase, cents: u.amount()}
			u.n++
		}
	}
	if u.pContent > 0 && r.Float64() < u.pContent {
		ts := t + 10_000 + int64(r.ExpFloat64()*contentDelayMs)
		k := u.contentKind()
		if ts < u.limit {
			u.pending[u.n] = event{ts: ts, typ: evContent, kind: k}
			u.n++
		}
	}
	if u.n == 3 && u.pending[2].ts < u.pending[1].ts {
		u.pending[1], u.pending[2] = u.pending[2], u.pending[1]
	}
	for i := 1; i < u.n; i++ {
		switch e := u.pending[i]; e.typ {
		case evPurchase:
			u.purchases++
			u.spent += e.cents
		case evContent:
			u.contents++
		}
	}
	u.lastTime = u.pending[u.n-1].ts
}

// amount draws a basket amount in cents.
func (u *user) amount() int64 {
	r := u.r
	x := u.basket * math.Exp(basketSigma*r.NormFloat64())
	c := int64(math.Round(x * 100))
	if r.Float64() < charmShare {
		c = c/100*100 + 99
	}
	return min(max(c, amountMinCents), amountMaxCents)
}

func (u *user) contentKind() uint8 {
	n := len(contentWeights)
	if u.purchases == 0 {
		n-- // no reviews without a purchase
	}
	var total float64
	for _, w := range contentWeights[:n] {
		total += w
	}
	x := u.r.Float64() * total
	for i, w := range contentWeights[:n] {
		if x < w {
			return uint8(i)
		}
		x -= w
	}
	return uint8(n - 1)
}

// epochTs reports whether the event with this user and seq writes its ts as
// integer epoch milliseconds (a deterministic ~epochTsPercent%).
func epochTs(seed int64, idx, seq int) bool {
	return splitmix64(uint64(seed)^uint64(idx)<<24^uint64(seq))%100 < epochTsPercent
}

// splitmix64 is a bijective 64-bit mixer.
func splitmix64(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9
	x = (x ^ (x >> 27)) * 0x94d049bb133111eb
	return x ^ (x >> 31)
}
