package main

import (
	"context"
	"fmt"
	"io"
	"strings"

	"github.com/lifecycle-engine/lifecycle/processor"
)

func runTopics(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || (args[0] != "create" && args[0] != "check") {
		if len(args) > 0 && (args[0] == "-h" || args[0] == "--help") {
			fmt.Fprintln(stdout, "Usage: lifecycle topics create|check --brokers H:P [flags]\n\ncreate makes the missing input and output topics; check verifies that they\nexist and that the inputs are co-partitioned. See lifecycle topics create --help.")
			return errHelp
		}
		return fmt.Errorf("%w: topics needs create or check, for example: lifecycle topics create --brokers 127.0.0.1:9092", errUsage)
	}
	verb := args[0]
	fs := newFlagSet("topics "+verb, "--brokers H:P [flags]",
		`create: creates the input topics and the output topics that do not exist yet
(existing ones are left alone), then checks them all.
check: verifies that every topic exists and that the input topics have the
same partition count; exits 1 naming the topics and counts when not.`)
	cf := fs.connFlags()
	group := fs.String("group", "lifecycle", "consumer group of the processors; its changelog topic is <group>.changelog")
	tf := fs.topicFlags()
	var sf specFlags
	if verb == "create" {
		sf = fs.specFlags()
	}
	if err := fs.parse(args[1:], stdout); err != nil {
		return err
	}
	conn, err := cf.conn()
	if err != nil {
		return err
	}
	adm, err := conn.Admin()
	if err != nil {
		return err
	}
	defer adm.Close()
	topics := tf.topics(*group)
	if verb == "create" {
		spec, err := sf.spec()
		if err != nil {
			return err
		}
		created, partitions, err := processor.CreateTopics(ctx, adm, topics, spec)
		if err != nil {
			return err
		}
		if len(created) == 0 {
			fmt.Fprintln(stdout, "all topics exist already")
		} else {
			fmt.Fprintf(stdout, "created %s with %d partitions, replication %d\n", strings.Join(created, ", "), partitions, spec.Replication)
		}
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
