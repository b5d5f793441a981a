package engine

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cockroachdb/datadriven"

	"github.com/lifecycle-engine/lifecycle/processor/rules/storytest"
	"github.com/lifecycle-engine/lifecycle/schemas"
	"github.com/lifecycle-engine/lifecycle/state/record"
)

// TestStories runs the files in testdata/: stories of one partition's
// engine, several users at once, with the commit boundaries, RFM rebuilds
// and restarts that the per-rule stories (processor/rules, warnings) do not
// have. The commands:
//
//	config [refresh=7d] [batch=N] [cache=N] [detect=off]
//	                                          a new engine on an empty store (detect=off: no
//	                                          breaks seen, warnings.Config.NoBreakDetection)
//	apply                                     one record per line, in merge order:
//	  <date> <hh:mm> <user> <login|purchase|content> [amount] [id=<event id>]
//	  bad <topic> <reason>                    a record that does not decode
//	commit                                    the open batch, without firing timers
//	flush                                     commit, then every due timer (what the runtime does)
//	advance <date> [hh:mm]                    stream time moves on (idle advance), then flush
//	restart                                   commit nothing more; a new engine on the same store
//	replay <n>                                the last n records of the last apply, again (a redelivery)
//	user <user>                               the user's stored record
//	meta                                      the partition's stored metadata
//
// apply prints what Apply committed on its own (rebuilds); commit, flush,
// advance and restart print each commit they cause:
//
//	commit <n>: <users changed> [rebuilding]
//	  <kind> <user> … <at> [trigger]          each output, in order
func TestStories(t *testing.T) {
	datadriven.Walk(t, "testdata", func(t *testing.T, path string) {
		s := newStory(t)
		datadriven.RunTest(t, path, func(t *testing.T, d *datadriven.TestData) string {
			return s.run(t, d)
		})
	})
}

type story struct {
	cfg     Config
	store   *MemStore
	eng     *Engine
	out     []string // what the commits since the last command printed
	commits int
	offsets [3]int64 // next offset per input topic
	nextID  int
	last    []*Input // the records of the last apply
}

func newStory(t *testing.T) *story {
	s := &story{cfg: testConfig(), store: NewMemStore()}
	s.open(t)
	return s
}

func (s *story) open(t *testing.T) {
	t.Helper()
	var err error
	if s.eng, err = New(&s.cfg, s.store, 0, 1, &Stats{}, s.sink); err != nil {
		t.Fatal(err)
	}
}

func (s *story) sink(c Commit) error {
	s.commits++
	var ids []string
	for _, u := range c.Users {
		ids = append(ids, u.ID)
	}
	line := fmt.Sprintf("commit %d: %s", s.commits, strings.Join(ids, " "))
	if c.Rebuilding {
		line += " [rebuilding]"
	}
	s.out = append(s.out, strings.TrimRight(line, " "))
	for _, o := range c.Outputs {
		s.out = append(s.out, "  "+render(o, &s.cfg.Topics))
	}
	return nil
}

func (s *story) run(t *testing.T, d *datadriven.TestData) string {
	t.Helper()
	s.out = nil
	check := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatalf("%s: %v", d.Pos, err)
		}
	}
	switch d.Cmd {
	case "config":
		s.cfg = testConfig()
		for _, a := range d.CmdArgs {
			switch a.Key {
			case "refresh":
				s.cfg.Segments.Refresh = storytest.ParseDays(t, a.Vals[0])
			case "detect":
				s.cfg.Warnings.NoBreakDetection = a.Vals[0] == "off"
			case "batch", "cache":
				n, err := strconv.Atoi(a.Vals[0])
				check(err)
				if a.Key == "batch" {
					s.cfg.BatchRecords = n
				} else {
					s.cfg.MaxUsersCached = n
				}
			default:
				t.Fatalf("%s: unknown config key %q", d.Pos, a.Key)
			}
		}
		*s = story{cfg: s.cfg, store: NewMemStore()}
		s.open(t)
	case "apply":
		s.last = nil
		for _, line := range strings.Split(strings.TrimSpace(d.Input), "\n") {
			in := s.input(t, d.Pos, line)
			s.last = append(s.last, in)
			check(s.eng.Apply(in))
		}
	case "replay":
		n, err := strconv.Atoi(d.CmdArgs[0].Key)
		check(err)
		for _, in := range s.last[len(s.last)-n:] {
			check(s.eng.Apply(in))
		}
	case "commit":
		check(s.eng.Close()) // Close is a commit without timers
	case "flush":
		check(s.eng.Flush())
	case "advance":
		check(s.eng.AdvanceTo(storytest.ParseTime(t, d.Pos, strings.Join(storytest.ArgKeys(d), " "))))
	case "restart":
		s.open(t)
	case "user":
		r, ok, err := s.store.User(0, d.CmdArgs[0].Key)
		check(err)
		if !ok {
			return "not stored\n"
		}
		return describe(&r) + "\n"
	case "meta":
		m, _, err := s.store.Meta(0)
		check(err)
		return fmt.Sprintf("stream=%s commits=%d offsets=%v\nstages=%v segments=%v cuts=%v\n",
			storytest.FormatTime(m.StreamTime), m.Commits, m.Offsets, m.Stages[1:], m.Segments, m.Population != nil)
	default:
		t.Fatalf("%s: unknown command %q", d.Pos, d.Cmd)
	}
	if len(s.out) == 0 {
		return "no commit\n"
	}
	return strings.Join(s.out, "\n") + "\n"
}

// input reads one record line; offsets count per input topic.
func (s *story) input(t *testing.T, pos, line string) *Input {
	t.Helper()
	if rest, ok := strings.CutPrefix(line, "bad "); ok {
		topic, reason, _ := strings.Cut(rest, " ")
		ty, ok := schemas.ParseEventType(topic)
		if !ok {
			t.Fatalf("%s: %q: want bad <login|purchase|content> <reason>", pos, line)
		}
		in := &Input{Topic: int(ty - schemas.Login), Offset: s.offsets[ty-schemas.Login], Value: []byte(reason),
			Err: &schemas.RejectError{Reason: schemas.Reason(reason), Detail: "a story's bad record"}}
		s.offsets[ty-schemas.Login]++
		return in
	}
	user, ev := storytest.ParseEvent(t, pos, line, &s.nextID)
	i := int(ev.Type - schemas.Login)
	in := &Input{Topic: i, Offset: s.offsets[i], Key: []byte(user), Event: ev}
	s.offsets[i]++
	return in
}

// render writes an output the way the stories read it.
func render(o record.Output, t *Topics) string {
	var v struct {
		UserID  string `json:"user_id"`
		From    any    `json:"from"`
		To      any    `json:"to"`
		At      string `json:"at"`
		Reason  string `json:"reason"`
		Level   string `json:"level"`
		Trigger string `json:"trigger_event_id"`
		Reasons []struct {
			Code string `json:"code"`
		} `json:"reasons"`
		Segment *schemas.SegmentScore `json:"segment"`
	}
	if o.Topic == t.DLQ {
		for _, h := range o.Headers {
			if h.Key == schemas.HeaderDLQCode {
				return "dead-letter " + string(h.Value)
			}
		}
	}
	if err := json.Unmarshal(o.Value, &v); err != nil {
		return "undecodable output: " + err.Error()
	}
	at, _ := time.Parse(time.RFC3339, v.At)
	when := storytest.FormatTime(at.UnixMilli())
	trigger := ""
	if v.Trigger != "" {
		trigger = " [" + v.Trigger + "]"
	}
	switch o.Topic {
	case t.Transitions:
		return fmt.Sprintf("transition %s %v -> %v %s (%s)%s", v.UserID, v.From, v.To, when, v.Reason, trigger)
	case t.Warnings:
		var codes []string
		for _, r := range v.Reasons {
			codes = append(codes, r.Code)
		}
		seg := "none"
		if v.Segment != nil {
			seg = v.Segment.Segment
		}
		return fmt.Sprintf("warning %s %s %s %s segment=%s%s", v.UserID, v.Level, strings.Join(codes, "+"), when, seg, trigger)
	case t.Segments:
		return fmt.Sprintf("segment %s %s -> %s %s (%s)%s", v.UserID, segName(v.From), segName(v.To), when, v.Reason, trigger)
	}
	return "output to " + o.Topic
}

func segName(v any) string {
	if m, ok := v.(map[string]any); ok {
		return fmt.Sprint(m["segment"])
	}
	return "none"
}

// describe is a stored user record in one line.
func describe(r *record.User) string {
	wake := "none"
	if r.Wake != 0 {
		wake = storytest.FormatTime(r.Wake)
	}
	seg := "none"
	if !r.Segment.IsNone() {
		seg = r.Segment.Segment.String()
	}
	return fmt.Sprintf("stage=%s segment=%s purchases=%d logins=%d wake=%s offsets=%v",
		r.User.Stage, seg, r.User.Purchases, r.User.Logins, wake, r.Offsets[:3])
}
