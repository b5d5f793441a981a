package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/lifecycle-engine/lifecycle/processor"
	"github.com/lifecycle-engine/lifecycle/processor/engine"
	"github.com/lifecycle-engine/lifecycle/processor/offline"
	"github.com/lifecycle-engine/lifecycle/processor/rules"
	"github.com/lifecycle-engine/lifecycle/processor/segments"
	"github.com/lifecycle-engine/lifecycle/schemas"
	"github.com/lifecycle-engine/lifecycle/state/record"
)

func runReplay(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("replay", "--archive PATH[,PATH…] --to-file FILE [--from TIME] [--until TIME] [rule flags]",
		`Recomputes every user's lifecycle from an archive of input events, from a
fresh state, and writes the outputs (transitions, churn warnings, segment
changes, dead letters) to a file, for a backfill into a warehouse or for
"lifecycle diff" against another set of rules. Nothing is read from or
written to Kafka, and no live state is touched.

It runs the engine of "lifecycle run" (package processor/engine, the same
code as "lifecycle evaluate"): the same partitioning of users by the
Murmur2 hash of user_id into --partitions partitions (use the live input
topics' count: RFM segments are ranked within a partition), the same merge
of the input topics in event-time order, the same rules. The same archive
and flags give the same file, byte for byte, and the same outputs as a live
run over the same records, with the same deterministic ids.

--archive names NDJSON files of input events (one JSON object a line, the
input schema, as a sink connector writes a topic's values), directories
(their *.ndjson, *.jsonl and *.json files) or globs, separated by commas.
Files are read in that order, each directory's and glob's in name order, and lines in file order: each input topic's records must be in
offset order, which is the order a sink writes them. Each line goes to the
input topic of its "type"; records without a valid type or time are
dead-lettered, as run would. Event times are checked against the wall
clock (--max-future-skew), as for records produced now.

--from leaves out the events before it (the state starts fresh there);
--until leaves out the events at or after it and advances stream time to
it, firing the timers due before it (churns, warnings), as idle advance
would. Times are a date YYYY-MM-DD (00:00 UTC) or RFC 3339.

The output file has one JSON object a line:
  {"topic":"lifecycle.transitions","partition":3,"key":"u-1","value":{...}}
value is the output record as run writes it to that topic, or a string
holding a dead letter's original bytes; headers (the dead letter's reason)
are in "headers". Partitions follow each other in order, each in its
commit order.

The archive is held in memory (about 0.5 KB an event): for archives larger
than memory, replay a time range at a time.`)
	archive := fs.String("archive", "", "the archive: NDJSON files, directories or globs, separated by commas (required)")
	toFile := fs.String("to-file", "", `write the outputs here as NDJSON ("-": standard output) (required)`)
	from := fs.String("from", "", "leave out events before this time (date or RFC 3339)")
	until := fs.String("until", "", "leave out events at or after this time and advance stream time to it")
	partitions := fs.Int("partitions", 8, "partitions of the live input topics: users are spread and ranked per partition as there")
	modelFile := fs.String("model", "", "model file from lifecycle fit (as run --model)")
	currency := fs.String("currency", schemas.DefaultCurrency, "accounting currency (as run --currency)")
	churn, silent, matureAt := fs.ruleFlags()
	wf := fs.warnFlags()
	rfmWindow := fs.duration("rfm-window", 0, "as lifecycle run --rfm-window")
	rfmRefresh := fs.duration("rfm-refresh", segments.DefaultRefresh, "as lifecycle run --rfm-refresh")
	skew := fs.duration("max-future-skew", time.Hour, "as lifecycle run --max-future-skew")
	if err := fs.parse(args, stdout); err != nil {
		return err
	}
	if *toFile == "" {
		return fmt.Errorf("%w: --to-file FILE is required (the outputs go there; \"-\" for standard output)", errUsage)
	}
	if *archive == "" {
		return fmt.Errorf("%w: --archive is required: NDJSON files, directories or globs of input events, separated by commas", errUsage)
	}
	if *partitions < 1 {
		return fmt.Errorf("%w: --partitions %d: want 1 or more", errUsage, *partitions)
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
	files, err := archiveFiles(strings.Split(*archive, ","))
	if err != nil {
		return err
	}
	warn, err := wf.config()
	if err != nil {
		return err
	}
	pc := processor.Config{Conn: processor.Conn{Brokers: []string{"unused:9092"}}, Group: "replay",
		Rules:    rules.Config{ChurnAfter: *churn, SilentAfter: *silent, MatureAt: *matureAt},
		Warnings: warn,
		Segments: segments.Config{Window: *rfmWindow, Refresh: *rfmRefresh}, Decoder: schemas.DecoderConfig{Currency: *currency}, MaxFutureSkew: *skew}
	if err := pc.Validate(); err != nil {
		return fmt.Errorf("%w: %v", errUsage, err)
	}
	cfg := offline.Config{Engine: pc.Engine(), Partitions: int32(*partitions), Decoder: pc.Decoder, MaxFutureSkew: *skew, From: fromMs, Until: untilMs}
	if *modelFile != "" {
		m, err := engine.LoadModel(*modelFile)
		if err != nil {
			return err
		}
		cfg.Engine.Model = &atomic.Pointer[engine.Model]{}
		cfg.Engine.Model.Store(m)
	}
	r, err := offline.New(cfg)
	if err != nil {
		return err
	}
	start := time.Now()
	var lines, kept int64
	for _, f := range files {
		n, err := offline.ReadNDJSON(ctx, f, func(rec offline.Record) {
			if r.Add(rec) != nil {
				kept++
			}
		})
		if err != nil {
			return err
		}
		lines += n
		fmt.Fprintf(stderr, "replay: read %s (%d records)\n", f, n)
	}
	w, closeOut, err := createOutput(*toFile, stdout)
	if err != nil {
		return err
	}
	bw := bufio.NewWriterSize(w, 1<<20)
	counts := map[string]int64{}
	var line []byte
	last := int32(-1)
	err = r.Run(untilMs, func(p int32, o record.Output) error {
		if p != last {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			if last >= 0 {
				fmt.Fprintf(stderr, "replay: %d of %d partitions done\n", p, *partitions)
			}
			last = p
		}
		counts[o.Topic]++
		var err error
		line, err = appendOutputLine(line[:0], p, o)
		if err != nil {
			return err
		}
		_, err = bw.Write(line)
		return err
	})
	if err == nil {
		err = bw.Flush()
		fmt.Fprintf(stderr, "replay: %d of %d partitions done\n", *partitions, *partitions)
	}
	if cerr := closeOut(); err == nil {
		err = cerr
	}
	if err != nil {
		if *toFile != "-" {
			os.Remove(*toFile) // no half a backfill for a loader to take as whole
		}
		return fmt.Errorf("replay: %w", err)
	}
	took := time.Since(start)
	fmt.Fprintf(stderr, "replay: %d records (%d in the time range) from %d files in %.1f s (%.0f records/s); outputs to %s:", lines, kept, len(files), took.Seconds(), float64(lines)/max(took.Seconds(), 1e-9), *toFile)
	for _, t := range slices.Sorted(maps.Keys(counts)) {
		fmt.Fprintf(stderr, " %s %d", t, counts[t])
	}
	fmt.Fprintln(stderr)
	return nil
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
			for _, pat := range []string{"*.ndjson", "*.jsonl", "*.json"} {
				m, _ := filepath.Glob(filepath.Join(a, pat)) // the pattern is valid
				in = append(in, m...)
			}
			if len(in) == 0 {
				return nil, fmt.Errorf("%w: archive directory %s has no *.ndjson, *.jsonl or *.json files", errUsage, a)
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
