package retention

import (
	"encoding/json"
	"maps"
	"slices"
	"testing"

	"github.com/lifecycle-engine/lifecycle/schemas"
)

// day0 is a Monday, 2026-03-02.
const day0 = int64(20514)

func at(day int64) int64 { return day * DayMs }

// published decodes what Publish returned: the day records by date, and the
// tombstoned keys.
func published(t *testing.T, pubs []Published) (days map[string]schemas.MetricsDay, gone []string) {
	t.Helper()
	days = map[string]schemas.MetricsDay{}
	for _, p := range pubs {
		if p.Value == nil {
			gone = append(gone, p.Key)
			continue
		}
		var m schemas.Metrics
		if err := json.Unmarshal(p.Value, &m); err != nil {
			t.Fatal(err)
		}
		if m.Day != nil {
			days[m.Period] = *m.Day
		}
	}
	return days, gone
}

// reopen stores s's changes and opens a new State on them, as a restart
// (or a restore from the changelog) does.
func reopen(t *testing.T, s *State, stored map[string][]byte) *State {
	t.Helper()
	kvs, err := s.Changes(nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, kv := range kvs {
		if kv.Value == nil {
			delete(stored, kv.Key)
		} else {
			stored[kv.Key] = kv.Value
		}
	}
	var recs []KV
	for _, k := range slices.Sorted(maps.Keys(stored)) {
		recs = append(recs, KV{Key: k, Value: stored[k]})
	}
	n, err := New(recs)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// TestWindowsQuietDaysLateEventsAndPruning: WAU and MAU of a day without
// events, a late event that moves days already published, a restart in
// between, and pruning that keeps the windows' running sums.
func TestWindowsQuietDaysLateEventsAndPruning(t *testing.T) {
	stored := map[string][]byte{}
	s, _ := New(nil)
	var ann, bob Activity
	s.Event(&ann, 0, true, at(day0)+1000)
	s.Event(&ann, at(day0)+1000, false, at(day0+2)+1000)
	pubs, err := s.Publish(0, at(day0+3), schemas.MetricsStages{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	days, _ := published(t, pubs)
	for _, c := range []struct {
		date          string
		dau, wau, mau int64
	}{{"2026-03-02", 1, 1, 1}, {"2026-03-03", 0, 1, 1}, {"2026-03-04", 1, 1, 1}} {
		d, ok := days[c.date]
		if !ok || d.Active != c.dau || d.Active7 != c.wau || d.Active30 != c.mau {
			t.Errorf("%s: published %v %+v; want DAU %d, WAU %d, MAU %d", c.date, ok, d, c.dau, c.wau, c.mau)
		}
	}
	if _, ok := days["2026-03-05"]; ok || len(days) != 3 {
		t.Errorf("published %d days, %v; want the three before the boundary", len(days), slices.Sorted(maps.Keys(days)))
	}

	s = reopen(t, s, stored)
	// Bob's first event arrives late, dated on the quiet day.
	s.Event(&bob, 0, true, at(day0+1)+5)
	pubs, _ = s.Publish(0, at(day0+4), schemas.MetricsStages{}, nil)
	days, _ = published(t, pubs)
	for _, c := range []struct {
		date          string
		dau, wau, mau int64
	}{{"2026-03-03", 1, 2, 2}, {"2026-03-04", 1, 2, 2}, {"2026-03-05", 0, 2, 2}} {
		d := days[c.date]
		if d.Active != c.dau || d.Active7 != c.wau || d.Active30 != c.mau {
			t.Errorf("after the late event, %s: %+v; want DAU %d, WAU %d, MAU %d", c.date, d, c.dau, c.wau, c.mau)
		}
	}
	if days["2026-03-03"].New != 1 {
		t.Errorf("bob's cohort: %+v", days["2026-03-03"])
	}

	// 500 days on: everything before the horizon is pruned, with
	// tombstones; ann comes back and the windows count her once.
	s = reopen(t, s, stored)
	later := day0 + 500
	s.Event(&ann, at(day0+2)+1000, false, at(later)+7)
	pubs, _ = s.Publish(0, at(later+1), schemas.MetricsStages{}, nil)
	days, gone := published(t, pubs)
	if len(gone) < 8 || s.days[day0] != nil {
		t.Errorf("pruned %v; want the records of March 2026 gone", gone)
	}
	if d := days[Date(later)]; d.Active != 1 || d.Active7 != 1 || d.Active30 != 1 || d.RetainedBack != [schemas.RetainedDays]int64{} {
		t.Errorf("%s: %+v; want DAU, WAU and MAU 1, nobody retained (her cohort is 500 days back)", Date(later), d)
	}
	// Restored, the state publishes the same.
	s = reopen(t, s, stored)
	s.Event(&bob, at(day0+1)+5, false, at(later+1)+9)
	pubs, _ = s.Publish(0, at(later+2), schemas.MetricsStages{}, nil)
	days, _ = published(t, pubs)
	if d := days[Date(later+1)]; d.Active != 1 || d.Active7 != 2 || d.Active30 != 2 {
		t.Errorf("%s: %+v; want DAU 1, WAU and MAU 2", Date(later+1), d)
	}
}

// TestRestartBetweenBoundariesRepublishesWindows: a late event moves the
// WAU and MAU of days already published; the state restarts before the
// next boundary, which must still republish those days (the first day whose
// windows moved is stored with the state, not only held in memory).
func TestRestartBetweenBoundariesRepublishesWindows(t *testing.T) {
	stored := map[string][]byte{}
	s, _ := New(nil)
	var ann, bob Activity
	s.Event(&ann, 0, true, at(day0)+1000)
	s.Event(&ann, at(day0)+1000, false, at(day0+2)+1000)
	if _, err := s.Publish(0, at(day0+3), schemas.MetricsStages{}, nil); err != nil {
		t.Fatal(err)
	}
	s = reopen(t, s, stored)
	s.Event(&bob, 0, true, at(day0+1)+5) // late: dated on a day already published
	s = reopen(t, s, stored)             // the restart, before the next boundary
	pubs, err := s.Publish(0, at(day0+4), schemas.MetricsStages{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	days, _ := published(t, pubs)
	if d, ok := days["2026-03-04"]; !ok || d.Active7 != 2 || d.Active30 != 2 {
		t.Errorf("2026-03-04 after the restart: published %v, %+v; want it republished with WAU and MAU 2", ok, d)
	}
}

// TestDayKeysAfterTheYear9999: a day key is the day's Date, which has
// five digits of year after 9999 (stream time can get there: an event at
// the decoder's last instant, then its timers); every stored key reads
// back as the day it was written for, or the partition would not start
// again after a restart.
func TestDayKeysAfterTheYear9999(t *testing.T) {
	for _, date := range []string{"1970-01-01", "9999-12-31", "10000-01-30", "10000-02-29", "10001-12-31"} {
		d, err := parseDay(date)
		if err != nil {
			t.Errorf("parseDay(%q): %v", date, err)
			continue
		}
		if got := Date(d); got != date {
			t.Errorf("parseDay(%q) is the day of %s", date, got)
		}
	}
	for _, bad := range []string{"", "9999-13-01", "10000-1-30", "x0000-01-30", "-10000-01-30", "09999-01-01"} {
		if _, err := parseDay(bad); err == nil {
			t.Errorf("parseDay(%q): no error", bad)
		}
	}
}

// TestRestartRepublishesWindowsFromDayZero: as above, with the late event
// on 1970-01-01, day 0, where a ts of 0 lands: the first day whose windows
// moved is day 0, which the stored state must tell from none.
func TestRestartRepublishesWindowsFromDayZero(t *testing.T) {
	stored := map[string][]byte{}
	s, _ := New(nil)
	var ann, bob Activity
	s.Event(&ann, 0, true, at(0)+1000)
	s.Event(&ann, at(0)+1000, false, at(2)+1000)
	if _, err := s.Publish(0, at(3), schemas.MetricsStages{}, nil); err != nil {
		t.Fatal(err)
	}
	s = reopen(t, s, stored)
	s.Event(&bob, 0, true, 0) // late: at ts 0
	s = reopen(t, s, stored)  // the restart, before the next boundary
	pubs, err := s.Publish(0, at(4), schemas.MetricsStages{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	days, _ := published(t, pubs)
	if d, ok := days["1970-01-02"]; !ok || d.Active7 != 2 || d.Active30 != 2 {
		t.Errorf("1970-01-02 after the restart: published %v, %+v; want it republished with WAU and MAU 2", ok, d)
	}
}
