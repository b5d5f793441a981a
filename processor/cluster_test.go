package processor

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"

	"github.com/lifecycle-engine/lifecycle/processor/kafkatest"
	"github.com/lifecycle-engine/lifecycle/processor/simulate"
)

// envCluster enables the tests that start a Kafka cluster of their own.
const envCluster = "LIFECYCLE_TEST_KAFKA_CLUSTER"

// startCluster starts a real Kafka cluster of n brokers with
// deploy/kafka/local.sh (the first one the controller, the others joining
// it), stops it when the test ends, and returns its brokers' addresses.
func startCluster(t *testing.T, n int) []string {
	t.Helper()
	if os.Getenv(envCluster) != "1" {
		t.Skipf("starts a Kafka cluster of %d brokers of its own; enable with %s=1 (needs what deploy/kafka/local.sh needs: Java 17+ and Kafka cached or Maven)", n, envCluster)
	}
	script, err := filepath.Abs("../deploy/kafka/local.sh")
	if err != nil {
		t.Fatal(err)
	}
	root := t.TempDir()
	first := filepath.Join(root, "1")
	var brokers []string
	for i := 1; i <= n; i++ {
		port := freePortPair(t)
		dir := filepath.Join(root, fmt.Sprint(i))
		env := append(os.Environ(), "LIFECYCLE_KAFKA_SASL=0", "LIFECYCLE_KAFKA_DIR="+dir, fmt.Sprintf("LIFECYCLE_KAFKA_PORT=%d", port),
			fmt.Sprintf("LIFECYCLE_KAFKA_CONTROLLER_PORT=%d", port+1))
		if i > 1 {
			env = append(env, "LIFECYCLE_KAFKA_JOIN="+first, fmt.Sprintf("LIFECYCLE_KAFKA_NODE_ID=%d", i))
		}
		run := func(cmd string) error {
			c := exec.Command(script, cmd)
			c.Env = env
			if out, err := c.CombinedOutput(); err != nil {
				return fmt.Errorf("local.sh %s (broker %d): %v\n%s", cmd, i, err, out)
			}
			return nil
		}
		if err := run("start"); err != nil {
			t.Fatal(err)
		}
		// Cleanups run last first: the joined brokers stop before the
		// controller they need for a clean shutdown.
		t.Cleanup(func() {
			if err := run("stop"); err != nil {
				t.Error(err)
			}
		})
		brokers = append(brokers, fmt.Sprintf("127.0.0.1:%d", port))
	}
	// Every broker registered: topics created now are spread over all.
	adm := kafkatest.Admin(t, brokers)
	deadline := time.Now().Add(time.Minute)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		m, err := adm.BrokerMetadata(ctx)
		cancel()
		if err == nil && len(m.Brokers) == n {
			return brokers
		}
		if time.Now().After(deadline) {
			t.Fatalf("the cluster lists %d of %d brokers after a minute (%v)", len(m.Brokers), n, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestInputsAlignedOnACluster: on three real Kafka brokers, CreateTopics
// gives partition p of every input topic the same replicas in the same
// order, so the same leader, both when no input topic exists and when one
// does, placed by Kafka; AlignInputs does the same for input topics led
// apart. A processor on aligned inputs then takes the inputs' ends from
// its fetch responses alone at live rates: no ListOffsets request. On
// inputs whose leaders differ it asks, as it must (the check that the
// count can fail).
func TestInputsAlignedOnACluster(t *testing.T) {
	brokers := startCluster(t, 3)
	cl := kafkatest.Client(t, brokers)
	adm := kadm.NewClient(cl)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	const partitions = 6
	named := func(prefix string) Topics {
		n := func(s string) string { return kafkatest.Name(t, prefix+"-"+s) }
		return Topics{Inputs: []string{n("login"), n("purchase"), n("content")}, Transitions: n("transitions"), DLQ: n("dlq"),
			Changelog: n("changelog"), Warnings: n("warnings"), Segments: n("segments"), Metrics: n("metrics")}
	}
	// aligned checks that partition p of every input has the same replica
	// list, and says how many partitions' leaders are spread.
	aligned := func(topics Topics) {
		t.Helper()
		d, err := kadm.NewClient(kafkatest.Client(t, brokers)).ListTopics(ctx, topics.Inputs...)
		if err != nil {
			t.Fatal(err)
		}
		leaders := map[int32]bool{}
		for p := range int32(partitions) {
			want := d[topics.Inputs[0]].Partitions[p]
			leaders[want.Leader] = true
			for _, name := range topics.Inputs[1:] {
				if got := d[name].Partitions[p]; !slices.Equal(got.Replicas, want.Replicas) || got.Leader != want.Leader {
					t.Errorf("partition %d of %s: replicas %v, leader %d; of %s: %v, %d", p, name, got.Replicas, got.Leader, topics.Inputs[0], want.Replicas, want.Leader)
				}
			}
		}
		if len(leaders) < 2 {
			t.Errorf("every input partition led by broker(s) %v: the test needs the partitions spread over the cluster", leaders)
		}
		_, warnings, err := CheckTopics(ctx, kadm.NewClient(kafkatest.Client(t, brokers)), topics)
		if err != nil {
			t.Fatal(err)
		}
		for _, w := range warnings {
			if strings.Contains(w, "led by different brokers") {
				t.Errorf("CheckTopics warns on aligned inputs: %s", w)
			}
		}
	}

	fresh := named("fresh")
	if _, _, err := CreateTopics(ctx, cl, fresh, TopicSpec{Partitions: partitions, Replication: 3}); err != nil {
		t.Fatal(err)
	}
	aligned(fresh)

	// One input exists, placed by Kafka with replication 2: the others
	// take its replicas.
	following := named("following")
	if r, err := adm.CreateTopics(ctx, partitions, 2, nil, following.Inputs[1]); err != nil || r.Error() != nil {
		t.Fatalf("creating %s: %v %v", following.Inputs[1], err, r.Error())
	}
	// Listed by every broker: a broker that does not know it yet would
	// have CreateTopics take it as missing.
	if err := waitForTopics(ctx, cl, following.Inputs[1:2]); err != nil {
		t.Fatal(err)
	}
	if _, _, err := CreateTopics(ctx, cl, following, TopicSpec{Partitions: partitions, Replication: 3}); err != nil {
		t.Fatal(err)
	}
	aligned(following)

	// The processor on the aligned inputs, and on inputs whose partition p
	// is led by broker p+i for topic i.
	sim := simulate.Config{Users: 300, Days: 30, Seed: 8}
	f, msgs := fixtureOn(t, brokers, fresh.Inputs, sim, partitions)
	if n := liveEndsRequests(t, f, msgs, nil); n != 0 {
		t.Errorf("%d ListOffsets requests on aligned input topics, want none", n)
	}
	ids := brokerIDs(t, ctx, adm)
	// ledApart creates inputs whose partition p is led by broker p+i for
	// topic i.
	ledApart := func(prefix string) Topics {
		topics := named(prefix)
		for i, name := range topics.Inputs {
			var model [][]int32
			for p := range partitions {
				model = append(model, []int32{ids[(p+i)%len(ids)]})
			}
			r, err := createAligned(ctx, cl, model, []string{name})
			if err != nil || r.Error() != nil {
				t.Fatalf("creating %s: %v %v", name, err, r.Error())
			}
		}
		if err := waitForTopics(ctx, cl, topics.Inputs); err != nil {
			t.Fatal(err)
		}
		return topics
	}
	apart := ledApart("apart")
	f, msgs = fixtureOn(t, brokers, apart.Inputs, sim, partitions)
	if n := liveEndsRequests(t, f, msgs, nil); n == 0 {
		t.Error("no ListOffsets request with each input topic's partition led by another broker")
	}

	// Inputs led apart, aligned by AlignInputs: every partition of the
	// two topics that do not follow the first moves.
	realigned := ledApart("realigned")
	plan, err := PlanAlignment(ctx, adm, realigned.Inputs)
	if err != nil {
		t.Fatal(err)
	}
	if plan.Inputs[0] != realigned.Inputs[0] || plan.Moves() != 2*partitions {
		t.Fatalf("plan: %d partitions to move after %s, want %d after %s", plan.Moves(), plan.Inputs[0], 2*partitions, realigned.Inputs[0])
	}
	if err := AlignInputs(ctx, cl, plan, nil); err != nil {
		t.Fatal(err)
	}
	// The outputs, for CheckTopics; the inputs exist and stay as they are.
	if _, _, err := CreateTopics(ctx, cl, realigned, TopicSpec{Partitions: partitions}); err != nil {
		t.Fatal(err)
	}
	aligned(realigned)
	if plan, err := PlanAlignment(ctx, kadm.NewClient(kafkatest.Client(t, brokers)), realigned.Inputs); err != nil || plan.Moves()+plan.Elections() != 0 {
		t.Errorf("after AlignInputs: %d partitions to move and %d leaders to elect, %v; want none", plan.Moves(), plan.Elections(), err)
	}
	f, msgs = fixtureOn(t, brokers, realigned.Inputs, sim, partitions)
	if n := liveEndsRequests(t, f, msgs, nil); n != 0 {
		t.Errorf("%d ListOffsets requests on inputs aligned by AlignInputs, want none", n)
	}
}

// brokerIDs lists the cluster's broker ids in order.
func brokerIDs(t *testing.T, ctx context.Context, adm *kadm.Client) []int32 {
	t.Helper()
	m, err := adm.BrokerMetadata(ctx)
	if err != nil {
		t.Fatal(err)
	}
	ids := m.Brokers.NodeIDs()
	slices.Sort(ids)
	return ids
}
