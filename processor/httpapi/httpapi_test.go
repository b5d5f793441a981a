package httpapi

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/lifecycle-engine/lifecycle/processor"
	"github.com/lifecycle-engine/lifecycle/processor/retention"
	"github.com/lifecycle-engine/lifecycle/processor/rules"
	"github.com/lifecycle-engine/lifecycle/processor/segments"
	"github.com/lifecycle-engine/lifecycle/processor/warnings"
	"github.com/lifecycle-engine/lifecycle/schemas"
	"github.com/lifecycle-engine/lifecycle/state"
	"github.com/lifecycle-engine/lifecycle/state/record"
)

type fakeSource struct {
	ready   bool
	users   map[string]record.User
	err     error
	metrics []schemas.Metrics
	failing []int32  // Stats().SendFailing
	missing []string // Stats().MissingTopics
}

func (f *fakeSource) Metrics() retention.Totals { return retention.Sum(f.metrics) }

func (f *fakeSource) Stats() processor.Stats {
	st := processor.Stats{Partitions: 2, Applied: 10, Transitions: 4, StreamTime: time.UnixMilli(1_767_225_600_000).UTC()}
	st.Stages[rules.New], st.Stages[rules.Churned] = 3, 1
	st.Segments[segments.ImportantKeep] = 2
	st.Restoring = 1
	st.Ignored = 2
	st.InputTopics = []string{"events.login", "events.purchase"}
	st.InputRecords[0], st.InputRecords[1] = 9, 3
	st.StoreReads, st.CachedUsers, st.CacheBytes = 5, 1200, 180_000
	st.Rules = schemas.Rules{Version: "v2", Hash: "0123456789abcdef"}
	st.Lag = []processor.PartitionLag{{Topic: "events.login", Partition: 1, Records: 7}}
	st.SendFailing, st.MissingTopics = f.failing, f.missing
	st.Restores = []processor.RestoreProgress{{Partition: 0, Read: 40, Target: 100, Running: true}}
	st.PartitionWatch = map[int32]float64{1: 0.29}
	st.PartitionBreaks = map[int32]string{1: "2025-05-11..2025-05-20"}
	st.BreakDays = 10
	st.CommitSeconds.Counts[0], st.CommitSeconds.Counts[len(processor.LatencyBuckets)] = 2, 1 // ≤ 1 ms twice, over every bound once
	st.CommitSeconds.Sum = 400 * time.Second
	return st
}
func (f *fakeSource) Ready() bool { return f.ready }
func (f *fakeSource) Disk() (state.DiskUse, bool) {
	return state.DiskUse{StoreBytes: 123_456, FreeBytes: 654_321, TotalBytes: 999_999, SlowWrites: 3}, true
}
func (f *fakeSource) User(id string) (record.User, int32, bool, error) {
	if f.err != nil {
		return record.User{}, 1, false, f.err
	}
	r, ok := f.users[id]
	return r, 1, ok, nil
}
func (f *fakeSource) Predict(record.User, int32) *schemas.Prediction {
	return &schemas.Prediction{Model: "sha256:abc", Period: "week", PAlive: 0.5, HorizonPeriods: 13, CLVHorizonPeriods: 52}
}

func get(t *testing.T, h http.Handler, path string) (int, string) {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
	b, _ := io.ReadAll(rec.Result().Body)
	return rec.Code, string(b)
}

// TestReadyzSaysWhy: a member that is not ready says what it waits for.
func TestReadyzSaysWhy(t *testing.T) {
	for _, tc := range []struct {
		src  *fakeSource
		want string
	}{
		{&fakeSource{}, "joining the consumer group"},
		{&fakeSource{failing: []int32{3}}, "the output writes of partitions [3] have failed"},
		{&fakeSource{missing: []string{"events.login"}}, "the broker lists no partitions of the topics [events.login]"},
	} {
		code, body := get(t, Handler(tc.src), "/readyz")
		if code != http.StatusServiceUnavailable || !strings.Contains(body, tc.want) {
			t.Errorf("/readyz of %+v: %d %s; want 503 saying %q", tc.src, code, body, tc.want)
		}
	}
}

func TestRoutes(t *testing.T) {
	u := rules.User{Stage: rules.Growing, Since: 1_767_225_600_000, FirstSeen: 1_767_225_600_000, LastActivity: 1_767_225_600_000,
		LastPurchase: 1_767_225_600_000, Purchases: 1, Spend: 19_990_000}
	rec := record.User{User: u, Wake: 1_769_817_600_000, Segment: segments.Score{R: 2, F: 4, M: 5, Segment: segments.ImportantKeep}}
	rec.Warn.Open = 1 // inactive
	rec.Warn.LastAt[0], rec.Warn.LastLevel[0] = 1_768_521_600_000, uint8(warnings.AtRisk)
	src := &fakeSource{users: map[string]record.User{"u-1": rec}}
	h := Handler(src)

	for _, tc := range []struct {
		path       string
		ready      bool
		err        error
		wantStatus int
		wantBody   string
	}{
		{"/healthz", false, nil, 200, `"ok"`},
		{"/readyz", false, nil, 503, "not ready"},
		{"/readyz", true, nil, 200, `"ready"`},
		{"/v1/users/u-1", true, nil, 200, `"stage":"growing"`},
		{"/v1/users/u-1", true, nil, 200, `"spend":"19.99"`},
		{"/v1/users/u-1", true, nil, 200, `"p_alive":0.5`},
		{"/v1/users/u-1", true, nil, 200, `"segment":{"code":"R2F4M5","segment":"important keep"}`},
		{"/v1/users/u-1", true, nil, 200, `"open_warnings":[{"code":"inactive","level":"at_risk","at":"2026-01-16T00:00:00.000Z"}]`},
		{"/v1/users/nobody", true, nil, 404, "no such user"},
		{"/v1/users/u-1", true, fmt.Errorf("%w: partition 1", processor.ErrNotOwned), 421, "another instance"},
		{"/v1/users/u-1", true, fmt.Errorf("%w: partition 1", processor.ErrRestoring), 503, "restoring"},
		{"/v1/stats", true, nil, 200, `"users_per_stage":{"churned":1,"growing":0,"mature":0,"new":3,"silent":0}`},
		{"/metrics", true, nil, 200, `lifecycle_users{stage="new"} 3`},
		{"/metrics", true, nil, 200, "lifecycle_events_applied_total 10"},
		{"/metrics", true, nil, 200, "lifecycle_ready 1"},
		{"/metrics", true, nil, 200, "lifecycle_user_store_reads_total 5"},
		{"/metrics", true, nil, 200, "lifecycle_users_cached 1200"},
		{"/metrics", true, nil, 200, "lifecycle_user_cache_bytes 180000"},
		{"/metrics", true, nil, 200, "lifecycle_state_bytes 123456"},
		{"/metrics", true, nil, 200, "lifecycle_state_disk_free_bytes 654321"},
		{"/metrics", true, nil, 200, "lifecycle_state_disk_size_bytes 999999"},
		{"/metrics", true, nil, 200, "lifecycle_state_disk_slow_total 3"},
		{"/metrics", true, nil, 200, `lifecycle_segment_users{segment="important keep"} 2`},
		{"/v1/stats", true, nil, 200, `"important keep":2`},
		{"/v1/stats", true, nil, 200, `"rules":{"version":"v2","hash":"0123456789abcdef"}`},
		{"/metrics", true, nil, 200, `lifecycle_consumer_lag_records{partition="1",topic="events.login"} 7`},
		{"/metrics", true, nil, 200, `lifecycle_batch_commit_seconds_bucket{le="0.001"} 2`},
		{"/metrics", true, nil, 200, `lifecycle_batch_commit_seconds_bucket{le="300"} 2`},
		{"/metrics", true, nil, 200, `lifecycle_batch_commit_seconds_bucket{le="+Inf"} 3`},
		{"/metrics", true, nil, 200, "lifecycle_batch_commit_seconds_sum 400"},
		{"/metrics", true, nil, 200, "lifecycle_event_to_output_seconds_count 0"},
		{"/metrics", true, nil, 200, "lifecycle_partitions_restoring 1"},
		{"/metrics", true, nil, 200, "lifecycle_records_ignored_total 2"},
		{"/v1/stats", true, nil, 200, `"records_ignored":2`},
		{"/metrics", true, nil, 200, `lifecycle_input_records_total{topic="events.purchase"} 3`},
		{"/v1/stats", true, nil, 200, `"input_records":{"events.login":9,"events.purchase":3}`},
		{"/v1/stats", true, nil, 200, `"breaks_seen":{"1":"2025-05-11..2025-05-20"}`},
		{"/metrics", true, nil, 200, `lifecycle_warning_break_days_seen_total 10`},
		{"/metrics", true, nil, 200, `lifecycle_restore_records{partition="0"} 40`},
		{"/metrics", true, nil, 200, `lifecycle_restore_records_target{partition="0"} 100`},
		{"/metrics", true, nil, 200, `lifecycle_warning_watch_risk{partition="1"} 0.29`},
	} {
		src.ready, src.err = tc.ready, tc.err
		status, body := get(t, h, tc.path)
		if status != tc.wantStatus || !strings.Contains(body, tc.wantBody) {
			t.Errorf("GET %s (ready=%v, err=%v) = %d %q, want %d containing %q", tc.path, tc.ready, tc.err, status, body, tc.wantStatus, tc.wantBody)
		}
	}

	// The user view is JSON with the committed state's fields.
	src.err = nil
	_, body := get(t, h, "/v1/users/u-1")
	var v UserView
	if err := json.Unmarshal([]byte(body), &v); err != nil {
		t.Fatal(err)
	}
	if v.UserID != "u-1" || v.Purchases != 1 || v.NextTimer == nil || *v.NextTimer != "2026-01-31T00:00:00.000Z" {
		t.Errorf("user view %+v", v)
	}
	if status, _ := get(t, h, "/v1/nothing"); status != 404 {
		t.Errorf("unknown path: %d, want 404", status)
	}
}
