package deploy_test

import (
	"encoding/base64"
	"fmt"
	"maps"
	"net"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"
)

// ---------------------------------------------------------------------------
// docker-compose.yml, decoded by yaml.v3. A field the Compose specification
// allows in more than one shape (a string or a list, a list or a map, the
// short or the long syntax) has a type whose UnmarshalYAML accepts each, so
// the tests see a single shape.

type composeService struct {
	Image       string           `yaml:"image"`
	Build       *composeBuild    `yaml:"build"`
	Command     composeCommand   `yaml:"command"`
	Environment composeEnv       `yaml:"environment"`
	Volumes     []composeMount   `yaml:"volumes"`
	Ports       []composePort    `yaml:"ports"`
	DependsOn   composeDependsOn `yaml:"depends_on"`
	Profiles    []string         `yaml:"profiles"`
	StopGrace   string           `yaml:"stop_grace_period"`
	Healthcheck *struct {
		Test composeCommand `yaml:"test"`
	} `yaml:"healthcheck"`
}

type compose struct {
	Services map[string]composeService `yaml:"services"`
	Volumes  map[string]any            `yaml:"volumes"`
}

// composeEnv is environment: a map, or a list of KEY=VALUE.
type composeEnv map[string]string

func (e *composeEnv) UnmarshalYAML(n *yaml.Node) error {
	*e = composeEnv{}
	if n.Kind != yaml.SequenceNode {
		return n.Decode((*map[string]string)(e))
	}
	var list []string
	if err := n.Decode(&list); err != nil {
		return err
	}
	for _, kv := range list {
		k, v, _ := strings.Cut(kv, "=")
		(*e)[k] = v
	}
	return nil
}

// composeCommand is command or healthcheck.test: a list, or a string split
// on blanks.
type composeCommand []string

func (c *composeCommand) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind == yaml.ScalarNode {
		*c = strings.Fields(n.Value)
		return nil
	}
	return n.Decode((*[]string)(c))
}

// composeMount is an entry of volumes: "SOURCE:TARGET[:MODE]", "TARGET" or
// the long syntax's map.
type composeMount struct {
	Source string `yaml:"source"`
	Target string `yaml:"target"`
}

func (m *composeMount) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		type plain composeMount
		return n.Decode((*plain)(m))
	}
	parts := strings.Split(n.Value, ":")
	if len(parts) == 1 {
		m.Target = parts[0]
	} else {
		m.Source, m.Target = parts[0], parts[1]
	}
	return nil
}

// composeBuild is build: a context path, or a map with the context and the
// Dockerfile (relative to the context).
type composeBuild struct {
	Context    string `yaml:"context"`
	Dockerfile string `yaml:"dockerfile"`
}

func (b *composeBuild) UnmarshalYAML(n *yaml.Node) error {
	type plain composeBuild
	if n.Kind == yaml.ScalarNode {
		b.Context = n.Value
	} else if err := n.Decode((*plain)(b)); err != nil {
		return err
	}
	if b.Context == "" {
		b.Context = "."
	}
	if b.Dockerfile == "" {
		b.Dockerfile = "Dockerfile"
	}
	return nil
}

// composeDependsOn is depends_on (a list of services, or a map of service to
// {condition: …}) as each service's condition, "" if none is given.
type composeDependsOn map[string]string

func (d *composeDependsOn) UnmarshalYAML(n *yaml.Node) error {
	*d = composeDependsOn{}
	if n.Kind == yaml.SequenceNode {
		var names []string
		if err := n.Decode(&names); err != nil {
			return err
		}
		for _, s := range names {
			(*d)[s] = ""
		}
		return nil
	}
	var m map[string]struct {
		Condition string `yaml:"condition"`
	}
	if err := n.Decode(&m); err != nil {
		return err
	}
	for s, v := range m {
		(*d)[s] = v.Condition
	}
	return nil
}

// composePort is an entry of ports: the short syntax
// "[HOST_IP:][HOST_PORT:]CONTAINER_PORT[/PROTOCOL]" or the long syntax's
// map. HostIP is "" for all interfaces.
type composePort struct {
	HostIP    string `yaml:"host_ip"`
	Published string `yaml:"published"`
	Target    string `yaml:"target"`
	short     string // the entry as written, for messages
}

func (p *composePort) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		type plain composePort
		return n.Decode((*plain)(p))
	}
	p.short = n.Value
	s, _, _ := strings.Cut(n.Value, "/")
	if rest, ok := strings.CutPrefix(s, "["); ok { // [::1]:8080:8080
		if ip, ports, ok := strings.Cut(rest, "]:"); ok {
			p.HostIP = ip
			p.Published, p.Target, _ = strings.Cut(ports, ":")
			return nil
		}
	}
	parts := strings.Split(s, ":")
	p.Target = parts[len(parts)-1]
	if len(parts) >= 2 {
		p.Published = parts[len(parts)-2]
	}
	if len(parts) >= 3 {
		p.HostIP = strings.Join(parts[:len(parts)-2], ":")
	}
	return nil
}

func (p composePort) String() string {
	if p.short != "" {
		return p.short
	}
	return fmt.Sprintf("{host_ip: %q, published: %q, target: %q}", p.HostIP, p.Published, p.Target)
}

func loadCompose(t *testing.T) compose {
	t.Helper()
	docs, err := readYAMLDocs(composeFile)
	if err != nil {
		t.Fatal(err)
	}
	if len(docs) != 1 {
		t.Fatalf("%s: got %d YAML documents, want 1", composeFile, len(docs))
	}
	var c compose
	if err := docs[0].Decode(&c); err != nil {
		t.Fatalf("%s: %v", composeFile, err)
	}
	return c
}

func (c compose) service(t *testing.T, name string) composeService {
	t.Helper()
	s, ok := c.Services[name]
	if !ok {
		t.Fatalf("%s: got no service %q, want one", composeFile, name)
	}
	return s
}

func TestComposePort(t *testing.T) {
	for _, tc := range []struct {
		yaml                  string
		ip, published, target string
	}{
		{`8080`, "", "", "8080"},
		{`"8080:8080"`, "", "8080", "8080"},
		{`"127.0.0.1:8080:8080"`, "127.0.0.1", "8080", "8080"},
		{`"127.0.0.1:9000:8080/tcp"`, "127.0.0.1", "9000", "8080"},
		{`"[::1]:8080:8080"`, "::1", "8080", "8080"},
		{`{target: 8080, published: "8080", host_ip: 127.0.0.1}`, "127.0.0.1", "8080", "8080"},
		{`{target: 8080}`, "", "", "8080"},
	} {
		var p composePort
		if err := yaml.Unmarshal([]byte(tc.yaml), &p); err != nil {
			t.Errorf("port %s: %v", tc.yaml, err)
			continue
		}
		if p.HostIP != tc.ip || p.Published != tc.published || p.Target != tc.target {
			t.Errorf("port %s: got host IP %q published %q target %q, want %q %q %q", tc.yaml, p.HostIP, p.Published, p.Target, tc.ip, tc.published, tc.target)
		}
	}
}

func TestCompose(t *testing.T) {
	c := loadCompose(t)
	known := knownFlags(t)
	df := loadDockerfile(t)

	// Kafka: the official image, 4.x, KRaft combined mode.
	kafka := c.service(t, "kafka")
	if !regexp.MustCompile(`^apache/kafka:4\.\d+\.\d+$`).MatchString(kafka.Image) {
		t.Errorf("service kafka image: got %q, want apache/kafka:4.x.y (the official image, pinned)", kafka.Image)
	}
	kenv := kafka.Environment
	for k, want := range map[string]string{
		"KAFKA_PROCESS_ROLES":                            "broker,controller",
		"KAFKA_AUTO_CREATE_TOPICS_ENABLE":                "false",
		"KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR":         "1",
		"KAFKA_TRANSACTION_STATE_LOG_REPLICATION_FACTOR": "1",
	} {
		if got := strings.ReplaceAll(kenv[k], " ", ""); got != want {
			t.Errorf("service kafka %s: got %q, want %q", k, kenv[k], want)
		}
	}
	for _, k := range []string{"KAFKA_NODE_ID", "KAFKA_CONTROLLER_QUORUM_VOTERS", "KAFKA_CONTROLLER_LISTENER_NAMES", "KAFKA_LISTENERS", "KAFKA_ADVERTISED_LISTENERS", "KAFKA_LISTENER_SECURITY_PROTOCOL_MAP"} {
		if kenv[k] == "" {
			t.Errorf("service kafka: got no %s, want it set (the image needs every setting once any KAFKA_* is given)", k)
		}
	}
	if id, ok := kenv["CLUSTER_ID"]; ok {
		// Kafka's cluster id is a UUID in URL-safe base64 without padding.
		if b, err := base64.RawURLEncoding.DecodeString(id); err != nil || len(b) != 16 {
			t.Errorf("service kafka CLUSTER_ID: got %q, want 22 characters of URL-safe base64 of 16 bytes (kafka-storage.sh random-uuid)", id)
		}
	}
	var healthTest []string
	if kafka.Healthcheck != nil {
		healthTest = kafka.Healthcheck.Test
	}
	if !strings.Contains(strings.Join(healthTest, " "), "/opt/kafka/bin/kafka-broker-api-versions.sh") {
		t.Errorf("service kafka healthcheck test: got %q, want a test running /opt/kafka/bin/kafka-broker-api-versions.sh", healthTest)
	}
	if dir := kenv["KAFKA_LOG_DIRS"]; dir != "" {
		mounted := false
		for _, m := range kafka.Volumes {
			mounted = mounted || m.Target == dir
		}
		if !mounted {
			t.Errorf("service kafka: got no volume at KAFKA_LOG_DIRS %s, want the data on a named volume", dir)
		}
	}

	// The engine.
	lc := c.service(t, "lifecycle")
	if lc.Build == nil {
		t.Fatalf("service lifecycle build: got none, want a build context and dockerfile")
	}
	ctxDir := filepath.Join(filepath.Dir(composeFile), lc.Build.Context)
	if fi, err := os.Stat(ctxDir); err != nil || !fi.IsDir() {
		t.Errorf("service lifecycle build context %q: got %v, want an existing directory", lc.Build.Context, err)
	}
	if _, err := os.Stat(filepath.Join(ctxDir, "go.mod")); err != nil {
		t.Errorf("service lifecycle build context %q: got no go.mod (%v), want the repository root", lc.Build.Context, err)
	}
	got, _ := filepath.Abs(filepath.Join(ctxDir, lc.Build.Dockerfile))
	want, _ := filepath.Abs(dockerfile)
	if got != want {
		t.Errorf("service lifecycle build dockerfile: got %s, want %s (the Dockerfile this test checks)", got, want)
	}
	if _, err := os.Stat(got); err != nil {
		t.Errorf("service lifecycle build dockerfile: %v", err)
	}
	cmd := lc.Command
	if len(cmd) == 0 || cmd[0] != "run" {
		t.Errorf("service lifecycle command: got %v, want run …", cmd)
	}
	checkArgFlags(t, "service lifecycle command", cmd, known)
	lenv := lc.Environment
	stateDir := lenv["LIFECYCLE_STATE_DIR"]
	if stateDir == "" {
		stateDir = df.env["LIFECYCLE_STATE_DIR"]
	}
	if stateDir == "" {
		t.Errorf("service lifecycle: got no LIFECYCLE_STATE_DIR (compose or Dockerfile), want one")
	}
	var stateVol string
	for _, m := range lc.Volumes {
		if m.Target == stateDir {
			stateVol = m.Source
		}
	}
	switch {
	case stateVol == "":
		t.Errorf("service lifecycle volumes: got none at %s (LIFECYCLE_STATE_DIR), want a named volume", stateDir)
	case strings.HasPrefix(stateVol, ".") || strings.HasPrefix(stateVol, "/") || strings.HasPrefix(stateVol, "~"):
		t.Errorf("service lifecycle volume at %s: got bind mount %q, want a named volume (owned by the image's nonroot user)", stateDir, stateVol)
	default:
		if _, ok := c.Volumes[stateVol]; !ok {
			t.Errorf("volume %q of service lifecycle: got not declared under top-level volumes, want declared", stateVol)
		}
	}
	httpAddr := lenv["LIFECYCLE_HTTP"]
	if httpAddr == "" {
		httpAddr = df.env["LIFECYCLE_HTTP"]
	}
	if !strings.HasPrefix(httpAddr, "0.0.0.0:") {
		t.Errorf("service lifecycle LIFECYCLE_HTTP: got %q, want 0.0.0.0:PORT", httpAddr)
	}
	httpPort := strings.TrimPrefix(httpAddr, "0.0.0.0:")
	published := false
	for _, p := range lc.Ports {
		published = published || p.Target == httpPort
	}
	if !published {
		t.Errorf("service lifecycle ports: got %v, want the HTTP port %s published", lc.Ports, httpPort)
	}
	// ...on the host's loopback only: the stack sets no token, and
	// /v1/users/{id} shows users' spend and activity.
	for _, p := range lc.Ports {
		if ip := net.ParseIP(p.HostIP); ip == nil || !ip.IsLoopback() {
			t.Errorf("service lifecycle port %v: got host IP %q (all interfaces if empty), want 127.0.0.1, like \"127.0.0.1:8080:8080\"", p, p.HostIP)
		}
	}
	if cond, listed := lc.DependsOn["kafka"]; !listed || cond != "service_healthy" {
		t.Errorf("service lifecycle depends_on kafka: got listed=%v condition %q, want condition service_healthy", listed, cond)
	}
	if d, err := time.ParseDuration(lc.StopGrace); err != nil || d < 30*time.Second {
		t.Errorf("service lifecycle stop_grace_period: got %q, want >= 30s (run needs ~15 s to commit and leave the group)", lc.StopGrace)
	}
	// The engine reaches the broker on an advertised listener.
	for _, b := range strings.Split(lenv["LIFECYCLE_BROKERS"], ",") {
		if b == "" || !strings.Contains(kenv["KAFKA_ADVERTISED_LISTENERS"], "://"+b) {
			t.Errorf("service lifecycle LIFECYCLE_BROKERS: got %q, want addresses in KAFKA_ADVERTISED_LISTENERS %q", lenv["LIFECYCLE_BROKERS"], kenv["KAFKA_ADVERTISED_LISTENERS"])
		}
	}

	// The simulator: only with --profile simulate.
	sim := c.service(t, "simulator")
	if !slices.Contains(sim.Profiles, "simulate") {
		t.Errorf("service simulator profiles: got %v, want [simulate]", sim.Profiles)
	}
	scmd := sim.Command
	if len(scmd) == 0 || scmd[0] != "simulate" {
		t.Errorf("service simulator command: got %v, want simulate …", scmd)
	}
	if !slices.Contains(scmd, "--create-topics") {
		t.Errorf("service simulator command: got %v, want --create-topics", scmd)
	}
	checkArgFlags(t, "service simulator command", scmd, known)
	if sim.Image != lc.Image && sim.Build == nil {
		t.Errorf("service simulator: got image %q and no build, want the engine's image %q", sim.Image, lc.Image)
	}
	if cond, listed := sim.DependsOn["kafka"]; !listed || cond != "service_healthy" {
		t.Errorf("service simulator depends_on kafka: got listed=%v condition %q, want condition service_healthy", listed, cond)
	}

	// Named volumes are declared; LIFECYCLE_* names are flags.
	for name, svc := range c.Services {
		for _, m := range svc.Volumes {
			if m.Source == "" || strings.ContainsAny(m.Source[:1], "./~$") {
				continue
			}
			if _, ok := c.Volumes[m.Source]; !ok {
				t.Errorf("service %s volume %q: got not declared under top-level volumes, want declared", name, m.Source)
			}
		}
		checkEnvNames(t, "service "+name, slices.Sorted(maps.Keys(svc.Environment)), known)
	}
}

// TestComposeMonitoring checks the monitoring profile: Prometheus and
// Grafana start only with --profile monitoring, on pinned images and
// loopback ports, with the files of prometheus/ and grafana/ mounted where
// their configs expect each other (monitoring_test.go checks the files).
func TestComposeMonitoring(t *testing.T) {
	c := loadCompose(t)
	root := filepath.Dir(composeFile)
	// mounts returns a service's bind mounts, target → source, and checks
	// that each source exists.
	mounts := func(name string, s composeService) map[string]string {
		out := map[string]string{}
		for _, m := range s.Volumes {
			if !strings.HasPrefix(m.Source, "./") {
				continue
			}
			if _, err := os.Stat(filepath.Join(root, m.Source)); err != nil {
				t.Errorf("service %s volume %s: %v", name, m.Source, err)
			}
			out[m.Target] = filepath.Clean(m.Source)
		}
		return out
	}
	services := map[string]*regexp.Regexp{
		"prometheus": regexp.MustCompile(`^prom/prometheus:v\d+\.\d+\.\d+$`),
		"grafana":    regexp.MustCompile(`^grafana/grafana:\d+\.\d+\.\d+$`),
	}
	for name, image := range services {
		s := c.service(t, name)
		if !slices.Equal(s.Profiles, []string{"monitoring"}) {
			t.Errorf("service %s profiles: got %v, want [monitoring]", name, s.Profiles)
		}
		if !image.MatchString(s.Image) {
			t.Errorf("service %s image: got %q, want a pinned version matching %s", name, s.Image, image)
		}
		for _, p := range s.Ports {
			if ip := net.ParseIP(p.HostIP); ip == nil || !ip.IsLoopback() {
				t.Errorf("service %s port %v: got host IP %q, want 127.0.0.1 (no authentication in front)", name, p, p.HostIP)
			}
		}
	}

	// Prometheus reads prometheus.yml and, beside it, alerts.yml, and
	// scrapes the engine's HTTP port.
	prom := c.service(t, "prometheus")
	pm := mounts("prometheus", prom)
	config := "/etc/prometheus/prometheus.yml" // the image's default
	for _, a := range prom.Command {
		if v, ok := strings.CutPrefix(a, "--config.file="); ok {
			config = v
		}
	}
	if pm[config] != filepath.Clean(filepath.Join("deploy", prometheusFile)) {
		t.Errorf("service prometheus: got %q mounted at the config file %s, want ./deploy/%s", pm[config], config, prometheusFile)
	}
	pc := loadPromConfig(t)
	for _, rf := range pc.RuleFiles {
		at := path.Join(path.Dir(config), rf)
		if pm[at] != filepath.Clean(filepath.Join("deploy", "prometheus", rf)) {
			t.Errorf("service prometheus: rule file %s (%s in the container): got %q mounted there, want ./deploy/prometheus/%s", rf, at, pm[at], rf)
		}
	}
	if cond, listed := prom.DependsOn["lifecycle"]; !listed || cond == "service_healthy" {
		t.Errorf("service prometheus depends_on lifecycle: got listed=%v condition %q, want listed (the engine has no healthcheck)", listed, cond)
	}
	httpPort := strings.TrimPrefix(c.service(t, "lifecycle").Environment["LIFECYCLE_HTTP"], "0.0.0.0:")
	var targets []string
	for _, s := range pc.ScrapeConfigs {
		for _, sc := range s.StaticConfigs {
			targets = append(targets, sc.Targets...)
		}
	}
	if !slices.Contains(targets, "lifecycle:"+httpPort) {
		t.Errorf("%s: scrape targets %v, want lifecycle:%s (the engine's service and LIFECYCLE_HTTP port)", prometheusFile, targets, httpPort)
	}

	// Grafana finds its provisioning, the dashboard where the provider
	// looks, and Prometheus at the data source's URL.
	gr := c.service(t, "grafana")
	gm := mounts("grafana", gr)
	provisioning := "/etc/grafana/provisioning" // the image's default GF_PATHS_PROVISIONING
	if v := gr.Environment["GF_PATHS_PROVISIONING"]; v != "" {
		provisioning = v
	}
	if gm[provisioning] != filepath.Clean("deploy/grafana/provisioning") {
		t.Errorf("service grafana: got %q mounted at %s, want ./deploy/grafana/provisioning", gm[provisioning], provisioning)
	}
	dir := loadProvisioning(t, providerFile).Providers[0].Options.Path
	at := path.Join(dir, filepath.Base(dashboardFile))
	if gm[at] != filepath.Clean(filepath.Join("deploy", dashboardFile)) {
		t.Errorf("service grafana: got %q mounted at %s (the dashboard provider's path), want ./deploy/%s", gm[at], at, dashboardFile)
	}
	if home := gr.Environment["GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH"]; home != "" && home != at {
		t.Errorf("service grafana GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH: got %q, want %s", home, at)
	}
	url := loadProvisioning(t, datasourceFile).Datasources[0].URL
	promPort := "9090"
	for _, p := range prom.Ports {
		promPort = p.Target
	}
	if url != "http://prometheus:"+promPort {
		t.Errorf("%s: url %q, want http://prometheus:%s (the prometheus service)", datasourceFile, url, promPort)
	}
	if _, listed := gr.DependsOn["prometheus"]; !listed {
		t.Errorf("service grafana depends_on: got %v, want prometheus", gr.DependsOn)
	}
}
