package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/lifecycle-engine/lifecycle/processor/httpapi"
	"github.com/lifecycle-engine/lifecycle/processor/kafkatest"
	"github.com/lifecycle-engine/lifecycle/processor/predict"
)

// cli runs the command in-process, as main would, and returns its output.
func cli(t testing.TB, ctx context.Context, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	var out, errOut bytes.Buffer
	err = run(ctx, args, &out, &errOut)
	return out.String(), errOut.String(), err
}

// runUntilSettled runs `lifecycle run args…` in process until count (of
// what it has written) is above 0 and unchanged for rounds polls 100 ms
// apart, then stops it as SIGTERM does and returns its logs.
func runUntilSettled(t *testing.T, args []string, count func() int, rounds int) string {
	t.Helper()
	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	done := make(chan error, 1)
	var logs bytes.Buffer
	go func() { done <- run(ctx, args, &bytes.Buffer{}, &logs) }()
	wait := func() error {
		select {
		case err := <-done:
			return err
		case <-time.After(30 * time.Second):
			t.Fatal("run did not stop within 30s")
			return nil
		}
	}
	last, stable := -1, 0
	for deadline := time.Now().Add(time.Minute); stable < rounds; time.Sleep(100 * time.Millisecond) {
		if time.Now().After(deadline) {
			stop()
			wait()
			t.Fatalf("the run's outputs did not settle (%d); logs:\n%s", last, logs.String())
		}
		n := count()
		if n > 0 && n == last {
			stable++
		} else {
			stable = 0
		}
		last = n
	}
	stop()
	if err := wait(); err != nil {
		t.Fatalf("run after stop: %v\n%s", err, logs.String())
	}
	return logs.String()
}

func TestUsageErrors(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		args []string
		want string // in the error
	}{
		{nil, "no subcommand"},
		{[]string{"frobnicate"}, `unknown subcommand "frobnicate"`},
		{[]string{"run"}, "--brokers is required"},
		{[]string{"run", "--brokers", "127.0.0.1:1"}, "--state-dir is required"},
		{[]string{"run", "--brokers", "h:1", "--state-dir", t.TempDir(), "--churn-after", "soon"}, "use days like 30d"},
		{[]string{"run", "--brokers", "h:1", "--state-dir", t.TempDir(), "--mature-at", "0"}, "mature-at 0 must be 1 or more"},
		{[]string{"run", "--brokers", "h:1", "--state-dir", t.TempDir(), "--block-cache-mb", "0"}, "--block-cache-mb 0 must be 1 or more"},
		{[]string{"run", "--brokers", "h:1", "--state-dir", t.TempDir(), "--fetch-wait", "5ms"}, "--fetch-wait 5ms must be 0 (fetch each record as it comes) or between 10ms and 1s"},
		{[]string{"run", "--brokers", "h:1", "--state-dir", t.TempDir(), "--compression", "brotli"}, `--compression "brotli": use one of lz4, zstd, snappy, gzip or none`},
		{[]string{"bench", "--compression", "lz5"}, `--compression "lz5": use one of`},
		{[]string{"run", "--brokers", "h:1", "--state-dir", t.TempDir(), "--sasl-mechanism", "GSSAPI", "--sasl-username", "u", "--sasl-password", "p"}, "use one of PLAIN"},
		{[]string{"run", "--brokers", "h:1", "--state-dir", t.TempDir(), "--sasl-username", "u"}, "without --sasl-mechanism"},
		{[]string{"run", "--brokers", "h:1", "--state-dir", t.TempDir(), "--log-level", "loud"}, "use debug, info, warn or error"},
		{[]string{"run", "--brokers", "h:1", "--state-dir", t.TempDir(), "--warn-risk", "0.7,0.5,0.9"}, "three increasing risks"},
		{[]string{"run", "--brokers", "h:1", "--state-dir", t.TempDir(), "--warn-levels", "0.5,0.7,0.85"}, "--warn-levels was removed"},
		{[]string{"evaluate", "--warn-break-days", "xmas"}, `--warn-break-days: break "xmas": want a day like 2026-12-25`},
		{[]string{"evaluate", "--warn-tenure-weight", "0"}, "--warn-tenure-weight 0 must be positive"},
		{[]string{"evaluate", "--cdnow", "CDNOW_master.txt", "--warm-up", "90d"}, "--warm-up does not apply to --cdnow"},
		{[]string{"run", "--brokers", "h:1", "--state-dir", t.TempDir(), "--rfm-window", "1m"}, "segments: window"},
		{[]string{"simulate", "--users", "10"}, "exactly one of --out"},
		{[]string{"simulate", "--out", "-", "--bad-rate", "2"}, "BadRate"},
		{[]string{"topics"}, "needs create, check or align"},
		{[]string{"inspect"}, "--state-dir is required"},
		{[]string{"demo", "--speed", "0"}, "--speed 0 must be positive"},
		{[]string{"bench", "--workload", "zipf"}, `--workload "zipf": use simulated or uniform`},
	} {
		_, _, err := cli(t, ctx, tc.args...)
		if !errors.Is(err, errUsage) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("lifecycle %s: error %v, want a usage error containing %q", strings.Join(tc.args, " "), err, tc.want)
		}
	}
}

func TestHelpListsEveryFlagWithDefaultAndEnv(t *testing.T) {
	out, _, err := cli(t, context.Background(), "run", "--help")
	if !errors.Is(err, errHelp) {
		t.Fatalf("run --help: %v", err)
	}
	for _, want := range []string{"--brokers", "LIFECYCLE_BROKERS", "--churn-after", "default 30d", "--sasl-password-file", "--idle-advance", "SIGTERM"} {
		if !strings.Contains(out, want) {
			t.Errorf("run --help does not mention %q", want)
		}
	}
	if exitCode(errHelp, &bytes.Buffer{}) != 0 || exitCode(errUsage, &bytes.Buffer{}) != 2 || exitCode(errors.New("x"), &bytes.Buffer{}) != 1 {
		t.Error("exit codes: want 0 for help, 2 for usage errors, 1 otherwise")
	}
}

func TestFlagsFromEnvironment(t *testing.T) {
	ctx := context.Background()
	byFlag, _, err := cli(t, ctx, "simulate", "--out", "-", "--users", "5", "--days", "10", "--seed", "42")
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv("LIFECYCLE_USERS", "5")
	t.Setenv("LIFECYCLE_DAYS", "10")
	t.Setenv("LIFECYCLE_SEED", "42")
	byEnv, _, err := cli(t, ctx, "simulate", "--out", "-")
	if err != nil {
		t.Fatal(err)
	}
	if byFlag != byEnv || byFlag == "" {
		t.Errorf("simulate from flags and from LIFECYCLE_* differ (%d vs %d bytes)", len(byFlag), len(byEnv))
	}
	// A flag given on the command line wins over the environment.
	other, _, _ := cli(t, ctx, "simulate", "--out", "-", "--seed", "43")
	if other == byEnv {
		t.Error("--seed 43 did not win over LIFECYCLE_SEED=42")
	}
	t.Setenv("LIFECYCLE_DAYS", "many")
	if _, _, err := cli(t, ctx, "simulate", "--out", "-"); err == nil || !strings.Contains(err.Error(), "LIFECYCLE_DAYS") {
		t.Errorf("a bad LIFECYCLE_DAYS: error %v, want one naming the variable", err)
	}
}

// TestCommandLineRoundTrip drives the product as a user would: create the
// topics, simulate a population into them, run the processor until the
// transitions stop growing, stop it as SIGTERM does, and inspect the store.
func TestCommandLineRoundTrip(t *testing.T) {
	brokers := strings.Join(kafkatest.Brokers(t), ",")
	topics := []string{"--input-topics", strings.Join([]string{kafkatest.Name(t, "l"), kafkatest.Name(t, "p"), kafkatest.Name(t, "c")}, ","),
		"--transitions-topic", kafkatest.Name(t, "tr"), "--dlq-topic", kafkatest.Name(t, "dlq"),
		"--warnings-topic", kafkatest.Name(t, "warn"), "--segments-topic", kafkatest.Name(t, "seg"), "--metrics-topic", kafkatest.Name(t, "metrics")}
	ctx := context.Background()
	args := func(a ...string) []string { return append(append(a, "--brokers", brokers), topics...) }

	group := kafkatest.Name(t, "g")
	out, _, err := cli(t, ctx, args("topics", "create", "--partitions", "3", "--group", group)...)
	if err != nil || !strings.Contains(out, "co-partitioned with 3 partitions") {
		t.Fatalf("topics create: %v\n%s", err, out)
	}
	if out, _, err := cli(t, ctx, args("topics", "align", "--dry-run", "--group", group)...); err != nil || !strings.Contains(out, "the input topics are aligned") {
		t.Errorf("topics align --dry-run after topics create: %v\n%s", err, out)
	}
	out, _, err = cli(t, ctx, args("simulate", "--users", "50", "--days", "60", "--seed", "3")...)
	if err != nil || !strings.Contains(out, "50 users") {
		t.Fatalf("simulate: %v\n%s", err, out)
	}

	dir := filepath.Join(t.TempDir(), "state")
	trTopic := topics[3]
	// Run until the transitions topic stops growing.
	logs := runUntilSettled(t, args("run", "--group", group, "--state-dir", dir, "--http", "off"), func() int {
		return len(kafkatest.ReadAll(t, strings.Split(brokers, ","), trTopic))
	}, 20)
	if !strings.Contains(logs, `"stopped"`) {
		t.Errorf("run logs do not report a clean stop:\n%s", logs)
	}

	out, _, err = cli(t, ctx, "inspect", "--state-dir", dir)
	if err != nil {
		t.Fatal(err)
	}
	users := 0
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		var v httpapi.UserView
		if err := json.Unmarshal(sc.Bytes(), &v); err != nil {
			t.Fatalf("inspect line %q: %v", sc.Text(), err)
		}
		if v.Stage == "none" || v.Stage == "" {
			t.Errorf("user %s stored with stage %q", v.UserID, v.Stage)
		}
		users++
	}
	if users != 50 {
		t.Errorf("inspect listed %d users, want the 50 simulated", users)
	}
	one, _, err := cli(t, ctx, "inspect", "--state-dir", dir, "--user", "u-000007")
	if err != nil || !strings.Contains(one, `"user_id":"u-000007"`) {
		t.Errorf("inspect --user: %v %s", err, one)
	}
	if _, _, err := cli(t, ctx, "inspect", "--state-dir", dir, "--user", "nobody"); err == nil {
		t.Error("inspect --user nobody: want an error")
	}

	// With a model, every buyer's record carries a prediction.
	model := filepath.Join(t.TempDir(), "model.json")
	m := &predict.Model{Format: predict.FormatVersion, Period: predict.Week,
		BGNBD:      predict.BGNBD{R: 0.243, Alpha: 4.414, A: 0.793, B: 2.426},
		GammaGamma: predict.GammaGamma{P: 6.25, Q: 3.74, Gamma: 15.44}}
	if err := m.Save(model); err != nil {
		t.Fatal(err)
	}
	out, _, err = cli(t, ctx, "inspect", "--state-dir", dir, "--model", model)
	if err != nil {
		t.Fatal(err)
	}
	buyers, predicted := 0, 0
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		var v httpapi.UserView
		if err := json.Unmarshal([]byte(line), &v); err != nil {
			t.Fatal(err)
		}
		if v.Purchases > 0 {
			buyers++
			if v.Prediction != nil && v.Prediction.PAlive > 0 && v.Prediction.PAlive <= 1 {
				predicted++
			}
		}
	}
	if buyers == 0 || predicted != buyers {
		t.Errorf("inspect --model: %d of %d buyers have a prediction", predicted, buyers)
	}
}
