package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.yaml.in/yaml/v3"

	"github.com/lifecycle-engine/lifecycle/processor"
	"github.com/lifecycle-engine/lifecycle/processor/rules"
	"github.com/lifecycle-engine/lifecycle/schemas"
	"github.com/lifecycle-engine/lifecycle/schemas/schematest"
	"github.com/lifecycle-engine/lifecycle/state"
	"github.com/lifecycle-engine/lifecycle/state/record"
)

// stamps returns the rules stamps of an output file's records, counted.
func stamps(t *testing.T, path string) map[string]int {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	out := map[string]int{}
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var l struct {
			Topic string
			Value struct{ Rules *schemas.Rules }
		}
		if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
			t.Fatal(err)
		}
		if l.Topic == "lifecycle.dlq" {
			continue
		}
		k := "none"
		if r := l.Value.Rules; r != nil {
			k = r.Version + "@" + r.Hash
		}
		out[k]++
	}
	return out
}

// TestRulesFile: the shipped deploy/rules.yaml is valid by the published
// schema and says the defaults (its hash is theirs); every output made
// with a rules file carries its version and hash; other settings give
// another hash; the same settings as flags give the same outputs apart
// from the stamp (diff finds no change).
func TestRulesFile(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	shipped := filepath.Join("..", "..", "deploy", "rules.yaml")
	raw, err := os.ReadFile(shipped)
	if err != nil {
		t.Fatal(err)
	}
	var doc any
	if err := yaml.Unmarshal(raw, &doc); err != nil {
		t.Fatal(err)
	}
	asJSON, _ := json.Marshal(doc)
	if err := schematest.Compile(t, schemas.RulesSchemaFile).Validate(mustJSON(t, asJSON)); err != nil {
		t.Fatalf("%s is not valid by %s: %v", shipped, schemas.RulesSchemaFile, err)
	}

	archive := filepath.Join(dir, "events.ndjson")
	if _, _, err := cli(t, ctx, "simulate", "--users", "200", "--days", "90", "--seed", "6", "--out", archive); err != nil {
		t.Fatal(err)
	}
	replay := func(name string, args ...string) string {
		t.Helper()
		out := filepath.Join(dir, name)
		if _, stderr, err := cli(t, ctx, append([]string{"replay", "--archive", archive, "--to-file", out}, args...)...); err != nil {
			t.Fatalf("replay %v: %v\n%s", args, err, stderr)
		}
		return out
	}
	defaults := stamps(t, replay("defaults.ndjson", "--rules", shipped))
	defaultHash := processor.Config{}.RulesHash()
	want := "defaults-2026-12@" + defaultHash
	if len(defaults) != 1 || defaults[want] == 0 {
		t.Fatalf("outputs with the shipped rules are stamped %v; want all %s (the defaults' hash)", defaults, want)
	}

	v2 := filepath.Join(dir, "v2.yaml")
	os.WriteFile(v2, []byte("version: v2\nstages:\n  churn_after: 45d\n"), 0o644)
	withFile := replay("v2.ndjson", "--rules", v2)
	got := stamps(t, withFile)
	if len(got) != 1 {
		t.Fatalf("stamps %v; want one", got)
	}
	for k := range got {
		if !strings.HasPrefix(k, "v2@") || k == "v2@"+defaultHash {
			t.Errorf("stamp %s: want v2 and a hash other than the defaults'", k)
		}
	}
	withFlags := replay("flags.ndjson", "--churn-after", "45d")
	if s := stamps(t, withFlags); len(s) != 1 || s["none"] == 0 {
		t.Errorf("outputs without a rules file are stamped %v; want none", s)
	}
	out, _, err := cli(t, ctx, "diff", withFlags, withFile)
	if err != nil || !strings.Contains(out, "no differences") {
		t.Errorf("diff of the same settings as flags and as a file: %v\n%s", err, out)
	}

	// withRules replays with a rules file of version and warnings
	// settings, and checks that its outputs carry the version and a hash
	// other than the defaults'.
	withRules := func(version, warnings string) string {
		t.Helper()
		file := filepath.Join(dir, version+".yaml")
		os.WriteFile(file, []byte("version: "+version+"\nwarnings:\n"+warnings), 0o644)
		out := replay(version+".ndjson", "--rules", file)
		for k := range stamps(t, out) {
			if !strings.HasPrefix(k, version+"@") || k == version+"@"+defaultHash {
				t.Errorf("stamp %s: want %s and a hash other than the defaults'", k, version)
			}
		}
		return out
	}

	// Break days are a rule: another hash, other warnings, and the same
	// as the flag.
	withBreaks := withRules("v3", "  break_days: 2026-02-01..2026-02-14, 2026-03-02\n")
	if out, _, err := cli(t, ctx, "diff", replay("defaults-flags.ndjson"), withBreaks); err != nil || strings.Contains(out, "no differences") {
		t.Errorf("diff of the defaults and a break in February: %v\n%s; want other warnings", err, out)
	}
	breakFlags := replay("breaks-flags.ndjson", "--warn-break-days", "2026-03-02,2026-02-01..2026-02-14")
	if out, _, err := cli(t, ctx, "diff", breakFlags, withBreaks); err != nil || !strings.Contains(out, "no differences") {
		t.Errorf("diff of break days as a flag and in a file: %v\n%s", err, out)
	}

	// So is the breaks' detection, off: another hash than the defaults'
	// (where it is on), and the same as the flag.
	noDetection := withRules("v4", "  detect_breaks: false\n")
	if out, _, err := cli(t, ctx, "diff", replay("no-detection-flags.ndjson", "--warn-detect-breaks=false"), noDetection); err != nil || !strings.Contains(out, "no differences") {
		t.Errorf("diff of no detection as a flag and in a file: %v\n%s", err, out)
	}
}

func mustJSON(t *testing.T, b []byte) any {
	t.Helper()
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatal(err)
	}
	return v
}

func TestRulesFileErrors(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	write := func(name, text string) string {
		p := filepath.Join(dir, name)
		os.WriteFile(p, []byte(text), 0o644)
		return p
	}
	good := write("good.yaml", "version: v1\n")
	for _, tc := range []struct {
		args []string
		env  string
		want string
	}{
		{[]string{"--rules", good, "--churn-after", "45d"}, "", "--churn-after (or LIFECYCLE_CHURN_AFTER) given with --rules"},
		{[]string{"--rules", good}, "LIFECYCLE_WARN_COOLDOWN=10d", "--warn-cooldown (or LIFECYCLE_WARN_COOLDOWN) given with --rules"},
		{[]string{"--rules", write("nover.yaml", "stages:\n  churn_after: 30d\n")}, "", "no version"},
		{[]string{"--rules", write("typo.yaml", "version: v1\nstages:\n  churn_afer: 30d\n")}, "", "line 3: field churn_afer not found"},
		{[]string{"--rules", write("bad.yaml", "version: v1\nstages:\n  churn_after: soon\n")}, "", `stages.churn_after "soon"`},
		{[]string{"--rules", filepath.Join(dir, "missing.yaml")}, "", "no such file"},
	} {
		if tc.env != "" {
			k, v, _ := strings.Cut(tc.env, "=")
			t.Setenv(k, v)
		}
		args := append([]string{"evaluate", "--users", "10"}, tc.args...)
		_, _, err := cli(t, ctx, args...)
		if !errors.Is(err, errUsage) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("lifecycle %s (%s): error %v, want a usage error containing %q", strings.Join(args, " "), tc.env, err, tc.want)
		}
		if tc.env != "" {
			k, _, _ := strings.Cut(tc.env, "=")
			os.Unsetenv(k)
		}
	}
}

// TestRulesChangeRefused: a state whose last commit was made with other
// rule settings is refused at start, unless --rules-change=forward; a new
// version label over the same settings, and a state from before rules
// were remembered, are not changes.
func TestRulesChangeRefused(t *testing.T) {
	dir := t.TempDir()
	store, err := state.Open(state.Options{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	defaults := processor.Config{}
	longer := processor.Config{Rules: rules.Config{ChurnAfter: 45 * 24 * time.Hour}}
	write := func(p int32, id string) {
		if err := store.Write(p, &record.Write{Meta: record.Meta{Partitions: 2, Rules: id, Offsets: map[string]int64{}}}); err != nil {
			t.Fatal(err)
		}
	}
	write(0, "")                 // a state from before Meta.Rules
	write(1, defaults.RulesID()) // "@<hash of the defaults>"
	log := zap.NewNop()
	if err := checkRules(store, defaults.RulesID(), "", dir, log); err != nil {
		t.Errorf("same rules: %v", err)
	}
	relabelled := defaults
	relabelled.RulesVersion = "v1"
	if err := checkRules(store, relabelled.RulesID(), "", dir, log); err != nil {
		t.Errorf("same settings, new version label: %v", err)
	}
	err = checkRules(store, longer.RulesID(), "", dir, log)
	if !errors.Is(err, errUsage) || !strings.Contains(err.Error(), "--rules-change=forward") || !strings.Contains(err.Error(), "partition 1") {
		t.Errorf("other rules: %v; want a usage error naming partition 1 and --rules-change=forward", err)
	}
	if err := checkRules(store, longer.RulesID(), "forward", dir, log); err != nil {
		t.Errorf("other rules with forward: %v", err)
	}
	if err := checkRules(store, longer.RulesID(), "backward", dir, log); !errors.Is(err, errUsage) {
		t.Errorf("--rules-change backward: %v; want a usage error", err)
	}
}
