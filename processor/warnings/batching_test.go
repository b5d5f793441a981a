package warnings

import (
	"context"
	"fmt"
	"reflect"
	"testing"

	"github.com/lifecycle-engine/lifecycle/processor/rules"
	"github.com/lifecycle-engine/lifecycle/processor/simulate"
	"github.com/lifecycle-engine/lifecycle/schemas"
)

// TestSameWarningsWhateverTheBatching runs a simulated population (with late
// records) twice: once firing every user's due warnings as soon as stream
// time passes them (the runtime's timer index, batches of one record), once
// only when the user's next event comes or at the end (as a runtime with
// huge batches and no timer scan would). The warnings must be the same.
func TestSameWarningsWhateverTheBatching(t *testing.T) {
	forBreaks(t, Config{}, sameWarningsWhateverTheBatching)
}

// forBreaks runs test with c as it is and with break days
// (--warn-break-days) in the simulated months, so that due times pushed
// past breaks keep the contract too.
func forBreaks(t *testing.T, c Config, test func(*testing.T, Config)) {
	breaks, err := ParseBreaks("2026-01-20..2026-01-26,2026-03-01,2026-04-10..2026-04-20")
	if err != nil {
		t.Fatal(err)
	}
	t.Run("no breaks", func(t *testing.T) { test(t, c.WithDefaults()) })
	c.Breaks = breaks
	t.Run("break days", func(t *testing.T) { test(t, c.WithDefaults()) })
}

func sameWarningsWhateverTheBatching(t *testing.T, c Config) {
	st := rules.Config{}.WithDefaults()
	type usr struct {
		u rules.User
		s State
		w []string
	}
	eager, lazy := map[string]*usr{}, map[string]*usr{}
	get := func(m map[string]*usr, id string) *usr {
		if m[id] == nil {
			m[id] = &usr{}
		}
		return m[id]
	}
	var order []string
	note := func(x *usr, ws []Warning) {
		for _, w := range ws {
			x.w = append(x.w, fmt.Sprintf("%d %s %s %.2f %s", w.At, w.Level, w.Codes(), w.Score, w.Trigger))
		}
	}
	ctxOf := func(x *usr) Context { return Context{Stage: x.u.Stage, PAlive: -1} }
	step := func(x *usr, ev schemas.Event, streamTime int64) {
		if _, applied := st.Apply(nil, &x.u, ev, streamTime); !applied {
			return
		}
		ws := c.Advance(nil, &x.s, ctxOf(x), streamTime)
		ws = c.OnEvent(ws, &x.s, ev, ctxOf(x))
		note(x, c.Advance(ws, &x.s, ctxOf(x), streamTime))
	}
	dec := schemas.NewDecoder(schemas.DecoderConfig{})
	var streamTime int64
	_, err := simulate.Run(context.Background(), simulate.Config{Users: 400, Days: 120, Seed: 3, LateRate: 0.05, DupRate: 0.02}, func(r simulate.Record) error {
		ev, err := dec.Decode(r.Key, r.Value)
		if err != nil {
			return err
		}
		streamTime = max(streamTime, ev.Time)
		if eager[ev.UserID] == nil {
			order = append(order, ev.UserID)
		}
		for _, id := range order { // eager: every due timer fires at once
			x := get(eager, id)
			st.Advance(nil, &x.u, streamTime)
			note(x, c.Advance(nil, &x.s, ctxOf(x), streamTime))
		}
		step(get(eager, ev.UserID), ev, streamTime)
		step(get(lazy, ev.UserID), ev, streamTime)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	end := streamTime + 90*rules.Day
	n := 0
	for _, id := range order {
		for _, x := range []*usr{eager[id], lazy[id]} {
			st.Advance(nil, &x.u, end)
			note(x, c.Advance(nil, &x.s, ctxOf(x), end))
		}
		if !reflect.DeepEqual(eager[id].w, lazy[id].w) {
			t.Fatalf("user %s: timers fired at once:\n%v\nonly at events:\n%v", id, eager[id].w, lazy[id].w)
		}
		n += len(eager[id].w)
	}
	if n < 500 {
		t.Errorf("only %d warnings: the test lost its teeth", n)
	}
}

// TestWakeIsTheNextCheck checks Wake on a simulated population, after
// every event and for contexts with and without a valuable segment: firing
// everything due up to Wake warns nothing (a runtime that indexes users by
// it loses no warning), and 1 ms later the user has a warning or has
// churned (so it wakes nobody for nothing).
func TestWakeIsTheNextCheck(t *testing.T) {
	forBreaks(t, Config{Cooldown: 1}, wakeIsTheNextCheck) // no cool-down: every check warns
}

func wakeIsTheNextCheck(t *testing.T, c Config) {
	st := rules.Config{}.WithDefaults()
	type usr struct {
		u rules.User
		s [2]State // one per segment below
	}
	users := map[string]*usr{}
	dec := schemas.NewDecoder(schemas.DecoderConfig{})
	var streamTime int64
	checked := 0
	_, err := simulate.Run(context.Background(), simulate.Config{Users: 400, Days: 120, Seed: 5, LateRate: 0.05}, func(r simulate.Record) error {
		ev, err := dec.Decode(r.Key, r.Value)
		if err != nil {
			return err
		}
		streamTime = max(streamTime, ev.Time)
		x := users[ev.UserID]
		if x == nil {
			x = &usr{}
			users[ev.UserID] = x
		}
		if _, applied := st.Apply(nil, &x.u, ev, streamTime); !applied {
			return nil
		}
		for i, seg := range []string{"", SegmentImportantKeep} {
			s := &x.s[i]
			ctx := Context{Stage: x.u.Stage, Segment: seg, PAlive: -1}
			c.Advance(nil, s, ctx, streamTime)
			c.OnEvent(nil, s, ev, ctx)
			c.Advance(nil, s, ctx, streamTime)
			wake := c.Wake(s, ctx)
			if wake == 0 {
				continue
			}
			probe := *s
			if ws := c.Advance(nil, &probe, ctx, wake); len(ws) > 0 {
				t.Fatalf("user %s (segment %q): checks up to Wake %d warn: %+v", ev.UserID, seg, wake, ws)
			}
			if ws := c.Advance(nil, &probe, ctx, wake+1); len(ws) == 0 && probe.ChurnedAt == 0 {
				t.Fatalf("user %s (segment %q): nothing happens just after Wake %d", ev.UserID, seg, wake)
			}
			checked++
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if checked < 1000 {
		t.Errorf("only %d states checked: the test lost its teeth", checked)
	}
}
