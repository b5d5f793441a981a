package deploy_test

import (
	"maps"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/moby/buildkit/frontend/dockerfile/parser"
	"github.com/moby/buildkit/frontend/dockerfile/shell"
)

// ---------------------------------------------------------------------------
// Dockerfile, parsed by BuildKit's parser (what `docker build` uses).

// instruction is one instruction of the Dockerfile, from a node of BuildKit's
// AST.
type instruction struct {
	cmd   string   // upper case (Node.Value)
	flags []string // --from=…, --chown=…, --mount=… (Node.Flags)
	// args are the values of the Node.Next chain: a shell form is one
	// string (RUN, CMD, ENTRYPOINT), an exec (JSON) form its elements,
	// COPY its sources and then its destination, ENV and LABEL
	// key, value, separator triples, ARG "name" or "name=default".
	args []string
	json bool   // exec (JSON) form
	line int    // of the first line (Node.StartLine)
	text string // as written, line continuations joined (Node.Original)
}

// command is the command of a RUN, CMD or ENTRYPOINT: the shell form's
// string, or the exec form's elements joined by blanks.
func (in instruction) command() string { return strings.Join(in.args, " ") }

// flag returns the value of --name=value.
func (in instruction) flag(name string) (string, bool) {
	for _, f := range in.flags {
		if v, ok := strings.CutPrefix(f, "--"+name+"="); ok {
			return v, true
		}
	}
	return "", false
}

// sources returns the sources of a COPY or ADD, dest its destination.
func (in instruction) sources() []string {
	if len(in.args) < 2 {
		return nil
	}
	return in.args[:len(in.args)-1]
}

func (in instruction) dest() string {
	if len(in.args) < 2 {
		return ""
	}
	return in.args[len(in.args)-1]
}

// vars are variables for BuildKit's shell lexer, which expands ${NAME} and
// removes quotes as `docker build` does.
type vars map[string]string

func (v vars) Get(k string) (string, bool) { s, ok := v[k]; return s, ok }
func (v vars) Keys() []string              { return slices.Sorted(maps.Keys(v)) }

type dockerFile struct {
	stages [][]instruction   // instructions per stage, from FROM
	args   map[string]string // ARGs before the first FROM, defaults expanded
	env    map[string]string // ENV of the final stage, values expanded
	lex    *shell.Lex        // with the file's escape token
}

func loadDockerfile(t *testing.T) dockerFile {
	t.Helper()
	f, err := os.Open(dockerfile)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	res, err := parser.Parse(f)
	if err != nil {
		t.Fatalf("%s: %v", dockerfile, err)
	}
	for _, w := range res.Warnings {
		line := 0
		if w.Location != nil {
			line = w.Location.Start.Line
		}
		t.Errorf("%s:%d: got parser warning %q, want none", dockerfile, line, w.Short)
	}
	df := dockerFile{args: map[string]string{}, env: map[string]string{}, lex: shell.NewLex(res.EscapeToken)}
	for _, n := range res.AST.Children {
		in := instruction{
			cmd:   strings.ToUpper(n.Value),
			flags: n.Flags,
			json:  n.Attributes["json"],
			line:  n.StartLine,
			text:  n.Original,
		}
		for a := n.Next; a != nil; a = a.Next {
			in.args = append(in.args, a.Value)
		}
		switch {
		case in.cmd == "FROM":
			df.stages = append(df.stages, []instruction{in})
		case len(df.stages) == 0:
			if in.cmd == "ARG" {
				for _, a := range in.args {
					k, v, _ := strings.Cut(a, "=")
					df.args[k] = df.expand(v, df.args)
				}
			}
		default:
			df.stages[len(df.stages)-1] = append(df.stages[len(df.stages)-1], in)
		}
	}
	if len(df.stages) > 0 {
		df.env = df.stageEnv(df.stages[len(df.stages)-1])
	}
	return df
}

// expand expands variables and removes quotes in word as BuildKit does; on
// a syntax error it returns word unchanged.
func (df dockerFile) expand(word string, v vars) string {
	s, _, err := df.lex.ProcessWord(word, v)
	if err != nil {
		return word
	}
	return s
}

// stageEnv returns the environment a stage's ENV instructions set, each value
// expanded with the ENV before it and the stage's ARGs (a redeclared ARG
// without a default takes the one before the first FROM).
func (df dockerFile) stageEnv(stage []instruction) map[string]string {
	scope, env := vars{}, vars{}
	for _, in := range stage {
		switch in.cmd {
		case "ARG":
			for _, a := range in.args {
				k, v, ok := strings.Cut(a, "=")
				if !ok {
					v = df.args[k]
				}
				scope[k] = df.expand(v, scope)
			}
		case "ENV":
			for i := 0; i+1 < len(in.args); i += 3 {
				v := df.expand(in.args[i+1], scope)
				env[in.args[i]], scope[in.args[i]] = v, v
			}
		}
	}
	return env
}

// labels returns the keys, unquoted, of a stage's LABEL instructions.
func (df dockerFile) labels(stage []instruction) map[string]bool {
	out := map[string]bool{}
	for _, in := range stage {
		if in.cmd != "LABEL" {
			continue
		}
		for i := 0; i < len(in.args); i += 3 {
			out[df.expand(in.args[i], vars{})] = true
		}
	}
	return out
}

// fromImage returns the image of a stage's FROM, the ARGs before the first
// FROM expanded.
func (df dockerFile) fromImage(stage int) string {
	if args := df.stages[stage][0].args; len(args) > 0 {
		return df.expand(args[0], df.args)
	}
	return ""
}

// find returns the index in stage of the first cmd for which match (nil:
// any) is true, or -1; findLast the last one, the one in effect for USER,
// CMD and ENTRYPOINT.
func find(stage []instruction, cmd string, match func(instruction) bool) int {
	return slices.IndexFunc(stage, func(in instruction) bool {
		return in.cmd == cmd && (match == nil || match(in))
	})
}

func findLast(stage []instruction, cmd string) int {
	for i := len(stage) - 1; i >= 0; i-- {
		if stage[i].cmd == cmd {
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
	copyMod := find(build, "COPY", func(in instruction) bool { return slices.Contains(in.sources(), "go.mod") })
	download := find(build, "RUN", func(in instruction) bool { return strings.Contains(in.command(), "go mod download") })
	copyAll := find(build, "COPY", func(in instruction) bool { return slices.Contains(in.sources(), ".") })
	if copyMod < 0 || download < 0 || copyAll < 0 || !(copyMod < download && download < copyAll) {
		line := func(i int) int { // 0 if missing
			if i < 0 {
				return 0
			}
			return build[i].line
		}
		t.Errorf("build stage order: got COPY go.mod at line %d, RUN go mod download at line %d, COPY . . at line %d (0: missing); want them in that order (modules cached in their own layer)", line(copyMod), line(download), line(copyAll))
	}
	if copyMod >= 0 && !slices.Contains(build[copyMod].sources(), "go.sum") {
		t.Errorf("build stage line %d: got %q, want go.sum copied with go.mod", build[copyMod].line, build[copyMod].text)
	}
	goBuild := find(build, "RUN", func(in instruction) bool { return strings.Contains(in.command(), "go build") })
	if goBuild < 0 {
		t.Fatal("build stage: got no RUN go build, want one")
	}
	cgoOff := strings.Contains(build[goBuild].command(), "CGO_ENABLED=0") || df.stageEnv(build)["CGO_ENABLED"] == "0"
	if !cgoOff {
		t.Errorf("build stage: got no CGO_ENABLED=0, want a static binary for the distroless static image")
	}
	for _, want := range []string{"-trimpath", "-X main.version=", "./cmd/lifecycle"} {
		if !strings.Contains(build[goBuild].command(), want) {
			t.Errorf("build stage go build (line %d): got %q, want %s in it", build[goBuild].line, build[goBuild].command(), want)
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
	user := findLast(final, "USER")
	nonRootUser := user >= 0 && len(final[user].args) > 0 &&
		(strings.HasPrefix(final[user].args[0], "65532") || strings.HasPrefix(final[user].args[0], "nonroot"))
	if !nonRootImage && !nonRootUser {
		t.Errorf("final stage: got image %q and no USER 65532/nonroot, want a non-root user", img)
	}
	if user >= 0 && !nonRootUser {
		t.Errorf("final stage USER (line %d): got %q, want 65532 or nonroot", final[user].line, final[user].text)
	}
	ep := findLast(final, "ENTRYPOINT")
	if ep < 0 {
		t.Fatal("final stage: got no ENTRYPOINT, want [\"/lifecycle\"]")
	}
	if entry := final[ep].args; !final[ep].json || len(entry) == 0 {
		t.Errorf("final stage ENTRYPOINT (line %d): got %s, want the exec (JSON) form, so SIGTERM reaches the binary", final[ep].line, final[ep].text)
	} else if find(final, "COPY", func(in instruction) bool { return path.Clean(in.dest()) == path.Clean(entry[0]) }) < 0 {
		t.Errorf("final stage ENTRYPOINT %s: got no COPY to %s, want the binary copied there", entry[0], entry[0])
	}
	if c := findLast(final, "CMD"); c < 0 {
		t.Errorf("final stage CMD: got none, want [\"run\"]")
	} else if !final[c].json || len(final[c].args) == 0 || final[c].args[0] != "run" {
		t.Errorf("final stage CMD (line %d): got %s, want [\"run\"]", final[c].line, final[c].text)
	}

	// Defaults for run, and the state directory owned by nonroot.
	stateDir := df.env["LIFECYCLE_STATE_DIR"]
	if stateDir == "" {
		t.Errorf("final stage: got no ENV LIFECYCLE_STATE_DIR, want the state volume's path")
	} else if find(final, "COPY", func(in instruction) bool {
		chown, _ := in.flag("chown")
		return chown == "65532:65532" && path.Clean(in.dest()) == path.Clean(stateDir)
	}) < 0 {
		t.Errorf("final stage: got no COPY --chown=65532:65532 … %s, want the state directory created owned by nonroot (distroless has no shell for mkdir/chown)", stateDir)
	}
	if got, want := df.env["LIFECYCLE_HTTP"], "0.0.0.0:8080"; got != want {
		t.Errorf("final stage ENV LIFECYCLE_HTTP: got %q, want %q", got, want)
	}
	if find(final, "EXPOSE", func(in instruction) bool {
		return slices.Contains(in.args, "8080") || slices.Contains(in.args, "8080/tcp")
	}) < 0 {
		t.Errorf("final stage: got no EXPOSE 8080, want it")
	}
	labels := df.labels(final)
	for _, label := range []string{"org.opencontainers.image.title", "org.opencontainers.image.source", "org.opencontainers.image.version"} {
		if !labels[label] {
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
	// non-test Go files and the files they embed (those of the root module:
	// a directory with a go.mod of its own, like deploy/, is another module).
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
			if _, err := os.Stat(filepath.Join(p, "go.mod")); err == nil && rel != "." {
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
