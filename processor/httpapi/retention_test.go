package httpapi

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/lifecycle-engine/lifecycle/schemas"
)

// retentionFixture: two partitions' records. Three days, 2026-03-02
// (a Monday) to 03-04, published at the boundary 03-05T00:00.
func retentionFixture() []schemas.Metrics {
	at := "2026-03-05T00:00:00.000Z"
	day := func(p int32, date string, d schemas.MetricsDay) schemas.Metrics {
		return schemas.Metrics{Partition: p, Metric: schemas.MetricDay, Period: date, At: at, Day: &d}
	}
	back := func(k int, n int64) (r [schemas.RetainedDays]int64) { r[k-1] = n; return r }
	return []schemas.Metrics{
		// Partition 0: 4 new on the 2nd, 1 of them back on the 3rd, 2 on
		// the 4th; one churns on the 3rd and returns on the 4th.
		day(0, "2026-03-02", schemas.MetricsDay{Active: 4, Active7: 4, Active30: 4, New: 4, Flows: map[string]int64{"none>new": 4}}),
		day(0, "2026-03-03", schemas.MetricsDay{Active: 1, Active7: 4, Active30: 4, RetainedBack: back(1, 1), Flows: map[string]int64{"new>churned": 1},
			Warnings: map[string]int64{"watch/inactive": 2, "critical/inactive": 1}}),
		day(0, "2026-03-04", schemas.MetricsDay{Active: 2, Active7: 4, Active30: 4, RetainedBack: back(2, 2), Flows: map[string]int64{"churned>new": 1}}),
		// Counted ahead: not shown.
		day(0, "2026-03-08", schemas.MetricsDay{Active7: 4}),
		{Partition: 0, Metric: schemas.MetricStages, At: at, Stages: &schemas.MetricsStages{Stages: map[string]int64{"new": 4, "churned": 0}, Segments: map[string]int64{"none": 4}}},
		// Partition 1: 2 new on the 3rd, both churned already (a churned
		// user at the start of the 4th).
		day(1, "2026-03-03", schemas.MetricsDay{Active: 2, Active7: 2, Active30: 2, New: 2, Flows: map[string]int64{"none>new": 2, "new>churned": 1}}),
		day(1, "2026-03-04", schemas.MetricsDay{Active7: 2, Active30: 2, Flows: map[string]int64{"new>churned": 1}}),
		{Partition: 1, Metric: schemas.MetricStages, At: at, Stages: &schemas.MetricsStages{Stages: map[string]int64{"new": 0, "churned": 2}, Segments: map[string]int64{"none": 2}}},
		{Partition: 1, Metric: schemas.MetricRFM, At: at, RFM: &schemas.MetricsRFM{Rebuilt: "2026-03-02T00:00:00.000Z", NonBuyers: 1,
			Users: [5][5]int64{4: {4: 3}}, Monetary: [5][5]int64{4: {4: 12_500_000}}}},
	}
}

func getJSON(t *testing.T, h http.Handler, url string, v any) int {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", url, nil))
	if rec.Code == http.StatusOK {
		if err := json.Unmarshal(rec.Body.Bytes(), v); err != nil {
			t.Fatalf("%s: %v", url, err)
		}
	}
	return rec.Code
}

// TestRetentionViews: the views sum the partitions, stop at the latest
// boundary, and compute the rates against the users at each day's start
// (the stages now less the later flows).
func TestRetentionViews(t *testing.T) {
	h := Handler(&fakeSource{ready: true, metrics: retentionFixture()})

	var c CohortsView
	if code := getJSON(t, h, "/v1/cohorts?from=2026-03-02&to=2026-03-04", &c); code != 200 {
		t.Fatalf("/v1/cohorts: %d", code)
	}
	if c.AsOf != "2026-03-05T00:00:00.000Z" || c.Partitions != 2 || len(c.Active) != 3 || c.Active[1] != (ActiveDay{Day: "2026-03-03", DAU: 3, WAU: 6, MAU: 6}) {
		t.Errorf("cohorts: as of %s, %d partitions, active %+v", c.AsOf, c.Partitions, c.Active)
	}
	if d := c.Daily[0]; d.Users != 4 || len(d.Retained) != 2 || d.Retained[0] != 1 || d.Retained[1] != 2 || d.Rates["d1"] != 0.25 {
		t.Errorf("cohort of 03-02: %+v; want 4 users, retained [1 2], d1 0.25", d)
	}
	if w := c.Weekly[len(c.Weekly)-1]; w.Cohort != "2026-03-02" || w.Users != 6 || len(w.Retained) != 0 {
		t.Errorf("the last weekly cohort: %+v; want the week of 03-02 with its 6 users, nothing retained yet", w)
	}

	var f FlowsView
	if code := getJSON(t, h, "/v1/flows?from=2026-03-04&to=2026-03-04", &f); code != 200 {
		t.Fatalf("/v1/flows: %d", code)
	}
	// At the start of the 4th: partition 0 has 3 new and 1 churned,
	// partition 1 one new and one churned.
	if f.Churned != 1 || f.Returned != 1 || f.ActiveAtStart != 4 || f.ChurnedAtStart != 2 || f.ChurnRate != 0.25 || f.ReturnRate != 0.5 {
		t.Errorf("flows of 03-04: %+v", f)
	}
	if len(f.Flows) != 2 || f.Flows[0] != (Flow{From: "churned", To: "new", Users: 1}) {
		t.Errorf("flows of 03-04: %+v; want churned>new and new>churned", f.Flows)
	}

	var s SegmentsView
	if getJSON(t, h, "/v1/segments", &s); s.Users[4][4] != 3 || s.Monetary[4][4] != "12.50" || s.NonBuyers != 1 || s.Segments["none"] != 6 {
		t.Errorf("segments: %+v", s)
	}

	var w WarningsView
	if getJSON(t, h, "/v1/warnings?days=3", &w); len(w.Days) != 3 || w.Days[1].ByLevel["watch"] != 2 || w.Days[1].ByReason["inactive"] != 3 {
		t.Errorf("warnings: %+v", w)
	}

	if code := getJSON(t, h, "/v1/flows?from=March", &f); code != http.StatusBadRequest {
		t.Errorf("/v1/flows?from=March: %d; want 400", code)
	}
}
