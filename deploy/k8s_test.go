package deploy_test

import (
	"encoding/base64"
	"errors"
	"fmt"
	"maps"
	"net"
	"net/netip"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

// ---------------------------------------------------------------------------
// Kubernetes manifests.

type meta struct {
	Name      string            `yaml:"name"`
	Namespace string            `yaml:"namespace"`
	Labels    map[string]string `yaml:"labels"`
}

type header struct {
	APIVersion string `yaml:"apiVersion"`
	Kind       string `yaml:"kind"`
	Metadata   meta   `yaml:"metadata"`
}

type labelSelector struct {
	MatchLabels map[string]string `yaml:"matchLabels"`
}

type nameRef struct {
	Name string `yaml:"name"`
}

type keyRef struct {
	Name string `yaml:"name"`
	Key  string `yaml:"key"`
}

type envVar struct {
	Name      string `yaml:"name"`
	Value     string `yaml:"value"`
	ValueFrom *struct {
		ConfigMapKeyRef *keyRef `yaml:"configMapKeyRef"`
		SecretKeyRef    *keyRef `yaml:"secretKeyRef"`
	} `yaml:"valueFrom"`
}

type envFrom struct {
	Prefix       string   `yaml:"prefix"`
	ConfigMapRef *nameRef `yaml:"configMapRef"`
	SecretRef    *nameRef `yaml:"secretRef"`
}

type probe struct {
	HTTPGet *struct {
		Path string `yaml:"path"`
		Port any    `yaml:"port"` // number or port name
	} `yaml:"httpGet"`
}

type container struct {
	Name    string    `yaml:"name"`
	Image   string    `yaml:"image"`
	Command []string  `yaml:"command"`
	Args    []string  `yaml:"args"`
	Env     []envVar  `yaml:"env"`
	EnvFrom []envFrom `yaml:"envFrom"`
	Ports   []struct {
		Name          string `yaml:"name"`
		ContainerPort int    `yaml:"containerPort"`
	} `yaml:"ports"`
	LivenessProbe  *probe `yaml:"livenessProbe"`
	ReadinessProbe *probe `yaml:"readinessProbe"`
	StartupProbe   *probe `yaml:"startupProbe"`
	Resources      struct {
		Requests map[string]string `yaml:"requests"`
		Limits   map[string]string `yaml:"limits"`
	} `yaml:"resources"`
	SecurityContext *struct {
		RunAsNonRoot             *bool `yaml:"runAsNonRoot"`
		ReadOnlyRootFilesystem   *bool `yaml:"readOnlyRootFilesystem"`
		AllowPrivilegeEscalation *bool `yaml:"allowPrivilegeEscalation"`
	} `yaml:"securityContext"`
	VolumeMounts []struct {
		Name      string `yaml:"name"`
		MountPath string `yaml:"mountPath"`
		ReadOnly  bool   `yaml:"readOnly"`
	} `yaml:"volumeMounts"`
}

type volume struct {
	Name   string `yaml:"name"`
	Secret *struct {
		SecretName string `yaml:"secretName"`
		Items      []struct {
			Key  string `yaml:"key"`
			Path string `yaml:"path"`
		} `yaml:"items"`
	} `yaml:"secret"`
	ConfigMap *struct {
		Name string `yaml:"name"`
	} `yaml:"configMap"`
	PersistentVolumeClaim *struct {
		ClaimName string `yaml:"claimName"`
	} `yaml:"persistentVolumeClaim"`
}

type podSpec struct {
	TerminationGracePeriodSeconds *int `yaml:"terminationGracePeriodSeconds"`
	SecurityContext               *struct {
		RunAsNonRoot *bool  `yaml:"runAsNonRoot"`
		RunAsUser    *int64 `yaml:"runAsUser"`
		FSGroup      *int64 `yaml:"fsGroup"`
	} `yaml:"securityContext"`
	InitContainers []container `yaml:"initContainers"`
	Containers     []container `yaml:"containers"`
	Volumes        []volume    `yaml:"volumes"`
}

type statefulSet struct {
	header `yaml:",inline"`
	Spec   struct {
		Replicas            *int          `yaml:"replicas"`
		ServiceName         string        `yaml:"serviceName"`
		PodManagementPolicy string        `yaml:"podManagementPolicy"`
		Selector            labelSelector `yaml:"selector"`
		Template            struct {
			Metadata meta    `yaml:"metadata"`
			Spec     podSpec `yaml:"spec"`
		} `yaml:"template"`
		VolumeClaimTemplates []struct {
			Metadata meta `yaml:"metadata"`
			Spec     struct {
				AccessModes []string `yaml:"accessModes"`
				Resources   struct {
					Requests map[string]string `yaml:"requests"`
				} `yaml:"resources"`
			} `yaml:"spec"`
		} `yaml:"volumeClaimTemplates"`
	} `yaml:"spec"`
}

type service struct {
	header `yaml:",inline"`
	Spec   struct {
		ClusterIP string            `yaml:"clusterIP"`
		Selector  map[string]string `yaml:"selector"`
		Ports     []struct {
			Name       string `yaml:"name"`
			Port       int    `yaml:"port"`
			TargetPort any    `yaml:"targetPort"`
		} `yaml:"ports"`
	} `yaml:"spec"`
}

type pdb struct {
	header `yaml:",inline"`
	Spec   struct {
		MaxUnavailable any           `yaml:"maxUnavailable"`
		MinAvailable   any           `yaml:"minAvailable"`
		Selector       labelSelector `yaml:"selector"`
	} `yaml:"spec"`
}

type configMap struct {
	header `yaml:",inline"`
	Data   map[string]string `yaml:"data"`
}

type secret struct {
	header     `yaml:",inline"`
	Data       map[string]string `yaml:"data"`
	StringData map[string]string `yaml:"stringData"`
}

type kustomization struct {
	header    `yaml:",inline"`
	Namespace string   `yaml:"namespace"`
	Resources []string `yaml:"resources"`
	Images    []struct {
		Name    string `yaml:"name"`
		NewName string `yaml:"newName"`
		NewTag  string `yaml:"newTag"`
		Digest  string `yaml:"digest"`
	} `yaml:"images"`
}

// manifest is one YAML document of a file in k8s/ or of a rendered template.
type manifest struct {
	file string
	header
	node *yaml.Node
}

func (m manifest) String() string { return fmt.Sprintf("%s %s/%s", m.file, m.Kind, m.Metadata.Name) }

func (m manifest) decode(t *testing.T, v any) {
	t.Helper()
	if err := m.node.Decode(v); err != nil {
		t.Fatalf("%s: %v", m, err)
	}
}

// k8sSet is the Kubernetes objects of one deployment: deploy/k8s, or the
// Helm chart rendered with a values file.
type k8sSet struct {
	name      string   // where they come from: k8s, or helm:<values file>
	files     []string // base names of the YAML files (templates) they are in
	manifests []manifest
}

// deploymentSets are the deployments the checks of this file hold for:
// deploy/k8s (the chart with its default values, TestK8sIsTheRenderedChart)
// and the chart with everything switched on (helm_test.go).
func deploymentSets(t *testing.T) []k8sSet {
	return []k8sSet{loadK8s(t), renderChart(t, everythingValues)}
}

func loadK8s(t *testing.T) k8sSet {
	t.Helper()
	set := k8sSet{name: k8sDir}
	entries, err := os.ReadDir(k8sDir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if e.IsDir() || !(strings.HasSuffix(e.Name(), ".yaml") || strings.HasSuffix(e.Name(), ".yml")) {
			continue
		}
		b, err := os.ReadFile(filepath.Join(k8sDir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		set.add(t, e.Name(), b)
	}
	if len(set.manifests) == 0 {
		t.Fatalf("no manifests in %s", k8sDir)
	}
	return set
}

// add adds the objects of the YAML text b, from file.
func (s *k8sSet) add(t *testing.T, file string, b []byte) {
	t.Helper()
	s.files = append(s.files, file)
	docs, err := decodeYAMLDocs(file, b)
	if err != nil {
		t.Fatal(err)
	}
	if len(docs) == 0 {
		t.Errorf("%s: got no YAML documents, want at least one", file)
	}
	for i, d := range docs {
		m := manifest{file: file, node: d}
		if err := d.Decode(&m.header); err != nil {
			t.Fatalf("%s: document %d: %v", file, i+1, err)
		}
		if m.APIVersion == "" || m.Kind == "" {
			t.Errorf("%s: document %d: got apiVersion %q kind %q, want both set", file, i+1, m.APIVersion, m.Kind)
		}
		if m.Kind != "Kustomization" && m.Metadata.Name == "" {
			t.Errorf("%s: document %d (%s): got no metadata.name, want one", file, i+1, m.Kind)
		}
		s.manifests = append(s.manifests, m)
	}
}

func (s k8sSet) ofKind(kind string) []manifest {
	var out []manifest
	for _, m := range s.manifests {
		if m.Kind == kind {
			out = append(out, m)
		}
	}
	return out
}

// one returns the only object of kind, failing unless there is exactly one.
func (s k8sSet) one(t *testing.T, kind string, v any) manifest {
	t.Helper()
	ms := s.ofKind(kind)
	if len(ms) != 1 {
		t.Fatalf("%s objects in %s: got %d, want 1", kind, s.name, len(ms))
	}
	ms[0].decode(t, v)
	return ms[0]
}

func (s k8sSet) configMaps(t *testing.T) map[string]configMap {
	out := map[string]configMap{}
	for _, m := range s.ofKind("ConfigMap") {
		var c configMap
		m.decode(t, &c)
		out[c.Metadata.Name] = c
	}
	return out
}

// secretKeys returns each Secret's keys (data and stringData) with their
// values (data decoded from base64).
func (s k8sSet) secrets(t *testing.T) map[string]map[string]string {
	out := map[string]map[string]string{}
	for _, m := range s.ofKind("Secret") {
		var sec secret
		m.decode(t, &sec)
		kv := map[string]string{}
		for k, v := range sec.Data {
			b, err := base64.StdEncoding.DecodeString(v)
			if err != nil {
				t.Errorf("%s: data.%s: got invalid base64 (%v), want base64 (or use stringData)", m, k, err)
			}
			kv[k] = string(b)
		}
		for k, v := range sec.StringData {
			kv[k] = v
		}
		out[sec.Metadata.Name] = kv
	}
	return out
}

// subset reports whether every label of sel is in labels, with the value.
func subset(sel, labels map[string]string) bool {
	for k, v := range sel {
		if labels[k] != v {
			return false
		}
	}
	return true
}

func mainContainer(t *testing.T, sts statefulSet) container {
	t.Helper()
	cs := sts.Spec.Template.Spec.Containers
	if len(cs) == 0 {
		t.Fatalf("StatefulSet %s: got no containers, want one", sts.Metadata.Name)
	}
	for _, c := range cs {
		if c.Name == "lifecycle" {
			return c
		}
	}
	return cs[0]
}

// containerEnv is the container's environment as Kubernetes builds it:
// envFrom sources in order, then env entries (which win). Values from
// Secrets are included; missing references are reported.
func containerEnv(t *testing.T, where string, c container, cms map[string]configMap, secs map[string]map[string]string) map[string]string {
	t.Helper()
	env := map[string]string{}
	for _, ef := range c.EnvFrom {
		switch {
		case ef.ConfigMapRef != nil:
			cm, ok := cms[ef.ConfigMapRef.Name]
			if !ok {
				t.Errorf("%s: envFrom configMapRef %q: got no such ConfigMap, want it defined", where, ef.ConfigMapRef.Name)
				continue
			}
			for k, v := range cm.Data {
				env[ef.Prefix+k] = v
			}
		case ef.SecretRef != nil:
			kv, ok := secs[ef.SecretRef.Name]
			if !ok {
				t.Errorf("%s: envFrom secretRef %q: got no such Secret, want it defined", where, ef.SecretRef.Name)
				continue
			}
			for k, v := range kv {
				env[ef.Prefix+k] = v
			}
		default:
			t.Errorf("%s: envFrom entry with neither configMapRef nor secretRef", where)
		}
	}
	for _, e := range c.Env {
		switch {
		case e.ValueFrom == nil:
			env[e.Name] = e.Value
		case e.ValueFrom.ConfigMapKeyRef != nil:
			r := e.ValueFrom.ConfigMapKeyRef
			cm, ok := cms[r.Name]
			if !ok {
				t.Errorf("%s: env %s: configMapKeyRef %q: got no such ConfigMap, want it defined", where, e.Name, r.Name)
				continue
			}
			v, ok := cm.Data[r.Key]
			if !ok {
				t.Errorf("%s: env %s: ConfigMap %s has no key %q", where, e.Name, r.Name, r.Key)
			}
			env[e.Name] = v
		case e.ValueFrom.SecretKeyRef != nil:
			r := e.ValueFrom.SecretKeyRef
			kv, ok := secs[r.Name]
			if !ok {
				t.Errorf("%s: env %s: secretKeyRef %q: got no such Secret, want it defined", where, e.Name, r.Name)
				continue
			}
			v, ok := kv[r.Key]
			if !ok {
				t.Errorf("%s: env %s: Secret %s has no key %q", where, e.Name, r.Name, r.Key)
			}
			env[e.Name] = v
		default:
			env[e.Name] = "" // fieldRef, resourceFieldRef: value known at run time
		}
	}
	return env
}

// resolvePort returns the container port a probe or Service port refers to
// (a number or a port name).
func resolvePort(c container, p any) (int, bool) {
	switch v := p.(type) {
	case int:
		for _, cp := range c.Ports {
			if cp.ContainerPort == v {
				return v, true
			}
		}
		return v, false
	case string:
		if n, err := strconv.Atoi(v); err == nil {
			return resolvePort(c, n)
		}
		for _, cp := range c.Ports {
			if cp.Name == v {
				return cp.ContainerPort, true
			}
		}
	}
	return 0, false
}

// parseQuantity parses a Kubernetes quantity to bytes (memory) or to
// millis (cpu, with milli=true): 2Gi, 512Mi, 1G, 500m, 2, 1.5.
func parseQuantity(s string, milli bool) (int64, error) {
	s = strings.TrimSpace(s)
	suffixes := []struct {
		suf  string
		mult float64
	}{
		{"Ki", 1 << 10}, {"Mi", 1 << 20}, {"Gi", 1 << 30}, {"Ti", 1 << 40}, {"Pi", 1 << 50}, {"Ei", 1 << 60},
		{"k", 1e3}, {"M", 1e6}, {"G", 1e9}, {"T", 1e12}, {"P", 1e15}, {"E", 1e18},
		{"m", 1e-3},
	}
	mult := 1.0
	num := s
	for _, sf := range suffixes {
		if n, ok := strings.CutSuffix(s, sf.suf); ok {
			num, mult = n, sf.mult
			break
		}
	}
	f, err := strconv.ParseFloat(num, 64)
	if err != nil || f < 0 {
		return 0, fmt.Errorf("quantity %q: not a number with a Kubernetes suffix", s)
	}
	if milli {
		mult *= 1000
	}
	return int64(f * mult), nil
}

// parseGoMemLimit parses a GOMEMLIMIT value: bytes with an optional unit
// B, KiB, MiB, GiB or TiB (the runtime's format).
func parseGoMemLimit(s string) (int64, error) {
	units := []struct {
		suf  string
		mult int64
	}{{"TiB", 1 << 40}, {"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}, {"B", 1}}
	mult := int64(1)
	num := s
	for _, u := range units {
		if n, ok := strings.CutSuffix(s, u.suf); ok {
			num, mult = n, u.mult
			break
		}
	}
	n, err := strconv.ParseInt(num, 10, 64)
	if err != nil || n <= 0 {
		return 0, fmt.Errorf("GOMEMLIMIT %q: want an integer with B, KiB, MiB, GiB or TiB, like 1800MiB", s)
	}
	return n * mult, nil
}

func TestKustomizationListsEveryFile(t *testing.T) {
	set := loadK8s(t)
	var k kustomization
	m := set.one(t, "Kustomization", &k)
	if m.file != "kustomization.yaml" {
		t.Errorf("Kustomization file: got %s, want kustomization.yaml (what kubectl apply -k reads)", m.file)
	}
	if got, want := k.APIVersion, "kustomize.config.k8s.io/v1beta1"; got != want {
		t.Errorf("Kustomization apiVersion: got %q, want %q", got, want)
	}
	var want []string
	for _, f := range set.files {
		if f != m.file {
			want = append(want, f)
		}
	}
	got := slices.Clone(k.Resources)
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("kustomization.yaml resources: got %v, want every other YAML file in %s: %v", got, k8sDir, want)
	}
	for _, r := range k.Resources {
		if _, err := os.Stat(filepath.Join(k8sDir, r)); err != nil {
			t.Errorf("kustomization.yaml resource %s: %v", r, err)
		}
	}
	// Namespace object and kustomize's namespace agree.
	if ns := set.ofKind("Namespace"); len(ns) > 0 {
		if got, want := k.Namespace, ns[0].Metadata.Name; got != want {
			t.Errorf("kustomization.yaml namespace: got %q, want %q (the Namespace in %s)", got, want, ns[0].file)
		}
	}
	// The image override applies to the StatefulSet's container.
	if len(k.Images) > 0 {
		var sts statefulSet
		set.one(t, "StatefulSet", &sts)
		img := mainContainer(t, sts).Image
		name, _, _ := strings.Cut(img, "@")
		if i := strings.LastIndex(name, ":"); i > strings.LastIndex(name, "/") {
			name = name[:i]
		}
		var names []string
		for _, im := range k.Images {
			names = append(names, im.Name)
		}
		if !slices.Contains(names, name) {
			t.Errorf("kustomization.yaml images: got names %v, want one matching the container image %q", names, name)
		}
	}
	// No two objects of a kind share a name.
	seen := map[string]string{}
	for _, m := range set.manifests {
		if m.Kind == "Kustomization" {
			continue
		}
		key := m.Kind + "/" + m.Metadata.Name
		if prev, ok := seen[key]; ok {
			t.Errorf("%s defined twice: in %s and %s", key, prev, m.file)
		}
		seen[key] = m.file
	}
}

func TestStatefulSet(t *testing.T) {
	for _, set := range deploymentSets(t) {
		t.Run(set.name, func(t *testing.T) { checkStatefulSet(t, set) })
	}
}

func checkStatefulSet(t *testing.T, set k8sSet) {
	var sts statefulSet
	set.one(t, "StatefulSet", &sts)
	spec := sts.Spec
	pod := spec.Template.Spec
	where := "StatefulSet " + sts.Metadata.Name

	if got, want := sts.APIVersion, "apps/v1"; got != want {
		t.Errorf("%s apiVersion: got %q, want %q", where, got, want)
	}
	if spec.Replicas == nil || *spec.Replicas < 1 {
		t.Errorf("%s replicas: got %v, want >= 1", where, spec.Replicas)
	}
	if got, want := spec.PodManagementPolicy, "Parallel"; got != want {
		t.Errorf("%s podManagementPolicy: got %q, want %q", where, got, want)
	}

	// Selector, labels and the headless Service.
	tmplLabels := spec.Template.Metadata.Labels
	if len(spec.Selector.MatchLabels) == 0 || !subset(spec.Selector.MatchLabels, tmplLabels) {
		t.Errorf("%s selector: got %v, want a non-empty subset of the template labels %v", where, spec.Selector.MatchLabels, tmplLabels)
	}
	var headless *service
	for _, m := range set.ofKind("Service") {
		var s service
		m.decode(t, &s)
		if s.Metadata.Name == spec.ServiceName {
			headless = &s
		}
	}
	if headless == nil {
		t.Fatalf("%s serviceName: got %q, want the name of a Service in %s", where, spec.ServiceName, set.name)
	}
	if got, want := headless.Spec.ClusterIP, "None"; got != want {
		t.Errorf("Service %s clusterIP: got %q, want %q (headless, for the StatefulSet)", headless.Metadata.Name, got, want)
	}
	if len(headless.Spec.Selector) == 0 || !subset(headless.Spec.Selector, tmplLabels) {
		t.Errorf("Service %s selector: got %v, want a non-empty subset of the pod labels %v", headless.Metadata.Name, headless.Spec.Selector, tmplLabels)
	}

	c := mainContainer(t, sts)
	cms := set.configMaps(t)
	secs := set.secrets(t)
	env := containerEnv(t, where, c, cms, secs)

	// The Service's ports point at the container's.
	if len(headless.Spec.Ports) == 0 {
		t.Errorf("Service %s: got no ports, want the http port", headless.Metadata.Name)
	}
	for _, p := range headless.Spec.Ports {
		target := p.TargetPort
		if target == nil {
			target = p.Port
		}
		if _, ok := resolvePort(c, target); !ok {
			t.Errorf("Service %s port %s: got targetPort %v, want a port of container %s %v", headless.Metadata.Name, p.Name, target, c.Name, c.Ports)
		}
	}

	// More replicas than partitions would sit idle: compare with
	// LIFECYCLE_PARTITIONS, else --partitions' default of 8.
	partitions := 8
	if v, ok := env["LIFECYCLE_PARTITIONS"]; ok {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			t.Errorf("%s LIFECYCLE_PARTITIONS: got %q, want a positive integer", where, v)
		} else {
			partitions = n
		}
	}
	if spec.Replicas != nil && *spec.Replicas > partitions {
		t.Errorf("%s replicas: got %d, want <= %d (the partitions of the input topics; extra pods get no partitions)", where, *spec.Replicas, partitions)
	}

	// State volume: a claim template, mounted at LIFECYCLE_STATE_DIR.
	stateDir, ok := env["LIFECYCLE_STATE_DIR"]
	if !ok || stateDir == "" {
		t.Errorf("%s: got no LIFECYCLE_STATE_DIR in the container's environment, want it (run needs --state-dir)", where)
	}
	if len(spec.VolumeClaimTemplates) == 0 {
		t.Errorf("%s: got no volumeClaimTemplates, want one PersistentVolumeClaim per pod for the Pebble store", where)
	}
	for _, vct := range spec.VolumeClaimTemplates {
		var mountPath string
		for _, vm := range c.VolumeMounts {
			if vm.Name == vct.Metadata.Name {
				mountPath = vm.MountPath
			}
		}
		if mountPath == "" {
			t.Errorf("%s volumeClaimTemplate %q: got no volumeMount of that name in container %s, want one", where, vct.Metadata.Name, c.Name)
			continue
		}
		if got, want := mountPath, stateDir; got != want {
			t.Errorf("%s volumeClaimTemplate %q mountPath: got %q, want %q (LIFECYCLE_STATE_DIR)", where, vct.Metadata.Name, got, want)
		}
		if !slices.Contains(vct.Spec.AccessModes, "ReadWriteOnce") && !slices.Contains(vct.Spec.AccessModes, "ReadWriteOncePod") {
			t.Errorf("%s volumeClaimTemplate %q accessModes: got %v, want ReadWriteOnce (one store per pod)", where, vct.Metadata.Name, vct.Spec.AccessModes)
		}
		if vct.Spec.Resources.Requests["storage"] == "" {
			t.Errorf("%s volumeClaimTemplate %q: got no storage request, want one", where, vct.Metadata.Name)
		}
	}

	// HTTP read side: listening on all interfaces on the probed port.
	httpAddr := env["LIFECYCLE_HTTP"]
	host, portStr, err := net.SplitHostPort(httpAddr)
	if err != nil || (host != "0.0.0.0" && host != "" && host != "::") {
		t.Errorf("%s LIFECYCLE_HTTP: got %q, want 0.0.0.0:PORT (the default 127.0.0.1 is unreachable for the kubelet)", where, httpAddr)
	}
	httpPort, _ := strconv.Atoi(portStr)
	for _, pr := range []struct {
		name, path string
		p          *probe
	}{
		{"livenessProbe", "/healthz", c.LivenessProbe},
		{"readinessProbe", "/readyz", c.ReadinessProbe},
	} {
		if pr.p == nil || pr.p.HTTPGet == nil {
			t.Errorf("%s %s: got none, want httpGet %s", where, pr.name, pr.path)
			continue
		}
		if got, want := pr.p.HTTPGet.Path, pr.path; got != want {
			t.Errorf("%s %s path: got %q, want %q", where, pr.name, got, want)
		}
		port, ok := resolvePort(c, pr.p.HTTPGet.Port)
		if !ok {
			t.Errorf("%s %s port: got %v, want a port of the container %v", where, pr.name, pr.p.HTTPGet.Port, c.Ports)
		}
		if got, want := port, httpPort; got != want {
			t.Errorf("%s %s port: got %d, want %d (LIFECYCLE_HTTP %q)", where, pr.name, got, want, httpAddr)
		}
	}
	if c.StartupProbe != nil && c.StartupProbe.HTTPGet != nil {
		if got, want := c.StartupProbe.HTTPGet.Path, "/healthz"; got != want {
			t.Errorf("%s startupProbe path: got %q, want %q", where, got, want)
		}
		if port, _ := resolvePort(c, c.StartupProbe.HTTPGet.Port); port != httpPort {
			t.Errorf("%s startupProbe port: got %d, want %d", where, port, httpPort)
		}
	}

	// Resources, and GOMEMLIMIT below the memory limit.
	for _, kind := range []string{"cpu", "memory"} {
		req, lim := c.Resources.Requests[kind], c.Resources.Limits[kind]
		if req == "" || lim == "" {
			t.Errorf("%s resources %s: got request %q limit %q, want both set", where, kind, req, lim)
			continue
		}
		r, err1 := parseQuantity(req, kind == "cpu")
		l, err2 := parseQuantity(lim, kind == "cpu")
		if err := errors.Join(err1, err2); err != nil {
			t.Errorf("%s resources %s: %v", where, kind, err)
			continue
		}
		if r > l {
			t.Errorf("%s resources %s: got request %s > limit %s, want request <= limit", where, kind, req, lim)
		}
	}
	if memLimit, err := parseQuantity(c.Resources.Limits["memory"], false); err == nil && memLimit > 0 {
		gml, ok := env["GOMEMLIMIT"]
		if !ok {
			t.Errorf("%s: got no GOMEMLIMIT, want one a bit below the memory limit %s", where, c.Resources.Limits["memory"])
		} else if v, err := parseGoMemLimit(gml); err != nil {
			t.Errorf("%s: %v", where, err)
		} else if v >= memLimit || v < memLimit/2 {
			t.Errorf("%s GOMEMLIMIT: got %s (%d bytes), want below the memory limit %s (%d bytes) and above half of it", where, gml, v, c.Resources.Limits["memory"], memLimit)
		}
	}

	// Security.
	psc := pod.SecurityContext
	csc := c.SecurityContext
	nonRoot := (psc != nil && psc.RunAsNonRoot != nil && *psc.RunAsNonRoot) || (csc != nil && csc.RunAsNonRoot != nil && *csc.RunAsNonRoot)
	if !nonRoot {
		t.Errorf("%s runAsNonRoot: got unset or false, want true", where)
	}
	if psc == nil || psc.FSGroup == nil || *psc.FSGroup != 65532 {
		var got any
		if psc != nil && psc.FSGroup != nil {
			got = *psc.FSGroup
		}
		t.Errorf("%s fsGroup: got %v, want 65532 (the image's nonroot group, so the volume is writable)", where, got)
	}
	if csc == nil || csc.ReadOnlyRootFilesystem == nil || !*csc.ReadOnlyRootFilesystem {
		t.Errorf("%s container %s readOnlyRootFilesystem: got unset or false, want true", where, c.Name)
	}
	if csc == nil || csc.AllowPrivilegeEscalation == nil || *csc.AllowPrivilegeEscalation {
		t.Errorf("%s container %s allowPrivilegeEscalation: got unset or true, want false", where, c.Name)
	}
	if g := pod.TerminationGracePeriodSeconds; g == nil || *g < 30 {
		t.Errorf("%s terminationGracePeriodSeconds: got %v, want >= 30 (run needs ~15 s to commit and leave the group)", where, g)
	}

	// Volumes: every mount has a volume or claim; every referenced
	// Secret/ConfigMap exists, with the items' keys.
	vols := map[string]volume{}
	for _, v := range pod.Volumes {
		vols[v.Name] = v
		switch {
		case v.Secret != nil:
			kv, ok := secs[v.Secret.SecretName]
			if !ok {
				t.Errorf("%s volume %s: Secret %q: got no such Secret in %s, want it defined", where, v.Name, v.Secret.SecretName, set.name)
			}
			for _, it := range v.Secret.Items {
				if _, ok := kv[it.Key]; ok || kv == nil {
					continue
				}
				t.Errorf("%s volume %s: Secret %s has no key %q", where, v.Name, v.Secret.SecretName, it.Key)
			}
		case v.ConfigMap != nil:
			if _, ok := cms[v.ConfigMap.Name]; !ok {
				t.Errorf("%s volume %s: ConfigMap %q: got no such ConfigMap in %s, want it defined", where, v.Name, v.ConfigMap.Name, set.name)
			}
		}
	}
	claims := map[string]bool{}
	for _, vct := range spec.VolumeClaimTemplates {
		claims[vct.Metadata.Name] = true
	}
	for _, vm := range c.VolumeMounts {
		if _, ok := vols[vm.Name]; !ok && !claims[vm.Name] {
			t.Errorf("%s volumeMount %s: got no volume or volumeClaimTemplate of that name, want one", where, vm.Name)
		}
	}

	// Files named by LIFECYCLE_*_FILE variables and the rules file are in
	// mounted Secrets (or ConfigMaps).
	for name, p := range env {
		if !strings.HasPrefix(name, "LIFECYCLE_") || !(strings.HasSuffix(name, "_FILE") || name == "LIFECYCLE_RULES") || p == "" {
			continue
		}
		dir, file := path.Split(p)
		dir = strings.TrimSuffix(dir, "/")
		found := false
		for _, vm := range c.VolumeMounts {
			if vm.MountPath != dir {
				continue
			}
			v, ok := vols[vm.Name]
			if !ok {
				continue
			}
			files := map[string]bool{}
			switch {
			case v.Secret != nil && len(v.Secret.Items) > 0:
				for _, it := range v.Secret.Items {
					files[it.Path] = true
				}
			case v.Secret != nil:
				for k := range secs[v.Secret.SecretName] {
					files[k] = true
				}
			case v.ConfigMap != nil: // a CA certificate need not be secret
				for k := range cms[v.ConfigMap.Name].Data {
					files[k] = true
				}
			}
			found = found || files[file]
		}
		if !found {
			t.Errorf("%s %s=%s: got no mounted Secret or ConfigMap providing that file, want a volume at %s with the file %s", where, name, p, dir, file)
		}
	}

	// Every LIFECYCLE_* variable and every --flag is one of the binary's.
	known := knownFlags(t)
	checkEnvNames(t, where+" container "+c.Name, slices.Sorted(maps.Keys(env)), known)
	checkArgFlags(t, where+" container "+c.Name+" args", c.Args, known)
	if len(c.Args) > 0 && c.Args[0] != "run" && len(c.Command) == 0 {
		t.Errorf("%s container %s args[0]: got %q, want %q (the image's entrypoint is /lifecycle)", where, c.Name, c.Args[0], "run")
	}
}

func TestConfigMapsAndSecrets(t *testing.T) {
	for _, set := range deploymentSets(t) {
		t.Run(set.name, func(t *testing.T) { checkConfigMapsAndSecrets(t, set) })
	}
}

func checkConfigMapsAndSecrets(t *testing.T, set k8sSet) {
	known := knownFlags(t)
	for name, cm := range set.configMaps(t) {
		keys := slices.Sorted(maps.Keys(cm.Data))
		checkEnvNames(t, "ConfigMap "+name, keys, known)
		// Settings that must stay out of ConfigMaps.
		for _, k := range keys {
			if k == "LIFECYCLE_SASL_PASSWORD" {
				t.Errorf("ConfigMap %s: got %s, want the password in a Secret (mounted as a file)", name, k)
			}
		}
	}
	for name, kv := range set.secrets(t) {
		checkEnvNames(t, "Secret "+name, slices.Sorted(maps.Keys(kv)), known)
	}
}

func TestPodDisruptionBudget(t *testing.T) {
	for _, set := range deploymentSets(t) {
		t.Run(set.name, func(t *testing.T) { checkPodDisruptionBudget(t, set) })
	}
}

func checkPodDisruptionBudget(t *testing.T, set k8sSet) {
	var sts statefulSet
	set.one(t, "StatefulSet", &sts)
	var p pdb
	set.one(t, "PodDisruptionBudget", &p)
	if got, want := p.APIVersion, "policy/v1"; got != want {
		t.Errorf("PodDisruptionBudget apiVersion: got %q, want %q", got, want)
	}
	// A number of pods, fewer than all of them (a percentage would be
	// rounded by the cluster; one pod of 3 is 33%).
	if n, ok := p.Spec.MaxUnavailable.(int); !ok || n < 1 || (sts.Spec.Replicas != nil && *sts.Spec.Replicas > 1 && n >= *sts.Spec.Replicas) {
		t.Errorf("PodDisruptionBudget maxUnavailable: got %v, want a number of pods from 1 to replicas-1 (%v)", p.Spec.MaxUnavailable, sts.Spec.Replicas)
	}
	if p.Spec.MinAvailable != nil {
		t.Errorf("PodDisruptionBudget: got minAvailable %v as well, want only maxUnavailable", p.Spec.MinAvailable)
	}
	if sel := p.Spec.Selector.MatchLabels; len(sel) == 0 || !subset(sel, sts.Spec.Template.Metadata.Labels) {
		t.Errorf("PodDisruptionBudget selector: got %v, want a non-empty subset of the pod labels %v", sel, sts.Spec.Template.Metadata.Labels)
	}
}

// ---------------------------------------------------------------------------
// Who can reach the HTTP read side on Kubernetes.

type selector struct {
	MatchLabels      map[string]string `yaml:"matchLabels"`
	MatchExpressions []any             `yaml:"matchExpressions"`
}

// matchesAll reports whether s selects everything: absent or {}.
func (s *selector) matchesAll() bool {
	return s == nil || (len(s.MatchLabels) == 0 && len(s.MatchExpressions) == 0)
}

type policyPeer struct {
	PodSelector       *selector `yaml:"podSelector"`
	NamespaceSelector *selector `yaml:"namespaceSelector"`
	IPBlock           *struct {
		CIDR string `yaml:"cidr"`
	} `yaml:"ipBlock"`
}

type networkPolicy struct {
	header `yaml:",inline"`
	Spec   struct {
		PodSelector selector `yaml:"podSelector"`
		PolicyTypes []string `yaml:"policyTypes"`
		Ingress     []struct {
			From  []policyPeer `yaml:"from"`
			Ports []struct {
				Port     any    `yaml:"port"`
				EndPort  *int   `yaml:"endPort"`
				Protocol string `yaml:"protocol"`
			} `yaml:"ports"`
		} `yaml:"ingress"`
	} `yaml:"spec"`
}

// readAccessLabel is the pod label that networkpolicy.yaml lets in.
const readAccessLabel = "lifecycle.io/read-access"

// TestNetworkPolicy checks that the engine's pods accept connections only
// on the HTTP port and only from selected pods: /v1/users/{id} shows a
// user's spend and activity.
func TestNetworkPolicy(t *testing.T) {
	for _, set := range deploymentSets(t) {
		t.Run(set.name, func(t *testing.T) { checkNetworkPolicy(t, set) })
	}
}

func checkNetworkPolicy(t *testing.T, set k8sSet) {
	var sts statefulSet
	set.one(t, "StatefulSet", &sts)
	podLabels := sts.Spec.Template.Metadata.Labels
	c := mainContainer(t, sts)
	env := containerEnv(t, "StatefulSet "+sts.Metadata.Name, c, set.configMaps(t), set.secrets(t))
	_, httpPortStr, _ := net.SplitHostPort(env["LIFECYCLE_HTTP"])
	httpPort, _ := strconv.Atoi(httpPortStr)

	selecting := 0
	readers := false
	for _, m := range set.ofKind("NetworkPolicy") {
		var np networkPolicy
		m.decode(t, &np)
		where := m.String()
		if got, want := np.APIVersion, "networking.k8s.io/v1"; got != want {
			t.Errorf("%s apiVersion: got %q, want %q", where, got, want)
		}
		// Only the policies that apply to the engine's pods matter; all of
		// them (they add up) must be narrow.
		if len(np.Spec.PodSelector.MatchExpressions) > 0 || !subset(np.Spec.PodSelector.MatchLabels, podLabels) {
			continue
		}
		selecting++
		if len(np.Spec.PolicyTypes) > 0 && !slices.Contains(np.Spec.PolicyTypes, "Ingress") {
			t.Errorf("%s policyTypes: got %v, want Ingress among them", where, np.Spec.PolicyTypes)
		}
		for i, rule := range np.Spec.Ingress {
			if len(rule.From) == 0 {
				t.Errorf("%s ingress[%d]: got no from, want peers (a rule without from admits every source)", where, i)
			}
			for j, peer := range rule.From {
				switch {
				case peer.IPBlock != nil:
					if block, err := netip.ParsePrefix(peer.IPBlock.CIDR); err != nil || block.Bits() == 0 {
						t.Errorf("%s ingress[%d].from[%d] ipBlock: got %q, want a narrower block than the whole address space", where, i, j, peer.IPBlock.CIDR)
					}
				case peer.NamespaceSelector != nil && peer.NamespaceSelector.matchesAll():
					t.Errorf("%s ingress[%d].from[%d]: got namespaceSelector {} (every namespace), want the namespaces named, like kubernetes.io/metadata.name: monitoring", where, i, j)
				case peer.PodSelector.matchesAll() && peer.NamespaceSelector.matchesAll():
					t.Errorf("%s ingress[%d].from[%d]: got a peer selecting every pod, want a label to match", where, i, j)
				}
				if peer.NamespaceSelector == nil && peer.PodSelector != nil && peer.PodSelector.MatchLabels[readAccessLabel] == "true" {
					readers = true
				}
			}
			if len(rule.Ports) == 0 {
				t.Errorf("%s ingress[%d]: got no ports, want the HTTP port only (a rule without ports admits every port)", where, i)
			}
			for _, p := range rule.Ports {
				port, ok := resolvePort(c, p.Port)
				if !ok || port != httpPort || (p.EndPort != nil && *p.EndPort != port) {
					t.Errorf("%s ingress[%d] port %v (endPort %v): got not the HTTP port, want the container's port %d (LIFECYCLE_HTTP %q) only", where, i, p.Port, p.EndPort, httpPort, env["LIFECYCLE_HTTP"])
				}
			}
		}
	}
	if selecting == 0 {
		t.Fatalf("NetworkPolicy: got none selecting the pods %v, want one restricting ingress to the HTTP port (it serves users' data on 0.0.0.0)", podLabels)
	}
	if !readers {
		t.Errorf("NetworkPolicy: got no ingress rule from pods labelled %s: \"true\", want one (the documented way to grant read access)", readAccessLabel)
	}
}

// TestHTTPToken checks that the Kubernetes read side requires the bearer
// token and that the token comes from a mounted Secret.
func TestHTTPToken(t *testing.T) {
	for _, set := range deploymentSets(t) {
		t.Run(set.name, func(t *testing.T) { checkHTTPToken(t, set) })
	}
}

func checkHTTPToken(t *testing.T, set k8sSet) {
	var sts statefulSet
	set.one(t, "StatefulSet", &sts)
	c := mainContainer(t, sts)
	where := "StatefulSet " + sts.Metadata.Name
	env := containerEnv(t, where, c, set.configMaps(t), set.secrets(t))
	if !knownFlags(t)["http-token-file"] {
		t.Fatalf("flag --http-token-file: got not defined in %s, want it (the read side's bearer token)", cmdDir)
	}
	file := env["LIFECYCLE_HTTP_TOKEN_FILE"]
	if file == "" {
		t.Fatalf("%s: got no LIFECYCLE_HTTP_TOKEN_FILE, want the read side (on 0.0.0.0) to require a bearer token", where)
	}
	dir := path.Dir(file)
	fromSecret := false
	for _, vm := range c.VolumeMounts {
		if vm.MountPath != dir {
			continue
		}
		for _, v := range sts.Spec.Template.Spec.Volumes {
			if v.Name == vm.Name && v.Secret != nil {
				fromSecret = true
				if !vm.ReadOnly {
					t.Errorf("%s volumeMount %s: got readOnly false, want true", where, vm.Name)
				}
			}
		}
	}
	if !fromSecret {
		t.Errorf("%s LIFECYCLE_HTTP_TOKEN_FILE %s: got no Secret volume mounted at %s, want the token from a Secret", where, file, dir)
	}
	// The token must not be in a ConfigMap or in the environment.
	for name, cm := range set.configMaps(t) {
		for _, k := range []string{"LIFECYCLE_HTTP_TOKEN", "token"} {
			if _, ok := cm.Data[k]; ok {
				t.Errorf("ConfigMap %s: got key %s, want the token only in a Secret", name, k)
			}
		}
	}
}
