package segments

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cockroachdb/datadriven"

	"github.com/lifecycle-engine/lifecycle/processor/rules/storytest"
	"github.com/lifecycle-engine/lifecycle/schemas"
)

// TestSegments runs the files in testdata/. Each file is a story in the
// domain's words; the commands are:
//
//	config [window=90d] [refresh=1d] [hysteresis=0.1|off]   reset: no users, no cuts
//	users                       set users' values, one a line:
//	  <user> <days>d <purchases>x <spend>     days since the last purchase, purchases, total spend
//	  <user> never                            a user who never purchased
//	purchases                   purchase history (for windowed F and M), one a line:
//	  <date> [hh:mm] <user> <amount>
//	seal [at=<date>]            the rebuild: every user's current values (sorted by
//	                            user) go to Add, then Seal; prints the cuts
//	score [at=<date>]           score users, one a line: "<user>" with their current
//	                            values or "<user> <values>" with new ones; prints
//	                            "<user> <code> <segment>", and "(was …)" when it changed
//
// Users with a purchase history have their values computed at the date of
// seal or score; users set by "users" keep theirs. Every score line passes
// the user's previous score, as the runtime does, so hysteresis shows.
func TestSegments(t *testing.T) {
	datadriven.Walk(t, "testdata", func(t *testing.T, path string) {
		w := newWorld(t, Config{})
		datadriven.RunTest(t, path, func(t *testing.T, d *datadriven.TestData) string {
			return w.run(t, d)
		})
	})
}

type user struct {
	fixed    bool
	v        Values
	win      Window
	last     int64
	n        int64
	spend    schemas.Micros
	score    Score
	hasScore bool
}

type world struct {
	cfg   Config
	pop   *Population
	users map[string]*user
}

func newWorld(t *testing.T, c Config) *world {
	t.Helper()
	p, err := NewPopulationWith(c)
	if err != nil {
		t.Fatal(err)
	}
	return &world{cfg: p.Config(), pop: p, users: map[string]*user{}}
}

func (w *world) user(id string) *user {
	u, ok := w.users[id]
	if !ok {
		u = &user{win: w.cfg.NewWindow()}
		w.users[id] = u
	}
	return u
}

func (u *user) values(now int64) Values {
	if u.fixed {
		return u.v
	}
	return u.win.Values(now, u.last, u.n, u.spend)
}

func (w *world) run(t *testing.T, d *datadriven.TestData) string {
	t.Helper()
	switch d.Cmd {
	case "config":
		var c Config
		for _, a := range d.CmdArgs {
			switch a.Key {
			case "window":
				c.Window = parseDays(t, d.Pos, a.Vals[0])
			case "refresh":
				c.Refresh = parseDays(t, d.Pos, a.Vals[0])
			case "hysteresis":
				if a.Vals[0] == "off" {
					c.Hysteresis = NoHysteresis
					continue
				}
				h, err := strconv.ParseFloat(a.Vals[0], 64)
				if err != nil {
					t.Fatalf("%s: hysteresis=%q: %v", d.Pos, a.Vals[0], err)
				}
				c.Hysteresis = h
			default:
				t.Fatalf("%s: unknown config key %q", d.Pos, a.Key)
			}
		}
		*w = *newWorld(t, c)
		return ""
	case "users":
		for _, line := range lines(d) {
			f := strings.Fields(line)
			u := w.user(f[0])
			u.fixed, u.v = true, parseValues(t, d.Pos, line, f[1:])
		}
		return ""
	case "purchases":
		for _, line := range lines(d) {
			f := strings.Fields(line)
			if len(f) < 3 {
				t.Fatalf("%s: %q: want <date> [hh:mm] <user> <amount>", d.Pos, line)
			}
			at := f[0]
			if strings.Contains(f[1], ":") {
				at += " " + f[1]
				f = f[1:]
			}
			tm := storytest.ParseTime(t, d.Pos, at)
			amount, err := schemas.ParseMicros(f[2])
			if err != nil {
				t.Fatalf("%s: %q: %v", d.Pos, line, err)
			}
			u := w.user(f[1])
			u.win.Add(tm, amount)
			u.n = schemas.AddSat(u.n, 1) // as the rules count them
			u.spend = schemas.AddSat(u.spend, amount)
			u.last = max(u.last, tm)
		}
		return ""
	case "seal":
		now := w.at(t, d)
		for _, id := range w.sorted() {
			w.pop.Add(w.users[id].values(now))
		}
		w.pop.Seal(now)
		return formatCuts(w.pop.Cuts())
	case "score":
		now := w.at(t, d)
		var out []string
		for _, line := range lines(d) {
			f := strings.Fields(line)
			u := w.user(f[0])
			if len(f) > 1 {
				u.fixed, u.v = true, parseValues(t, d.Pos, line, f[1:])
			}
			v := u.values(now)
			s := w.pop.Score(v, u.score)
			o := fmt.Sprintf("%s %s", f[0], s)
			if !u.fixed && v.HasPurchased {
				o = fmt.Sprintf("%s %.0fd %dx %s: %s", f[0], v.RecencyDays, v.Frequency, v.Monetary, s)
			}
			if u.hasScore && s != u.score {
				o += fmt.Sprintf(" (was %s)", u.score)
			}
			u.score, u.hasScore = s, true
			out = append(out, o)
		}
		return strings.Join(out, "\n") + "\n"
	}
	t.Fatalf("%s: unknown command %q", d.Pos, d.Cmd)
	return ""
}

func (w *world) at(t *testing.T, d *datadriven.TestData) int64 {
	for _, a := range d.CmdArgs {
		if a.Key == "at" {
			return storytest.ParseTime(t, d.Pos, strings.Join(a.Vals, " "))
		}
		t.Fatalf("%s: unknown argument %q", d.Pos, a.Key)
	}
	return 0
}

func (w *world) sorted() []string {
	ids := make([]string, 0, len(w.users))
	for id := range w.users {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	return ids
}

func lines(d *datadriven.TestData) []string {
	var out []string
	for _, l := range strings.Split(d.Input, "\n") {
		if l = strings.TrimSpace(l); l != "" && !strings.HasPrefix(l, "#") {
			out = append(out, l)
		}
	}
	return out
}

func parseValues(t *testing.T, pos, line string, f []string) Values {
	t.Helper()
	if len(f) == 1 && f[0] == "never" {
		return Values{}
	}
	if len(f) != 3 || !strings.HasSuffix(f[0], "d") || !strings.HasSuffix(f[1], "x") {
		t.Fatalf("%s: %q: want <user> <days>d <purchases>x <spend>, or <user> never", pos, line)
	}
	days, err1 := strconv.ParseFloat(strings.TrimSuffix(f[0], "d"), 64)
	n, err2 := strconv.ParseInt(strings.TrimSuffix(f[1], "x"), 10, 64)
	m, err3 := schemas.ParseMicros(f[2])
	if err1 != nil || err2 != nil || err3 != nil {
		t.Fatalf("%s: %q: %v %v %v", pos, line, err1, err2, err3)
	}
	return Values{RecencyDays: days, Frequency: n, Monetary: m, HasPurchased: true}
}

func parseDays(t *testing.T, pos, s string) time.Duration {
	t.Helper()
	n, err := strconv.Atoi(strings.TrimSuffix(s, "d"))
	if err != nil || !strings.HasSuffix(s, "d") {
		t.Fatalf("%s: %q: want a number of days like 90d", pos, s)
	}
	return time.Duration(n) * 24 * time.Hour
}

// formatCuts prints the cuts of a seal: how many users the population has,
// and per dimension the four quintile cuts (score 1|2, 2|3, 3|4, 4|5) and
// the median, to 4 significant digits.
func formatCuts(c Cuts) string {
	if c.Buyers == 0 {
		return fmt.Sprintf("%d users, no buyers: every user scores none\n", c.Users)
	}
	dimLine := func(name string, d DimCuts) string {
		var b strings.Builder
		fmt.Fprintf(&b, "%s cuts", name)
		num := func(x float64) string {
			if x > 0 && x < 1e-300 {
				return "0+" // just above 0: the cut of a quantile that is 0
			}
			return fmt.Sprintf("%.4g", x)
		}
		for _, q := range d.Quintiles {
			fmt.Fprintf(&b, " %s", num(q))
		}
		fmt.Fprintf(&b, ", median %s", num(d.Median))
		return b.String()
	}
	return fmt.Sprintf("%d users, %d buyers\n%s\n%s\n%s\n", c.Users, c.Buyers,
		dimLine("R days", c.R), dimLine("F purchases", c.F), dimLine("M spend", c.M))
}
