package warnings

import (
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/cockroachdb/datadriven"

	"github.com/lifecycle-engine/lifecycle/processor/rules"
	"github.com/lifecycle-engine/lifecycle/processor/rules/storytest"
	"github.com/lifecycle-engine/lifecycle/schemas"
)

// TestWarnings runs the files in testdata/. Each file is a story in the
// domain's words; the stage model runs alongside (its transitions are
// printed too, marked "stage"). The commands are:
//
//	config churn=30d cooldown=7d p-alive=0.3 quiet=7d risk=(0.4,0.7,0.85) lifetime=120d tenure=1 prior-gap=2d breaks=(2026-04-01..2026-04-07,2026-05-01)
//	                                       reset: no users, stream time zero; omitted keys take the defaults
//	context <user> [segment=important_keep] [p_alive=0.2]
//	                                       what the runtime knows besides the events ("_" for a space; p_alive=none: no model)
//	events                                 one event per line, in arrival order:
//	  <date> <hh:mm> <user> <login|purchase|content> [amount] [id=<event id>]
//	repeat <user> <type> n=<count> from=<date> days=<d> [amount=<a>]
//	                                       n events spread evenly over [from, from+days)
//	advance <date> [hh:mm]                 stream time moves on; quiet users' warnings fire
//	state <user>                           the user's warning state and next wake
//
// events, repeat and advance print what they cause, per user in time order:
//
//	<at> <user> <level> score=<s> (<code>: <detail>; …) [trigger]
//	<at> <user> stage <from> -> <to> [trigger]
//
// As in the runtime, stream time is the largest event time seen; before an
// event is applied the other users' overdue timers fire (stage model, then
// warnings); then the stage model applies the event and the warnings run
// Advance(stream time), OnEvent and Advance(stream time) again.
func TestWarnings(t *testing.T) {
	datadriven.Walk(t, "testdata", func(t *testing.T, path string) {
		w := newWorld(t, Config{})
		datadriven.RunTest(t, path, func(t *testing.T, d *datadriven.TestData) string {
			return w.run(t, d)
		})
	})
}

type world struct {
	cfg        Config
	stages     rules.Config
	users      map[string]*user
	streamTime int64
	nextID     int
}

type user struct {
	u   rules.User
	s   State
	ctx Context
}

type line struct {
	at   int64
	text string
}

func newWorld(t *testing.T, c Config) *world {
	t.Helper()
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	c = c.WithDefaults()
	return &world{cfg: c, stages: rules.Config{ChurnAfter: c.ChurnAfter}.WithDefaults(), users: map[string]*user{}}
}

func (w *world) run(t *testing.T, d *datadriven.TestData) string {
	t.Helper()
	switch d.Cmd {
	case "config":
		var c Config
		for _, a := range d.CmdArgs {
			v := ""
			if len(a.Vals) > 0 {
				v = a.Vals[0]
			}
			switch a.Key {
			case "churn":
				c.ChurnAfter = storytest.ParseDays(t, v)
			case "cooldown":
				c.Cooldown = storytest.ParseDays(t, v)
			case "lifetime":
				c.Lifetime = storytest.ParseDays(t, v)
			case "prior-gap":
				c.PriorGap = storytest.ParseDays(t, v)
			case "tenure":
				c.TenureWeight = parseFloat(t, v)
			case "quiet":
				c.QuietAfter = storytest.ParseDays(t, v)
			case "p-alive":
				c.PAliveBelow = parseFloat(t, v)
			case "risk":
				for i := range c.Risk {
					c.Risk[i] = parseFloat(t, a.Vals[i])
				}
			case "breaks":
				b, err := ParseBreaks(strings.Join(a.Vals, ","))
				if err != nil {
					t.Fatalf("%s: %v", d.Pos, err)
				}
				c.Breaks = b
			default:
				t.Fatalf("%s: unknown config key %q", d.Pos, a.Key)
			}
		}
		*w = *newWorld(t, c)
		return ""
	case "hazards":
		// What a partition's outcomes would have learned about the kinds
		// of visit (outcomes.go): hazards login=X purchase=Y.
		o := &Outcomes{}
		for _, a := range d.CmdArgs {
			k := map[string]int{"login": 0, "purchase": 1}[a.Key]
			o.hazard[k] = int64(math.Round(parseFloat(t, a.Vals[0]) * 1e6))
		}
		w.cfg.Outcomes = o
		return ""
	case "context":
		u := w.user(d.CmdArgs[0].Key)
		for _, a := range d.CmdArgs[1:] {
			switch a.Key {
			case "segment":
				u.ctx.Segment = strings.ReplaceAll(a.Vals[0], "_", " ")
			case "p_alive":
				if a.Vals[0] == "none" {
					u.ctx.PAlive = -1
				} else {
					u.ctx.PAlive = parseFloat(t, a.Vals[0])
				}
			default:
				t.Fatalf("%s: unknown context key %q", d.Pos, a.Key)
			}
		}
		return ""
	case "events":
		var out []line
		for _, l := range strings.Split(strings.TrimSpace(d.Input), "\n") {
			if l = strings.TrimSpace(l); l == "" || strings.HasPrefix(l, "#") {
				continue
			}
			name, ev := storytest.ParseEvent(t, d.Pos, l, &w.nextID)
			out = append(out, w.apply(name, ev)...)
		}
		return render(out, "no warnings")
	case "repeat":
		name := d.CmdArgs[0].Key
		ty, ok := schemas.ParseEventType(d.CmdArgs[1].Key)
		if !ok {
			t.Fatalf("%s: unknown type %q", d.Pos, d.CmdArgs[1].Key)
		}
		var n, days int
		var from int64
		var amount schemas.Micros
		for _, a := range d.CmdArgs[2:] {
			switch a.Key {
			case "n":
				n, _ = strconv.Atoi(a.Vals[0])
			case "days":
				days, _ = strconv.Atoi(a.Vals[0])
			case "from":
				from = storytest.ParseTime(t, d.Pos, a.Vals[0])
			case "amount":
				m, err := schemas.ParseMicros(a.Vals[0])
				if err != nil {
					t.Fatal(err)
				}
				amount = m
			}
		}
		if n < 1 || days < 1 || from == 0 {
			t.Fatalf("%s: repeat needs n=, from= and days=", d.Pos)
		}
		var out []line
		step := int64(days) * rules.Day / int64(n)
		for i := range n {
			w.nextID++
			ev := schemas.Event{ID: fmt.Sprintf("e%d", w.nextID), UserID: name, Type: ty, Time: from + int64(i)*step, Amount: amount}
			out = append(out, w.apply(name, ev)...)
		}
		return render(out, "no warnings")
	case "advance":
		to := storytest.ParseTime(t, d.Pos, strings.Join(storytest.ArgKeys(d), " "))
		w.streamTime = max(w.streamTime, to)
		return render(w.fireTimers(""), "no warnings")
	case "state":
		u, ok := w.users[d.CmdArgs[0].Key]
		if !ok {
			return "no such user\n"
		}
		return w.formatState(u)
	}
	t.Fatalf("%s: unknown command %q", d.Pos, d.Cmd)
	return ""
}

// apply runs one event through the stage model and the warnings, in the
// order the runtime uses.
func (w *world) apply(name string, ev schemas.Event) []line {
	w.streamTime = max(w.streamTime, ev.Time)
	out := w.fireTimers(name)
	u := w.user(name)
	trs, applied := w.stages.Apply(nil, &u.u, ev, w.streamTime)
	if !applied {
		return append(out, line{ev.Time, fmt.Sprintf("%s %s duplicate %s ignored", storytest.FormatTime(ev.Time), name, ev.ID)})
	}
	ctx := w.context(u)
	ws := w.cfg.Advance(nil, &u.s, ctx, w.streamTime)
	ws = w.cfg.OnEvent(ws, &u.s, ev, ctx)
	ws = w.cfg.Advance(ws, &u.s, ctx, w.streamTime)
	return append(out, lines(name, trs, ws)...)
}

// fireTimers does what the runtime's timer index does when stream time
// moves on: it fires the overdue timers of the other users.
func (w *world) fireTimers(except string) []line {
	var out []line
	for _, name := range w.sortedUsers() {
		if name == except {
			continue
		}
		u := w.users[name]
		trs := w.stages.Advance(nil, &u.u, w.streamTime)
		ws := w.cfg.Advance(nil, &u.s, w.context(u), w.streamTime)
		out = append(out, lines(name, trs, ws)...)
	}
	return out
}

func (w *world) context(u *user) Context {
	c := u.ctx
	c.Stage, c.LastActivity = u.u.Stage, u.u.LastActivity
	return c
}

func (w *world) user(id string) *user {
	u, ok := w.users[id]
	if !ok {
		u = &user{ctx: Context{PAlive: -1}}
		w.users[id] = u
	}
	return u
}

func (w *world) sortedUsers() []string {
	ids := make([]string, 0, len(w.users))
	for id := range w.users {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	return ids
}

func (w *world) formatState(u *user) string {
	s := &u.s
	wake := "none"
	if wk := w.cfg.Wake(s, w.context(u)); wk != 0 {
		wake = storytest.FormatTime(wk)
	}
	var open []string
	for i, c := range Codes {
		if s.Open&(1<<i) != 0 {
			open = append(open, c)
		}
	}
	churned := "no"
	if s.ChurnedAt != 0 {
		churned = storytest.FormatTime(s.ChurnedAt)
	}
	mu, sigma, p := w.cfg.gapModel(s)
	return fmt.Sprintf("stage=%s last-activity=%s churned=%s levels-due=%d open=[%s] next-wake=%s\nrhythm gaps=%d usual-gap=%.1fh spread=%.2f p-leave=%.3f\n",
		u.u.Stage, storytest.FormatTime(s.LastActivity), churned, s.Fired, strings.Join(open, ","), wake,
		s.Gaps, math.Exp(mu), sigma, p)
}

func lines(name string, trs []rules.Transition, ws []Warning) []line {
	var out []line
	for _, tr := range trs {
		s := fmt.Sprintf("%s %s stage %s -> %s", storytest.FormatTime(tr.At), name, tr.From, tr.To)
		if tr.Trigger != "" {
			s += " [" + tr.Trigger + "]"
		}
		if tr.Returned {
			s += " returned"
		}
		out = append(out, line{tr.At, s})
	}
	for _, wn := range ws {
		out = append(out, line{wn.At, formatWarning(name, wn)})
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].at < out[j].at })
	return out
}

func formatWarning(name string, wn Warning) string {
	var rs []string
	for _, r := range wn.Reasons {
		rs = append(rs, r.Code+": "+r.Detail)
	}
	s := fmt.Sprintf("%s %s %s", storytest.FormatTime(wn.At), name, wn.Level)
	if wn.Level != Recovered {
		s += fmt.Sprintf(" score=%.2f", wn.Score)
	}
	s += " (" + strings.Join(rs, "; ") + ")"
	if wn.Trigger != "" {
		s += " [" + wn.Trigger + "]"
	}
	return s
}

func render(out []line, none string) string {
	if len(out) == 0 {
		return none + "\n"
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].at < out[j].at })
	var b strings.Builder
	for _, l := range out {
		b.WriteString(l.text)
		b.WriteByte('\n')
	}
	return b.String()
}

func parseFloat(t *testing.T, s string) float64 {
	t.Helper()
	f, err := strconv.ParseFloat(s, 64)
	if err != nil {
		t.Fatalf("%q: want a number", s)
	}
	return f
}
