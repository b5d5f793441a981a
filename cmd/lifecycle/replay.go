package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/lifecycle-engine/lifecycle/processor"
	"github.com/lifecycle-engine/lifecycle/processor/engine"
	"github.com/lifecycle-engine/lifecycle/processor/offline"
	"github.com/lifecycle-engine/lifecycle/schemas"
	"github.com/lifecycle-engine/lifecycle/state"
	"github.com/lifecycle-engine/lifecycle/state/record"
)

func runReplay(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("replay", "(--archive PATH[,PATH…] | --brokers H:P) (--to-file FILE | --to-topics SUFFIX) [--from TIME] [--until TIME] [rule flags]",
		`Recomputes every user's lifecycle from a fresh state, from the input
topics or from an archive of input events, and writes the outputs
(transitions, churn warnings, segment changes, dead letters) to a file or
to topics of its own: a backfill into a warehouse, or a run of other rules
to compare with "lifecycle diff". It commits no group offsets and touches
no live state, and writes the live output topics only with
--to-live-topics, which it refuses while the live group has members.

It runs the engine of "lifecycle run" (package processor/engine, the same
code as "lifecycle evaluate"): the same partitions, the same merge of the
input topics in event-time order, the same rules. The same input and flags
give the same outputs, byte for byte, with the same deterministic ids as a
live run over the same records.

Input, one of:
  --brokers H:P   the input topics (--input-topics), every partition from
                  the first record stamped at or after --from (default: the
                  earliest the broker still has) to the end at the start of
                  the replay. Records keep their Kafka timestamps and their
                  partitions, exactly as run reads them.
  --archive PATH  files of input events as a sink connector writes a
                  topic's values: NDJSON (one JSON object a line, the input
                  schema) or Parquet (*.parquet: a row an event, a flat
                  column a field; TIMESTAMP columns are taken as epoch
                  milliseconds, DECIMAL ones as decimal strings); or
                  directories (their *.ndjson, *.jsonl, *.json and
                  *.parquet files) or globs, separated by commas. Files are read in
                  that order, each directory's and glob's in name order, and
                  lines and rows in file order: each input topic's records must be in
                  offset order, the order a sink writes them. A line goes to
                  the input topic of its "type" and the partition of its
                  user_id's Murmur2 hash among --partitions (give the live
                  count: RFM segments are ranked within a partition); event
                  times are checked against the wall clock (--max-future-skew).
                  --from leaves out the events before it.

--until leaves out the events at or after it and advances stream time to
it, firing the timers due before it (churns, warnings), as idle advance
would. Times are a date YYYY-MM-DD (00:00 UTC) or RFC 3339.

Output, one of:
  --to-file FILE     NDJSON, one output a line:
                     {"topic":"lifecycle.transitions","partition":3,"key":"u-1","value":{...},"headers":{...}}
                     value is the record as run writes it, or a string
                     holding a dead letter's original bytes. Partitions
                     follow each other in order, each in its commit order.
  --to-topics SUFFIX the live output topics' names with SUFFIX (for example
                     .v2: lifecycle.transitions.v2, …), created when missing
                     with the inputs' partition count (needs --brokers).
  --to-live-topics   the live output topics themselves, to correct them
                     (for example after a bug dropped events): refused
                     while --group has members. Outputs the live run wrote
                     already come again with the same ids and bytes, which
                     consumers that deduplicate on id drop; those it should
                     not have written stay (compare with diff first).

--handover DIR (with --brokers) also leaves the replayed state in DIR, a
new state directory that "lifecycle run --state-dir DIR" starts from
without a restore: a backfill becomes the live state. The state holds the
input offsets the replay read up to, so run continues exactly after them;
its outputs stay where --to-file or --to-topics sent them (none without
one). Start one instance on DIR, with a group of its own and the same
rules, first: it writes the state to its empty changelog; then scale out.

The input is not held in memory: each partition's topics are read as its
engine takes them, and an archive is first spooled to disk by partition
(--spool-dir, about the archive's size). The users' state is held in
memory (from the topics, --handover keeps it in Pebble instead).`)
	conn := fs.connFlags()
	fs.compressionFlag(&conn)
	tf := fs.topicFlags()
	archive := fs.String("archive", "", "the input as an archive: NDJSON or Parquet files, directories or globs, separated by commas (instead of the input topics)")
	toFile := fs.String("to-file", "", `write the outputs here as NDJSON ("-": standard output)`)
	toTopics := fs.String("to-topics", "", "write the outputs to the live output topics' names with this suffix, e.g. .v2")
	toLive := fs.Bool("to-live-topics", false, "write the outputs to the live output topics themselves (refused while --group has members)")
	group := fs.String("group", "lifecycle", "with --to-live-topics: the live consumer group, which must have no members")
	handover := fs.String("handover", "", "with --brokers: leave the replayed state in this new directory, for lifecycle run --state-dir")
	replication := fs.Int("replication", 1, "replication factor of the --to-topics topics it creates (3 in production)")
	from := fs.String("from", "", "start here: the first input record stamped at or after it (--brokers), or the first event at or after it (--archive); date or RFC 3339")
	fromOffsets := fs.String("from-offsets", "", `with --brokers: "earliest" starts at the first record the broker still has (the default without --from)`)
	until := fs.String("until", "", "leave out events at or after this time and advance stream time to it")
	spoolDir := fs.String("spool-dir", "", "with --archive: where the archive is kept by partition while it is replayed, about its size on disk (default: $TMPDIR or /tmp)")
	partitions := fs.Int("partitions", 8, "with --archive: partitions of the live input topics (users are spread and ranked per partition as there)")
	ef := fs.engineFlags("accounting currency (as run --currency)", "model file from lifecycle fit (as run --model)")
	if err := fs.parse(args, stdout); err != nil {
		return err
	}
	pc, model, err := ef.config(fs, "replay", tf.topics(""))
	if err != nil {
		return err
	}
	fromArchive := *archive != ""
	needKafka := !fromArchive || *toTopics != "" || *toLive
	outputs := 0
	for _, given := range []bool{*toFile != "", *toTopics != "", *toLive} {
		if given {
			outputs++
		}
	}
	switch {
	case outputs > 1 || outputs == 0 && *handover == "":
		return fmt.Errorf("%w: give one output: --to-file FILE (\"-\" for standard output), --to-topics SUFFIX or --to-live-topics (or only --handover DIR)", errUsage)
	case *handover != "" && (fromArchive || *until != ""):
		return fmt.Errorf("%w: --handover needs --brokers and no --until: the live run continues from the input offsets the replay read up to, which an archive has not and --until would skip", errUsage)
	case needKafka && *conn.brokers == "":
		return fmt.Errorf("%w: give the input: --brokers H:P to read the input topics, or --archive PATH; --to-topics and --to-live-topics need --brokers too", errUsage)
	case *partitions < 1:
		return fmt.Errorf("%w: --partitions %d: want 1 or more", errUsage, *partitions)
	case *replication < 1 || *replication > 32:
		return fmt.Errorf("%w: --replication %d: use 1 to 32", errUsage, *replication)
	}
	switch {
	case *fromOffsets != "" && *fromOffsets != "earliest":
		return fmt.Errorf("%w: --from-offsets %q: the only choice is earliest (for a time, use --from)", errUsage, *fromOffsets)
	case *fromOffsets != "" && *from != "":
		return fmt.Errorf("%w: give --from or --from-offsets, not both", errUsage)
	case *fromOffsets != "" && fromArchive:
		return fmt.Errorf("%w: --from-offsets is for the input topics (--brokers); an archive is read whole", errUsage)
	}
	fromMs, err := parseReplayTime("--from", *from)
	if err != nil {
		return err
	}
	untilMs, err := parseReplayTime("--until", *until)
	if err != nil {
		return err
	}
	if untilMs != 0 && untilMs <= fromMs {
		return fmt.Errorf("%w: --until %s is not after --from %s", errUsage, *until, *from)
	}
	var files []string
	if fromArchive {
		if files, err = archiveFiles(strings.Split(*archive, ",")); err != nil {
			return err
		}
	}
	topics := pc.Topics
	if *toTopics != "" {
		if _, err := processor.ReplayTopics(topics, *toTopics); err != nil {
			return fmt.Errorf("%w: --to-topics %q: %v", errUsage, *toTopics, err)
		}
	}
	var kc processor.Conn
	if needKafka {
		if kc, err = conn.conn(); err != nil {
			return err
		}
	}
	nparts := int32(*partitions)
	if !fromArchive {
		if nparts, err = processor.InputPartitions(ctx, kc, topics.Inputs); err != nil {
			return err
		}
	}
	cfg := offline.Config{Engine: pc.Engine(), Partitions: nparts, Decoder: pc.Decoder, MaxFutureSkew: pc.MaxFutureSkew, Until: untilMs}
	cfg.Engine.Model = model
	if fromArchive {
		cfg.From = fromMs // the archive's start is an event time; the topics' a log position
	}
	var handed *state.Store
	if *handover != "" {
		if handed, err = openHandover(*handover, stderr); err != nil {
			return err
		}
		defer handed.Close()
		cfg.Store = func(int32) engine.Store { return handed }
	}
	r, err := offline.New(cfg)
	if err != nil {
		return err
	}

	start := time.Now()
	var read, expect int64
	var source offline.Source
	var src *processor.ReplaySource
	if fromArchive {
		// An archive holds values only: native events are routed by their
		// type and keyed by their user_id; mapped ones all go to the first
		// input topic, keyed by the user id the mapping reads.
		var mapped *schemas.Decoder
		if pc.Decoder.Mapping != nil {
			mapped = schemas.NewDecoder(pc.Decoder)
		}
		// The archive is spooled to disk by partition and read back as
		// the partitions run: the replay holds the users' state, not the
		// archive.
		spool, err := offline.NewSpool(*spoolDir, nparts, len(topics.Inputs))
		if err != nil {
			return err
		}
		defer spool.Close()
		for _, f := range files {
			n, err := offline.ReadArchive(ctx, f, func(rec offline.Record) {
				if mapped != nil {
					rec.Topic, rec.Key = 0, mapped.MappedKey(rec.Value)
				}
				spool.Add(rec)
			})
			if err == nil {
				err = spool.Err()
			}
			if err != nil {
				return err
			}
			read += n
			fmt.Fprintf(stderr, "replay: read %s (%d records)\n", f, n)
		}
		source, expect = spool.Read, spool.Records()
	} else {
		// The topics are read as the partitions run: the replay holds
		// the users' state, not the input.
		pc.Conn = kc
		if src, err = processor.OpenReplay(ctx, pc, fromMs); err != nil {
			return err
		}
		defer src.Close()
		source, expect = src.Read, src.Records()
	}

	out, where, err := replayOutput(ctx, kc, topics, *toFile, *toTopics, *toLive, *group, nparts, int16(*replication), stdout)
	if err != nil {
		return err
	}
	if outputs == 0 {
		where = "nowhere (--handover only)"
	}
	counts, deadBy := map[string]int64{}, map[string]int64{}
	last := int32(-1)
	write := func(p int32, o record.Output) error {
		if p != last {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			last = p
		}
		counts[o.Topic]++
		if o.Topic == topics.DLQ {
			for _, h := range o.Headers {
				if h.Key == schemas.HeaderDLQCode {
					deadBy[string(h.Value)]++
				}
			}
		}
		return out.write(p, o)
	}
	stopProgress := showProgress(stderr, func() (done, total, at int64) {
		done, total, at = r.Progress()
		return done, max(total, expect), at
	})
	err = r.RunFrom(ctx, source, untilMs, write)
	if src != nil {
		read = src.ReadSoFar()
	}
	stopProgress()
	if cerr := out.close(err); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("replay: %w", err)
	}
	if handed != nil {
		// The outputs went where the replay sent them: the live run must
		// not send them again from the outbox.
		for p := range nparts {
			if err := handed.DropOutbox(p); err != nil {
				return fmt.Errorf("replay: --handover: %w", err)
			}
		}
		fmt.Fprintf(stderr, "replay: state handed over in %s: start one instance with lifecycle run --state-dir %s (a group of its own, the same rules) first\n", *handover, *handover)
	}
	took := time.Since(start)
	_, kept, _ := r.Progress()
	fmt.Fprintf(stderr, "replay: %d records (%d applied or dead-lettered) in %.1f s (%.0f records/s); outputs to %s:", read, kept, took.Seconds(), float64(read)/max(took.Seconds(), 1e-9), where)
	for _, t := range slices.Sorted(maps.Keys(counts)) {
		fmt.Fprintf(stderr, " %s %d", t, counts[t])
	}
	fmt.Fprintln(stderr)
	if len(deadBy) > 0 {
		fmt.Fprint(stderr, "replay: dead letters by reason:")
		for _, code := range slices.Sorted(maps.Keys(deadBy)) {
			fmt.Fprintf(stderr, " %s %d", code, deadBy[code])
		}
		fmt.Fprintln(stderr)
	}
	if n := deadBy[string(schemas.ReasonFutureTimestamp)]; n > 0 {
		fmt.Fprintf(stderr, "replay: %d records have a ts more than --max-future-skew (%v) after the wall clock (or their Kafka timestamp): a history dated past today, or a producer's clock or unit of ts wrong. For a population dated past today, add --max-future-skew 0.\n", n, pc.MaxFutureSkew)
	}
	return nil
}

// replaySink is where a replay's outputs go.
type replaySink struct {
	write func(p int32, o record.Output) error
	close func(failed error) error // removes a half-written file when failed
}

// replayOutput opens the replay's output: a file, or topics of its own.
// It returns the sink and a description of where the outputs go.
func replayOutput(ctx context.Context, kc processor.Conn, topics processor.Topics, file, suffix string, live bool, group string, partitions int32, replication int16, stdout io.Writer) (replaySink, string, error) {
	if file == "" && suffix == "" && !live {
		return replaySink{write: func(int32, record.Output) error { return nil }, close: func(error) error { return nil }}, "", nil
	}
	if suffix != "" || live {
		var w *processor.ReplayWriter
		var err error
		if live {
			w, err = processor.NewLiveWriter(ctx, kc, topics, group)
		} else {
			w, err = processor.NewReplayWriter(ctx, kc, topics, suffix, partitions, replication)
		}
		if err != nil {
			return replaySink{}, "", err
		}
		return replaySink{
			write: func(_ int32, o record.Output) error { return w.Write(o) },
			close: func(error) error { return w.Close() },
		}, strings.Join(w.Topics(), ", "), nil
	}
	w, closeFile, err := createOutput(file, stdout)
	if err != nil {
		return replaySink{}, "", err
	}
	bw := bufio.NewWriterSize(w, 1<<20)
	var line []byte
	return replaySink{
		write: func(p int32, o record.Output) error {
			var err error
			if line, err = appendOutputLine(line[:0], p, o); err != nil {
				return err
			}
			_, err = bw.Write(line)
			return err
		},
		close: func(failed error) error {
			err := errors.Join(bw.Flush(), closeFile())
			if (failed != nil || err != nil) && file != "-" {
				os.Remove(file) // no half a backfill for a loader to take as whole
			}
			return err
		},
	}, file, nil
}

// parseReplayTime parses a --from or --until value: "" is 0 (open).
func parseReplayTime(flag, s string) (int64, error) {
	if s == "" {
		return 0, nil
	}
	for _, layout := range []string{"2006-01-02", time.RFC3339} {
		if t, err := time.Parse(layout, s); err == nil {
			return t.UnixMilli(), nil
		}
	}
	return 0, fmt.Errorf("%w: %s %q: use a date YYYY-MM-DD (00:00 UTC) or an RFC 3339 time such as 2026-03-01T12:00:00Z", errUsage, flag, s)
}

// archiveFiles expands the archive arguments (files, directories, globs)
// into files, each argument's files in name order.
func archiveFiles(args []string) ([]string, error) {
	var out []string
	for _, a := range args {
		if st, err := os.Stat(a); err == nil {
			if !st.IsDir() {
				out = append(out, a)
				continue
			}
			var in []string
			for _, pat := range []string{"*.ndjson", "*.jsonl", "*.json", "*.parquet"} {
				m, _ := filepath.Glob(filepath.Join(a, pat)) // the pattern is valid
				in = append(in, m...)
			}
			if len(in) == 0 {
				return nil, fmt.Errorf("%w: archive directory %s has no *.ndjson, *.jsonl, *.json or *.parquet files", errUsage, a)
			}
			slices.Sort(in)
			out = append(out, in...)
			continue
		}
		m, err := filepath.Glob(a)
		if err != nil {
			return nil, fmt.Errorf("%w: archive %q: %v", errUsage, a, err)
		}
		if len(m) == 0 {
			return nil, fmt.Errorf("%w: archive %s: no such file, directory or matching files", errUsage, a)
		}
		slices.Sort(m)
		out = append(out, m...)
	}
	return out, nil
}

// createOutput opens path for writing ("-": w).
func createOutput(path string, w io.Writer) (io.Writer, func() error, error) {
	if path == "-" {
		return w, func() error { return nil }, nil
	}
	f, err := os.Create(path)
	if err != nil {
		return nil, nil, err
	}
	return f, f.Close, nil
}

// outputLine is one line of replay's output file.
type outputLine struct {
	Topic     string            `json:"topic"`
	Partition int32             `json:"partition"`
	Key       string            `json:"key"`
	Value     json.RawMessage   `json:"value"`
	Headers   map[string]string `json:"headers,omitempty"`
}

// appendOutputLine appends o as one NDJSON line: its value as JSON, or as
// a string when it is not JSON (a dead letter's original bytes).
func appendOutputLine(b []byte, p int32, o record.Output) ([]byte, error) {
	l := outputLine{Topic: o.Topic, Partition: p, Key: string(o.Key), Value: o.Value}
	if !json.Valid(o.Value) {
		s, err := json.Marshal(string(o.Value))
		if err != nil {
			return nil, err
		}
		l.Value = s
	}
	if len(o.Headers) > 0 {
		l.Headers = make(map[string]string, len(o.Headers))
		for _, h := range o.Headers {
			l.Headers[h.Key] = string(h.Value)
		}
	}
	v, err := json.Marshal(l)
	if err != nil {
		return nil, err
	}
	return append(append(b, v...), '\n'), nil
}

// openHandover creates the state directory a replay hands over; it must
// not hold a state already.
func openHandover(dir string, stderr io.Writer) (*state.Store, error) {
	if entries, err := os.ReadDir(dir); err == nil && len(entries) > 0 {
		return nil, fmt.Errorf("%w: --handover %s is not empty: give a new directory (the live run's own is not replaced)", errUsage, dir)
	}
	return state.Open(state.Options{Dir: dir, OnDiskFull: exitOnDiskFull(dir, nil, stderr)})
}

// showProgress reports a replay's progress on w until the returned func is
// called: a line rewritten in place every second on a terminal, a log
// line every 10 seconds otherwise. Each says the events done of the total,
// the rate, the event time reached and the time left at that rate.
func showProgress(w io.Writer, progress func() (done, total, streamTime int64)) (stop func()) {
	f, ok := w.(*os.File)
	tty := false
	if ok {
		if st, err := f.Stat(); err == nil && st.Mode()&os.ModeCharDevice != 0 {
			tty = true
		}
	}
	every := 10 * time.Second
	if tty {
		every = time.Second
	}
	start := time.Now()
	quit, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-quit:
				if tty {
					fmt.Fprintln(w)
				}
				return
			case <-t.C:
			}
			n, total, at := progress()
			rate := float64(n) / time.Since(start).Seconds()
			line := fmt.Sprintf("replay: %d of %d events (%.0f%%), %.0f events/s", n, total, 100*float64(n)/float64(max(total, 1)), rate)
			if at > 0 {
				line += ", event time " + time.UnixMilli(at).UTC().Format("2006-01-02 15:04")
			}
			if rate > 0 && total > n {
				line += fmt.Sprintf(", about %s left", (time.Duration(float64(total-n)/rate) * time.Second).Round(time.Second))
			}
			if tty {
				fmt.Fprintf(w, "\r%s\x1b[K", line)
			} else {
				fmt.Fprintln(w, line)
			}
		}
	}()
	return func() { close(quit); <-done }
}
