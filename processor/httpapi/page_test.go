package httpapi

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/lifecycle-engine/lifecycle/processor"
	"github.com/lifecycle-engine/lifecycle/processor/rules"
)

// The page and its assets are embedded and served without a CDN; the browser
// test (cmd/lifecycle/page_browser_test.go) checks what it draws.
func TestPageServed(t *testing.T) {
	h := Handler(&fakeSource{ready: true})
	for _, tc := range []struct{ path, contentType, body string }{
		{"/", "text/html", `src="assets/chart.umd.min.js"`},
		{"/", "text/html", `src="assets/app.js"`},
		{"/assets/app.js", "javascript", "v1/stats"},
		{"/assets/chart.umd.min.js", "javascript", "Chart.js v4.6.1"},
		{"/assets/style.css", "text/css", "grid"},
		{"/assets/chart.js-LICENSE.md", "", "MIT License"},
	} {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, tc.path, nil))
		body := rec.Body.String()
		if rec.Code != 200 || !strings.Contains(rec.Header().Get("Content-Type"), tc.contentType) || !strings.Contains(body, tc.body) {
			t.Errorf("GET %s = %d %q, want 200 %s containing %q", tc.path, rec.Code, rec.Header().Get("Content-Type"), tc.contentType, tc.body)
		}
		if csp := rec.Header().Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'none'") {
			t.Errorf("GET %s: Content-Security-Policy %q", tc.path, csp)
		}
	}
	for _, path := range []string{"/index.html", "/assets/README.md", "/assets/nothing.js", "/nothing"} {
		if status, _ := get(t, h, path); status == 200 {
			t.Errorf("GET %s = 200, want an error", path)
		}
	}
	// Nothing on the page points off the instance.
	for _, path := range []string{"/", "/assets/app.js", "/assets/style.css"} {
		if _, body := get(t, h, path); strings.Contains(body, "http://") || strings.Contains(body, "https://") {
			t.Errorf("%s refers to another origin", path)
		}
	}
}

// The page is open (it holds no data); what it reads still needs the token.
func TestPageWithToken(t *testing.T) {
	const token = "0123456789abcdef0123"
	h := RequireToken(Handler(&fakeSource{ready: true}), token)
	for _, tc := range []struct {
		path string
		auth bool
		want int // a status, or its first digit
	}{
		{"/", false, 200},
		{"/assets/app.js", false, 200},
		{"/v1/stats", false, 401},
		{"/v1/stats", true, 200},
		{"/assets/../v1/stats", false, 3}, // 3xx: the mux redirects to the cleaned path, which needs the token
		{"/v1/users/u-1", false, 401},
	} {
		req := httptest.NewRequest(http.MethodGet, tc.path, nil)
		if tc.auth {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if (rec.Code != tc.want && rec.Code/100 != tc.want) || (tc.want != 200 && strings.Contains(rec.Body.String(), "users_per_stage")) {
			t.Errorf("GET %s (token %v) = %d %q, want %d", tc.path, tc.auth, rec.Code, rec.Body.String(), tc.want)
		}
	}
}

// StatsView carries what the page shows besides the counts: restoring
// partitions, lag and the recent transitions.
func TestStatsViewForPage(t *testing.T) {
	st := (&fakeSource{}).Stats()
	st.Recent = []processor.RecentTransition{{UserID: "u-9", From: rules.Churned, To: rules.Growing, At: 1_767_225_600_000, Returned: true}}
	b, err := json.Marshal(NewStatsView(st))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		`"partitions_restoring":1`,
		`"lag":[{"topic":"events.login","partition":1,"records":7}]`,
		`"recent_transitions":[{"user_id":"u-9","from":"churned","to":"growing","at":"2026-01-01T00:00:00.000Z","returned":true}]`,
	} {
		if !strings.Contains(string(b), want) {
			t.Errorf("stats view %s\nwant %s", b, want)
		}
	}
	// Empty lists are [] for the page, not null.
	b, _ = json.Marshal(NewStatsView(processor.Stats{}))
	if !strings.Contains(string(b), `"lag":[]`) || !strings.Contains(string(b), `"recent_transitions":[]`) {
		t.Errorf("empty stats view %s", b)
	}
}
