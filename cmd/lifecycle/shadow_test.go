package main

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lifecycle-engine/lifecycle/processor/kafkatest"
	"github.com/twmb/franz-go/pkg/kadm"
)

// TestShadowRunAndDiffOfTopics: `run --shadow` with other rules reads the
// live input into <group>.shadow and writes only the .shadow output
// topics, stamped with its rules; a replay with the same rules into topics
// of its own writes the very same records, which `diff --brokers` of the
// two topic sets shows (no differences), and diff of the shadow against a
// replay with the default rules shows the churns that moved.
func TestShadowRunAndDiffOfTopics(t *testing.T) {
	ctx := context.Background()
	brokers := strings.Join(kafkatest.Brokers(t), ",")
	names := map[string]string{"l": kafkatest.Name(t, "l"), "p": kafkatest.Name(t, "p"), "c": kafkatest.Name(t, "c"),
		"tr": kafkatest.Name(t, "tr"), "dlq": kafkatest.Name(t, "dlq"), "warn": kafkatest.Name(t, "warn"), "seg": kafkatest.Name(t, "seg")}
	topics := []string{"--input-topics", names["l"] + "," + names["p"] + "," + names["c"],
		"--transitions-topic", names["tr"], "--dlq-topic", names["dlq"], "--warnings-topic", names["warn"], "--segments-topic", names["seg"], "--metrics-topic", names["seg"] + ".metrics"}
	args := func(a ...string) []string { return append(append(a, "--brokers", brokers), topics...) }
	group := kafkatest.Name(t, "g")
	adm := kafkatest.Admin(t, strings.Split(brokers, ","))
	var extra []string
	for _, suffix := range []string{".shadow", ".same", ".defaults"} {
		for _, k := range []string{"tr", "dlq", "warn", "seg"} {
			extra = append(extra, names[k]+suffix)
		}
	}
	extra = append(extra, group+".shadow.changelog")
	t.Cleanup(func() { adm.DeleteTopics(context.Background(), extra...) })

	if _, _, err := cli(t, ctx, args("topics", "create", "--partitions", "3", "--group", group)...); err != nil {
		t.Fatal(err)
	}
	if _, _, err := cli(t, ctx, args("simulate", "--users", "100", "--days", "60", "--seed", "5")...); err != nil {
		t.Fatal(err)
	}
	rules := filepath.Join(t.TempDir(), "v2.yaml")
	os.WriteFile(rules, []byte("version: v2\nstages:\n  churn_after: 45d\n"), 0o644)

	stateDir := t.TempDir()
	shadowTr := names["tr"] + ".shadow"
	runUntilSettled(t, args("run", "--shadow", "--group", group, "--state-dir", stateDir, "--http", "off",
		"--create-topics", "--partitions", "3", "--rules", rules), func() int {
		n := 0
		if ends, err := adm.ListEndOffsets(ctx, shadowTr); err == nil {
			ends.Each(func(o kadm.ListedOffset) { n += int(o.Offset) })
		}
		return n
	}, 20)
	// The state remembers the rules: a restart with others is refused.
	_, _, err := cli(t, ctx, args("run", "--shadow", "--group", group, "--state-dir", stateDir, "--http", "off")...)
	if !errors.Is(err, errUsage) || !strings.Contains(err.Error(), "was made with other rules (v2@") {
		t.Errorf("restart of the shadow with the default rules: %v; want a refusal naming v2", err)
	}
	if n := len(kafkatest.ReadAll(t, strings.Split(brokers, ","), names["tr"])); n != 0 {
		t.Errorf("the live transitions topic got %d records from the shadow", n)
	}
	for _, m := range kafkatest.ReadAll(t, strings.Split(brokers, ","), shadowTr)[:1] {
		if !bytes.Contains(m.Value, []byte(`"rules":{"version":"v2"`)) {
			t.Errorf("a shadow transition without its rules: %s", m.Value)
		}
	}

	if _, stderr, err := cli(t, ctx, args("replay", "--rules", rules, "--to-topics", ".same")...); err != nil {
		t.Fatalf("replay: %v\n%s", err, stderr)
	}
	if _, stderr, err := cli(t, ctx, args("replay", "--to-topics", ".defaults")...); err != nil {
		t.Fatalf("replay: %v\n%s", err, stderr)
	}
	set := func(suffix string) string {
		return names["tr"] + suffix + "," + names["warn"] + suffix + "," + names["seg"] + suffix
	}
	out, _, err := cli(t, ctx, "diff", "--brokers", brokers, set(".shadow"), set(".same"))
	if err != nil || !strings.Contains(out, "no differences") {
		t.Errorf("diff of the shadow and a replay with its rules: %v\n%s", err, out)
	}
	out, _, err = cli(t, ctx, "diff", "--brokers", brokers, set(".defaults"), set(".shadow"))
	if err != nil || !strings.Contains(out, "→ churned") || strings.Contains(out, "no differences") {
		t.Errorf("diff of the default rules and the shadow's 45 days: %v\n%s", err, out)
	}
}
