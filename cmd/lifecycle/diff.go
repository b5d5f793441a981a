package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"maps"
	"os"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/lifecycle-engine/lifecycle/processor"
	"github.com/lifecycle-engine/lifecycle/processor/outdiff"
	"github.com/lifecycle-engine/lifecycle/state/record"
)

func runDiff(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("diff", "BEFORE AFTER [--json] [--examples N] [--brokers H:P]",
		`Compares two output files user by user and counts the transitions, churn
warnings and segment changes that were added, removed or changed: what a
change of rules, model or code does to what the product publishes, before
it is deployed. BEFORE and AFTER are NDJSON, one output record a line,
{"topic":…,"partition":…,"key":…,"value":{…}} with the value as written to
Kafka, as "lifecycle replay --to-file" writes them.

A line's kind comes from its lifecycle.schema header (transition.v1,
churn-warning.v1, segment.v1) if it has "headers", else from its topic
name: one containing "transition", "warning" or "segment", as
lifecycle.transitions, lifecycle.churn-warnings and lifecycle.segments do.
Other lines, such as dead letters, are counted by topic and ignored. A
record repeating an earlier record's id (delivery is at least once) counts
once.

Within a user, records are matched by identity:
  transition      from, to, and which occurrence of that from→to pair it is,
                  in time order (the user's first new→growing, second, …)
  churn warning   level (recovered included) and its occurrence
  segment change  its occurrence among the user's segment changes
A matched pair is unchanged when the values are equal as JSON, ignoring
id (derived from the identity, at and trigger_event_id, which are
compared), prediction.model (it names the model file, which changes
with every fit) and rules (the rules' version and hash, which differ by
design); else it is changed. A record only in BEFORE was removed,
only in AFTER added. One extra early occurrence shifts the later ones:
they show as changed, and the last as added.

The table counts per kind, per stage entered (transitions), and per level
and per reason code (warnings: a warning counts under every code it has
before or after), then shows up to --examples users per nonzero count,
the first in user id order, with the record's time and what it says
before and after. Rows and users are sorted: the same files always give
the same output. The exit status is 0 whether or not the files differ; a
file compared with itself shows no change.

--json prints one JSON document instead, with these fields:
  before, after  {file, lines, records: {transition, warning, segment},
                  duplicates, other_topics: {topic: lines}}
  cells          [{kind, group (all, to, level or reason), name ("" for
                  all), added, removed, changed, unchanged, and when there
                  are any, examples: {added, removed, changed: [{user_id,
                  before: {at, record}, after: {at, record}, fields:
                  [top-level fields that differ]}]}}]

With --brokers, BEFORE and AFTER are output topics instead of files, each
a comma-separated list, read whole (as far as the broker still has them):
the live outputs against a shadow run's, for example
  lifecycle diff --brokers kafka:9092 \
    lifecycle.transitions,lifecycle.churn-warnings,lifecycle.segments \
    lifecycle.transitions.shadow,lifecycle.churn-warnings.shadow,lifecycle.segments.shadow
A shadow that started later than the live run has not recomputed what
was deleted by retention before it read it: compare from when both had
the same input.

Both sides are held in memory, grouped by user.`)
	asJSON := fs.Bool("json", false, "print one JSON document instead of the table")
	examples := fs.Int("examples", 3, "users shown per nonzero count (0: none)")
	cf := fs.connFlags()
	flags, files := splitArgs(fs, args)
	if err := fs.parse(flags, stdout); err != nil {
		return err
	}
	if len(files) != 2 {
		return fmt.Errorf("%w: diff needs two output files, BEFORE and AFTER, for example: lifecycle diff before.ndjson after.ndjson", errUsage)
	}
	if *examples < 0 {
		return fmt.Errorf("%w: --examples %d: want 0 or more", errUsage, *examples)
	}
	var outs [2]*outdiff.Output
	for i, f := range files {
		path := f
		if *cf.brokers != "" {
			conn, err := cf.conn()
			if err != nil {
				return err
			}
			if path, err = dumpTopics(ctx, conn, list(f)); err != nil {
				return fmt.Errorf("diff: %w", err)
			}
			defer os.Remove(path)
		}
		o, err := outdiff.ReadFile(path)
		if err != nil {
			return fmt.Errorf("diff: %w", err)
		}
		o.Summary.File = f
		outs[i] = o
	}
	rep := outdiff.Compare(outs[0], outs[1], *examples)
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(rep)
	}
	return printDiff(stdout, rep)
}

// splitArgs separates the file arguments from the flags, so that flags may
// come after the files, as in "lifecycle diff a b --json".
func splitArgs(fs *flagSet, args []string) (flags, files []string) {
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			return flags, append(files, args[i+1:]...)
		}
		if len(a) < 2 || a[0] != '-' {
			files = append(files, a)
			continue
		}
		flags = append(flags, a)
		name, _, hasValue := strings.Cut(strings.TrimLeft(a, "-"), "=")
		if f := fs.Lookup(name); f != nil && !hasValue && !isBoolFlag(f.Value) && i+1 < len(args) {
			flags = append(flags, args[i+1]) // the flag's value
			i++
		}
	}
	return flags, files
}

func isBoolFlag(v flag.Value) bool {
	b, ok := v.(interface{ IsBoolFlag() bool })
	return ok && b.IsBoolFlag()
}

func printDiff(w io.Writer, r outdiff.Report) error {
	for _, s := range []struct {
		label string
		f     outdiff.FileSummary
	}{{"before", r.Before}, {"after", r.After}} {
		fmt.Fprintf(w, "%-6s %s: %d transitions, %d warnings, %d segment changes", s.label, s.f.File,
			s.f.Records[outdiff.Transition], s.f.Records[outdiff.Warning], s.f.Records[outdiff.Segment])
		if s.f.Duplicates > 0 {
			fmt.Fprintf(w, "; %d duplicates counted once", s.f.Duplicates)
		}
		for _, t := range slices.Sorted(maps.Keys(s.f.Other)) {
			fmt.Fprintf(w, "; %d lines of %s ignored", s.f.Other[t], t)
		}
		fmt.Fprintln(w)
	}
	if len(r.Cells) == 0 {
		fmt.Fprintln(w, "\nno transition, warning or segment records in either file")
		return nil
	}
	fmt.Fprintln(w)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "kind\trecords\tadded\tremoved\tchanged\tunchanged")
	for _, c := range r.Cells {
		fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%d\t%d\n", c.Kind, cellName(c), c.Added, c.Removed, c.Changed, c.Unchanged)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if r.Differences() == 0 {
		fmt.Fprintln(w, "\nno differences")
		return nil
	}
	for _, c := range r.Cells {
		for _, change := range []string{"added", "removed", "changed"} {
			ex := c.Examples[change]
			if len(ex) == 0 {
				continue
			}
			fmt.Fprintf(w, "\n%s %s, %s:\n", c.Kind, cellName(c), change)
			tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
			for _, e := range ex {
				fmt.Fprintf(tw, "  %s\t%s\t%s", e.UserID, sideText("before", e.Before), sideText("after", e.After))
				if len(e.Fields) > 0 {
					fmt.Fprintf(tw, "\t%s", strings.Join(e.Fields, ","))
				}
				fmt.Fprintln(tw)
			}
			if err := tw.Flush(); err != nil {
				return err
			}
		}
	}
	return nil
}

func cellName(c *outdiff.Cell) string {
	switch c.Group {
	case "all":
		return "all"
	case "to":
		return "→ " + c.Name
	}
	return c.Group + " " + c.Name
}

func sideText(label string, s *outdiff.Side) string {
	if s == nil {
		return label + " -"
	}
	return fmt.Sprintf("%s %s %s", label, s.At, s.Record)
}

// dumpTopics writes every record of topics to a temporary file in the
// format of "lifecycle replay --to-file", and returns its path.
func dumpTopics(ctx context.Context, conn processor.Conn, topics []string) (string, error) {
	if len(topics) == 0 {
		return "", fmt.Errorf("%w: name the output topics, comma-separated", errUsage)
	}
	f, err := os.CreateTemp("", "lifecycle-diff-*.ndjson")
	if err != nil {
		return "", err
	}
	w := bufio.NewWriter(f)
	var line []byte
	err = processor.ReadTopics(ctx, conn, topics, func(p int32, o record.Output) error {
		var err error
		if line, err = appendOutputLine(line[:0], p, o); err == nil {
			_, err = w.Write(line)
		}
		return err
	})
	if err = errors.Join(err, w.Flush(), f.Close()); err != nil {
		os.Remove(f.Name())
		return "", err
	}
	return f.Name(), nil
}
