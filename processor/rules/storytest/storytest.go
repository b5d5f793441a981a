// Package storytest reads the lines of the datadriven story files that test
// the lifecycle rules (processor/rules, processor/warnings): events written
// the way people who know the business write them.
package storytest

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/cockroachdb/datadriven"

	"github.com/lifecycle-engine/lifecycle/schemas"
)

// ParseEvent reads an event line,
//
//	<date> <hh:mm> <user> <login|purchase|content> [amount] [id=<event id>]
//
// and returns its user and event. Events without an id get e1, e2, … from
// *nextID.
func ParseEvent(t testing.TB, pos, line string, nextID *int) (string, schemas.Event) {
	t.Helper()
	f := strings.Fields(line)
	if len(f) < 4 {
		t.Fatalf("%s: %q: want <date> <hh:mm> <user> <type> [amount] [id=X]", pos, line)
	}
	ty, ok := schemas.ParseEventType(f[3])
	if !ok {
		t.Fatalf("%s: %q: unknown type %q", pos, line, f[3])
	}
	*nextID++
	ev := schemas.Event{ID: fmt.Sprintf("e%d", *nextID), UserID: f[2], Type: ty, Time: ParseTime(t, pos, f[0]+" "+f[1])}
	for _, extra := range f[4:] {
		if id, ok := strings.CutPrefix(extra, "id="); ok {
			ev.ID = id
			continue
		}
		m, err := schemas.ParseMicros(extra)
		if err != nil {
			t.Fatalf("%s: %q: amount %q: %v", pos, line, extra, err)
		}
		ev.Amount = m
	}
	return f[2], ev
}

// ParseTime reads "2026-01-31" or "2026-01-31 09:00" (UTC) as Unix ms.
func ParseTime(t testing.TB, pos, s string) int64 {
	t.Helper()
	layout := "2006-01-02 15:04"
	if !strings.Contains(s, ":") {
		layout = "2006-01-02"
	}
	tm, err := time.Parse(layout, strings.TrimSpace(s))
	if err != nil {
		t.Fatalf("%s: time %q: %v", pos, s, err)
	}
	return tm.UnixMilli()
}

// FormatTime writes Unix ms the way ParseTime reads them.
func FormatTime(ms int64) string { return time.UnixMilli(ms).UTC().Format("2006-01-02 15:04") }

// ParseDays reads a number of days, "30d".
func ParseDays(t testing.TB, s string) time.Duration {
	t.Helper()
	var n int
	if _, err := fmt.Sscanf(s, "%dd", &n); err != nil {
		t.Fatalf("%q: want a number of days like 30d", s)
	}
	return time.Duration(n) * 24 * time.Hour
}

// ArgKeys returns the keys of a command's arguments, in order.
func ArgKeys(d *datadriven.TestData) []string {
	var s []string
	for _, a := range d.CmdArgs {
		s = append(s, a.Key)
	}
	return s
}
