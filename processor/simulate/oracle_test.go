package simulate

import (
	"testing"
	"time"
)

// TestOracleThresholds: a higher risk threshold warns fewer times, never
// more, and every warning falls in a silence after a login, before the end.
func TestOracleThresholds(t *testing.T) {
	recs, truth := run(t, Config{Users: 300, Days: 120, Seed: 9})
	logins := map[string][]int64{}
	for _, r := range recs {
		if r.Topic == DefaultTopics.Login {
			logins[string(r.Key)] = append(logins[string(r.Key)], r.Time)
		}
	}
	end := DefaultStart.Add(120 * 24 * time.Hour).UnixMilli()
	out := Oracle(truth, logins, end, 30*24*time.Hour, []float64{0.2, 0.5, 0.9})
	count := func(m map[string][]int64) (n int) {
		for _, ts := range m {
			n += len(ts)
		}
		return n
	}
	if a, b, c := count(out[0]), count(out[1]), count(out[2]); !(a >= b && b >= c && c > 0) {
		t.Fatalf("warnings at thresholds 0.2, 0.5, 0.9: %d, %d, %d; want non-increasing and some", a, b, c)
	}
	for id, ts := range out[0] {
		for _, at := range ts {
			if at <= logins[id][0] || at >= end {
				t.Fatalf("user %s warned at %d, outside (%d, %d)", id, at, logins[id][0], end)
			}
		}
	}
}

// TestOracleKnowsTheRhythm: after the same login and the same silence, the
// oracle is sure sooner that a frequent visitor has left than a rare one
// with the same lifetime distribution, and a user who keeps coming back is
// not warned at all.
func TestOracleKnowsTheRhythm(t *testing.T) {
	arrival := DefaultStart
	at := arrival.Add(40 * 24 * time.Hour).UnixMilli()
	truth := []Truth{
		{UserID: "daily", Arrival: arrival, Rate: 1, LifetimeScale: 90},
		{UserID: "rare", Arrival: arrival, Rate: 0.1, LifetimeScale: 90},
		{UserID: "steady", Arrival: arrival, Rate: 1, LifetimeScale: 90},
	}
	logins := map[string][]int64{"daily": {at}, "rare": {at}}
	for d := range 60 {
		logins["steady"] = append(logins["steady"], at+int64(d)*msPerDay)
	}
	end := at + 60*msPerDay
	out := Oracle(truth, logins, end, 30*24*time.Hour, []float64{0.5})[0]
	daily, rare := out["daily"], out["rare"]
	if len(daily) != 1 || len(rare) != 1 || daily[0] >= rare[0] {
		t.Fatalf("first warnings at risk 0.5: daily %v, rare %v; want one each, the daily user's first", daily, rare)
	}
	if s := out["steady"]; len(s) != 0 {
		t.Errorf("a user who comes every day was warned at %v", s)
	}
}
