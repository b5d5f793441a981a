package deploy_test

// The monitoring files: the Prometheus alert rules and config in
// prometheus/, the Grafana dashboard and provisioning in grafana/. Every
// metric they name must be one the engine exports, read from the source
// of its /metrics (processor/httpapi), so a renamed metric or a typo fails
// here rather than as an empty panel or an alert that never fires. promtool
// (Debian's prometheus package) checks the syntax of the rules, the config
// and the dashboard's queries, and runs the rules' unit tests; without it
// this test skips, except in CI.

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

const (
	alertsFile     = "prometheus/alerts.yml"
	alertsTestFile = "prometheus/alerts_test.yml"
	prometheusFile = "prometheus/prometheus.yml"
	dashboardFile  = "grafana/lifecycle-dashboard.json"
	datasourceFile = "grafana/provisioning/datasources/prometheus.yml"
	providerFile   = "grafana/provisioning/dashboards/lifecycle.yml"
	metricsDir     = "../processor/httpapi" // where /metrics is defined
)

// ---------------------------------------------------------------------------
// What the engine exports.

var (
	descDef   = regexp.MustCompile(`(\w+)\s*=\s*prometheus\.NewDesc\(\s*"([a-zA-Z_:][a-zA-Z0-9_:]*)"`)
	histoUse  = regexp.MustCompile(`MustNewConstHistogram\(\s*(\w+)`)
	collector = map[string][]string{ // client_golang's collectors, by what registers them; only names the files may use
		"collectors.NewProcessCollector(": {"process_resident_memory_bytes", "process_cpu_seconds_total", "process_open_fds", "process_start_time_seconds"},
		"collectors.NewGoCollector(":      {"go_goroutines", "go_gc_duration_seconds"},
	}
)

// exportedSeries returns the series names /metrics can have: each
// descriptor's name, a histogram's as _bucket, _sum and _count, the names
// of the standard collectors it registers, and Prometheus' own up.
func exportedSeries(t *testing.T) map[string]bool {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(metricsDir, "*.go"))
	if err != nil {
		t.Fatal(err)
	}
	var src strings.Builder
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		src.Write(b)
	}
	histograms := map[string]bool{}
	for _, m := range histoUse.FindAllStringSubmatch(src.String(), -1) {
		histograms[m[1]] = true
	}
	names := map[string]bool{"up": true}
	descs := map[string]bool{}
	for _, m := range descDef.FindAllStringSubmatch(src.String(), -1) {
		descs[m[1]] = true
		if histograms[m[1]] {
			names[m[2]+"_bucket"], names[m[2]+"_sum"], names[m[2]+"_count"] = true, true, true
		} else {
			names[m[2]] = true
		}
	}
	for v := range histograms {
		if !descs[v] {
			t.Fatalf("%s: MustNewConstHistogram(%s, …): want a descriptor variable defined with prometheus.NewDesc, so that its name is known here", metricsDir, v)
		}
	}
	for call, ns := range collector {
		if strings.Contains(src.String(), call) {
			for _, n := range ns {
				names[n] = true
			}
		}
	}
	if len(names) < 20 || len(histograms) == 0 {
		t.Fatalf("found %d metrics (%d histograms) in %s: has the way metrics are defined changed? Update exportedSeries", len(names), len(histograms), metricsDir)
	}
	return names
}

var (
	promString   = regexp.MustCompile(`"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'`)
	promBraces   = regexp.MustCompile(`\{[^{}]*\}|\[[^\[\]]*\]`)
	promGrouping = regexp.MustCompile(`\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^()]*\)`)
	promIdent    = regexp.MustCompile(`\b[a-zA-Z_:][a-zA-Z0-9_:]*\b\s*\(?`)
	promKeywords = map[string]bool{"and": true, "or": true, "unless": true, "bool": true, "offset": true, "by": true, "without": true,
		"on": true, "ignoring": true, "group_left": true, "group_right": true, "inf": true, "nan": true, "atan2": true}
	grafanaVar = regexp.MustCompile(`\$\{?(\w+)\}?`)
)

// metricNames returns the metric names a PromQL expression selects: what
// is left of it without strings, label matchers, ranges, groupings,
// keywords and function calls. (promtool checks the syntax.)
func metricNames(expr string) []string {
	e := grafanaVar.ReplaceAllString(expr, "var")
	e = promString.ReplaceAllString(e, `""`)
	e = promBraces.ReplaceAllString(e, " ")
	e = promGrouping.ReplaceAllString(e, " ")
	var names []string
	for _, m := range promIdent.FindAllString(e, -1) {
		if strings.HasSuffix(m, "(") {
			continue // a function or an aggregation
		}
		if m = strings.TrimSpace(m); !promKeywords[strings.ToLower(m)] {
			names = append(names, m)
		}
	}
	return names
}

func TestMetricNames(t *testing.T) {
	for expr, want := range map[string][]string{
		`sum by (job, topic) (rate(lifecycle_a_total{instance=~"$instance"}[5m])) > 0 and on (job) lifecycle_b`: {"lifecycle_a_total", "lifecycle_b"},
		`histogram_quantile(0.99, sum by (le) (rate(x_bucket[$__rate_interval])))`:                              {"x_bucket"},
		`time() - min(s{a="b)"}) or up{job="lifecycle"} == 0 offset 1h`:                                         {"s", "up"},
		`sum(rate(a[1m])) / sum without (le) (b) * 1e3`:                                                         {"a", "b"},
	} {
		if got := metricNames(expr); !slices.Equal(got, want) {
			t.Errorf("metricNames(%s) = %v, want %v", expr, got, want)
		}
	}
}

// checkExported fails for each metric expr selects that the engine does
// not export, and when it selects none.
func checkExported(t *testing.T, where, expr string, exported map[string]bool) []string {
	t.Helper()
	names := metricNames(expr)
	if len(names) == 0 {
		t.Errorf("%s: expression %q selects no metric", where, expr)
	}
	for _, n := range names {
		if !exported[n] {
			t.Errorf("%s: metric %s is not exported by lifecycle run's /metrics (%s)", where, n, metricsDir)
		}
	}
	return names
}

// ---------------------------------------------------------------------------
// Alert rules.

type ruleFile struct {
	Groups []struct {
		Name  string `yaml:"name"`
		Rules []struct {
			Alert       string            `yaml:"alert"`
			Record      string            `yaml:"record"`
			Expr        string            `yaml:"expr"`
			For         string            `yaml:"for"`
			Labels      map[string]string `yaml:"labels"`
			Annotations map[string]string `yaml:"annotations"`
		} `yaml:"rules"`
	} `yaml:"groups"`
}

var promDuration = regexp.MustCompile(`^([0-9]+(ms|s|m|h|d|w|y))+$`)

func TestAlertRules(t *testing.T) {
	b, err := os.ReadFile(alertsFile)
	if err != nil {
		t.Fatal(err)
	}
	var rf ruleFile
	if err := yaml.Unmarshal(b, &rf); err != nil {
		t.Fatalf("%s: %v", alertsFile, err)
	}
	exported := exportedSeries(t)
	seen := map[string]bool{}
	for _, g := range rf.Groups {
		for _, r := range g.Rules {
			where := alertsFile + ": alert " + r.Alert
			switch {
			case r.Alert == "":
				t.Errorf("%s: group %s has a rule without alert (recording rule %q?); want alerts only", alertsFile, g.Name, r.Record)
				continue
			case seen[r.Alert]:
				t.Errorf("%s: defined twice", where)
			}
			seen[r.Alert] = true
			if !promDuration.MatchString(r.For) {
				t.Errorf("%s: for %q, want a duration such as 10m", where, r.For)
			}
			if s := r.Labels["severity"]; s != "warning" && s != "critical" {
				t.Errorf("%s: labels.severity %q, want warning or critical", where, s)
			}
			if r.Annotations["summary"] == "" {
				t.Errorf("%s: no summary annotation", where)
			}
			if d := r.Annotations["description"]; !strings.Contains(d, "README.md") {
				t.Errorf("%s: description %q does not say where to read on (README.md, a section)", where, d)
			}
			checkExported(t, where, r.Expr, exported)
		}
	}
	// What operations needs alerts for (issue 20).
	for _, a := range []string{"LifecycleConsumerLagGrowing", "LifecycleNoProgress", "LifecycleDeadLetterSpike", "LifecycleRestoreRunningLong", "LifecycleOutputsFailing"} {
		if !seen[a] {
			t.Errorf("%s: no alert %s", alertsFile, a)
		}
	}
}

// ---------------------------------------------------------------------------
// The Grafana dashboard.

type dashPanel struct {
	ID         int    `json:"id"`
	Type       string `json:"type"`
	Title      string `json:"title"`
	Datasource *struct {
		Type string `json:"type"`
		UID  string `json:"uid"`
	} `json:"datasource"`
	GridPos struct{ H, W, X, Y int } `json:"gridPos"`
	Targets []struct {
		RefID      string `json:"refId"`
		Expr       string `json:"expr"`
		Datasource *struct {
			UID string `json:"uid"`
		} `json:"datasource"`
	} `json:"targets"`
	Panels []dashPanel `json:"panels"` // of a collapsed row
}

type dashboard struct {
	Title         string      `json:"title"`
	UID           string      `json:"uid"`
	SchemaVersion int         `json:"schemaVersion"`
	Panels        []dashPanel `json:"panels"`
	Templating    struct {
		List []struct {
			Name       string `json:"name"`
			Type       string `json:"type"`
			Query      any    `json:"query"`
			Definition string `json:"definition"`
		} `json:"list"`
	} `json:"templating"`
}

const dsVar = "${DS_PROMETHEUS}"

func loadDashboard(t *testing.T) dashboard {
	t.Helper()
	b, err := os.ReadFile(dashboardFile)
	if err != nil {
		t.Fatal(err)
	}
	var d dashboard
	if err := json.Unmarshal(b, &d); err != nil {
		t.Fatalf("%s: %v", dashboardFile, err)
	}
	return d
}

// panels returns the dashboard's panels, those of collapsed rows included.
func (d dashboard) panels() []dashPanel {
	var out []dashPanel
	for _, p := range d.Panels {
		out = append(out, p)
		out = append(out, p.Panels...)
	}
	return out
}

// queries returns each panel query's expression by "panel title/refId".
func (d dashboard) queries() map[string]string {
	out := map[string]string{}
	for _, p := range d.panels() {
		for _, q := range p.Targets {
			out[p.Title+"/"+q.RefID] = q.Expr
		}
	}
	return out
}

var labelValues = regexp.MustCompile(`^label_values\(\s*([^,]+),\s*\w+\s*\)$`)

func TestDashboard(t *testing.T) {
	d := loadDashboard(t)
	exported := exportedSeries(t)
	if d.Title == "" || d.UID == "" || d.SchemaVersion < 36 {
		t.Errorf("%s: title %q uid %q schemaVersion %d, want a title, a uid (stable links) and schemaVersion >= 36", dashboardFile, d.Title, d.UID, d.SchemaVersion)
	}
	// The data source is a variable, so the provisioned dashboard (and
	// one imported elsewhere) uses whichever Prometheus is chosen.
	hasDS := false
	for _, v := range d.Templating.List {
		switch {
		case v.Name == "DS_PROMETHEUS":
			hasDS = v.Type == "datasource" && v.Query == "prometheus"
		case v.Type == "query":
			m := labelValues.FindStringSubmatch(v.Definition)
			if m == nil {
				t.Errorf("%s: variable %s: definition %q, want label_values(metric, label)", dashboardFile, v.Name, v.Definition)
				continue
			}
			checkExported(t, dashboardFile+": variable "+v.Name, m[1], exported)
		}
	}
	if !hasDS {
		t.Errorf("%s: no variable DS_PROMETHEUS of type datasource (query prometheus)", dashboardFile)
	}

	ids := map[int]bool{}
	used := map[string]bool{}
	var placed []dashPanel
	for _, p := range d.panels() {
		where := dashboardFile + ": panel " + p.Title
		if ids[p.ID] || p.ID == 0 {
			t.Errorf("%s: id %d, want a unique non-zero id", where, p.ID)
		}
		ids[p.ID] = true
		g := p.GridPos
		if g.W <= 0 || g.H <= 0 || g.X < 0 || g.X+g.W > 24 || g.Y < 0 {
			t.Errorf("%s: gridPos %+v, want within the 24 columns", where, g)
		}
		for _, q := range placed {
			o := q.GridPos
			if g.X < o.X+o.W && o.X < g.X+g.W && g.Y < o.Y+o.H && o.Y < g.Y+g.H {
				t.Errorf("%s: overlaps panel %s", where, q.Title)
			}
		}
		placed = append(placed, p)
		if p.Type == "row" {
			continue
		}
		if p.Datasource == nil || p.Datasource.UID != dsVar {
			t.Errorf("%s: datasource %+v, want uid %s", where, p.Datasource, dsVar)
		}
		if len(p.Targets) == 0 {
			t.Errorf("%s: no query", where)
		}
		refs := map[string]bool{}
		for _, q := range p.Targets {
			if q.RefID == "" || refs[q.RefID] {
				t.Errorf("%s: query refId %q, want unique", where, q.RefID)
			}
			refs[q.RefID] = true
			if q.Datasource != nil && q.Datasource.UID != dsVar {
				t.Errorf("%s/%s: datasource uid %q, want %s", where, q.RefID, q.Datasource.UID, dsVar)
			}
			for _, n := range checkExported(t, where+"/"+q.RefID, q.Expr, exported) {
				used[n] = true
			}
		}
	}
	// What operations needs to see (issue 20): throughput, lag, commit and
	// event-to-output latency, restores, dead letters, warnings, users per
	// stage, readiness and send failures, the breaks the partitions saw;
	// and what --max-users-cached is sized by (README, "Sizing the caches").
	for _, m := range []string{"lifecycle_events_applied_total", "lifecycle_outputs_sent_total", "lifecycle_consumer_lag_records",
		"lifecycle_batch_commit_seconds_bucket", "lifecycle_event_to_output_seconds_bucket", "lifecycle_restore_records",
		"lifecycle_restore_records_target", "lifecycle_partitions_restoring", "lifecycle_records_rejected_total", "lifecycle_warnings_total",
		"lifecycle_users", "lifecycle_ready", "lifecycle_partitions_send_failing", "lifecycle_output_errors_total",
		"lifecycle_users_cached", "lifecycle_user_cache_bytes", "lifecycle_user_store_reads_total", "lifecycle_warning_break_days_seen_total"} {
		if !used[m] {
			t.Errorf("%s: no panel shows %s", dashboardFile, m)
		}
	}
}

// ---------------------------------------------------------------------------
// promtool: the rules, their unit tests, the config and the dashboard's
// queries, with Prometheus' own parser.

func TestPromtool(t *testing.T) {
	promtool, err := exec.LookPath("promtool")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("promtool is not installed; .ci/run installs it (Debian's prometheus package)")
		}
		t.Skip("promtool is not installed (apt-get install prometheus): the rules, their unit tests and the dashboard's queries are not parsed by Prometheus here")
	}
	run := func(args ...string) {
		t.Helper()
		out, err := exec.Command(promtool, args...).CombinedOutput()
		if err != nil {
			t.Errorf("promtool %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
	run("check", "rules", alertsFile)
	run("test", "rules", alertsTestFile)
	run("check", "config", prometheusFile)

	// The dashboard's queries, as recording rules, with Grafana's
	// variables replaced by values Prometheus takes.
	type rule struct{ Record, Expr string }
	var rules []rule
	for where, expr := range loadDashboard(t).queries() {
		expr = strings.NewReplacer("$__rate_interval", "1m", "$__interval", "1m", "$__range", "1h").Replace(expr)
		expr = grafanaVar.ReplaceAllString(expr, ".*")
		rules = append(rules, rule{"dashboard:" + regexp.MustCompile(`\W+`).ReplaceAllString(where, "_"), expr})
	}
	slices.SortFunc(rules, func(a, b rule) int { return strings.Compare(a.Record, b.Record) })
	b, err := yaml.Marshal(map[string]any{"groups": []map[string]any{{"name": "dashboard", "rules": rules}}})
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "dashboard-queries.yml")
	if err := os.WriteFile(file, b, 0o644); err != nil {
		t.Fatal(err)
	}
	run("check", "rules", file)
}

// ---------------------------------------------------------------------------
// Prometheus' config and Grafana's provisioning agree with each other
// (compose_test.go checks that docker-compose.yml mounts them).

type promConfig struct {
	RuleFiles     []string `yaml:"rule_files"`
	ScrapeConfigs []struct {
		JobName       string `yaml:"job_name"`
		MetricsPath   string `yaml:"metrics_path"`
		StaticConfigs []struct {
			Targets []string `yaml:"targets"`
		} `yaml:"static_configs"`
	} `yaml:"scrape_configs"`
}

func loadPromConfig(t *testing.T) promConfig {
	t.Helper()
	b, err := os.ReadFile(prometheusFile)
	if err != nil {
		t.Fatal(err)
	}
	var c promConfig
	if err := yaml.Unmarshal(b, &c); err != nil {
		t.Fatalf("%s: %v", prometheusFile, err)
	}
	return c
}

type grafanaProvisioning struct {
	Datasources []struct {
		Name, UID, Type, URL string
		IsDefault            bool `yaml:"isDefault"`
	} `yaml:"datasources"`
	Providers []struct {
		Type    string `yaml:"type"`
		Options struct {
			Path string `yaml:"path"`
		} `yaml:"options"`
	} `yaml:"providers"`
}

func loadProvisioning(t *testing.T, file string) grafanaProvisioning {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	var g grafanaProvisioning
	if err := yaml.Unmarshal(b, &g); err != nil {
		t.Fatalf("%s: %v", file, err)
	}
	return g
}

func TestPrometheusConfig(t *testing.T) {
	c := loadPromConfig(t)
	if !slices.Contains(c.RuleFiles, filepath.Base(alertsFile)) {
		t.Errorf("%s: rule_files %v, want %s (beside it)", prometheusFile, c.RuleFiles, filepath.Base(alertsFile))
	}
	scraped := false
	for _, s := range c.ScrapeConfigs {
		if s.JobName != "lifecycle" {
			continue
		}
		scraped = s.MetricsPath == "" || s.MetricsPath == "/metrics"
		// alerts.yml's LifecycleNotReady uses up{job="lifecycle"}.
	}
	if !scraped {
		t.Errorf("%s: no scrape job lifecycle on /metrics (the alerts name job=\"lifecycle\")", prometheusFile)
	}
	ds := loadProvisioning(t, datasourceFile)
	if len(ds.Datasources) != 1 || ds.Datasources[0].Type != "prometheus" || !ds.Datasources[0].IsDefault {
		t.Errorf("%s: %+v, want one default data source of type prometheus", datasourceFile, ds.Datasources)
	}
	pv := loadProvisioning(t, providerFile)
	if len(pv.Providers) != 1 || pv.Providers[0].Type != "file" || pv.Providers[0].Options.Path == "" {
		t.Errorf("%s: %+v, want one file provider with a path", providerFile, pv.Providers)
	}
}
