package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/lifecycle-engine/lifecycle/processor/httpapi"
)

// TestPageInBrowser runs the demo with its HTTP server (with a bearer
// token), opens the page at / in headless Chromium, gives the page the token
// it asks for, and while the simulated events flow waits for the rate chart
// to rise; once the events have all been applied it checks that every chart
// has data and that the numbers the page shows equal /v1/stats, and those
// of the retention charts (flows, R×F grid, active users, cohort
// triangle, warnings) /v1/flows, /v1/segments, /v1/cohorts and
// /v1/warnings. It saves a
// screenshot (the path is logged).
//
// Chromium is Debian's chromium package (.ci/run installs it). Without it
// the test skips, except with CI=true, where it fails.
func TestPageInBrowser(t *testing.T) {
	browser := findChromium(t)

	// The demo, in process: about 18 s of paced events, then nothing more,
	// so the counts stop moving and the page can be compared with
	// /v1/stats. The browser's start, the page's load and the token take
	// about 10 s on a busy CI machine (-race, other packages' tests), and
	// the rate chart needs two polls while events flow.
	const token = "page-test-token-0123456789"
	tokenFile := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(tokenFile, []byte(token+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, stopDemo := context.WithCancel(context.Background())
	var out, errOut lockedBuffer
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"demo", "--users", "1500", "--days", "90", "--speed", "5", "--partitions", "2",
			"--http", "127.0.0.1:0", "--http-token-file", tokenFile}, &out, &errOut)
	}()
	t.Cleanup(func() {
		stopDemo()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("demo: %v\n%s", err, errOut.String())
			}
		case <-time.After(30 * time.Second):
			t.Error("demo did not stop within 30s")
		}
	})

	// The demo prints the page's URL when it starts.
	var pageURL string
	for deadline := time.Now().Add(30 * time.Second); pageURL == ""; time.Sleep(50 * time.Millisecond) {
		if m := regexp.MustCompile(`live page at (http://\S+/)`).FindStringSubmatch(out.String()); m != nil {
			pageURL = m[1]
		} else if time.Now().After(deadline) {
			t.Fatalf("the demo printed no page URL within 30s:\n%s\n%s", out.String(), errOut.String())
		}
	}
	t.Logf("page at %s", pageURL)

	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(browser), chromedp.NoSandbox,
		chromedp.DisableGPU, chromedp.WindowSize(1440, 900))
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	defer cancelAlloc()
	bctx, cancelBrowser := chromedp.NewContext(allocCtx)
	defer cancelBrowser()

	// Errors on the page's console: exceptions, failed loads, CSP refusals.
	var consoleMu sync.Mutex
	var consoleErrors []string
	messages := chromedp.Console(bctx) // starts the browser
	go func() {
		for m, err := range messages {
			if err != nil {
				return
			}
			// The page's first /v1/stats, without the token, is answered 401 (the browser logs it).
			expected := m.Source == "network" && strings.Contains(m.Text, "401")
			if m.IsException() || (m.Type == chromedp.ConsoleError && !expected) {
				consoleMu.Lock()
				consoleErrors = append(consoleErrors, fmt.Sprintf("%s (%s:%d)", m, m.URL, m.Line))
				consoleMu.Unlock()
			}
		}
	}()
	// The page (open) asks for the token, which /v1/stats needs.
	if err := chromedp.Do(bctx, chromedp.Navigate(pageURL),
		chromedp.WaitVisible(chromedp.ID("token")), chromedp.SendKeys(chromedp.ID("token"), token),
		chromedp.Click(chromedp.CSS("#token-form button"))); err != nil {
		t.Fatalf("%s: giving the page the token: %v", pageURL, err)
	}

	// While events flow, the rate chart gets a point above zero.
	if _, err := chromedp.Run(bctx, chromedp.Poll[bool](
		`window.Chart && Chart.getChart('rate-chart') && Chart.getChart('rate-chart').data.datasets[0].data.some((v) => v > 0)`,
		chromedp.WithPollingInterval(200*time.Millisecond), chromedp.WithPollingTimeout(60*time.Second))); err != nil {
		consoleMu.Lock()
		defer consoleMu.Unlock()
		t.Fatalf("the page drew no events/s above zero within 60s: %v\nconsole errors: %q", err, consoleErrors)
	}

	// Then all events are applied: /v1/stats stops changing.
	statsURL := pageURL + "v1/stats"
	before := waitStable(t, statsURL, token, 3*time.Second, 2*time.Minute)

	// Read the page after it has drawn two polls made after that snapshot,
	// and take /v1/stats again: the counts must not have moved meanwhile,
	// and the page must show them.
	var shown pageNumbers
	var after httpapi.StatsView
	for attempt := 1; ; attempt++ {
		awaitPolls(t, bctx, "polls", "/v1/stats", 15*time.Second)
		var err error
		if shown, err = chromedp.Run(bctx, chromedp.Evaluate[pageNumbers](readPageJS)); err != nil {
			t.Fatalf("reading the page: %v", err)
		}
		after = getStats(t, statsURL, token)
		if reflect.DeepEqual(countsOf(before), countsOf(after)) {
			break
		}
		if attempt == 3 {
			t.Fatalf("/v1/stats kept changing while the page was read:\nbefore %+v\nafter  %+v", countsOf(before), countsOf(after))
		}
		before = after
	}

	dir, err := os.MkdirTemp("", "lifecycle-page-")
	if err != nil {
		t.Fatal(err)
	}
	png, err := chromedp.Run(bctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatal(err)
	}
	shot := filepath.Join(dir, "page.png")
	if err := os.WriteFile(shot, png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot of the page: %s", shot)

	checkPage(t, shown, after)
	checkRetentionCharts(t, bctx, pageURL, token)
	consoleMu.Lock()
	defer consoleMu.Unlock()
	if len(consoleErrors) > 0 {
		t.Errorf("the page's console has errors:\n%s", strings.Join(consoleErrors, "\n"))
	}
}

// pageNumbers is what the page shows, as readPageJS reads it: the counts in
// its tables and tiles (parsed from their text) and its charts' data.
type pageNumbers struct {
	Stages        map[string]int64 `json:"stages"`
	Segments      map[string]int64 `json:"segments"`
	StagesChart   pageChart        `json:"stagesChart"`
	SegmentsChart pageChart        `json:"segmentsChart"`
	RateChart     pageChart        `json:"rateChart"`
	Users         int64            `json:"users"`
	Warnings      int64            `json:"warnings"`
	Transitions   int64            `json:"transitions"`
	Rejected      int64            `json:"rejected"`
	Restoring     int64            `json:"restoring"`
	Partitions    int64            `json:"partitions"`
	Rules         string           `json:"rules"`
	StreamTime    string           `json:"streamTime"`
	RecentRows    int              `json:"recentRows"`
	LagRows       int              `json:"lagRows"`
	LagTotal      int64            `json:"lagTotal"`
	EventsRate    string           `json:"eventsRate"`
}

type pageChart struct {
	Labels []string    `json:"labels"`
	Data   [][]float64 `json:"data"`
}

const readPageJS = `(() => {
  const digits = (s) => Number(s.replace(/[^0-9]/g, ''));
  const text = (id) => document.getElementById(id).textContent;
  const table = (id) => Object.fromEntries([...document.querySelectorAll('#' + id + ' tbody tr')]
    .map((tr) => [tr.dataset.key, digits(tr.cells[1].textContent)]));
  const chart = (id) => {
    const c = Chart.getChart(id);
    return { labels: c.data.labels, data: c.data.datasets.map((d) => d.data) };
  };
  return {
    stages: table('stages-table'), segments: table('segments-table'),
    stagesChart: chart('stages-chart'), segmentsChart: chart('segments-chart'), rateChart: chart('rate-chart'),
    users: digits(text('users')), warnings: digits(text('warnings')), transitions: digits(text('transitions')),
    rejected: digits(text('rejected')), restoring: digits(text('restoring')), partitions: digits(text('partitions')),
    rules: text('rules'), streamTime: text('stream-time'),
    recentRows: document.querySelectorAll('#recent-table tbody tr').length,
    lagRows: document.querySelectorAll('#lag-table tbody tr').length,
    lagTotal: digits(text('lag-total')), eventsRate: text('events-rate'),
  };
})()`

// checkPage compares what the page shows with st.
func checkPage(t *testing.T, p pageNumbers, st httpapi.StatsView) {
	t.Helper()
	// Each chart has data, and the bars are the counts of /v1/stats.
	chartCounts := func(name string, c pageChart) map[string]int64 {
		if len(c.Data) != 1 || len(c.Data[0]) != len(c.Labels) || len(c.Labels) == 0 {
			t.Errorf("%s chart: labels %q, data %v", name, c.Labels, c.Data)
			return nil
		}
		m := map[string]int64{}
		for i, l := range c.Labels {
			m[l] = int64(c.Data[0][i])
		}
		return m
	}
	sum := func(m map[string]int64) (n int64) {
		for _, v := range m {
			n += v
		}
		return n
	}
	for _, c := range []struct {
		name        string
		table, bars map[string]int64
		want        map[string]int64
	}{
		{"stage", p.Stages, chartCounts("stage", p.StagesChart), st.Stages},
		{"segment", p.Segments, chartCounts("segment", p.SegmentsChart), st.Segments},
	} {
		if sum(c.want) == 0 {
			t.Errorf("/v1/stats has no users per %s: the demo ran too short to check the page", c.name)
		}
		if !reflect.DeepEqual(c.table, c.want) {
			t.Errorf("users per %s on the page %v, /v1/stats %v", c.name, c.table, c.want)
		}
		if !reflect.DeepEqual(c.bars, c.want) {
			t.Errorf("users per %s in the chart %v, /v1/stats %v", c.name, c.bars, c.want)
		}
	}
	if len(st.Stages) != 5 || len(st.Segments) != 8 {
		t.Errorf("/v1/stats has %d stages and %d segments, want 5 and 8", len(st.Stages), len(st.Segments))
	}
	// The rate chart rose above zero while events flowed (checked before);
	// its last points come from polls after the last event: zero.
	if len(p.RateChart.Data) != 2 || len(p.RateChart.Data[0]) == 0 || len(p.RateChart.Data[1]) != len(p.RateChart.Data[0]) {
		t.Errorf("events/s chart has no data: %+v", p.RateChart)
	} else if events := p.RateChart.Data[0]; events[len(events)-1] != 0 || p.EventsRate != "0" {
		t.Errorf("events/s after the last event: the chart ends with %v, the tile shows %q; want 0", events[len(events)-1], p.EventsRate)
	}
	lag := int64(0)
	for _, l := range st.Lag {
		lag += l.Records
	}
	for _, c := range []struct {
		name       string
		shown, api int64
	}{
		{"users", p.Users, sum(st.Stages)},
		{"churn warnings", p.Warnings, st.Warnings},
		{"transitions", p.Transitions, st.Transitions},
		{"dead letters", p.Rejected, st.Rejected},
		{"restoring partitions", p.Restoring, int64(st.Restoring)},
		{"partitions", p.Partitions, int64(st.Partitions)},
		{"recent transitions", int64(p.RecentRows), int64(len(st.Recent))},
		{"partitions in the lag table", int64(p.LagRows), int64(lagPartitions(st))},
		{"lag", p.LagTotal, lag},
	} {
		if c.shown != c.api {
			t.Errorf("%s: the page shows %d, /v1/stats %d", c.name, c.shown, c.api)
		}
	}
	if st.Transitions == 0 || st.Rejected == 0 || len(st.Recent) == 0 {
		t.Errorf("/v1/stats: %d transitions, %d dead letters, %d recent transitions: want some of each from the demo", st.Transitions, st.Rejected, len(st.Recent))
	}
	if !strings.Contains(p.Rules, st.Rules.Hash) || st.Rules.Hash == "" {
		t.Errorf("rules on the page %q, /v1/stats hash %q", p.Rules, st.Rules.Hash)
	}
	if st.StreamTime == nil || !strings.HasPrefix(strings.Replace(*st.StreamTime, "T", " ", 1), p.StreamTime) || p.StreamTime == "" {
		t.Errorf("event time on the page %q, /v1/stats %v", p.StreamTime, st.StreamTime)
	}
}

func lagPartitions(st httpapi.StatsView) int {
	parts := map[int32]bool{}
	for _, l := range st.Lag {
		parts[l.Partition] = true
	}
	return len(parts)
}

// statsCounts are the numbers of /v1/stats that the page shows.
type statsCounts struct {
	Stages, Segments                      map[string]int64
	Applied, Rejected, Warnings, Trans    int64
	Restoring, Partitions, Recent, LagLen int
}

func countsOf(v httpapi.StatsView) statsCounts {
	return statsCounts{v.Stages, v.Segments, v.Applied, v.Rejected, v.Warnings, v.Transitions, v.Restoring, v.Partitions, len(v.Recent), len(v.Lag)}
}

func getStats(t *testing.T, url, token string) httpapi.StatsView {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var v httpapi.StatsView
	if err := json.NewDecoder(res.Body).Decode(&v); err != nil || res.StatusCode != 200 {
		t.Fatalf("GET %s: %d %v", url, res.StatusCode, err)
	}
	return v
}

// waitStable polls /v1/stats until its counts (with some events applied)
// have not changed for quiet, and returns the last answer.
func waitStable(t *testing.T, url, token string, quiet, limit time.Duration) httpapi.StatsView {
	t.Helper()
	last := getStats(t, url, token)
	since := time.Now()
	for deadline := time.Now().Add(limit); ; time.Sleep(250 * time.Millisecond) {
		v := getStats(t, url, token)
		if !reflect.DeepEqual(countsOf(v), countsOf(last)) || v.Applied == 0 {
			last, since = v, time.Now()
		} else if time.Since(since) >= quiet {
			return v
		}
		if time.Now().After(deadline) {
			t.Fatalf("/v1/stats did not settle within %v: %+v", limit, countsOf(v))
		}
	}
}

// findChromium returns the path of a Chromium or Chrome binary; without
// one the test skips, or fails with CI=true.
func findChromium(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable", "headless-shell"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("no Chromium found (chromium, chromium-browser, google-chrome): .ci/run installs Debian's chromium package; the page's browser test cannot run")
	}
	t.Skip("no Chromium found (chromium, chromium-browser, google-chrome): the page at / is not tested in a browser here; install it with `apt-get install chromium`")
	return ""
}

// lockedBuffer is a bytes.Buffer that the demo writes while the test reads.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// retentionViews are the JSON views the retention charts draw.
type retentionViews struct {
	Cohorts  httpapi.CohortsView
	Flows    httpapi.FlowsView
	Segments httpapi.SegmentsView
	Warnings httpapi.WarningsView
}

func getRetention(t *testing.T, base, token string) retentionViews {
	t.Helper()
	var v retentionViews
	for path, into := range map[string]any{"v1/cohorts?days=35": &v.Cohorts, "v1/flows?days=30": &v.Flows,
		"v1/segments": &v.Segments, "v1/warnings?days=35": &v.Warnings} {
		req, err := http.NewRequest(http.MethodGet, base+path, nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Authorization", "Bearer "+token)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		err = json.NewDecoder(res.Body).Decode(into)
		res.Body.Close()
		if err != nil || res.StatusCode != 200 {
			t.Fatalf("GET %s: %d %v", path, res.StatusCode, err)
		}
	}
	return v
}

// retentionShown is what the retention charts show, as readRetentionJS
// reads it: the charts' data and the shaded tables' cell values.
type retentionShown struct {
	Flows []struct {
		From, To string
		Flow     int64
	} `json:"flows"`
	FlowsRow      []string           `json:"flowsRow"`
	RFMUsers      map[string]float64 `json:"rfmUsers"`
	RFMMonetary   map[string]float64 `json:"rfmMonetary"`
	NamedSegments map[string]int64   `json:"namedSegments"`
	Active        pageChart          `json:"active"`
	Cohorts       [][]string         `json:"cohorts"` // per row: week, users, then data-value of each k
	Warnings      struct {
		Labels   []string    `json:"labels"`
		Datasets []string    `json:"datasets"`
		Data     [][]float64 `json:"data"`
	} `json:"warnings"`
}

const readRetentionJS = `(() => {
  const digits = (s) => Number(s.replace(/[^0-9]/g, ''));
  const grid = (id) => Object.fromEntries([...document.querySelectorAll('#' + id + ' td[data-key]')]
    .map((td) => [td.dataset.key, Number(td.dataset.value)]));
  const flows = Chart.getChart('flows-chart').data.datasets[0].data;
  const active = Chart.getChart('active-chart').data;
  const warnings = Chart.getChart('warnings-chart').data;
  return {
    flows: flows.map((f) => ({ From: f.from, To: f.to, Flow: f.flow })),
    flowsRow: [...document.querySelectorAll('#flows-table tbody td')].map((td) => td.textContent),
    rfmUsers: grid('rfm-users'), rfmMonetary: grid('rfm-monetary'),
    namedSegments: Object.fromEntries([...document.querySelectorAll('#named-segments tbody tr')]
      .map((tr) => [tr.dataset.key, digits(tr.cells[1].textContent)])),
    active: { labels: active.labels, data: active.datasets.map((d) => d.data) },
    cohorts: [...document.querySelectorAll('#cohort-table tbody tr')].map((tr) =>
      [tr.cells[0].textContent, String(digits(tr.cells[1].textContent))].concat(
        [...tr.querySelectorAll('td[data-value]')].map((td) => td.dataset.value))),
    warnings: { labels: warnings.labels, datasets: warnings.datasets.map((d) => d.label), data: warnings.datasets.map((d) => d.data) },
  };
})()`

// checkRetentionCharts waits until the retention views stop changing,
// lets the page draw them twice more, and checks that each retention chart
// has data and shows the views' numbers.
func checkRetentionCharts(t *testing.T, bctx context.Context, base, token string) {
	t.Helper()
	var want retentionViews
	var shown retentionShown
	for attempt := 1; ; attempt++ {
		want = getRetention(t, base, token)
		awaitPolls(t, bctx, "metricsPolls", "the retention views", 40*time.Second)
		var err error
		if shown, err = chromedp.Run(bctx, chromedp.Evaluate[retentionShown](readRetentionJS)); err != nil {
			t.Fatalf("reading the retention charts: %v", err)
		}
		if again := getRetention(t, base, token); reflect.DeepEqual(again, want) {
			break
		}
		if attempt == 5 {
			t.Fatal("the retention views kept changing while the page was read")
		}
	}

	// Flows: the Sankey's links are /v1/flows's (targets marked ›), with
	// returns among them.
	if len(shown.Flows) == 0 || len(shown.Flows) != len(want.Flows.Flows) {
		t.Errorf("flows chart: %d links, /v1/flows %d", len(shown.Flows), len(want.Flows.Flows))
	}
	returns := false
	for i := range min(len(shown.Flows), len(want.Flows.Flows)) {
		g, w := shown.Flows[i], want.Flows.Flows[i]
		if g.From != w.From || g.To != w.To+" ›" || g.Flow != w.Users {
			t.Errorf("flow %d: the chart has %+v, /v1/flows %+v", i, g, w)
		}
		returns = returns || w.From == "churned"
	}
	if !returns {
		t.Errorf("no return (churned → …) among the flows of the last 30 days: %+v", want.Flows.Flows)
	}
	if len(shown.FlowsRow) != 5 || digitsOf(shown.FlowsRow[1]) != want.Flows.Churned || digitsOf(shown.FlowsRow[3]) != want.Flows.Returned {
		t.Errorf("flows table %q; /v1/flows churned %d, returned %d", shown.FlowsRow, want.Flows.Churned, want.Flows.Returned)
	}

	// The R×F grid: every cell, users and monetary, and the eight segments.
	var buyers int64
	for r := range 5 {
		for f := range 5 {
			key := fmt.Sprintf("R%dF%d", r+1, f+1)
			buyers += want.Segments.Users[r][f]
			if shown.RFMUsers[key] != float64(want.Segments.Users[r][f]) {
				t.Errorf("R×F users %s: page %v, /v1/segments %d", key, shown.RFMUsers[key], want.Segments.Users[r][f])
			}
			var m float64
			fmt.Sscan(want.Segments.Monetary[r][f], &m)
			if shown.RFMMonetary[key] != m {
				t.Errorf("R×F monetary %s: page %v, /v1/segments %s", key, shown.RFMMonetary[key], want.Segments.Monetary[r][f])
			}
		}
	}
	if buyers == 0 || len(shown.RFMUsers) != 25 || len(shown.RFMMonetary) != 25 {
		t.Errorf("R×F grid: %d buyers, %d and %d cells on the page", buyers, len(shown.RFMUsers), len(shown.RFMMonetary))
	}
	named := map[string]int64{}
	for s, n := range want.Segments.Segments {
		if s != "none" {
			named[s] = n
		}
	}
	if len(named) != 8 || !reflect.DeepEqual(shown.NamedSegments, named) {
		t.Errorf("named segments: page %v, /v1/segments %v", shown.NamedSegments, named)
	}

	// Active users: DAU, WAU and MAU of each day.
	a := want.Cohorts.Active
	if len(a) == 0 || len(shown.Active.Labels) != len(a) || len(shown.Active.Data) != 3 {
		t.Fatalf("active users chart: %d days, %d series; /v1/cohorts %d days", len(shown.Active.Labels), len(shown.Active.Data), len(a))
	}
	for i, d := range a {
		if shown.Active.Labels[i] != d.Day || shown.Active.Data[0][i] != float64(d.DAU) || shown.Active.Data[1][i] != float64(d.WAU) || shown.Active.Data[2][i] != float64(d.MAU) {
			t.Errorf("active users of %s: the chart has %s %v/%v/%v; /v1/cohorts %+v", d.Day, shown.Active.Labels[i],
				shown.Active.Data[0][i], shown.Active.Data[1][i], shown.Active.Data[2][i], d)
		}
	}
	if a[len(a)-1].MAU == 0 {
		t.Errorf("MAU of the last day is 0: %+v", a[len(a)-1])
	}

	// The cohort triangle: each weekly cohort's users and retention.
	if len(shown.Cohorts) != len(want.Cohorts.Weekly) || len(want.Cohorts.Weekly) == 0 {
		t.Fatalf("cohort triangle: %d rows, /v1/cohorts %d weekly cohorts", len(shown.Cohorts), len(want.Cohorts.Weekly))
	}
	retained := false
	for i, c := range want.Cohorts.Weekly {
		row := shown.Cohorts[i]
		if row[0] != c.Cohort || row[1] != fmt.Sprint(c.Users) || len(row) != 2+len(c.Retained) {
			t.Errorf("cohort row %d: %q; /v1/cohorts %+v", i, row, c)
			continue
		}
		for k, n := range c.Retained {
			var got float64
			fmt.Sscan(row[2+k], &got)
			if want := float64(n) / float64(max(c.Users, 1)); got != want {
				t.Errorf("cohort %s week %d: the page shades %v, /v1/cohorts %d of %d", c.Cohort, k+1, got, n, c.Users)
			}
			retained = retained || n > 0
		}
	}
	if !retained {
		t.Error("no cohort retained anyone: the triangle is empty")
	}

	// Warnings per day: one series per level and reason, the counts of
	// /v1/warnings.
	w := want.Warnings
	if len(shown.Warnings.Labels) != len(w.Days) || len(shown.Warnings.Datasets) == 0 {
		t.Fatalf("warnings chart: %d days, %d series; /v1/warnings %d days", len(shown.Warnings.Labels), len(shown.Warnings.Datasets), len(w.Days))
	}
	var total int64
	for j, label := range shown.Warnings.Datasets {
		key := strings.Replace(label, ": ", "/", 1)
		for i, d := range w.Days {
			total += d.Counts[key]
			if shown.Warnings.Data[j][i] != float64(d.Counts[key]) {
				t.Errorf("warnings %s on %s: the chart has %v, /v1/warnings %d", key, d.Day, shown.Warnings.Data[j][i], d.Counts[key])
			}
		}
	}
	var inViews int64
	for _, d := range w.Days {
		for _, n := range d.Counts {
			inViews += n
		}
	}
	if total != inViews || total == 0 {
		t.Errorf("the warnings chart holds %d warnings, /v1/warnings %d", total, inViews)
	}
}

func digitsOf(s string) int64 {
	var n int64
	for _, r := range s {
		if r >= '0' && r <= '9' {
			n = 10*n + int64(r-'0')
		}
	}
	return n
}

// awaitPolls waits until the page has polled what (its counter
// window.lifecyclePage[counter]) twice more than now: what it shows after
// that was fetched after the caller's snapshot.
func awaitPolls(t *testing.T, bctx context.Context, counter, what string, timeout time.Duration) {
	t.Helper()
	polls, err := chromedp.Run(bctx, chromedp.Evaluate[int](`window.lifecyclePage.`+counter))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := chromedp.Run(bctx, chromedp.Poll[bool](fmt.Sprintf(`window.lifecyclePage.%s >= %d`, counter, polls+2),
		chromedp.WithPollingInterval(100*time.Millisecond), chromedp.WithPollingTimeout(timeout))); err != nil {
		t.Fatalf("the page did not poll %s twice in %v: %v", what, timeout, err)
	}
}
