package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kfake"
	"go.uber.org/zap"

	"github.com/lifecycle-engine/lifecycle/processor"
	"github.com/lifecycle-engine/lifecycle/processor/httpapi"
	"github.com/lifecycle-engine/lifecycle/processor/produce"
	"github.com/lifecycle-engine/lifecycle/processor/rules"
	"github.com/lifecycle-engine/lifecycle/processor/segments"
	"github.com/lifecycle-engine/lifecycle/processor/simulate"
	"github.com/lifecycle-engine/lifecycle/state"
)

func runDemo(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("demo", "[flags]",
		`The whole product in one process: an embedded Kafka-protocol broker
(franz-go's kfake), a simulated population whose months of event time are
compressed into a minute, the processor, and a live view of what it does,
in the terminal and as a web page at the --http address.
Ends after --duration, or with Ctrl-C.`)
	duration := fs.duration("duration", 0, "stop after this long (0: run until Ctrl-C)")
	users := fs.Int("users", 5000, "simulated users")
	days := fs.Int("days", 180, "simulated days of event time")
	speed := fs.Float64("speed", 4, "days of event time per second of wall time")
	seed := fs.Int64("seed", 1, "random seed of the population")
	partitions := fs.Int("partitions", 4, "partitions of each topic")
	stateDir := fs.String("state-dir", "", "directory of the Pebble store (default: a temporary directory, removed at the end)")
	hf := fs.httpFlags()
	if err := fs.parse(args, stdout); err != nil {
		return err
	}
	httpAddr, httpCfg, err := hf.config()
	if err != nil {
		return err
	}
	if *speed <= 0 {
		return fmt.Errorf("%w: --speed %v must be positive", errUsage, *speed)
	}
	if *partitions < 1 || *partitions > 64 {
		return fmt.Errorf("%w: --partitions %d: use 1 to 64", errUsage, *partitions)
	}
	if *duration > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, *duration)
		defer cancel()
	}
	dir := *stateDir
	if dir == "" {
		tmp, err := os.MkdirTemp("", "lifecycle-demo-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(tmp)
		dir = tmp
	}

	// Logs go to a file: the terminal shows the live view.
	logFile, err := os.Create(filepath.Join(dir, "demo.log"))
	if err != nil {
		return err
	}
	defer logFile.Close()
	log := fileLogger(logFile)

	broker, err := kfake.NewCluster(kfake.NumBrokers(1))
	if err != nil {
		return fmt.Errorf("starting the embedded broker: %w", err)
	}
	defer broker.Close()
	conn := processor.Conn{Brokers: broker.ListenAddrs()}
	const group = "lifecycle-demo"
	topics := processor.DefaultTopics()
	topics.Changelog = processor.ChangelogTopic(group)
	if err := createTopics(ctx, conn, topics, processor.TopicSpec{Partitions: int32(*partitions)}, log); err != nil {
		return err
	}

	storeDir := filepath.Join(dir, "state")
	store, err := state.Open(state.Options{Dir: storeDir, Log: log, OnDiskFull: exitOnDiskFull(storeDir, log, stderr)})
	if err != nil {
		return err
	}
	defer store.Close()
	proc, err := processor.New(processor.Config{Conn: conn, Group: group, Topics: topics, Log: log}, store)
	if err != nil {
		return err
	}
	header := fmt.Sprintf("embedded Kafka at %s, %d partitions, %d simulated users over %d days at %.3g days/s",
		strings.Join(conn.Brokers, ","), *partitions, *users, *days, *speed)
	if httpAddr != "" {
		// The server's own errors go to the log file, not over the live view.
		if httpCfg.ErrorLog, err = zap.NewStdLogAt(log.With(zap.String("component", "http")), zap.WarnLevel); err != nil {
			return err
		}
		srv, err := httpapi.Listen(httpAddr, httpapi.Handler(proc), httpCfg)
		if err != nil {
			return fmt.Errorf("%w: --http %s: %v (give another address, or --http off)", errUsage, httpAddr, err)
		}
		go srv.Serve()
		defer func() {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			srv.Shutdown(ctx)
		}()
		header += "\nlive page: " + pageURL(srv.Addr())
		fmt.Fprintf(stdout, "lifecycle demo: live page at %s (and /v1/stats, /metrics)\n", pageURL(srv.Addr()))
	}
	procDone := make(chan error, 1)
	go func() { procDone <- proc.Run(ctx) }()

	simCfg := simulate.Config{Users: *users, Days: *days, Seed: *seed, BadRate: 0.002, DupRate: 0.01, LateRate: 0.01}
	simDone := make(chan error, 1)
	go func() { simDone <- producePaced(ctx, conn, simCfg, *speed) }()

	view := newDemoView(stdout, header)
	tick := time.NewTicker(view.every)
	defer tick.Stop()
	var simErr error
	simRunning := true
	last := proc.Stats()
	for {
		select {
		case <-tick.C:
			last = proc.Stats()
			view.show(last, simRunning)
			continue
		case err := <-simDone:
			simRunning, simErr = false, err
			continue
		case err := <-procDone:
			if err != nil {
				return err
			}
		}
		break
	}
	if simErr != nil && !errors.Is(simErr, context.Canceled) && !errors.Is(simErr, context.DeadlineExceeded) {
		return simErr
	}
	st := proc.Stats()
	fmt.Fprintf(stdout, "\ndemo ended at event time %s: %d events applied, %d transitions, %d churn warnings, %d segment changes, %d dead letters, %d duplicates dropped\nusers per stage: %s\n",
		last.StreamTime.Format("2006-01-02"), st.Applied, st.Transitions, st.Warnings, st.SegmentChanges, st.Rejected, st.Duplicates, stageLine(last))
	return nil
}

// pageURL is the address of the page served at addr, with localhost for an
// address that listens on every interface.
func pageURL(addr net.Addr) string {
	host, port, err := net.SplitHostPort(addr.String())
	if err != nil {
		return "http://" + addr.String() + "/"
	}
	if ip := net.ParseIP(host); ip == nil || ip.IsUnspecified() {
		host = "localhost"
	}
	return "http://" + net.JoinHostPort(host, port) + "/"
}

// producePaced writes the simulated population to the input topics, with
// event time running speed days per wall-clock second.
func producePaced(ctx context.Context, conn processor.Conn, cfg simulate.Config, speed float64) error {
	sink := produce.NewSink(ctx, conn.Writer())
	defer sink.Close()
	wallStart := time.Now()
	var simStart int64
	msPerWallMs := speed * float64(rules.Day) / 1000
	_, err := simulate.Run(ctx, cfg, func(r simulate.Record) error {
		if simStart == 0 {
			simStart = r.Time
		}
		due := wallStart.Add(time.Duration(float64(r.Time-simStart)/msPerWallMs) * time.Millisecond)
		if wait := time.Until(due); wait > 20*time.Millisecond {
			if err := sink.Flush(); err != nil {
				return err
			}
			select {
			case <-time.After(wait):
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		return sink.Add(kafka.Message{Topic: r.Topic, Key: r.Key, Value: r.Value})
	})
	if err != nil {
		return err
	}
	return sink.Flush()
}

// demoView draws the live view: redrawn in place on a terminal, plain lines
// every few seconds otherwise.
type demoView struct {
	w        io.Writer
	tty      bool
	every    time.Duration
	header   string
	start    time.Time
	lastAt   time.Time
	lastSeen int64
}

func newDemoView(w io.Writer, header string) *demoView {
	v := &demoView{w: w, header: header, start: time.Now(), every: 5 * time.Second}
	if f, ok := w.(*os.File); ok {
		if fi, err := f.Stat(); err == nil && fi.Mode()&os.ModeCharDevice != 0 {
			v.tty, v.every = true, 500*time.Millisecond
		}
	}
	v.lastAt = v.start
	return v
}

func (v *demoView) show(st processor.Stats, producing bool) {
	now := time.Now()
	rate := float64(st.Applied-v.lastSeen) / now.Sub(v.lastAt).Seconds()
	v.lastSeen, v.lastAt = st.Applied, now
	eventTime := "-"
	if !st.StreamTime.IsZero() {
		eventTime = st.StreamTime.Format("2006-01-02")
	}
	if !v.tty {
		fmt.Fprintf(v.w, "%5.0fs event time %s  events/s %6.0f  applied %d  transitions %d  warnings %d  segment changes %d  DLQ %d  stages %s\n",
			now.Sub(v.start).Seconds(), eventTime, rate, st.Applied, st.Transitions, st.Warnings, st.SegmentChanges, st.Rejected, stageLine(st))
		return
	}
	var b strings.Builder
	b.WriteString("\x1b[H\x1b[2J")
	fmt.Fprintf(&b, "lifecycle demo: %s\n\n", v.header)
	state := "producing"
	if !producing {
		state = "all events produced"
	}
	fmt.Fprintf(&b, "wall %4.0fs   event time %s   %s\n", now.Sub(v.start).Seconds(), eventTime, state)
	fmt.Fprintf(&b, "events/s %8.0f   applied %d   transitions %d   churn warnings %d   segment changes %d\nDLQ %d   duplicates dropped %d   outputs delivered %d\n\n",
		rate, st.Applied, st.Transitions, st.Warnings, st.SegmentChanges, st.Rejected, st.Duplicates, st.Sent)
	b.WriteString("users per stage\n")
	total := int64(0)
	for _, n := range st.Stages {
		total += n
	}
	for _, s := range rules.Stages[1:] {
		n := st.Stages[s]
		bar := 0
		if total > 0 {
			bar = int(40 * n / total)
		}
		fmt.Fprintf(&b, "  %-8s %7d %s\n", s, n, strings.Repeat("█", bar))
	}
	b.WriteString("\nbuyers per RFM segment (quintiles rebuilt weekly in event time)\n")
	for i := 1; i < len(st.Segments); i++ {
		fmt.Fprintf(&b, "  %-18s %6d\n", segments.Segment(i), st.Segments[i])
	}
	b.WriteString("\nrecent transitions (event time)\n")
	recent := st.Recent
	if len(recent) > 12 {
		recent = recent[len(recent)-12:]
	}
	for _, r := range recent {
		ret := ""
		if r.Returned {
			ret = "  (returned)"
		}
		fmt.Fprintf(&b, "  %s  %s  %s → %s%s\n", time.UnixMilli(r.At).UTC().Format("2006-01-02 15:04"), r.UserID, r.From, r.To, ret)
	}
	b.WriteString("\nCtrl-C to stop\n")
	io.WriteString(v.w, b.String())
}

func stageLine(st processor.Stats) string {
	parts := make([]string, 0, len(rules.Stages)-1)
	for _, s := range rules.Stages[1:] {
		parts = append(parts, fmt.Sprintf("%s=%d", s, st.Stages[s]))
	}
	return strings.Join(parts, " ")
}
