package offline_test

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"testing"
	"time"

	"github.com/lifecycle-engine/lifecycle/processor"
	"github.com/lifecycle-engine/lifecycle/processor/engine"
	"github.com/lifecycle-engine/lifecycle/processor/offline"
	"github.com/lifecycle-engine/lifecycle/processor/retention"
	"github.com/lifecycle-engine/lifecycle/processor/simulate"
	"github.com/lifecycle-engine/lifecycle/schemas"
	"github.com/lifecycle-engine/lifecycle/state/record"
)

// metricsRun runs a simulated population (with late, re-sent and bad
// records) through the engines as `lifecycle replay` does, with batch
// records per commit, and returns the metrics records, the other outputs,
// and the inputs of each partition in the order the engine applies them.
func metricsRun(t *testing.T, batch, cached int) (metrics []record.Output, others []record.Output, applied [][]*engine.Input, until int64) {
	t.Helper()
	pc := processor.Config{Conn: processor.Conn{Brokers: []string{"unused:9092"}}, Group: "test", BatchRecords: batch, MaxUsersCached: cached}
	ec := pc.Engine()
	const partitions = 3
	r, err := offline.New(offline.Config{Engine: ec, Partitions: partitions, MaxFutureSkew: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	byPart := make([][][]*engine.Input, partitions)
	for p := range byPart {
		byPart[p] = make([][]*engine.Input, len(ec.Topics.Inputs))
	}
	in := ec.Topics.Inputs
	sim := simulate.Config{Users: 400, Days: 75, Seed: 7, BadRate: 0.01, DupRate: 0.02, LateRate: 0.02,
		Topics: simulate.Topics{Login: in[0], Purchase: in[1], Content: in[2]}}
	if _, err := simulate.Run(context.Background(), sim, func(rec simulate.Record) error {
		topic := slices.Index(in, rec.Topic)
		if x := r.Add(offline.Record{Topic: topic, Key: rec.Key, Value: rec.Value, Time: rec.Time}); x != nil {
			byPart[x.Partition][topic] = append(byPart[x.Partition][topic], x)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	for p := range byPart {
		applied = append(applied, engine.Merge(in, byPart[p]))
	}
	// A whole hour after the last event: the last boundary holds everything.
	until = simulate.DefaultStart.Add(76 * 24 * time.Hour).UnixMilli()
	err = r.Run(until, func(_ int32, o record.Output) error {
		if o.Topic == ec.Topics.Metrics {
			metrics = append(metrics, o)
		} else {
			others = append(others, o)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return metrics, others, applied, until
}

// TestRetentionMetricsEqualReference: the metrics the engines publish,
// summed over the partitions as every instance sums the metrics topic,
// equal what a reference computes straight from the input events (which
// users were active on which days, and when each was first seen) and
// from the transitions and warnings the engines wrote; and they are the
// same, record for record, with one record per commit and no cache (the
// eager engine) as with large batches: the commit boundaries change
// nothing.
func TestRetentionMetricsEqualReference(t *testing.T) {
	metrics, others, applied, until := metricsRun(t, 500, 100)
	latest := retention.NewLatest()
	for _, o := range metrics {
		if err := latest.Put(o.Key, o.Value); err != nil {
			t.Fatal(err)
		}
	}
	got := latest.Totals()
	want := reference(t, applied, others)
	// The windows counted ahead of the last boundary wait for their day.
	for d := range want.Days {
		if d >= retention.DayOf(until) {
			delete(want.Days, d)
		}
	}
	if got.AsOf != until {
		t.Errorf("metrics as of %s; want the last boundary %s", schemas.FormatTime(got.AsOf), schemas.FormatTime(until))
	}
	days := map[int64]bool{}
	for d := range got.Days {
		days[d] = true
	}
	for d := range want.Days {
		days[d] = true
	}
	if len(want.Days) < 70 {
		t.Fatalf("the reference has %d days; the input spans 75", len(want.Days))
	}
	for _, d := range slices.Sorted(maps.Keys(days)) {
		g, w := got.Days[d], want.Days[d]
		if g == nil || w == nil {
			t.Errorf("day %s: published %v, reference %v", retention.Date(d), g, w)
			continue
		}
		if gj, wj := jsonOf(t, g), jsonOf(t, w); gj != wj {
			t.Errorf("day %s:\npublished %s\nreference %s", retention.Date(d), gj, wj)
		}
	}
	if gj, wj := jsonOf(t, got.Weeks), jsonOf(t, want.Weeks); gj != wj {
		t.Errorf("weeks:\npublished %s\nreference %s", gj, wj)
	}
	if gj, wj := jsonOf(t, got.Stages.Stages), jsonOf(t, want.Stages.Stages); gj != wj {
		t.Errorf("stages:\npublished %s\nreference %s", gj, wj)
	}
	var buyers int64
	for r := range got.RFM.Users {
		for f := range got.RFM.Users[r] {
			buyers += got.RFM.Users[r][f]
		}
	}
	if buyers == 0 || got.RFM.Rebuilt == "" {
		t.Errorf("the R×F grid is empty (%d buyers, rebuilt %q) after 75 days with weekly rebuilds", buyers, got.RFM.Rebuilt)
	}

	eager, _, _, _ := metricsRun(t, 1, 0)
	if a, b := metricsSet(metrics), metricsSet(eager); !slices.Equal(a, b) {
		t.Errorf("batches of 500 published %d metrics records, the eager engine %d; they differ", len(a), len(b))
	}
}

// metricsSet lists the records' keys, ids and values, in the order each
// key got them.
func metricsSet(outs []record.Output) []string {
	var s []string
	for _, o := range outs {
		id := ""
		for _, h := range o.Headers {
			if h.Key == schemas.HeaderID {
				id = string(h.Value)
			}
		}
		s = append(s, fmt.Sprintf("%s %s %s", o.Key, id, o.Value))
	}
	slices.SortStableFunc(s, func(a, b string) int { return cmpKey(a, b) })
	return s
}

func cmpKey(a, b string) int {
	ka, kb := a[:indexSpace(a)], b[:indexSpace(b)]
	switch {
	case ka < kb:
		return -1
	case ka > kb:
		return 1
	}
	return 0
}

func indexSpace(s string) int {
	for i := range s {
		if s[i] == ' ' {
			return i
		}
	}
	return len(s)
}

func jsonOf(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// reference computes the metrics from their definitions (README,
// "Retention metrics"): sets of active days per user, each user's first
// applied event, and the transition and warning records.
func reference(t *testing.T, applied [][]*engine.Input, outputs []record.Output) retention.Totals {
	t.Helper()
	const day = 24 * int64(time.Hour/time.Millisecond)
	dayOf := func(ms int64) int64 { return ms / day } // every time here is after 1970
	weekOf := func(d int64) int64 { return (d + 3) / 7 }
	active := map[string]map[int64]bool{}
	cohort := map[string]int64{}
	latest := map[string]int64{}
	for _, part := range applied {
		seen := map[string]bool{}
		for _, in := range part {
			if in.Err != nil || seen[in.Event.UserID+"\x00"+in.Event.ID] {
				continue
			}
			u, d := in.Event.UserID, dayOf(in.Event.Time)
			seen[u+"\x00"+in.Event.ID] = true
			if _, ok := cohort[u]; !ok {
				cohort[u], active[u] = d, map[int64]bool{}
			}
			if d < latest[u]-34 {
				t.Fatalf("user %s: an event %d days before their latest: the test input must not reach the lateness limit", u, latest[u]-d)
			}
			latest[u] = max(latest[u], d)
			active[u][d] = true
		}
	}
	tot := retention.Totals{Days: map[int64]*schemas.MetricsDay{}, Weeks: map[int64]*schemas.MetricsWeek{},
		Stages: schemas.MetricsStages{Stages: map[string]int64{}}}
	dayRec := func(d int64) *schemas.MetricsDay {
		if tot.Days[d] == nil {
			tot.Days[d] = &schemas.MetricsDay{}
		}
		return tot.Days[d]
	}
	for u, days := range active {
		c := cohort[u]
		dayRec(c).New++
		covered7, covered30 := map[int64]bool{}, map[int64]bool{}
		weeks := map[int64]bool{}
		for d := range days {
			r := dayRec(d)
			r.Active++
			if k := d - c; k >= 1 && k <= schemas.RetainedDays {
				r.RetainedBack[k-1]++
			}
			for x := d; x < d+7; x++ {
				covered7[x] = true
			}
			for x := d; x < d+30; x++ {
				covered30[x] = true
			}
			weeks[weekOf(d)] = true
		}
		for x := range covered7 {
			dayRec(x).Active7++
		}
		for x := range covered30 {
			dayRec(x).Active30++
		}
		for w := range weeks {
			if k := w - weekOf(c); k >= 1 && k <= schemas.RetainedWeeks {
				if tot.Weeks[w] == nil {
					tot.Weeks[w] = &schemas.MetricsWeek{}
				}
				tot.Weeks[w].RetainedBack[k-1]++
			}
		}
	}
	stage := map[string]string{}
	for _, o := range outputs {
		switch string(headerOf(o, schemas.HeaderSchema)) {
		case schemas.SchemaTransitionV1:
			var tr schemas.Transition
			mustUnmarshal(t, o.Value, &tr)
			r := dayRec(dayOf(parseTime(t, tr.At)))
			if r.Flows == nil {
				r.Flows = map[string]int64{}
			}
			r.Flows[tr.From+">"+tr.To]++
			stage[tr.UserID] = tr.To
		case schemas.SchemaWarningV1:
			var w schemas.Warning
			mustUnmarshal(t, o.Value, &w)
			r := dayRec(dayOf(parseTime(t, w.At)))
			if r.Warnings == nil {
				r.Warnings = map[string]int64{}
			}
			for _, reason := range w.Reasons {
				r.Warnings[w.Level+"/"+reason.Code]++
			}
		}
	}
	for _, s := range []string{"new", "growing", "mature", "silent", "churned"} {
		tot.Stages.Stages[s] = 0
	}
	for _, s := range stage {
		tot.Stages.Stages[s]++
	}
	return tot
}

func headerOf(o record.Output, key string) []byte {
	for _, h := range o.Headers {
		if h.Key == key {
			return h.Value
		}
	}
	return nil
}

func mustUnmarshal(t *testing.T, b []byte, v any) {
	t.Helper()
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatal(err)
	}
}

func parseTime(t *testing.T, s string) int64 {
	t.Helper()
	at, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		t.Fatal(err)
	}
	return at.UnixMilli()
}
