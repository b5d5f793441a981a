package rules

import (
	"math"
	"strconv"
	"testing"

	"github.com/lifecycle-engine/lifecycle/schemas"
	"github.com/lifecycle-engine/lifecycle/schemas/schematest"
)

// monetaryPointer is where the transition schema defines the form of a
// total spend; churn warnings and segment records refer to the same place.
const monetaryPointer = "#/properties/rfm/properties/monetary"

func mustMicros(t *testing.T, s string) schemas.Micros {
	t.Helper()
	m, err := schemas.ParseMicros(s)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// TestSpendSaturates is the sequence seen on a real deployment: a purchase
// of the largest amount, then one of 1.00, used to publish a negative spend
// ("-9223372036853.775809") that breaks the transition schema.
func TestSpendSaturates(t *testing.T) {
	c := Config{}.WithDefaults()
	monetary := schematest.Compile(t, schemas.TransitionSchemaFile+monetaryPointer)
	u := &User{}
	const t0 = int64(1_767_225_600_000) // 2026-01-01
	var trs []Transition
	for i, amount := range []string{"9223372036854.775807", "1.00"} {
		ev := schemas.Event{ID: "p" + strconv.Itoa(i), UserID: "u", Type: schemas.Purchase, Time: t0 + int64(i)*Day, Amount: mustMicros(t, amount)}
		trs, _ = c.Apply(trs, u, ev, ev.Time)
	}
	if u.Spend != schemas.MaxMicros || u.Spend < 0 {
		t.Errorf("spend = %s (%d); want the largest amount %s", u.Spend, int64(u.Spend), schemas.MaxMicros)
	}
	if u.Purchases != 2 || u.Stage != Mature {
		t.Errorf("purchases = %d, stage %s; want 2, mature", u.Purchases, u.Stage)
	}
	if len(trs) != 2 {
		t.Fatalf("got %d transitions, want 2 (new -> growing -> mature): %+v", len(trs), trs)
	}
	if last := trs[len(trs)-1]; last.Spend != schemas.MaxMicros {
		t.Errorf("the mature transition carries spend %s; want %s", last.Spend, schemas.MaxMicros)
	}
	for _, tr := range trs {
		doc := strconv.Quote(tr.Spend.String())
		if err := schematest.Validate(monetary, []byte(doc)); err != nil {
			t.Errorf("transition to %s: monetary %s breaks the schema: %s", tr.To, doc, schematest.Oneline(err))
		}
	}
}

// TestCountsSaturate: every count in User stays at its largest value
// instead of wrapping to a negative number.
func TestCountsSaturate(t *testing.T) {
	c := Config{}.WithDefaults()
	const t0 = int64(1_767_225_600_000)
	u := &User{}
	n := 0
	apply := func(ty schemas.EventType, at int64) {
		n++
		ev := schemas.Event{ID: "e" + strconv.Itoa(n), UserID: "u", Type: ty, Time: at}
		if ty == schemas.Purchase {
			ev.Amount = 1
		}
		if _, ok := c.Apply(nil, u, ev, at); !ok {
			t.Fatalf("event %d not applied", n)
		}
	}
	apply(schemas.Login, t0)
	u.Purchases, u.Logins, u.Contents, u.Returns = math.MaxInt64, math.MaxInt64, math.MaxInt64, math.MaxInt64
	apply(schemas.Purchase, t0+1)
	apply(schemas.Login, t0+2)
	apply(schemas.Content, t0+3)
	// Churn, then come back: Returns counts once more.
	back := t0 + 3 + c.churnMs() + Day
	c.Advance(nil, u, back)
	if u.Stage != Churned {
		t.Fatalf("stage %s; want churned", u.Stage)
	}
	apply(schemas.Login, back)
	for _, c := range []struct {
		name string
		got  int64
	}{{"purchases", u.Purchases}, {"logins", u.Logins}, {"contents", u.Contents}, {"returns", u.Returns}} {
		if c.got != math.MaxInt64 {
			t.Errorf("%s = %d; want it to stay at %d", c.name, c.got, int64(math.MaxInt64))
		}
	}
	if u.Stage != Mature {
		t.Errorf("stage %s after the return; want mature", u.Stage)
	}
}
