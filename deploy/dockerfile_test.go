package deploy_test

import (
	"encoding/json"
	"maps"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// ---------------------------------------------------------------------------
// Dockerfile
//
// Split into instructions by splitDockerfile, not by BuildKit's parser
// (github.com/moby/buildkit/frontend/dockerfile/parser): that package comes
// only with the whole github.com/moby/buildkit module, which adds about 190
// modules to this one's graph and raises prometheus/client_golang, x/sys,
// x/text and protobuf for the binary too. The checks need only instructions
// and their arguments.

type instruction struct {
	cmd  string // upper case
	args string // line continuations joined
	line int    // of the first line
}

// splitDockerfile splits a Dockerfile into instructions: comment lines
// (parser directives included) and blank lines are dropped, and a line
// ending in a backslash continues on the next. Heredocs and the escape
// directive are not supported; deploy/Dockerfile uses neither.
func splitDockerfile(src string) []instruction {
	var out []instruction
	var cur []string
	start := 0
	for i, line := range strings.Split(src, "\n") {
		line = strings.TrimSpace(line)
		if strings.HasPrefix(line, "#") || (line == "" && len(cur) == 0) {
			continue
		}
		if len(cur) == 0 {
			start = i + 1
		}
		l, more := strings.CutSuffix(line, `\`)
		if cur = append(cur, strings.TrimSpace(l)); more {
			continue
		}
		cmd, args, _ := strings.Cut(strings.Join(cur, " "), " ")
		out = append(out, instruction{strings.ToUpper(cmd), strings.TrimSpace(args), start})
		cur = nil
	}
	return out
}

type dockerFile struct {
	stages [][]instruction   // instructions per stage, from FROM
	args   map[string]string // ARGs before the first FROM
	env    map[string]string // ENV of the final stage
}

func loadDockerfile(t *testing.T) dockerFile {
	t.Helper()
	src, err := os.ReadFile(dockerfile)
	if err != nil {
		t.Fatal(err)
	}
	df := dockerFile{args: map[string]string{}, env: map[string]string{}}
	for _, in := range splitDockerfile(string(src)) {
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
	if len(df.stages) == 0 {
		return df
	}
	for _, in := range df.stages[len(df.stages)-1] {
		if in.cmd != "ENV" || in.args == "" {
			continue
		}
		if k, v, _ := strings.Cut(in.args, " "); !strings.Contains(k, "=") { // legacy ENV KEY VALUE
			df.env[k] = strings.TrimSpace(v)
			continue
		}
		for _, f := range strings.Fields(in.args) { // KEY=VALUE ... (values without blanks)
			k, v, _ := strings.Cut(f, "=")
			df.env[k] = strings.Trim(v, `"'`)
		}
	}
	return df
}

// fromImage returns the image of a stage's FROM, the ARGs before the first
// FROM expanded.
func (df dockerFile) fromImage(stage int) string {
	for _, f := range strings.Fields(df.stages[stage][0].args) {
		if !strings.HasPrefix(f, "--") {
			return os.Expand(f, func(k string) string { return df.args[k] })
		}
	}
	return ""
}

// find returns the index in stage of the first cmd whose arguments contain
// contains, or -1.
func find(stage []instruction, cmd, contains string) int {
	return slices.IndexFunc(stage, func(in instruction) bool {
		return in.cmd == cmd && strings.Contains(in.args, contains)
	})
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
		line := func(i int) int { // 0 if missing
			if i < 0 {
				return 0
			}
			return build[i].line
		}
		t.Errorf("build stage order: got COPY go.mod at line %d, RUN go mod download at line %d, COPY . . at line %d (0: missing); want them in that order (modules cached in their own layer)", line(copyMod), line(download), line(copyAll))
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
	checkEnvNames(t, dockerfile+" ENV", slices.Sorted(maps.Keys(df.env)), known)

	// The same state path everywhere.
	set := loadK8s(t)
	for name, cm := range set.configMaps(t) {
		if v, ok := cm.Data["LIFECYCLE_STATE_DIR"]; ok && v != stateDir {
			t.Errorf("ConfigMap %s LIFECYCLE_STATE_DIR: got %q, want %q (the image's)", name, v, stateDir)
		}
	}
	c := loadCompose(t)
	if v, ok := c.service(t, "lifecycle").Environment["LIFECYCLE_STATE_DIR"]; ok && v != stateDir {
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
