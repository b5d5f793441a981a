// Package deploy_test checks the deployment files against each other and
// against the binary: the Kubernetes manifests in k8s/, docker-compose.yml
// at the repository root, deploy/Dockerfile and .dockerignore, and the
// monitoring files. Nothing is built or started; the checks are on the
// files only, so they run anywhere `go test` does.
//
// Flag names are read from the source of cmd/lifecycle, so a renamed or
// removed flag fails here rather than silently in a pod.
//
// This file has what the others share: the binary's flags and the YAML
// reader (gopkg.in/yaml.v3). k8s_test.go checks k8s/, compose_test.go
// docker-compose.yml, dockerfile_test.go the Dockerfile (with BuildKit's
// parser) and .dockerignore, monitoring_test.go prometheus/ and grafana/
// (with promtool, where it is installed).
//
// deploy/ is a Go module of its own (deploy/go.mod), so that these test-only
// dependencies (yaml.v3, github.com/moby/buildkit) stay out of the binary's
// module graph. It does not import the main module; it reads its files.
// Run it with `cd deploy && go test ./...` (the root's `go test ./...` does
// not include it).
package deploy_test

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"

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

// readYAMLDocs decodes every document of a (multi-document) YAML file,
// skipping empty ones (a leading or trailing ---).
func readYAMLDocs(file string) ([]*yaml.Node, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	return decodeYAMLDocs(file, b)
}

// decodeYAMLDocs decodes every document of the YAML text b, from file.
func decodeYAMLDocs(file string, b []byte) ([]*yaml.Node, error) {
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
