// Package deploy_test checks the deployment files against each other and
// against the binary: the Kubernetes manifests in k8s/, docker-compose.yml
// at the repository root, deploy/Dockerfile and .dockerignore. Nothing is
// built or started; the checks are on the files only, so they run anywhere
// `go test` does.
//
// Flag names are read from the source of cmd/lifecycle, so a renamed or
// removed flag fails here rather than silently in a pod.
package deploy_test

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"gopkg.in/yaml.v3"
)

const (
	k8sDir           = "k8s"
	composeFile      = "../docker-compose.yml"
	dockerfile       = "Dockerfile"
	dockerignoreFile = "../.dockerignore"
	cmdDir           = "../cmd/lifecycle"
	repoRoot         = ".."
)

// ---------------------------------------------------------------------------
// Flags of the binary.

// flagCall matches the flag definitions in cmd/lifecycle: fs.String("name", …),
// fs.Int, fs.Bool, fs.Float64, fs.Int64 and the package's own fs.duration.
var flagCall = regexp.MustCompile(`\bfs\.(String|Int|Int64|Uint|Uint64|Bool|Float64|Duration|duration)\(\s*"([a-z0-9][a-z0-9-]*)"`)

// comingSoon are flags documented for deployments that may not be defined in
// cmd/lifecycle yet (they were being added while these manifests were
// written). They are accepted as if defined. Once all of them exist (the
// test logs which do), drop this list so every name is checked for real.
var comingSoon = []string{
	"http",
	"tls", "tls-ca-file", "tls-cert-file", "tls-key-file", "tls-server-name",
	"sasl-mechanism", "sasl-username", "sasl-password-file",
	"sasl-password", // LIFECYCLE_SASL_PASSWORD is accepted too
}

var logComingSoon sync.Once

// envName is cmd/lifecycle's mapping of a flag to its environment variable.
func envName(flag string) string {
	return "LIFECYCLE_" + strings.ToUpper(strings.ReplaceAll(flag, "-", "_"))
}

// knownFlags returns the flag names defined in cmd/lifecycle (any
// subcommand) plus the coming-soon allow-list.
func knownFlags(t *testing.T) map[string]bool {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(cmdDir, "*.go"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no Go files in %s (err %v)", cmdDir, err)
	}
	defined := map[string]bool{}
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		src, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range flagCall.FindAllStringSubmatch(string(src), -1) {
			defined[m[2]] = true
		}
	}
	// The regexp must still find the flags every deployment uses; if it
	// finds none of them the flag code has changed shape, not the flags.
	for _, must := range []string{"brokers", "group", "state-dir", "partitions", "create-topics", "log-format"} {
		if !defined[must] {
			t.Fatalf("flag --%s not found in %s/*.go by %v: update the regexp of this test to how flags are defined now", must, cmdDir, flagCall)
		}
	}
	known := map[string]bool{}
	for f := range defined {
		known[f] = true
	}
	var nowDefined []string
	for _, f := range comingSoon {
		if defined[f] {
			nowDefined = append(nowDefined, f)
		}
		known[f] = true
	}
	if len(nowDefined) == len(comingSoon) {
		logComingSoon.Do(func() {
			t.Logf("all coming-soon flags are defined now (%s): the comingSoon allow-list can be removed", strings.Join(nowDefined, ", "))
		})
	}
	return known
}

// envFlags maps each LIFECYCLE_* variable of a known flag to the flag.
func envFlags(known map[string]bool) map[string]string {
	m := map[string]string{}
	for f := range known {
		m[envName(f)] = f
	}
	return m
}

// checkEnvNames fails for every LIFECYCLE_* name that is no flag's variable.
func checkEnvNames(t *testing.T, where string, names []string, known map[string]bool) {
	t.Helper()
	byEnv := envFlags(known)
	for _, n := range names {
		if !strings.HasPrefix(n, "LIFECYCLE_") {
			continue
		}
		if _, ok := byEnv[n]; !ok {
			t.Errorf("%s: environment variable %s: got no flag --%s in %s, want a defined flag (typo, or a flag that was renamed?)",
				where, n, strings.ReplaceAll(strings.ToLower(strings.TrimPrefix(n, "LIFECYCLE_")), "_", "-"), cmdDir)
		}
	}
}

// checkArgFlags fails for every --flag in a command line that is no flag.
func checkArgFlags(t *testing.T, where string, args []string, known map[string]bool) {
	t.Helper()
	for _, a := range args {
		if !strings.HasPrefix(a, "-") || a == "-" {
			continue
		}
		name := strings.TrimLeft(a, "-")
		name, _, _ = strings.Cut(name, "=")
		if !known[name] {
			t.Errorf("%s: argument %q: got no flag --%s in %s, want a defined flag", where, a, name, cmdDir)
		}
	}
}

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

// manifest is one YAML document of a file in k8s/.
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

// readYAMLDocs decodes every document of a (multi-document) YAML file,
// skipping empty ones (a leading or trailing ---).
func readYAMLDocs(file string) ([]*yaml.Node, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	dec := yaml.NewDecoder(bytes.NewReader(b))
	var docs []*yaml.Node
	for {
		var n yaml.Node
		err := dec.Decode(&n)
		if errors.Is(err, io.EOF) {
			return docs, nil
		}
		if err != nil {
			return nil, fmt.Errorf("%s: document %d: %w", file, len(docs)+1, err)
		}
		if len(n.Content) == 0 || n.Content[0].Tag == "!!null" {
			continue
		}
		docs = append(docs, &n)
	}
}

type k8sSet struct {
	files     []string // base names of the YAML files in k8s/
	manifests []manifest
}

func loadK8s(t *testing.T) k8sSet {
	t.Helper()
	var set k8sSet
	entries, err := os.ReadDir(k8sDir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if e.IsDir() || !(strings.HasSuffix(e.Name(), ".yaml") || strings.HasSuffix(e.Name(), ".yml")) {
			continue
		}
		set.files = append(set.files, e.Name())
		docs, err := readYAMLDocs(filepath.Join(k8sDir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if len(docs) == 0 {
			t.Errorf("%s: got no YAML documents, want at least one", e.Name())
		}
		for i, d := range docs {
			m := manifest{file: e.Name(), node: d}
			if err := d.Decode(&m.header); err != nil {
				t.Fatalf("%s: document %d: %v", e.Name(), i+1, err)
			}
			if m.APIVersion == "" || m.Kind == "" {
				t.Errorf("%s: document %d: got apiVersion %q kind %q, want both set", e.Name(), i+1, m.APIVersion, m.Kind)
			}
			if m.Kind != "Kustomization" && m.Metadata.Name == "" {
				t.Errorf("%s: document %d (%s): got no metadata.name, want one", e.Name(), i+1, m.Kind)
			}
			set.manifests = append(set.manifests, m)
		}
	}
	if len(set.manifests) == 0 {
		t.Fatalf("no manifests in %s", k8sDir)
	}
	return set
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
		t.Fatalf("%s objects in %s: got %d, want 1", kind, k8sDir, len(ms))
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
				t.Errorf("%s: envFrom configMapRef %q: got no such ConfigMap in %s, want it defined", where, ef.ConfigMapRef.Name, k8sDir)
				continue
			}
			for k, v := range cm.Data {
				env[ef.Prefix+k] = v
			}
		case ef.SecretRef != nil:
			kv, ok := secs[ef.SecretRef.Name]
			if !ok {
				t.Errorf("%s: envFrom secretRef %q: got no such Secret in %s, want it defined", where, ef.SecretRef.Name, k8sDir)
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
	sort.Strings(got)
	sort.Strings(want)
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
	set := loadK8s(t)
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
		t.Fatalf("%s serviceName: got %q, want the name of a Service in %s", where, spec.ServiceName, k8sDir)
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
	host, portStr, found := strings.Cut(httpAddr, ":")
	if !found || (host != "0.0.0.0" && host != "" && host != "[::]") {
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
				t.Errorf("%s volume %s: Secret %q: got no such Secret in %s, want it defined", where, v.Name, v.Secret.SecretName, k8sDir)
			}
			for _, it := range v.Secret.Items {
				if _, ok := kv[it.Key]; ok || kv == nil {
					continue
				}
				t.Errorf("%s volume %s: Secret %s has no key %q", where, v.Name, v.Secret.SecretName, it.Key)
			}
		case v.ConfigMap != nil:
			if _, ok := cms[v.ConfigMap.Name]; !ok {
				t.Errorf("%s volume %s: ConfigMap %q: got no such ConfigMap in %s, want it defined", where, v.Name, v.ConfigMap.Name, k8sDir)
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

	// Files named by LIFECYCLE_*_FILE variables are in mounted Secrets.
	for name, p := range env {
		if !strings.HasPrefix(name, "LIFECYCLE_") || !strings.HasSuffix(name, "_FILE") || p == "" {
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
	names := make([]string, 0, len(env))
	for n := range env {
		names = append(names, n)
	}
	sort.Strings(names)
	checkEnvNames(t, where+" container "+c.Name, names, known)
	checkArgFlags(t, where+" container "+c.Name+" args", c.Args, known)
	if len(c.Args) > 0 && c.Args[0] != "run" && len(c.Command) == 0 {
		t.Errorf("%s container %s args[0]: got %q, want %q (the image's entrypoint is /lifecycle)", where, c.Name, c.Args[0], "run")
	}
}

func TestConfigMapsAndSecrets(t *testing.T) {
	set := loadK8s(t)
	known := knownFlags(t)
	for name, cm := range set.configMaps(t) {
		var keys []string
		for k := range cm.Data {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		checkEnvNames(t, "ConfigMap "+name, keys, known)
		// Settings that must stay out of ConfigMaps.
		for _, k := range keys {
			if k == "LIFECYCLE_SASL_PASSWORD" {
				t.Errorf("ConfigMap %s: got %s, want the password in a Secret (mounted as a file)", name, k)
			}
		}
	}
	for name, kv := range set.secrets(t) {
		var keys []string
		for k := range kv {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		checkEnvNames(t, "Secret "+name, keys, known)
	}
}

func TestPodDisruptionBudget(t *testing.T) {
	set := loadK8s(t)
	var sts statefulSet
	set.one(t, "StatefulSet", &sts)
	var p pdb
	set.one(t, "PodDisruptionBudget", &p)
	if got, want := p.APIVersion, "policy/v1"; got != want {
		t.Errorf("PodDisruptionBudget apiVersion: got %q, want %q", got, want)
	}
	if got, want := fmt.Sprint(p.Spec.MaxUnavailable), "1"; got != want {
		t.Errorf("PodDisruptionBudget maxUnavailable: got %s, want %s", got, want)
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
	set := loadK8s(t)
	var sts statefulSet
	set.one(t, "StatefulSet", &sts)
	podLabels := sts.Spec.Template.Metadata.Labels
	c := mainContainer(t, sts)
	env := containerEnv(t, "StatefulSet "+sts.Metadata.Name, c, set.configMaps(t), set.secrets(t))
	_, httpPortStr, _ := strings.Cut(env["LIFECYCLE_HTTP"], ":")
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
					if _, bits, ok := strings.Cut(peer.IPBlock.CIDR, "/"); !ok || bits == "0" {
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
	set := loadK8s(t)
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

// ---------------------------------------------------------------------------
// docker-compose.yml

type composeService struct {
	Image       string   `yaml:"image"`
	Build       any      `yaml:"build"`
	Command     any      `yaml:"command"`
	Entrypoint  any      `yaml:"entrypoint"`
	Environment any      `yaml:"environment"`
	Volumes     []any    `yaml:"volumes"`
	Ports       []any    `yaml:"ports"`
	DependsOn   any      `yaml:"depends_on"`
	Profiles    []string `yaml:"profiles"`
	StopGrace   string   `yaml:"stop_grace_period"`
	Healthcheck *struct {
		Test any `yaml:"test"`
	} `yaml:"healthcheck"`
}

type compose struct {
	Services map[string]composeService `yaml:"services"`
	Volumes  map[string]any            `yaml:"volumes"`
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

// composeEnv normalizes environment: a map or a list of KEY=VALUE.
func composeEnv(t *testing.T, svc string, v any) map[string]string {
	t.Helper()
	out := map[string]string{}
	switch e := v.(type) {
	case nil:
	case map[string]any:
		for k, val := range e {
			if val == nil {
				out[k] = ""
			} else {
				out[k] = fmt.Sprint(val)
			}
		}
	case []any:
		for _, item := range e {
			k, val, _ := strings.Cut(fmt.Sprint(item), "=")
			out[k] = val
		}
	default:
		t.Errorf("service %s environment: got %T, want a map or a list", svc, v)
	}
	return out
}

// composeList normalizes command: a list, or a string split on blanks.
func composeList(v any) []string {
	switch c := v.(type) {
	case string:
		return strings.Fields(c)
	case []any:
		out := make([]string, len(c))
		for i, x := range c {
			out[i] = fmt.Sprint(x)
		}
		return out
	}
	return nil
}

type composeMount struct{ source, target string }

func composeMounts(vs []any) []composeMount {
	var out []composeMount
	for _, v := range vs {
		switch m := v.(type) {
		case string:
			parts := strings.Split(m, ":")
			if len(parts) >= 2 {
				out = append(out, composeMount{parts[0], parts[1]})
			} else {
				out = append(out, composeMount{"", parts[0]})
			}
		case map[string]any:
			out = append(out, composeMount{fmt.Sprint(m["source"]), fmt.Sprint(m["target"])})
		}
	}
	return out
}

// composeBuild returns the build context and Dockerfile path (relative to
// the compose file).
func composeBuild(v any) (context, dockerfile string, ok bool) {
	switch b := v.(type) {
	case string:
		return b, "Dockerfile", true
	case map[string]any:
		context, _ = b["context"].(string)
		if context == "" {
			context = "."
		}
		dockerfile, _ = b["dockerfile"].(string)
		if dockerfile == "" {
			dockerfile = "Dockerfile"
		}
		return context, dockerfile, true
	}
	return "", "", false
}

// dependsOnHealthy reports whether svc waits for dep to be healthy.
func dependsOnHealthy(v any, dep string) (listed, healthy bool) {
	switch d := v.(type) {
	case []any:
		for _, x := range d {
			if fmt.Sprint(x) == dep {
				return true, false
			}
		}
	case map[string]any:
		if m, ok := d[dep].(map[string]any); ok {
			return true, m["condition"] == "service_healthy"
		}
		if _, ok := d[dep]; ok {
			return true, false
		}
	}
	return false, false
}

// composePort splits a port entry (short syntax
// "[HOST_IP:][HOST_PORT:]CONTAINER_PORT[/PROTO]" or the long syntax's map)
// into the host IP ("" for all interfaces), published and target port.
func composePort(p any) (hostIP, published, target string) {
	if m, ok := p.(map[string]any); ok {
		str := func(k string) string {
			if m[k] == nil {
				return ""
			}
			return fmt.Sprint(m[k])
		}
		return str("host_ip"), str("published"), str("target")
	}
	s, _, _ := strings.Cut(fmt.Sprint(p), "/")
	if rest, ok := strings.CutPrefix(s, "["); ok { // [::1]:8080:8080
		if ip, ports, ok := strings.Cut(rest, "]:"); ok {
			published, target, _ = strings.Cut(ports, ":")
			return ip, published, target
		}
	}
	parts := strings.Split(s, ":")
	switch len(parts) {
	case 1:
		return "", "", parts[0]
	case 2:
		return "", parts[0], parts[1]
	default:
		return strings.Join(parts[:len(parts)-2], ":"), parts[len(parts)-2], parts[len(parts)-1]
	}
}

func TestComposePort(t *testing.T) {
	for _, tc := range []struct {
		in                    any
		ip, published, target string
	}{
		{"8080", "", "", "8080"},
		{"8080:8080", "", "8080", "8080"},
		{"127.0.0.1:8080:8080", "127.0.0.1", "8080", "8080"},
		{"127.0.0.1:9000:8080/tcp", "127.0.0.1", "9000", "8080"},
		{"[::1]:8080:8080", "::1", "8080", "8080"},
		{map[string]any{"target": 8080, "published": "8080", "host_ip": "127.0.0.1"}, "127.0.0.1", "8080", "8080"},
		{map[string]any{"target": 8080}, "", "", "8080"},
	} {
		ip, pub, tgt := composePort(tc.in)
		if ip != tc.ip || pub != tc.published || tgt != tc.target {
			t.Errorf("composePort(%v) = %q %q %q, want %q %q %q", tc.in, ip, pub, tgt, tc.ip, tc.published, tc.target)
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
	kenv := composeEnv(t, "kafka", kafka.Environment)
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
	if kafka.Healthcheck == nil || !strings.Contains(strings.Join(composeList(kafka.Healthcheck.Test), " "), "/opt/kafka/bin/kafka-broker-api-versions.sh") {
		t.Errorf("service kafka healthcheck: got %v, want a test running /opt/kafka/bin/kafka-broker-api-versions.sh", kafka.Healthcheck)
	}
	if dir := kenv["KAFKA_LOG_DIRS"]; dir != "" {
		mounted := false
		for _, m := range composeMounts(kafka.Volumes) {
			mounted = mounted || m.target == dir
		}
		if !mounted {
			t.Errorf("service kafka: got no volume at KAFKA_LOG_DIRS %s, want the data on a named volume", dir)
		}
	}

	// The engine.
	lc := c.service(t, "lifecycle")
	ctx, dfPath, ok := composeBuild(lc.Build)
	if !ok {
		t.Fatalf("service lifecycle build: got %v, want a build context and dockerfile", lc.Build)
	}
	ctxDir := filepath.Join(filepath.Dir(composeFile), ctx)
	if fi, err := os.Stat(ctxDir); err != nil || !fi.IsDir() {
		t.Errorf("service lifecycle build context %q: got %v, want an existing directory", ctx, err)
	}
	if _, err := os.Stat(filepath.Join(ctxDir, "go.mod")); err != nil {
		t.Errorf("service lifecycle build context %q: got no go.mod (%v), want the repository root", ctx, err)
	}
	got, _ := filepath.Abs(filepath.Join(ctxDir, dfPath))
	want, _ := filepath.Abs(dockerfile)
	if got != want {
		t.Errorf("service lifecycle build dockerfile: got %s, want %s (the Dockerfile this test checks)", got, want)
	}
	if _, err := os.Stat(got); err != nil {
		t.Errorf("service lifecycle build dockerfile: %v", err)
	}
	cmd := composeList(lc.Command)
	if len(cmd) == 0 || cmd[0] != "run" {
		t.Errorf("service lifecycle command: got %v, want run …", cmd)
	}
	checkArgFlags(t, "service lifecycle command", cmd, known)
	lenv := composeEnv(t, "lifecycle", lc.Environment)
	stateDir := lenv["LIFECYCLE_STATE_DIR"]
	if stateDir == "" {
		stateDir = df.env["LIFECYCLE_STATE_DIR"]
	}
	if stateDir == "" {
		t.Errorf("service lifecycle: got no LIFECYCLE_STATE_DIR (compose or Dockerfile), want one")
	}
	var stateVol string
	for _, m := range composeMounts(lc.Volumes) {
		if m.target == stateDir {
			stateVol = m.source
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
		s := fmt.Sprint(p)
		if m, ok := p.(map[string]any); ok {
			s = fmt.Sprint(m["target"])
		}
		s, _, _ = strings.Cut(s, "/")
		parts := strings.Split(s, ":")
		published = published || parts[len(parts)-1] == httpPort
	}
	if !published {
		t.Errorf("service lifecycle ports: got %v, want the HTTP port %s published", lc.Ports, httpPort)
	}
	// ...on the host's loopback only: the stack sets no token, and
	// /v1/users/{id} shows users' spend and activity.
	for _, p := range lc.Ports {
		ip, _, _ := composePort(p)
		if parsed := net.ParseIP(ip); parsed == nil || !parsed.IsLoopback() {
			t.Errorf("service lifecycle port %v: got host IP %q (all interfaces if empty), want 127.0.0.1, like \"127.0.0.1:8080:8080\"", p, ip)
		}
	}
	if listed, healthy := dependsOnHealthy(lc.DependsOn, "kafka"); !listed || !healthy {
		t.Errorf("service lifecycle depends_on kafka: got listed=%v healthy=%v, want condition service_healthy", listed, healthy)
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
	scmd := composeList(sim.Command)
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
	if listed, healthy := dependsOnHealthy(sim.DependsOn, "kafka"); !listed || !healthy {
		t.Errorf("service simulator depends_on kafka: got listed=%v healthy=%v, want condition service_healthy", listed, healthy)
	}

	// Named volumes are declared; LIFECYCLE_* names are flags.
	for name, svc := range c.Services {
		for _, m := range composeMounts(svc.Volumes) {
			if m.source == "" || strings.ContainsAny(m.source[:1], "./~$") {
				continue
			}
			if _, ok := c.Volumes[m.source]; !ok {
				t.Errorf("service %s volume %q: got not declared under top-level volumes, want declared", name, m.source)
			}
		}
		env := composeEnv(t, name, svc.Environment)
		var names []string
		for k := range env {
			names = append(names, k)
		}
		sort.Strings(names)
		checkEnvNames(t, "service "+name, names, known)
	}
}

// ---------------------------------------------------------------------------
// Dockerfile

type instruction struct {
	cmd  string // upper case
	args string
	line int
}

type dockerFile struct {
	stages [][]instruction // instructions per stage, from FROM
	args   map[string]string
	env    map[string]string // ENV of the final stage
}

func loadDockerfile(t *testing.T) dockerFile {
	t.Helper()
	f, err := os.Open(dockerfile)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var ins []instruction
	var cur strings.Builder
	start := 0
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if strings.HasPrefix(line, "#") || (line == "" && cur.Len() == 0) {
			continue
		}
		if cur.Len() == 0 {
			start = n
		}
		if l, ok := strings.CutSuffix(line, `\`); ok {
			cur.WriteString(l + " ")
			continue
		}
		cur.WriteString(line)
		cmd, args, _ := strings.Cut(strings.TrimSpace(cur.String()), " ")
		ins = append(ins, instruction{strings.ToUpper(cmd), strings.TrimSpace(args), start})
		cur.Reset()
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	df := dockerFile{args: map[string]string{}, env: map[string]string{}}
	for _, in := range ins {
		switch {
		case in.cmd == "FROM":
			df.stages = append(df.stages, []instruction{in})
		case len(df.stages) == 0:
			if in.cmd == "ARG" {
				k, v, _ := strings.Cut(in.args, "=")
				df.args[k] = strings.Trim(v, `"`)
			}
		default:
			df.stages[len(df.stages)-1] = append(df.stages[len(df.stages)-1], in)
		}
	}
	if len(df.stages) > 0 {
		for _, in := range df.stages[len(df.stages)-1] {
			if in.cmd == "ENV" {
				maps.Copy(df.env, parseEnv(in.args))
			}
		}
	}
	return df
}

// parseEnv parses ENV arguments: K=V pairs (values optionally quoted) or
// the legacy "K V" form.
func parseEnv(s string) map[string]string {
	out := map[string]string{}
	fields := strings.Fields(s)
	if len(fields) == 0 {
		return out
	}
	if !strings.Contains(fields[0], "=") {
		k, v, _ := strings.Cut(s, " ")
		out[k] = strings.TrimSpace(v)
		return out
	}
	for _, f := range fields {
		k, v, _ := strings.Cut(f, "=")
		out[k] = strings.Trim(v, `"'`)
	}
	return out
}

func (df dockerFile) expand(s string) string {
	return os.Expand(s, func(k string) string { return df.args[k] })
}

// fromImage returns the image of a FROM instruction, ARGs expanded.
func (df dockerFile) fromImage(stage int) string {
	fs := strings.Fields(df.stages[stage][0].args)
	for _, f := range fs {
		if !strings.HasPrefix(f, "--") {
			return df.expand(f)
		}
	}
	return ""
}

func find(stage []instruction, cmd, contains string) int {
	for i, in := range stage {
		if in.cmd == cmd && strings.Contains(in.args, contains) {
			return i
		}
	}
	return -1
}

func TestDockerfile(t *testing.T) {
	df := loadDockerfile(t)
	known := knownFlags(t)
	if len(df.stages) < 2 {
		t.Fatalf("%s FROM stages: got %d, want >= 2 (build and final)", dockerfile, len(df.stages))
	}
	build, final := df.stages[0], df.stages[len(df.stages)-1]

	// Build stage: the Go of go.mod, modules in their own layer, static build.
	gomod, err := os.ReadFile(filepath.Join(repoRoot, "go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^go (\d+\.\d+)`).FindSubmatch(gomod)
	if m == nil {
		t.Fatal("go.mod: no go line")
	}
	if got, want := df.fromImage(0), "golang:"+string(m[1]); !strings.HasPrefix(got, want) {
		t.Errorf("build stage image: got %q, want %s… (go.mod's go %s)", got, want, m[1])
	}
	copyMod := find(build, "COPY", "go.mod")
	download := find(build, "RUN", "go mod download")
	copyAll := find(build, "COPY", ". .")
	if copyMod < 0 || download < 0 || copyAll < 0 || !(copyMod < download && download < copyAll) {
		t.Errorf("build stage order: got COPY go.mod at %d, RUN go mod download at %d, COPY . . at %d; want them in that order (modules cached in their own layer)", copyMod, download, copyAll)
	}
	if copyMod >= 0 && !strings.Contains(build[copyMod].args, "go.sum") {
		t.Errorf("build stage: got %q, want go.sum copied with go.mod", build[copyMod].args)
	}
	goBuild := find(build, "RUN", "go build")
	if goBuild < 0 {
		t.Fatal("build stage: got no RUN go build, want one")
	}
	cgoOff := strings.Contains(build[goBuild].args, "CGO_ENABLED=0") || find(build, "ENV", "CGO_ENABLED=0") >= 0
	if !cgoOff {
		t.Errorf("build stage: got no CGO_ENABLED=0, want a static binary for the distroless static image")
	}
	for _, want := range []string{"-trimpath", "-X main.version=", "./cmd/lifecycle"} {
		if !strings.Contains(build[goBuild].args, want) {
			t.Errorf("build stage go build: got %q, want %s in it", build[goBuild].args, want)
		}
	}
	// -X main.version needs the variable.
	if src, err := os.ReadFile(filepath.Join(cmdDir, "version.go")); err != nil || !regexp.MustCompile(`(?m)^var version\b`).Match(src) {
		t.Errorf("%s/version.go: got no package-level var version (%v), want it for -X main.version", cmdDir, err)
	}

	// Final stage: distroless static, non-root.
	img := df.fromImage(len(df.stages) - 1)
	if !strings.HasPrefix(img, "gcr.io/distroless/static") {
		t.Errorf("final stage image: got %q, want gcr.io/distroless/static…", img)
	}
	nonRootImage := strings.Contains(img, ":nonroot")
	user := find(final, "USER", "")
	nonRootUser := user >= 0 && (strings.HasPrefix(final[user].args, "65532") || strings.HasPrefix(final[user].args, "nonroot"))
	if !nonRootImage && !nonRootUser {
		t.Errorf("final stage: got image %q and no USER 65532/nonroot, want a non-root user", img)
	}
	if user >= 0 && !nonRootUser {
		t.Errorf("final stage USER: got %q, want 65532 or nonroot", final[user].args)
	}
	ep := find(final, "ENTRYPOINT", "")
	if ep < 0 {
		t.Fatal("final stage: got no ENTRYPOINT, want [\"/lifecycle\"]")
	}
	var entry []string
	if err := json.Unmarshal([]byte(final[ep].args), &entry); err != nil || len(entry) == 0 {
		t.Errorf("final stage ENTRYPOINT: got %s, want the exec (JSON) form, so SIGTERM reaches the binary", final[ep].args)
	} else if find(final, "COPY", " "+entry[0]) < 0 {
		t.Errorf("final stage ENTRYPOINT %s: got no COPY to %s, want the binary copied there", entry[0], entry[0])
	}
	if c := find(final, "CMD", ""); c < 0 || !strings.Contains(final[c].args, `"run"`) {
		t.Errorf("final stage CMD: got %v, want [\"run\"]", c)
	}

	// Defaults for run, and the state directory owned by nonroot.
	stateDir := df.env["LIFECYCLE_STATE_DIR"]
	if stateDir == "" {
		t.Errorf("final stage: got no ENV LIFECYCLE_STATE_DIR, want the state volume's path")
	} else if find(final, "COPY", "--chown=65532:65532") < 0 || !strings.HasSuffix(final[find(final, "COPY", "--chown=65532:65532")].args, " "+stateDir) {
		t.Errorf("final stage: got no COPY --chown=65532:65532 … %s, want the state directory created owned by nonroot (distroless has no shell for mkdir/chown)", stateDir)
	}
	if got, want := df.env["LIFECYCLE_HTTP"], "0.0.0.0:8080"; got != want {
		t.Errorf("final stage ENV LIFECYCLE_HTTP: got %q, want %q", got, want)
	}
	if e := find(final, "EXPOSE", "8080"); e < 0 {
		t.Errorf("final stage: got no EXPOSE 8080, want it")
	}
	for _, label := range []string{"org.opencontainers.image.title", "org.opencontainers.image.source", "org.opencontainers.image.version"} {
		if find(final, "LABEL", label+"=") < 0 {
			t.Errorf("final stage: got no LABEL %s, want the OCI labels", label)
		}
	}
	var names []string
	for k := range df.env {
		names = append(names, k)
	}
	sort.Strings(names)
	checkEnvNames(t, dockerfile+" ENV", names, known)

	// The same state path everywhere.
	set := loadK8s(t)
	for name, cm := range set.configMaps(t) {
		if v, ok := cm.Data["LIFECYCLE_STATE_DIR"]; ok && v != stateDir {
			t.Errorf("ConfigMap %s LIFECYCLE_STATE_DIR: got %q, want %q (the image's)", name, v, stateDir)
		}
	}
	c := loadCompose(t)
	if v, ok := composeEnv(t, "lifecycle", c.service(t, "lifecycle").Environment)["LIFECYCLE_STATE_DIR"]; ok && v != stateDir {
		t.Errorf("compose service lifecycle LIFECYCLE_STATE_DIR: got %q, want %q (the image's)", v, stateDir)
	}
}

// ---------------------------------------------------------------------------
// .dockerignore

// ignorePatterns reads .dockerignore: patterns in order, "!" for exceptions.
func ignorePatterns(t *testing.T) []string {
	t.Helper()
	b, err := os.ReadFile(dockerignoreFile)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, l := range strings.Split(string(b), "\n") {
		l = strings.TrimSpace(l)
		if l == "" || strings.HasPrefix(l, "#") {
			continue
		}
		out = append(out, l)
	}
	return out
}

// matchIgnore reports whether pattern (Docker's syntax, simplified: * ? []
// within a name, leading / ignored, **/ for any depth) matches rel or a
// directory above it.
func matchIgnore(pattern, rel string) bool {
	pattern = strings.TrimPrefix(path.Clean(strings.TrimPrefix(pattern, "/")), "/")
	parts := strings.Split(rel, "/")
	for i := 1; i <= len(parts); i++ { // rel and each of its parents
		p := strings.Join(parts[:i], "/")
		if rest, ok := strings.CutPrefix(pattern, "**/"); ok {
			for j := 0; j < i; j++ {
				if ok, _ := path.Match(rest, strings.Join(parts[j:i], "/")); ok {
					return true
				}
			}
			continue
		}
		if ok, _ := path.Match(pattern, p); ok {
			return true
		}
	}
	return false
}

func ignored(patterns []string, rel string) bool {
	ig := false
	for _, p := range patterns {
		if neg, ok := strings.CutPrefix(p, "!"); ok {
			if matchIgnore(neg, rel) {
				ig = false
			}
			continue
		}
		if matchIgnore(p, rel) {
			ig = true
		}
	}
	return ig
}

func TestDockerignore(t *testing.T) {
	patterns := ignorePatterns(t)
	for _, want := range []string{".git", "*.test"} {
		found := false
		for _, p := range patterns {
			found = found || strings.TrimPrefix(strings.TrimPrefix(p, "/"), "**/") == want
		}
		if !found {
			t.Errorf(".dockerignore: got no %s, want it excluded", want)
		}
	}
	for _, rel := range []string{".git", "lifecycle.test", "processor/processor.test"} {
		if !ignored(patterns, rel) {
			t.Errorf(".dockerignore: got %s in the build context, want it excluded", rel)
		}
	}

	// Everything the build needs stays in the context: go.mod, go.sum, the
	// non-test Go files and the files they embed.
	need := []string{"go.mod", "go.sum"}
	embed := regexp.MustCompile(`(?m)^//go:embed (.+)$`)
	err := filepath.WalkDir(repoRoot, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(repoRoot, p)
		rel = filepath.ToSlash(rel)
		if d.IsDir() {
			if rel != "." && (strings.HasPrefix(d.Name(), ".") || d.Name() == "testdata") {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(rel, ".go") || strings.HasSuffix(rel, "_test.go") {
			return nil
		}
		need = append(need, rel)
		src, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		for _, m := range embed.FindAllStringSubmatch(string(src), -1) {
			for _, pat := range strings.Fields(m[1]) {
				files, _ := filepath.Glob(filepath.Join(filepath.Dir(p), pat))
				for _, f := range files {
					r, _ := filepath.Rel(repoRoot, f)
					need = append(need, filepath.ToSlash(r))
				}
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, rel := range need {
		if ignored(patterns, rel) {
			t.Errorf(".dockerignore: got %s excluded from the build context, want it kept (the build needs it)", rel)
		}
	}
}
