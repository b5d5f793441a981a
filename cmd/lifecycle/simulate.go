package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/lifecycle-engine/lifecycle/processor"
	"github.com/lifecycle-engine/lifecycle/processor/produce"
	"github.com/lifecycle-engine/lifecycle/processor/simulate"
	"github.com/segmentio/kafka-go"
)

func runSimulate(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("simulate", "(--out FILE|- | --brokers H:P) [flags]",
		`Generates a realistic user population (arrivals, power-law activity,
log-normal baskets, lapses and returns, dropouts) and writes its events as
NDJSON (--out) or to the input topics (--brokers), keyed by user_id. The same
--seed gives the same records byte for byte. --truth writes each user's true
dropout time, the ground truth for evaluating churn warnings.`)
	users := fs.Int("users", simulate.DefaultUsers, "number of users")
	days := fs.Int("days", simulate.DefaultDays, "length of the simulated period in days")
	seed := fs.Int64("seed", 1, "random seed")
	start := fs.String("start", simulate.DefaultStart.Format(time.RFC3339), "event time of day 0 (RFC 3339)")
	bad := fs.Float64("bad-rate", 0, "extra invalid records per valid event, 0..1 (each kind of defect in turn)")
	dup := fs.Float64("dup-rate", 0, "fraction of events sent twice with the same event_id, 0..1")
	late := fs.Float64("late-rate", 0, "fraction of events delivered hours to days late, 0..1")
	currency := fs.String("currency", simulate.DefaultCurrency, "currency of the purchases")
	out := fs.String("out", "", "write NDJSON to this file (- for stdout) instead of Kafka")
	truth := fs.String("truth", "", "write the ground truth CSV (user_id,dropout_at) to this file")
	cf := fs.connFlags()
	fs.compressionFlag(&cf)
	tf := fs.topicFlags()
	create := fs.Bool("create-topics", false, "create missing topics first (with --partitions and --replication)")
	sf := fs.specFlags()
	if err := fs.parse(args, stdout); err != nil {
		return err
	}
	t0, err := time.Parse(time.RFC3339, *start)
	if err != nil {
		return fmt.Errorf("%w: --start %q: use RFC 3339, like 2026-01-01T00:00:00Z", errUsage, *start)
	}
	topics := tf.topics("") // the changelog is the processor's to create
	if len(topics.Inputs) != 3 {
		return fmt.Errorf("%w: --input-topics needs three topics: login, purchase, content", errUsage)
	}
	cfg := simulate.Config{
		Users: *users, Days: *days, Seed: *seed, Start: t0, Currency: *currency,
		BadRate: *bad, DupRate: *dup, LateRate: *late,
		Topics: simulate.Topics{Login: topics.Inputs[0], Purchase: topics.Inputs[1], Content: topics.Inputs[2]},
	}
	if err := cfg.Validate(); err != nil {
		return fmt.Errorf("%w: %v", errUsage, err)
	}
	if (*out == "") == (*cf.brokers == "") {
		return fmt.Errorf("%w: give exactly one of --out FILE (or - for stdout) and --brokers H:P", errUsage)
	}

	var stats simulate.Stats
	var emit func(simulate.Record) error
	var finish func() error
	if *out != "" {
		w := stdout
		if *out != "-" {
			f, err := os.Create(*out)
			if err != nil {
				return err
			}
			defer f.Close()
			w = f
		}
		bw := bufio.NewWriterSize(w, 1<<20)
		emit = simulate.WriteNDJSON(bw)
		finish = bw.Flush
	} else {
		conn, err := cf.conn()
		if err != nil {
			return err
		}
		if *create {
			spec, err := sf.spec()
			if err != nil {
				return err
			}
			cl, err := conn.Client()
			if err != nil {
				return err
			}
			_, _, err = processor.CreateTopics(ctx, cl, topics, spec)
			cl.Close()
			if err != nil {
				return err
			}
		}
		sink := produce.NewSink(ctx, conn.Writer())
		defer sink.Close()
		emit = func(r simulate.Record) error {
			return sink.Add(kafka.Message{Topic: r.Topic, Key: r.Key, Value: r.Value})
		}
		finish = sink.Flush
	}
	progress := time.Now()
	truthRows, err := simulate.Run(ctx, cfg, func(r simulate.Record) error {
		stats.Add(r)
		if time.Since(progress) > 2*time.Second && *out != "-" {
			progress = time.Now()
			fmt.Fprintf(stderr, "simulate: %d records, event time %s\n", stats.Records, stats.Last.Format("2006-01-02"))
		}
		return emit(r)
	})
	if err == nil {
		err = finish()
	}
	if err != nil {
		return err
	}
	if *truth != "" {
		f, err := os.Create(*truth)
		if err != nil {
			return err
		}
		if err := simulate.WriteTruthCSV(f, truthRows); err != nil {
			f.Close()
			return err
		}
		if err := f.Close(); err != nil {
			return err
		}
	}
	if *out != "-" {
		fmt.Fprintf(stdout, "simulate: %d users, %d records (%d valid, %d duplicates, %d late, %d invalid), event time %s to %s\n",
			len(truthRows), stats.Records, stats.Valid, stats.Dup, stats.Late, stats.Bad,
			stats.First.Format("2006-01-02"), stats.Last.Format("2006-01-02"))
	}
	return nil
}
