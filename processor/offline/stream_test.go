package offline_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"testing"
	"time"

	"github.com/lifecycle-engine/lifecycle/processor"
	"github.com/lifecycle-engine/lifecycle/processor/offline"
	"github.com/lifecycle-engine/lifecycle/processor/produce"
	"github.com/lifecycle-engine/lifecycle/processor/simulate"
	"github.com/lifecycle-engine/lifecycle/state/record"
)

// streamed is a simulated population (with bad, duplicate and late
// records) as a Kafka topic would hold it: per partition and input topic,
// in the order sent, with the offsets the Runner gives them.
func streamed(t *testing.T, partitions int32) (pc processor.Config, recs [][][]offline.Record) {
	t.Helper()
	pc = processor.Config{Conn: processor.Conn{Brokers: []string{"unused:9092"}}, Group: "test", BatchRecords: 300}
	in := pc.Engine().Topics.Inputs
	recs = make([][][]offline.Record, partitions)
	for p := range recs {
		recs[p] = make([][]offline.Record, len(in))
	}
	sim := simulate.Config{Users: 300, Days: 60, Seed: 11, BadRate: 0.01, DupRate: 0.02, LateRate: 0.02,
		Topics: simulate.Topics{Login: in[0], Purchase: in[1], Content: in[2]}}
	if _, err := simulate.Run(context.Background(), sim, func(rec simulate.Record) error {
		topic := slices.Index(in, rec.Topic)
		p := produce.PartitionOf(rec.Key, partitions)
		recs[p][topic] = append(recs[p][topic], offline.Record{Topic: topic, Key: rec.Key, Value: rec.Value, Time: rec.Time})
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return pc, recs
}

// collect appends each output to outs as a line: partition, topic, key
// and value.
func collect(outs *[]string) func(int32, record.Output) error {
	return func(p int32, o record.Output) error {
		*outs = append(*outs, fmt.Sprintf("%d %s %s %s", p, o.Topic, o.Key, o.Value))
		return nil
	}
}

// TestRunFromEqualsRun: records read while the partitions run (a replay
// from the topics) give exactly the outputs, in the same order, of the
// same records queued first, whatever the source's pace.
func TestRunFromEqualsRun(t *testing.T) {
	const partitions = 3
	pc, recs := streamed(t, partitions)
	cfg := offline.Config{Engine: pc.Engine(), Partitions: partitions, MaxFutureSkew: time.Hour}
	until := simulate.DefaultStart.Add(61 * 24 * time.Hour).UnixMilli()

	queued, err := offline.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	for p := range recs {
		for _, topic := range recs[p] {
			for off, rec := range topic {
				queued.AddRead(int32(p), int64(off), rec)
			}
		}
	}
	var want []string
	if err := queued.Run(until, collect(&want)); err != nil {
		t.Fatal(err)
	}
	if len(want) < 1000 {
		t.Fatalf("%d outputs; want a population that makes over 1000", len(want))
	}

	streaming, err := offline.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	read := func(ctx context.Context, p int32, topic int, add func(int64, offline.Record)) error {
		for off, rec := range recs[p][topic] {
			if off%97 == 0 {
				time.Sleep(time.Millisecond) // a fetch's round trip now and then
			}
			add(int64(off), rec)
		}
		return ctx.Err()
	}
	var got []string
	if err := streaming.RunFrom(context.Background(), read, until, collect(&got)); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got, want) {
		t.Errorf("streamed: %d outputs, queued: %d; they differ", len(got), len(want))
		for i := range min(len(got), len(want)) {
			if got[i] != want[i] {
				t.Fatalf("first difference at output %d:\n streamed %s\n queued   %s", i, got[i], want[i])
			}
		}
	}
	done, total, _ := streaming.Progress()
	_, queuedTotal, _ := queued.Progress()
	if done != total || total != queuedTotal {
		t.Errorf("progress after the run: %d of %d; want all of %d", done, total, queuedTotal)
	}
}

// TestRunFromStopsAtASourceError: a source that fails mid-range (a stalled
// fetch) ends the run with its error.
func TestRunFromStopsAtASourceError(t *testing.T) {
	const partitions = 3
	pc, recs := streamed(t, partitions)
	r, err := offline.New(offline.Config{Engine: pc.Engine(), Partitions: partitions, MaxFutureSkew: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	stalled := errors.New("no record for 30s")
	read := func(ctx context.Context, p int32, topic int, add func(int64, offline.Record)) error {
		for off, rec := range recs[p][topic] {
			if p == 1 && topic == 2 && off == len(recs[p][topic])/2 {
				return stalled
			}
			add(int64(off), rec)
		}
		return ctx.Err()
	}
	err = r.RunFrom(context.Background(), read, 0, func(int32, record.Output) error { return nil })
	if !errors.Is(err, stalled) {
		t.Fatalf("RunFrom returned %v; want the source's error", err)
	}
}

// TestSpooledArchiveEqualsQueued: an archive spooled to disk and read back
// as the partitions run gives exactly the outputs of the same records
// queued in memory (Add), and the spool is gone after Close.
func TestSpooledArchiveEqualsQueued(t *testing.T) {
	const partitions = 4
	pc, byPart := streamed(t, partitions)
	var recs []offline.Record // as an archive holds them: the partitions mixed
	for i := 0; ; i++ {
		added := false
		for p := range byPart {
			for _, topic := range byPart[p] {
				if i < len(topic) {
					recs = append(recs, topic[i])
					added = true
				}
			}
		}
		if !added {
			break
		}
	}
	cfg := offline.Config{Engine: pc.Engine(), Partitions: partitions, MaxFutureSkew: time.Hour,
		From: simulate.DefaultStart.Add(3 * 24 * time.Hour).UnixMilli()}
	until := simulate.DefaultStart.Add(61 * 24 * time.Hour).UnixMilli()

	queued, err := offline.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	for _, rec := range recs {
		queued.Add(rec)
	}
	var want []string
	if err := queued.Run(until, collect(&want)); err != nil {
		t.Fatal(err)
	}

	dir := t.TempDir()
	spool, err := offline.NewSpool(dir, partitions, len(pc.Engine().Topics.Inputs))
	if err != nil {
		t.Fatal(err)
	}
	for _, rec := range recs {
		spool.Add(rec)
	}
	if err := spool.Err(); err != nil || spool.Records() != int64(len(recs)) {
		t.Fatalf("spooled %d of %d records: %v", spool.Records(), len(recs), err)
	}
	streaming, err := offline.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	if err := streaming.RunFrom(context.Background(), spool.Read, until, collect(&got)); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got, want) {
		t.Errorf("spooled: %d outputs, queued: %d; they differ", len(got), len(want))
	}
	if err := spool.Close(); err != nil {
		t.Fatal(err)
	}
	if left, _ := os.ReadDir(dir); len(left) != 0 {
		t.Errorf("%d files left after Close", len(left))
	}
}
