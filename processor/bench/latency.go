package bench

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/lifecycle-engine/lifecycle/processor"
)

// latencyRun is one latency measurement: n events, each the first of a new
// user whose id is prefix and the event's index, the time each was sent,
// and the times they were read.
type latencyRun struct {
	n        int
	prefix   string
	sent     []int64  // Unix ns of event i's produce call
	out      arrivals // its transition read from the transitions topic
	in       arrivals // the event itself read from its input topic (the floor)
	produced atomic.Int64
}

// arrivals are when each event's record was read: at[i] is Unix ns, 0 until
// read; n counts the events read.
type arrivals struct {
	at []atomic.Int64
	n  atomic.Int64
}

// latency runs the processor on fresh topics, waits until it owns every
// partition, then produces Rate events/s for Duration, each the first event
// of a new user, and times each event to its transition on the transitions
// topic.
func (r *Runner) latency(ctx context.Context) (*LatencyResult, error) {
	t, group, err := r.topics(ctx, "latency")
	if err != nil {
		return nil, err
	}
	p, err := r.openProcessor(group, t)
	if err != nil {
		return nil, err
	}
	defer p.close()
	p.start(ctx)
	if err := r.awaitPartitions(ctx, p.proc); err != nil {
		return nil, err
	}
	// Let its readers connect and long-poll.
	time.Sleep(time.Second)

	n := int(float64(r.cfg.Rate) * r.cfg.Duration.Seconds())
	l := &latencyRun{n: n, prefix: "l" + strconv.FormatInt(time.Now().UnixNano()%1e6, 36) + "-", sent: make([]int64, n)}
	l.out.at, l.in.at = make([]atomic.Int64, n), make([]atomic.Int64, n)
	stopConsumers := r.startConsumers(ctx, l, t)
	defer stopConsumers()
	time.Sleep(500 * time.Millisecond)

	w := r.conn.Writer()
	defer w.Close()
	cpu0 := cpuSeconds()
	start, produceSecs, err := r.produce(ctx, w, l, t)
	if err != nil {
		return nil, err
	}
	for deadline := time.Now().Add(30 * time.Second); l.out.n.Load() < int64(n) && time.Now().Before(deadline); {
		time.Sleep(10 * time.Millisecond)
	}
	cpu := cpuSeconds() - cpu0

	res := r.latencyResult(l, start, produceSecs, cpu)
	if res.Received < n {
		return res, fmt.Errorf("latency: only %d of %d transitions arrived within 30 s of the last event", res.Received, n)
	}
	return res, nil
}

// awaitPartitions waits, at most 2 minutes, until the processor is ready
// and owns every partition.
func (r *Runner) awaitPartitions(ctx context.Context, proc *processor.Processor) error {
	r.progress("latency: waiting for the processor to own its %d partitions", r.partitions)
	for deadline := time.Now().Add(2 * time.Minute); ; {
		if proc.Ready() && proc.Stats().Partitions == int(r.partitions) {
			return nil
		}
		if time.Now().After(deadline) {
			return errors.New("latency: the processor did not take its partitions within 2 minutes")
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// startConsumers starts consumers of the transitions topic, one per
// partition, from its start (the topic is fresh); stop ends them.
func (r *Runner) startConsumers(ctx context.Context, l *latencyRun, t processor.Topics) (stop func()) {
	c := &consumers{conn: r.conn, dialer: r.conn.Dialer(), l: l}
	var cancel context.CancelFunc
	c.ctx, cancel = context.WithCancel(ctx)
	// Readers of the input topics too: produce → readable on an input is
	// the floor under the processor's own latency (two such hops plus the
	// processor make the event → transition latency).
	for p := range int(r.partitions) {
		c.consume(t.Transitions, p, &l.out)
		if r.cfg.LatencyFloor {
			for _, in := range t.Inputs {
				c.consume(in, p, &l.in)
			}
		}
	}
	return func() { cancel(); c.wg.Wait() }
}

// consumers read the latency mode's events and their transitions.
type consumers struct {
	ctx    context.Context
	wg     sync.WaitGroup
	conn   processor.Conn
	dialer *kafka.Dialer
	l      *latencyRun
}

// consume reads partition p of topic and stamps got with the time each of
// the run's events is read, once.
func (c *consumers) consume(topic string, p int, got *arrivals) {
	rd := kafka.NewReader(kafka.ReaderConfig{
		Brokers: c.conn.Brokers, Dialer: c.dialer, Topic: topic, Partition: p,
		MinBytes: 1, MaxBytes: 8 << 20, MaxWait: 250 * time.Millisecond, QueueCapacity: 4096,
	})
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		defer rd.Close()
		for {
			m, err := rd.FetchMessage(c.ctx)
			if err != nil {
				return
			}
			now := time.Now().UnixNano()
			k, ok := strings.CutPrefix(string(m.Key), c.l.prefix)
			if !ok {
				continue
			}
			i, err := strconv.Atoi(k)
			if err != nil || i < 0 || i >= c.l.n {
				continue
			}
			if got.at[i].CompareAndSwap(0, now) {
				got.n.Add(1)
			}
		}
	}()
}

// latencyResult makes the result of the run: the latencies of the events
// sent after the warm-up second, and the floor when measured.
func (r *Runner) latencyResult(l *latencyRun, start time.Time, produceSecs, cpu float64) *LatencyResult {
	n := l.n
	res := &LatencyResult{RatePerSec: r.cfg.Rate, Seconds: produceSecs, Produced: n, AchievedRate: float64(n) / produceSecs,
		Received: int(l.out.n.Load()), CPUSecPerM: cpu / float64(n) * 1e6, LoadAvg: loadAvg()}
	warm := start.Add(time.Second).UnixNano()
	lats := l.latencies(&l.out, warm)
	res.Counted = len(lats)
	if r.cfg.LatencyFloor {
		if in := l.latencies(&l.in, warm); len(in) > 0 {
			res.Floor = &LatencyFloor{P50ms: percentile(in, 50), P99ms: percentile(in, 99), P999ms: percentile(in, 99.9), MaxMs: in[len(in)-1]}
			r.progress("latency floor (produce → readable on an input topic): p50 %.2f ms, p99 %.2f ms, p99.9 %.2f ms", res.Floor.P50ms, res.Floor.P99ms, res.Floor.P999ms)
		}
	}
	if len(lats) > 0 {
		res.P50ms, res.P99ms, res.P999ms, res.MaxMs = percentile(lats, 50), percentile(lats, 99), percentile(lats, 99.9), lats[len(lats)-1]
	}
	r.progress("latency: %d of %d transitions read; p50 %.2f ms, p99 %.2f ms, p99.9 %.2f ms, max %.2f ms",
		res.Received, n, res.P50ms, res.P99ms, res.P999ms, res.MaxMs)
	return res
}

// latencies are the milliseconds from send to got of the events sent at
// or after warm (Unix ns) and read, sorted.
func (l *latencyRun) latencies(got *arrivals, warm int64) []float64 {
	lats := make([]float64, 0, l.n)
	for i := range l.n {
		at := got.at[i].Load()
		if at == 0 || l.sent[i] < warm {
			continue
		}
		lats = append(lats, float64(at-l.sent[i])/1e6)
	}
	slices.Sort(lats)
	return lats
}

// percentile of sorted values, nearest rank.
func percentile(sorted []float64, p float64) float64 {
	i := int(math.Ceil(p/100*float64(len(sorted)))) - 1
	return sorted[max(0, min(i, len(sorted)-1))]
}

// pacer hands out the events that are due at rate per second since start.
type pacer struct {
	mu       sync.Mutex
	next     int
	start    time.Time
	rate     int
	n        int
	maxBatch int
	err      atomic.Pointer[error] // the first failed write
}

// claim takes the next events that are due, at most maxBatch of them:
// [from, to), empty when none is due yet; from >= n when every event is
// taken.
func (p *pacer) claim() (from, to int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	due := min(p.n, int(time.Since(p.start).Seconds()*float64(p.rate)))
	from = p.next
	to = min(due, from+p.maxBatch)
	p.next = to
	return from, to
}

// produce is the paced producer: writers claim the events that are due (at
// most 10 ms of them at a time), stamp their send time and write them; when
// nothing is due they wait a moment. Several writers keep the rate when one
// is waiting for its acknowledgement. It returns when every event is
// written: when it started, and the seconds it took.
func (r *Runner) produce(ctx context.Context, w *kafka.Writer, l *latencyRun, t processor.Topics) (time.Time, float64, error) {
	p := &pacer{rate: r.cfg.Rate, n: l.n, maxBatch: max(1, r.cfg.Rate/100)}
	r.progress("latency: producing %d events/s for %v (%d events)", r.cfg.Rate, r.cfg.Duration, l.n)
	p.start = time.Now()
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r.writeDue(ctx, w, p, l, t)
		}()
	}
	stopProgress := r.latencyProgress(l)
	wg.Wait()
	stopProgress()
	produceSecs := time.Since(p.start).Seconds()
	if e := p.err.Load(); e != nil {
		return p.start, produceSecs, fmt.Errorf("latency producer: %w", *e)
	}
	return p.start, produceSecs, nil
}

// writeDue is one writer of produce: it writes the events it claims until
// none is left, the context ends or a write fails.
func (r *Runner) writeDue(ctx context.Context, w *kafka.Writer, p *pacer, l *latencyRun, t processor.Topics) {
	var g eventGen
	rng := rand.New(rand.NewPCG(r.seed, uint64(time.Now().UnixNano())))
	var msgs []kafka.Message
	for ctx.Err() == nil && p.err.Load() == nil {
		from, to := p.claim()
		if from >= l.n {
			return
		}
		if from == to {
			time.Sleep(200 * time.Microsecond)
			continue
		}
		msgs = msgs[:0]
		now := time.Now()
		for i := from; i < to; i++ {
			draw := rng.Uint64()
			typ := benchKind(draw % 100)
			uid := l.prefix + strconv.Itoa(i)
			msgs = append(msgs, kafka.Message{Topic: t.Inputs[typ], Key: []byte(uid),
				Value: g.value("e-"+uid, uid, typ, now.UnixMilli(), draw>>8)})
			l.sent[i] = now.UnixNano()
		}
		if err := w.WriteMessages(ctx, msgs...); err != nil {
			p.err.CompareAndSwap(nil, &err)
		}
		l.produced.Add(int64(to - from))
	}
}

// latencyProgress writes the counts every 2 s until stop.
func (r *Runner) latencyProgress(l *latencyRun) (stop func()) {
	done := make(chan struct{})
	go func() {
		tick := time.NewTicker(2 * time.Second)
		defer tick.Stop()
		for {
			select {
			case <-tick.C:
				r.progress("latency: %d produced, %d transitions read", l.produced.Load(), l.out.n.Load())
			case <-done:
				return
			}
		}
	}()
	return func() { close(done) }
}
