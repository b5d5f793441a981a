package deploy_test

import (
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/lifecycle-engine/lifecycle/deploy/chartrender"
	"gopkg.in/yaml.v3"
	"helm.sh/helm/v4/pkg/chart/common"
	"helm.sh/helm/v4/pkg/chart/v2/lint"
	"helm.sh/helm/v4/pkg/chart/v2/lint/support"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	sigsyaml "sigs.k8s.io/yaml"
)

// ---------------------------------------------------------------------------
// The Helm chart, rendered with Helm's Go packages (chartrender).

const (
	chartDir = "helm/lifecycle"
	// everythingValues switches every optional part of the chart on.
	everythingValues = chartDir + "/ci/everything-values.yaml"
	// existingSecrets are the Secrets everythingValues names as existing.
	existingSecrets = "testdata/existing-secrets.yaml"
)

// everythingRelease is not named like the chart and not in its default
// namespace, so that a name or namespace not derived from the release
// shows.
var everythingRelease = chartrender.Release{Name: "eu", Namespace: "crm"}

// readValues reads a values file as helm -f does.
func readValues(t *testing.T, file string) map[string]any {
	t.Helper()
	v, err := common.ReadValuesFile(file)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// renderChart renders the chart with the values of file (everythingRelease)
// into a k8sSet, with the Secrets that file names as existing.
func renderChart(t *testing.T, file string) k8sSet {
	t.Helper()
	ms, _, err := chartrender.Render(chartDir, readValues(t, file), everythingRelease)
	if err != nil {
		t.Fatal(err)
	}
	set := k8sSet{name: "helm:" + filepath.Base(file)}
	for _, m := range ms {
		set.add(t, m.Template, []byte(m.YAML))
	}
	b, err := os.ReadFile(existingSecrets)
	if err != nil {
		t.Fatal(err)
	}
	set.add(t, existingSecrets, b)
	return set
}

// TestK8sIsTheRenderedChart checks that deploy/k8s is what k8sgen writes:
// the chart with its default values, so that it is never a second copy
// edited by hand.
func TestK8sIsTheRenderedChart(t *testing.T) {
	want, err := chartrender.K8s(chartDir)
	if err != nil {
		t.Fatal(err)
	}
	const fix = "edit the chart, then run `cd deploy && go run ./k8sgen`"
	got := map[string]string{}
	files, err := filepath.Glob(filepath.Join(k8sDir, "*"))
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		got[filepath.Base(f)] = string(b)
	}
	if g, w := slices.Sorted(maps.Keys(got)), slices.Sorted(maps.Keys(want)); !slices.Equal(g, w) {
		t.Errorf("files in %s: got %v, want %v (the chart's templates, namespace.yaml and kustomization.yaml): %s", k8sDir, g, w, fix)
	}
	for name, w := range want {
		g, ok := got[name]
		if !ok || g == w {
			continue
		}
		gl, wl := strings.Split(g, "\n"), strings.Split(w, "\n")
		i := 0
		for i < min(len(gl), len(wl)) && gl[i] == wl[i] {
			i++
		}
		line := func(l []string) string {
			if i < len(l) {
				return strconv.Quote(l[i])
			}
			return "end of file"
		}
		t.Errorf("%s/%s line %d: got %s, want %s (the rendered chart): %s", k8sDir, name, i+1, line(gl), line(wl), fix)
	}
}

// TestChartLints runs Helm's linter (Chart.yaml, values.schema.json, the
// rendered templates' YAML, names and selectors, deprecated APIs) with the
// default values and with everything on; like helm lint --strict, a
// warning fails too.
func TestChartLints(t *testing.T) {
	for _, file := range []string{"", everythingValues} {
		var vals map[string]any
		if file != "" {
			vals = readValues(t, file)
		}
		res := lint.RunAll(chartDir, vals, everythingRelease.Namespace)
		for _, m := range res.Messages {
			if m.Severity >= support.WarningSev {
				t.Errorf("helm lint %s (values %q): %v", chartDir, file, m)
			} else {
				t.Logf("helm lint %s (values %q): %v", chartDir, file, m)
			}
		}
	}
}

// kubeTypes are the API types of the objects the chart makes (besides the
// ServiceMonitor, a CRD's).
var kubeTypes = map[string]func() any{
	"apps/v1 StatefulSet":                           func() any { return &appsv1.StatefulSet{} },
	"v1 Service":                                    func() any { return &corev1.Service{} },
	"v1 ConfigMap":                                  func() any { return &corev1.ConfigMap{} },
	"v1 Secret":                                     func() any { return &corev1.Secret{} },
	"v1 Namespace":                                  func() any { return &corev1.Namespace{} },
	"policy/v1 PodDisruptionBudget":                 func() any { return &policyv1.PodDisruptionBudget{} },
	"networking.k8s.io/v1 NetworkPolicy":            func() any { return &networkingv1.NetworkPolicy{} },
	"monitoring.coreos.com/v1 ServiceMonitor":       nil,
	"kustomize.config.k8s.io/v1beta1 Kustomization": nil,
}

// typed decodes m strictly into its Kubernetes API type: a misspelt or
// misplaced field, or a value of the wrong type, fails.
func typed(t *testing.T, m manifest) any {
	t.Helper()
	newObj, known := kubeTypes[m.APIVersion+" "+m.Kind]
	if !known {
		t.Fatalf("%s: got apiVersion %s kind %s, want one of %v", m, m.APIVersion, m.Kind, slices.Sorted(maps.Keys(kubeTypes)))
	}
	b, err := yaml.Marshal(m.node)
	if err != nil {
		t.Fatal(err)
	}
	if newObj == nil {
		var obj map[string]any
		if err := sigsyaml.Unmarshal(b, &obj); err != nil {
			t.Fatalf("%s: %v", m, err)
		}
		return obj
	}
	obj := newObj()
	if err := sigsyaml.UnmarshalStrict(b, obj); err != nil {
		t.Errorf("%s: not a valid %s %s: %v", m, m.APIVersion, m.Kind, err)
	}
	return obj
}

// TestChartObjectsAreKubernetesObjects decodes every object of deploy/k8s
// and of the chart with everything on strictly into its API type.
func TestChartObjectsAreKubernetesObjects(t *testing.T) {
	for _, set := range deploymentSets(t) {
		for _, m := range set.manifests {
			typed(t, m)
		}
	}
}

// everything is the chart rendered with everythingValues, as typed objects.
type everything struct {
	values map[string]any
	sts    *appsv1.StatefulSet
	svc    *corev1.Service
	pdb    *policyv1.PodDisruptionBudget
	np     *networkingv1.NetworkPolicy
	sm     map[string]any // the ServiceMonitor
	cms    map[string]*corev1.ConfigMap
	secs   map[string]*corev1.Secret // rendered and existing
	files  []string                  // the templates that rendered objects
}

func renderEverything(t *testing.T) everything {
	t.Helper()
	set := renderChart(t, everythingValues)
	e := everything{values: readValues(t, everythingValues), cms: map[string]*corev1.ConfigMap{}, secs: map[string]*corev1.Secret{}, files: set.files}
	for _, m := range set.manifests {
		switch o := typed(t, m).(type) {
		case *appsv1.StatefulSet:
			e.sts = o
		case *corev1.Service:
			e.svc = o
		case *policyv1.PodDisruptionBudget:
			e.pdb = o
		case *networkingv1.NetworkPolicy:
			e.np = o
		case *corev1.ConfigMap:
			e.cms[o.Name] = o
		case *corev1.Secret:
			e.secs[o.Name] = o
		case map[string]any:
			e.sm = o
		}
	}
	if e.sts == nil || e.svc == nil || e.pdb == nil || e.np == nil || e.sm == nil {
		t.Fatalf("chart with %s: got templates %v, want a StatefulSet, Service, PodDisruptionBudget, NetworkPolicy and ServiceMonitor", everythingValues, set.files)
	}
	return e
}

// value returns the value at the dotted path of the values.
func (e everything) value(t *testing.T, path string) any {
	t.Helper()
	var v any = e.values
	for _, k := range strings.Split(path, ".") {
		m, ok := v.(map[string]any)
		if !ok {
			t.Fatalf("%s: %s: got no table above %s", everythingValues, path, k)
		}
		if v, ok = m[k]; !ok {
			t.Fatalf("%s: %s: got no %s", everythingValues, path, k)
		}
	}
	return v
}

// env is the container's environment: the ConfigMap of envFrom, then env
// (a secretKeyRef as "secret:<name>/<key>").
func (e everything) env(t *testing.T) map[string]string {
	t.Helper()
	c := e.sts.Spec.Template.Spec.Containers[0]
	env := map[string]string{}
	for _, ef := range c.EnvFrom {
		if ef.ConfigMapRef == nil {
			t.Fatalf("envFrom: got %+v, want only configMapRef", ef)
		}
		cm, ok := e.cms[ef.ConfigMapRef.Name]
		if !ok {
			t.Fatalf("envFrom: got ConfigMap %q, want one the chart renders (%v)", ef.ConfigMapRef.Name, slices.Sorted(maps.Keys(e.cms)))
		}
		maps.Copy(env, cm.Data)
	}
	for _, v := range c.Env {
		switch {
		case v.ValueFrom == nil:
			env[v.Name] = v.Value
		case v.ValueFrom.SecretKeyRef != nil:
			env[v.Name] = "secret:" + v.ValueFrom.SecretKeyRef.Name + "/" + v.ValueFrom.SecretKeyRef.Key
		}
	}
	return env
}

// mountedFile returns the content of the file at p in the container, from
// the Secret or ConfigMap volume mounted at its directory.
func (e everything) mountedFile(t *testing.T, p string) (string, bool) {
	t.Helper()
	c := e.sts.Spec.Template.Spec.Containers[0]
	dir, file := filepath.Split(p)
	for _, vm := range c.VolumeMounts {
		if vm.MountPath != strings.TrimSuffix(dir, "/") {
			continue
		}
		if !vm.ReadOnly {
			t.Errorf("volumeMount %s at %s: got readOnly false, want true", vm.Name, vm.MountPath)
		}
		for _, v := range e.sts.Spec.Template.Spec.Volumes {
			if v.Name != vm.Name {
				continue
			}
			switch {
			case v.Secret != nil:
				s, ok := e.secs[v.Secret.SecretName]
				if !ok {
					t.Errorf("volume %s: got Secret %q, want one rendered or in %s", v.Name, v.Secret.SecretName, existingSecrets)
					return "", false
				}
				key := file
				for _, it := range v.Secret.Items {
					if it.Path == file {
						key = it.Key
					}
				}
				val, ok := s.StringData[key]
				if b, inData := s.Data[key]; inData {
					val, ok = string(b), true
				}
				return val, ok
			case v.ConfigMap != nil:
				cm, ok := e.cms[v.ConfigMap.Name]
				if !ok {
					t.Errorf("volume %s: got ConfigMap %q, want one the chart renders", v.Name, v.ConfigMap.Name)
					return "", false
				}
				val, ok := cm.Data[file]
				return val, ok
			}
		}
	}
	return "", false
}

// TestChartWithEverything checks that each value of everythingValues
// reaches the objects that need it.
func TestChartWithEverything(t *testing.T) {
	e := renderEverything(t)
	env := e.env(t)
	pod := e.sts.Spec.Template
	c := pod.Spec.Containers[0]
	wantEnv := func(name, want string) {
		t.Helper()
		if got, ok := env[name]; !ok || got != want {
			t.Errorf("container env %s: got %q (set %v), want %q", name, got, ok, want)
		}
	}
	wantFile := func(envName, want string) {
		t.Helper()
		p, ok := env[envName]
		if !ok {
			t.Errorf("container env: got no %s, want it", envName)
			return
		}
		got, ok := e.mountedFile(t, p)
		if !ok {
			t.Errorf("%s=%s: got no mounted Secret or ConfigMap with that file, want one", envName, p)
		} else if got != want {
			t.Errorf("%s=%s: got content %q, want %q", envName, p, got, want)
		}
	}

	// Names follow the release; everything is in its namespace.
	if got, want := e.sts.Name, everythingRelease.Name+"-lifecycle"; got != want {
		t.Errorf("StatefulSet name: got %q, want %q (<release>-lifecycle)", got, want)
	}
	for _, o := range []interface{ GetNamespace() string }{e.sts, e.svc, e.pdb, e.np} {
		if got, want := o.GetNamespace(), everythingRelease.Namespace; got != want {
			t.Errorf("%T namespace: got %q, want %q", o, got, want)
		}
	}

	// Kafka: brokers, group, TLS with a created CA Secret and an existing
	// client certificate, SASL from an existing Secret.
	var brokers []string
	for _, b := range e.value(t, "kafka.brokers").([]any) {
		brokers = append(brokers, b.(string))
	}
	wantEnv("LIFECYCLE_BROKERS", strings.Join(brokers, ","))
	wantEnv("LIFECYCLE_GROUP", e.value(t, "kafka.group").(string))
	wantEnv("LIFECYCLE_TLS", "true")
	wantEnv("LIFECYCLE_TLS_SERVER_NAME", e.value(t, "kafka.tls.serverName").(string))
	wantFile("LIFECYCLE_TLS_CA_FILE", e.value(t, "kafka.tls.ca.pem").(string))
	if _, ok := e.secs[e.sts.Name+"-kafka-ca"]; !ok {
		t.Errorf("Secrets: got %v, want %s-kafka-ca made from kafka.tls.ca.pem", slices.Sorted(maps.Keys(e.secs)), e.sts.Name)
	}
	wantFile("LIFECYCLE_TLS_CERT_FILE", e.secs["lifecycle-kafka-client"].StringData["tls.crt"])
	wantFile("LIFECYCLE_TLS_KEY_FILE", e.secs["lifecycle-kafka-client"].StringData["tls.key"])
	wantEnv("LIFECYCLE_SASL_MECHANISM", e.value(t, "kafka.sasl.mechanism").(string))
	login := e.value(t, "kafka.sasl.existingSecret").(string)
	wantEnv("LIFECYCLE_SASL_USERNAME", "secret:"+login+"/username")
	wantFile("LIFECYCLE_SASL_PASSWORD_FILE", e.secs[login].StringData["password"])
	if _, ok := env["LIFECYCLE_SASL_PASSWORD"]; ok {
		t.Errorf("container env: got LIFECYCLE_SASL_PASSWORD, want the password only as a file")
	}

	// HTTP: port, token from an existing Secret.
	port := e.value(t, "http.port").(float64)
	wantEnv("LIFECYCLE_HTTP", fmt.Sprintf("0.0.0.0:%.0f", port))
	if len(c.Ports) != 1 || c.Ports[0].ContainerPort != int32(port) || c.Ports[0].Name != "http" {
		t.Errorf("container ports: got %+v, want http %.0f", c.Ports, port)
	}
	token := e.value(t, "http.token.existingSecret").(string)
	wantFile("LIFECYCLE_HTTP_TOKEN_FILE", e.secs[token].StringData["token"])
	for _, made := range []string{e.sts.Name + "-sasl", e.sts.Name + "-http-token"} {
		if _, ok := e.secs[made]; ok {
			t.Errorf("Secrets: got %s, want none made by the chart when existingSecret is given", made)
		}
	}

	// Topics, standbys, the rules file with its rates table.
	wantEnv("LIFECYCLE_CREATE_TOPICS", "true")
	wantEnv("LIFECYCLE_PARTITIONS", fmt.Sprint(e.value(t, "topics.partitions")))
	wantEnv("LIFECYCLE_STANDBY_REPLICAS", fmt.Sprint(e.value(t, "standbyReplicas")))
	if got, want := *e.sts.Spec.Replicas, int32(e.value(t, "replicas").(float64)); got != want {
		t.Errorf("StatefulSet replicas: got %d, want %d", got, want)
	}
	wantFile("LIFECYCLE_RULES", e.value(t, "rules.file").(string))
	wantEnv("LIFECYCLE_RULES_CHANGE", "forward")
	var rules struct {
		RatesFile string `yaml:"rates_file"`
	}
	if err := yaml.Unmarshal([]byte(e.value(t, "rules.file").(string)), &rules); err != nil || rules.RatesFile == "" {
		t.Fatalf("%s rules.file: got rates_file %q (%v), want one", everythingValues, rules.RatesFile, err)
	}
	ratesPath := filepath.Join(filepath.Dir(env["LIFECYCLE_RULES"]), rules.RatesFile)
	if got, ok := e.mountedFile(t, ratesPath); !ok || got != e.value(t, "rules.rates") {
		t.Errorf("rates file %s (rates_file of the rules, beside them): got %q (mounted %v), want rules.rates", ratesPath, got, ok)
	}
	for k, v := range e.value(t, "extraConfig").(map[string]any) {
		if f, ok := v.(float64); ok {
			wantEnv(k, strconv.FormatFloat(f, 'f', -1, 64)) // 1000000, not 1e+06
		} else {
			wantEnv(k, fmt.Sprint(v))
		}
	}

	// Graceful termination: the shutdown timeout plus the margin.
	shutdown := int64(e.value(t, "shutdownTimeoutSeconds").(float64))
	wantEnv("LIFECYCLE_SHUTDOWN_TIMEOUT", fmt.Sprintf("%ds", shutdown))
	if g := pod.Spec.TerminationGracePeriodSeconds; g == nil || *g != shutdown+30 {
		t.Errorf("terminationGracePeriodSeconds: got %s, want %d (shutdownTimeoutSeconds + 30)", ptrString(g), shutdown+30)
	}

	// Image, resources, storage, scheduling.
	if got, want := c.Image, e.value(t, "image.repository").(string)+"@"+e.value(t, "image.digest").(string); got != want {
		t.Errorf("image: got %q, want %q (the digest wins over the tag)", got, want)
	}
	if got, want := c.Resources.Limits.Memory().String(), e.value(t, "resources.limits.memory"); got != want {
		t.Errorf("memory limit: got %s, want %v", got, want)
	}
	vct := e.sts.Spec.VolumeClaimTemplates
	if len(vct) != 1 || vct[0].Spec.StorageClassName == nil || *vct[0].Spec.StorageClassName != e.value(t, "persistence.storageClassName") ||
		vct[0].Spec.Resources.Requests.Storage().String() != e.value(t, "persistence.size") {
		t.Errorf("volumeClaimTemplates: got %+v, want one with persistence.storageClassName and size", vct)
	}
	if len(pod.Spec.Tolerations) != 1 || pod.Spec.NodeSelector["kubernetes.io/os"] != "linux" || len(pod.Spec.ImagePullSecrets) != 1 {
		t.Errorf("pod: got tolerations %v, nodeSelector %v, imagePullSecrets %v, want those of the values", pod.Spec.Tolerations, pod.Spec.NodeSelector, pod.Spec.ImagePullSecrets)
	}
	if got, want := e.pdb.Spec.MaxUnavailable.String(), fmt.Sprint(e.value(t, "podDisruptionBudget.maxUnavailable")); got != want {
		t.Errorf("PodDisruptionBudget maxUnavailable: got %s, want %s", got, want)
	}

	// ServiceMonitor: the Service's pods, on its http port, with job
	// "lifecycle" (what the alert rules expect); no scrape annotations then.
	var sm struct {
		APIVersion string `json:"apiVersion"`
		Kind       string `json:"kind"`
		Metadata   struct {
			Name      string            `json:"name"`
			Namespace string            `json:"namespace"`
			Labels    map[string]string `json:"labels"`
		} `json:"metadata"`
		Spec struct {
			JobLabel          string `json:"jobLabel"`
			NamespaceSelector struct {
				MatchNames []string `json:"matchNames"`
			} `json:"namespaceSelector"`
			Selector struct {
				MatchLabels map[string]string `json:"matchLabels"`
			} `json:"selector"`
			Endpoints []struct {
				Port     string `json:"port"`
				Path     string `json:"path"`
				Interval string `json:"interval"`
			} `json:"endpoints"`
		} `json:"spec"`
	}
	b, _ := sigsyaml.Marshal(e.sm)
	if err := sigsyaml.UnmarshalStrict(b, &sm); err != nil {
		t.Fatalf("ServiceMonitor: %v", err)
	}
	if sel := sm.Spec.Selector.MatchLabels; len(sel) == 0 || !subset(sel, e.svc.Labels) {
		t.Errorf("ServiceMonitor selector: got %v, want a non-empty subset of the Service's labels %v", sel, e.svc.Labels)
	}
	if got := sm.Spec.NamespaceSelector.MatchNames; !slices.Equal(got, []string{everythingRelease.Namespace}) {
		t.Errorf("ServiceMonitor namespaceSelector: got %v, want [%s]", got, everythingRelease.Namespace)
	}
	if got := e.svc.Labels[sm.Spec.JobLabel]; got != "lifecycle" {
		t.Errorf("ServiceMonitor jobLabel %q: got Service label value %q, want \"lifecycle\" (alerts.yml uses up{job=\"lifecycle\"})", sm.Spec.JobLabel, got)
	}
	if sm.Metadata.Labels["release"] != "kube-prometheus-stack" {
		t.Errorf("ServiceMonitor labels: got %v, want serviceMonitor.labels among them", sm.Metadata.Labels)
	}
	svcPorts := map[string]bool{}
	for _, p := range e.svc.Spec.Ports {
		svcPorts[p.Name] = true
	}
	if len(sm.Spec.Endpoints) != 1 || !svcPorts[sm.Spec.Endpoints[0].Port] || sm.Spec.Endpoints[0].Path != "/metrics" || sm.Spec.Endpoints[0].Interval != e.value(t, "serviceMonitor.interval") {
		t.Errorf("ServiceMonitor endpoints: got %+v, want one on a port of the Service %v, path /metrics, serviceMonitor.interval", sm.Spec.Endpoints, svcPorts)
	}
	if _, ok := pod.Annotations["prometheus.io/scrape"]; ok {
		t.Errorf("pod annotations: got prometheus.io/scrape with a ServiceMonitor, want none (Prometheus would scrape twice)")
	}

	// NetworkPolicy: the HTTP port from Prometheus' namespace and from
	// extraFrom.
	var peers []string
	for _, r := range e.np.Spec.Ingress {
		for _, p := range r.Ports {
			if p.Port == nil || p.Port.String() != "http" {
				t.Errorf("NetworkPolicy ingress port: got %v, want http", p.Port)
			}
		}
		for _, f := range r.From {
			if f.NamespaceSelector != nil {
				peers = append(peers, f.NamespaceSelector.MatchLabels["kubernetes.io/metadata.name"])
			}
		}
	}
	if want := []string{"observability", "crm"}; !slices.Equal(peers, want) {
		t.Errorf("NetworkPolicy peers from other namespaces: got %v, want %v (networkPolicy.prometheus.namespace, extraFrom)", peers, want)
	}
}

// TestChartRollsPodsOnConfigChange checks that a changed rules file or
// setting changes the pod template (so helm upgrade restarts the pods,
// which read both only at start), and that nothing else does.
func TestChartRollsPodsOnConfigChange(t *testing.T) {
	checksum := func(over map[string]any) string {
		t.Helper()
		vals := readValues(t, everythingValues)
		maps.Copy(vals, over)
		ms, _, err := chartrender.Render(chartDir, vals, everythingRelease)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range ms {
			if m.Template != "statefulset.yaml" {
				continue
			}
			var sts appsv1.StatefulSet
			if err := sigsyaml.Unmarshal([]byte(m.YAML), &sts); err != nil {
				t.Fatal(err)
			}
			return sts.Spec.Template.Annotations["checksum/config"]
		}
		t.Fatal("no statefulset.yaml rendered")
		return ""
	}
	base := checksum(nil)
	if base == "" {
		t.Fatal("pod annotation checksum/config: got none, want one")
	}
	rules := readValues(t, everythingValues)["rules"].(map[string]any)
	changedRules := maps.Clone(rules)
	changedRules["file"] = strings.Replace(rules["file"].(string), "mature_at: 3", "mature_at: 4", 1)
	for name, over := range map[string]map[string]any{
		"rules.file":  {"rules": changedRules},
		"extraConfig": {"extraConfig": map[string]any{"LIFECYCLE_MAX_USERS_CACHED": "500000"}},
		"log.level":   {"log": map[string]any{"format": "json", "level": "debug"}},
	} {
		if checksum(over) == base {
			t.Errorf("%s changed: got the same checksum/config, want another (the pods must restart to read it)", name)
		}
	}
	if checksum(map[string]any{"replicas": 5}) != base {
		t.Errorf("replicas changed: got another checksum/config, want the same (scaling must not restart every pod)")
	}
}

// TestChartRefusesBadValues checks that values which would render objects
// that cannot work are refused, with what to change.
func TestChartRefusesBadValues(t *testing.T) {
	for _, tc := range []struct {
		name string
		set  map[string]any // over the default values, like --set
		want string         // in the error
	}{
		{"more replicas than partitions", map[string]any{"replicas": 9}, "replicas 9 is more than topics.partitions 8"},
		{"standbys without a pod for them", map[string]any{"replicas": 2, "standbyReplicas": 2}, "standbyReplicas 2 needs at least 3 replicas"},
		{"SASL without credentials", map[string]any{"kafka": map[string]any{"sasl": map[string]any{"password": ""}}}, "set kafka.sasl.existingSecret"},
		{"no token", map[string]any{"http": map[string]any{"token": map[string]any{"value": ""}}}, "http.token: give existingSecret"},
		{"CA without TLS", map[string]any{"kafka": map[string]any{"tls": map[string]any{"enabled": false, "ca": map[string]any{"existingSecret": "ca"}}}}, "set kafka.tls.enabled true"},
		{"rates without rules", map[string]any{"rules": map[string]any{"rates": "date,currency,rate\n"}}, "rules.rates is set without rules.file"},
		{"extraConfig not a variable of the engine", map[string]any{"extraConfig": map[string]any{"BATCH_RECORDS": "1"}}, "extraConfig.BATCH_RECORDS: names must be LIFECYCLE_*"},
		{"extraConfig overriding a value", map[string]any{"extraConfig": map[string]any{"LIFECYCLE_BROKERS": "x:9092"}}, "extraConfig.LIFECYCLE_BROKERS: the chart sets it"},
		{"password in extraConfig", map[string]any{"extraConfig": map[string]any{"LIFECYCLE_SASL_PASSWORD": "x"}}, "extraConfig.LIFECYCLE_SASL_PASSWORD: the chart sets it"},
		{"unknown value", map[string]any{"replica": 3}, "additional properties 'replica' not allowed"},
		{"brokers as one string", map[string]any{"kafka": map[string]any{"brokers": "a:9092,b:9092"}}, "at '/kafka/brokers': got string, want array"},
		{"broker without port", map[string]any{"kafka": map[string]any{"brokers": []any{"kafka.example.com"}}}, "at '/kafka/brokers/0'"},
		{"IPv6 broker without brackets", map[string]any{"kafka": map[string]any{"brokers": []any{"fd00::1:9092"}}}, "at '/kafka/brokers/0'"},
		{"unknown SASL mechanism", map[string]any{"kafka": map[string]any{"sasl": map[string]any{"mechanism": "GSSAPI"}}}, "at '/kafka/sasl/mechanism': value must be one of"},
		{"GOMEMLIMIT in Kubernetes units", map[string]any{"goMemLimit": "1800Mi"}, "at '/goMemLimit'"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := chartrender.Render(chartDir, tc.set, chartrender.K8sRelease)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("render with %v: got error %v, want one containing %q", tc.set, err, tc.want)
			}
		})
	}
}

// TestChartNotes checks that helm install warns about placeholder
// credentials, and only then.
func TestChartNotes(t *testing.T) {
	_, notes, err := chartrender.Render(chartDir, nil, chartrender.K8sRelease)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(notes, "WARNING: placeholder credentials (CHANGE-ME) in http.token.value kafka.sasl.password") {
		t.Errorf("NOTES.txt with the default values: got %q, want the placeholder warning naming both values", notes)
	}
	_, notes, err = chartrender.Render(chartDir, readValues(t, everythingValues), everythingRelease)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(notes, "WARNING") || !strings.Contains(notes, "statefulset/eu-lifecycle") {
		t.Errorf("NOTES.txt with %s: got %q, want the release's commands and no warning", everythingValues, notes)
	}
}

// ptrString formats *p, or "unset" for nil.
func ptrString[T any](p *T) string {
	if p == nil {
		return "unset"
	}
	return fmt.Sprint(*p)
}
