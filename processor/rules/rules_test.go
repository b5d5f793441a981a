package rules

import (
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/cockroachdb/datadriven"

	"github.com/lifecycle-engine/lifecycle/processor/rules/storytest"
	"github.com/lifecycle-engine/lifecycle/schemas"
)

// TestRules runs the files in testdata/. Each file is a story in the domain's
// words; the commands are:
//
//	config churn=30d silent=60d mature=2   reset: no users, stream time zero
//	events                                  one event per line, in arrival order:
//	  <date> <hh:mm> <user> <login|purchase|content> [amount] [id=<event id>]
//	advance <date> [hh:mm]                   stream time moves on; quiet users' timers fire
//	user <user>                              the user's state
//
// events and advance print the transitions they cause, one per line:
//
//	<at> <user> <from> -> <to> (<reason>) [trigger] [returned]
//
// Stream time is the largest event time seen, as in the runtime.
func TestRules(t *testing.T) {
	datadriven.Walk(t, "testdata", func(t *testing.T, path string) {
		w := newWorld(t, Config{})
		datadriven.RunTest(t, path, func(t *testing.T, d *datadriven.TestData) string {
			return w.run(t, d)
		})
	})
}

type world struct {
	cfg        Config
	users      map[string]*User
	streamTime int64
	nextID     int
}

func newWorld(t *testing.T, c Config) *world {
	t.Helper()
	c = c.WithDefaults()
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	return &world{cfg: c, users: map[string]*User{}}
}

func (w *world) run(t *testing.T, d *datadriven.TestData) string {
	t.Helper()
	switch d.Cmd {
	case "config":
		var c Config
		for _, a := range d.CmdArgs {
			switch a.Key {
			case "churn":
				c.ChurnAfter = storytest.ParseDays(t, a.Vals[0])
			case "silent":
				c.SilentAfter = storytest.ParseDays(t, a.Vals[0])
			case "mature":
				if _, err := fmt.Sscan(a.Vals[0], &c.MatureAt); err != nil {
					t.Fatalf("%s: mature=%q: %v", d.Pos, a.Vals[0], err)
				}
			default:
				t.Fatalf("%s: unknown config key %q", d.Pos, a.Key)
			}
		}
		*w = *newWorld(t, c)
		return ""
	case "events":
		var out []string
		for _, line := range strings.Split(strings.TrimSpace(d.Input), "\n") {
			user, ev := storytest.ParseEvent(t, d.Pos, line, &w.nextID)
			w.streamTime = max(w.streamTime, ev.Time)
			u := w.user(user)
			trs, applied := w.cfg.Apply(nil, u, ev, w.streamTime)
			if !applied {
				out = append(out, fmt.Sprintf("%s duplicate %s ignored", user, ev.ID))
			}
			out = append(out, formatAll(user, trs)...)
		}
		return joinLines(out)
	case "advance":
		to := storytest.ParseTime(t, d.Pos, strings.Join(storytest.ArgKeys(d), " "))
		w.streamTime = max(w.streamTime, to)
		var out []string
		for _, user := range w.sortedUsers() {
			out = append(out, formatAll(user, w.cfg.Advance(nil, w.users[user], w.streamTime))...)
		}
		return joinLines(out)
	case "user":
		u, ok := w.users[d.CmdArgs[0].Key]
		if !ok {
			return "no such user\n"
		}
		last := "never"
		if u.Purchases > 0 {
			last = storytest.FormatTime(u.LastPurchase)
		}
		wake := "none"
		if wk := w.cfg.Wake(u); wk != 0 {
			wake = storytest.FormatTime(wk)
		}
		return fmt.Sprintf("stage=%s since=%s first=%s last-activity=%s last-purchase=%s\npurchases=%d spend=%s logins=%d contents=%d returns=%d next-timer=%s\n",
			u.Stage, storytest.FormatTime(u.Since), storytest.FormatTime(u.FirstSeen), storytest.FormatTime(u.LastActivity), last,
			u.Purchases, u.Spend, u.Logins, u.Contents, u.Returns, wake)
	}
	t.Fatalf("%s: unknown command %q", d.Pos, d.Cmd)
	return ""
}

func (w *world) user(id string) *User {
	u, ok := w.users[id]
	if !ok {
		u = &User{}
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

func formatAll(user string, trs []Transition) []string {
	var out []string
	for _, tr := range trs {
		s := fmt.Sprintf("%s %s %s -> %s (%s)", storytest.FormatTime(tr.At), user, tr.From, tr.To, tr.Reason)
		if tr.Trigger != "" {
			s += " [" + tr.Trigger + "]"
		}
		if tr.Returned {
			s += " returned"
		}
		out = append(out, s)
	}
	return out
}

func joinLines(lines []string) string {
	if len(lines) == 0 {
		return "no transitions\n"
	}
	return strings.Join(lines, "\n") + "\n"
}

func TestConfigValidate(t *testing.T) {
	for _, tc := range []struct {
		c    Config
		want string // substring of the error; "" for valid
	}{
		{Config{}, ""},
		{Config{ChurnAfter: -time.Hour}, "churn-after"},
		{Config{SilentAfter: -1}, "silent-after"},
		{Config{MatureAt: -2}, "mature-at"},
	} {
		err := tc.c.Validate()
		if got := fmt.Sprint(err); (tc.want == "") != (err == nil) || !strings.Contains(got, tc.want) {
			t.Errorf("Validate(%+v) = %v, want error containing %q", tc.c, err, tc.want)
		}
	}
}

func BenchmarkApply(b *testing.B) {
	c := Config{}.WithDefaults()
	u := &User{}
	dst := make([]Transition, 0, 4)
	ev := schemas.Event{ID: "e-1", UserID: "u-1", Type: schemas.Login, Time: 1_700_000_000_000}
	ids := make([]string, 64)
	for i := range ids {
		ids[i] = fmt.Sprintf("e-%d", i)
	}
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		ev.ID = ids[i%len(ids)]
		ev.Time += 1000
		dst, _ = c.Apply(dst[:0], u, ev, ev.Time)
	}
}
