package main

import (
	"context"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/lifecycle-engine/lifecycle/processor"
)

func runTopics(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || (args[0] != "create" && args[0] != "check" && args[0] != "align") {
		if len(args) > 0 && (args[0] == "-h" || args[0] == "--help") {
			fmt.Fprintln(stdout, "Usage: lifecycle topics create|check|align --brokers H:P [flags]\n\ncreate makes the missing input and output topics; check verifies that they\nexist and that the inputs are co-partitioned; align gives partition p of\nevery input topic the same replicas and leader. See lifecycle topics create --help.")
			return errHelp
		}
		return fmt.Errorf("%w: topics needs create, check or align, for example: lifecycle topics create --brokers 127.0.0.1:9092", errUsage)
	}
	verb := args[0]
	fs := newFlagSet("topics "+verb, "--brokers H:P [flags]",
		`create: creates the input topics and the output topics that do not exist yet
(existing ones are left alone), then checks them all. Partition p of every
input topic gets the same replicas, so one broker leads them all and one
fetch confirms their ends (README: Performance).
check: verifies that every topic exists and that the input topics have the
same partition count; exits 1 naming the topics and counts when not.
align: gives partition p of every input topic the replica list of partition
p of the first of --input-topics, then elects the preferred leaders, for
input topics made by other tools that check says are led apart. Where a
partition already has those brokers in another order nothing is copied;
otherwise Kafka copies its replicas, unthrottled (for large topics
kafka-reassign-partitions --throttle is gentler). --dry-run prints the plan.`)
	cf := fs.connFlags()
	group := fs.String("group", "lifecycle", "consumer group of the processors; its changelog topic is <group>.changelog")
	tf := fs.topicFlags()
	var sf specFlags
	if verb == "create" {
		sf = fs.specFlags()
	}
	dryRun := new(bool)
	if verb == "align" {
		dryRun = fs.Bool("dry-run", false, "print which partitions would move and which leaders would be elected, and change nothing")
	}
	if err := fs.parse(args[1:], stdout); err != nil {
		return err
	}
	conn, err := cf.conn()
	if err != nil {
		return err
	}
	cl, err := conn.Client()
	if err != nil {
		return err
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	topics := tf.topics(*group)
	if verb == "create" {
		spec, err := sf.spec()
		if err != nil {
			return err
		}
		created, partitions, err := processor.CreateTopics(ctx, cl, topics, spec)
		if err != nil {
			return err
		}
		if len(created) == 0 {
			fmt.Fprintln(stdout, "all topics exist already")
		} else {
			fmt.Fprintf(stdout, "created %s with %d partitions, replication %d\n", strings.Join(created, ", "), partitions, spec.Replication)
		}
	}
	if verb == "align" {
		if err := alignInputs(ctx, cl, adm, topics.Inputs, *dryRun, stdout, stderr); err != nil || *dryRun {
			return err
		}
		// A new client: this one's metadata may predate the elections.
		if cl, err = conn.Client(); err != nil {
			return err
		}
		defer cl.Close()
		adm = kadm.NewClient(cl)
	}
	n, warnings, err := processor.CheckTopics(ctx, adm, topics)
	if err != nil {
		return err
	}
	for _, w := range warnings {
		fmt.Fprintln(stdout, "warning: "+w)
	}
	fmt.Fprintf(stdout, "ok: inputs %s and changelog %s are co-partitioned with %d partitions; outputs %s exist\n",
		strings.Join(topics.Inputs, ", "), topics.Changelog, n, strings.Join(topics.Outputs(), ", "))
	return nil
}

// alignInputs plans the inputs' alignment, prints it, and carries it out
// unless dryRun.
func alignInputs(ctx context.Context, cl *kgo.Client, adm *kadm.Client, inputs []string, dryRun bool, stdout, stderr io.Writer) error {
	plan, err := processor.PlanAlignment(ctx, adm, inputs)
	if err != nil {
		return err
	}
	if plan.Moves() == 0 && plan.Elections() == 0 {
		fmt.Fprintf(stdout, "the input topics are aligned: partition p of each has the replicas and leader of partition p of %s\n", plan.Inputs[0])
		return nil
	}
	for _, topic := range slices.Sorted(maps.Keys(plan.Reassign)) {
		ps := plan.Reassign[topic]
		for _, p := range slices.Sorted(maps.Keys(ps)) {
			fmt.Fprintf(stdout, "move %s partition %d from replicas %v to %v (as %s)\n", topic, p, ps[p], plan.Replicas[p], plan.Inputs[0])
		}
	}
	fmt.Fprintf(stdout, "%d partitions to move, then the preferred leaders of %d partitions to elect\n", plan.Moves(), plan.Elections())
	if dryRun {
		return nil
	}
	err = processor.AlignInputs(ctx, cl, plan, func(moving int) {
		fmt.Fprintf(stderr, "lifecycle: %d input partitions still moving\n", moving)
	})
	if err != nil {
		return err
	}
	fmt.Fprintln(stdout, "aligned")
	return nil
}
