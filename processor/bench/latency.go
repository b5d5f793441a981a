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
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/lifecycle-engine/lifecycle/processor"
)

// The latency mode times each event from its input record to its output,
// by the broker's clock at both ends: the input topics and the output
// topic use LogAppendTime, so the figure is what the processor adds to the
// broker's own hop, without the bench producer's or reader's (issue 18's
// measure). Beside it, end to end: the produce call to the output read.
//
// With LatencyFloor it first measures, alone and at the same rate, a
// pass-through: kafka-go readers configured as the processor's, writing
// every record on at once with the processor's writer, no state. That is
// the floor the processor's figure is compared with.

// latencyRun is one latency measurement: n events, each the first of a new
// user whose id is prefix and the event's index.
type latencyRun struct {
	n      int
	prefix string
	sent   []int64        // Unix ns of event i's produce call
	in     []atomic.Int64 // Unix ns of its input record's LogAppendTime
	out    arrivals       // its output
	// produced counts the events written so far.
	produced atomic.Int64
}

// arrivals are the outputs read: for event i, when it was read and its
// LogAppendTime (Unix ns, 0 until read); n counts the events read.
type arrivals struct {
	read, appended []atomic.Int64
	n              atomic.Int64
}

func newLatencyRun(n int, phase string) *latencyRun {
	l := &latencyRun{n: n, prefix: phase[:1] + strconv.FormatInt(time.Now().UnixNano()%1e6, 36) + "-", sent: make([]int64, n), in: make([]atomic.Int64, n)}
	l.out.read, l.out.appended = make([]atomic.Int64, n), make([]atomic.Int64, n)
	return l
}

// latency measures the floor (with LatencyFloor), then the processor on
// fresh topics once it owns every partition.
func (r *Runner) latency(ctx context.Context) (*LatencyResult, error) {
	var floor *LatencyFloor
	if r.cfg.LatencyFloor {
		var err error
		if floor, err = r.passThrough(ctx); err != nil {
			return nil, err
		}
	}
	t, group, err := r.topics(ctx, "latency")
	if err != nil {
		return nil, err
	}
	if err := r.appendTime(ctx, append(slices.Clone(t.Inputs), t.Transitions)); err != nil {
		return nil, err
	}
	cpu := cpuSeconds
	if r.cfg.Isolate {
		child, stop, err := r.startChild(ctx, group, t)
		if err != nil {
			return nil, err
		}
		defer stop()
		pid := child.cmd.Process.Pid
		cpu = func() float64 { return processCPU(pid) }
	} else {
		p, err := r.openProcessor(group, t)
		if err != nil {
			return nil, err
		}
		defer p.close()
		p.start(ctx)
		if err := r.awaitPartitions(ctx, p.proc); err != nil {
			return nil, err
		}
	}
	// Let its readers connect and long-poll.
	time.Sleep(time.Second)
	var profile string
	if r.cfg.Mode == "latency" && !r.cfg.Isolate {
		profile = r.cfg.CPUProfile
	}
	stopProfile, err := startCPUProfile(profile)
	if err != nil {
		return nil, err
	}
	m, err := r.measure(ctx, "latency", t.Inputs, t.Transitions, cpu)
	stopProfile()
	if err != nil {
		return nil, err
	}
	res := m.result(r.cfg.Rate)
	res.Floor, res.Isolated = floor, r.cfg.Isolate
	r.progress("latency, input → output by LogAppendTime: %s; end to end: %s", res.Appended, res.EndToEnd)
	if res.Received < m.l.n {
		return res, fmt.Errorf("latency: only %d of %d transitions arrived within 30 s of the last event", res.Received, m.l.n)
	}
	return res, nil
}

// appendTime has the broker stamp the records of topics with their append
// time (message.timestamp.type LogAppendTime).
func (r *Runner) appendTime(ctx context.Context, topics []string) error {
	resp, err := r.adm.AlterTopicConfigs(ctx, []kadm.AlterConfig{{Op: kadm.SetConfig, Name: "message.timestamp.type", Value: kadm.StringPtr("LogAppendTime")}}, topics...)
	if err != nil {
		return fmt.Errorf("latency: setting LogAppendTime: %w", err)
	}
	for _, c := range resp {
		if c.Err != nil {
			return fmt.Errorf("latency: setting LogAppendTime on %s: %w %s", c.Name, c.Err, c.ErrMessage)
		}
	}
	return nil
}

// measurement is a paced run's events and what it cost.
type measurement struct {
	l           *latencyRun
	warm        int // the first warm events are the warm-up (Config.WarmUp): not counted
	produceSecs float64
	cpu         float64 // CPU seconds of the process from the first counted event to the last output
}

// measure produces Rate events/s for WarmUp and then Duration to the
// inputs, each the first event of a new user, and reads their outputs
// from out until all have arrived or 30 s have passed since the last
// event. cpuSeconds is the CPU time the measurement counts: this
// process's, or the processor's, from the end of the warm-up.
func (r *Runner) measure(ctx context.Context, phase string, inputs []string, out string, cpuSeconds func() float64) (*measurement, error) {
	warm := int(float64(r.cfg.Rate) * r.cfg.WarmUp.Seconds())
	n := warm + int(float64(r.cfg.Rate)*r.cfg.Duration.Seconds())
	if n == warm {
		return nil, fmt.Errorf("latency: --rate %d for --duration %v is no event to measure; raise either", r.cfg.Rate, r.cfg.Duration)
	}
	l := newLatencyRun(n, phase)
	stop, err := r.readOutputs(ctx, l, out)
	if err != nil {
		return nil, err
	}
	defer stop()
	time.Sleep(500 * time.Millisecond)

	var cpu0 float64
	produceSecs, err := r.produce(ctx, l, inputs, warm, func() { cpu0 = cpuSeconds() })
	if err != nil {
		return nil, err
	}
	for deadline := time.Now().Add(30 * time.Second); l.out.n.Load() < int64(n) && time.Now().Before(deadline); {
		time.Sleep(10 * time.Millisecond)
	}
	return &measurement{l: l, warm: warm, produceSecs: produceSecs, cpu: cpuSeconds() - cpu0}, nil
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

// readOutputs reads topic from its start (it is fresh) and stamps, for each
// of the run's events, when its record was read and its LogAppendTime.
// franz-go's consumer reads that time from the record batch; kafka-go's
// Reader reports the producer's timestamp whatever the topic's type.
func (r *Runner) readOutputs(ctx context.Context, l *latencyRun, topic string) (stop func(), err error) {
	cl, err := r.conn.Client(kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.FetchMaxWait(250*time.Millisecond))
	if err != nil {
		return nil, err
	}
	cctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for cctx.Err() == nil {
			fetches := cl.PollFetches(cctx)
			now := time.Now().UnixNano()
			fetches.EachRecord(func(rec *kgo.Record) {
				if i, ok := l.index(rec.Key); ok && l.out.read[i].CompareAndSwap(0, now) {
					l.out.appended[i].Store(rec.Timestamp.UnixNano())
					l.out.n.Add(1)
				}
			})
		}
	}()
	return func() { cancel(); <-done; cl.Close() }, nil
}

// index is the event number of a key of this run.
func (l *latencyRun) index(key []byte) (int, bool) {
	k, ok := strings.CutPrefix(string(key), l.prefix)
	if !ok {
		return 0, false
	}
	i, err := strconv.Atoi(k)
	return i, err == nil && i >= 0 && i < l.n
}

// result is the measurement's figures, over the events after the
// warm-up.
func (m *measurement) result(rate int) *LatencyResult {
	l := m.l
	res := &LatencyResult{RatePerSec: rate, WarmUpEvents: m.warm, Seconds: m.produceSecs, Produced: l.n, AchievedRate: float64(l.n) / m.produceSecs,
		Received: int(l.out.n.Load()), CPUSecPerM: m.cpu / float64(l.n-m.warm) * 1e6, LoadAvg: loadAvg()}
	var appended, e2e []float64
	for i := m.warm; i < l.n; i++ {
		read, out, in := l.out.read[i].Load(), l.out.appended[i].Load(), l.in[i].Load()
		if read == 0 {
			continue
		}
		e2e = append(e2e, float64(read-l.sent[i])/1e6)
		if in > 0 && out > 0 {
			appended = append(appended, float64(out-in)/1e6)
		}
	}
	res.Counted = len(e2e)
	res.Appended, res.EndToEnd = percentiles(appended), percentiles(e2e)
	return res
}

// percentiles of values (sorted in place), nearest rank.
func percentiles(v []float64) Percentiles {
	if len(v) == 0 {
		return Percentiles{}
	}
	slices.Sort(v)
	at := func(p float64) float64 {
		i := int(math.Ceil(p/100*float64(len(v)))) - 1
		return v[max(0, min(i, len(v)-1))]
	}
	return Percentiles{Count: len(v), P50ms: at(50), P95ms: at(95), P99ms: at(99), P999ms: at(99.9), MaxMs: v[len(v)-1]}
}

// passThrough measures the floor: topics of its own (inputs and one output,
// all LogAppendTime); per partition, a kafka-go reader per input topic,
// configured as the processor's were until issue 18 (it fetches with one
// franz-go client now, processor/inputs.go), and one writer, the
// processor's, that writes what was read at once, in batches of what has
// arrived.
func (r *Runner) passThrough(ctx context.Context) (*LatencyFloor, error) {
	t, _, err := r.topics(ctx, "floor")
	if err != nil {
		return nil, err
	}
	if err := r.appendTime(ctx, append(slices.Clone(t.Inputs), t.Transitions)); err != nil {
		return nil, err
	}
	fctx, stop := context.WithCancel(ctx)
	var wg sync.WaitGroup
	for p := range int(r.partitions) {
		in := make(chan kafka.Message, 4096)
		for _, topic := range t.Inputs {
			rd := kafka.NewReader(kafka.ReaderConfig{
				Brokers: r.conn.Brokers, Dialer: r.conn.Dialer(), Topic: topic, Partition: p,
				MinBytes: 1, MaxBytes: 8 << 20, MaxWait: 250 * time.Millisecond, QueueCapacity: 4096,
			})
			wg.Go(func() {
				defer rd.Close()
				for {
					m, err := rd.FetchMessage(fctx)
					if err != nil {
						return
					}
					select {
					case in <- m:
					case <-fctx.Done():
						return
					}
				}
			})
		}
		wg.Go(func() { forward(fctx, r.conn.Writer(), in, t.Transitions) })
	}
	defer func() { stop(); wg.Wait() }()
	time.Sleep(time.Second) // let the readers connect
	m, err := r.measure(ctx, "floor", t.Inputs, t.Transitions, cpuSeconds)
	if err != nil {
		return nil, err
	}
	res := m.result(r.cfg.Rate)
	f := &LatencyFloor{Appended: res.Appended, EndToEnd: res.EndToEnd, CPUSecPerM: res.CPUSecPerM, Received: res.Received}
	r.progress("latency floor (pass-through), input → output by LogAppendTime: %s; end to end: %s", f.Appended, f.EndToEnd)
	if res.Received < m.l.n {
		return f, fmt.Errorf("latency floor: only %d of %d records passed through within 30 s of the last event", res.Received, m.l.n)
	}
	return f, nil
}

// forward writes the records of in to topic until ctx ends: each write
// takes every record that has arrived by then.
func forward(ctx context.Context, w *kafka.Writer, in <-chan kafka.Message, topic string) {
	defer w.Close()
	var batch []kafka.Message
	for {
		batch = batch[:0]
		select {
		case m := <-in:
			batch = append(batch, kafka.Message{Topic: topic, Key: m.Key, Value: m.Value})
		case <-ctx.Done():
			return
		}
		for more := true; more && len(batch) < 10_000; {
			select {
			case m := <-in:
				batch = append(batch, kafka.Message{Topic: topic, Key: m.Key, Value: m.Value})
			default:
				more = false
			}
		}
		if w.WriteMessages(ctx, batch...) != nil {
			return
		}
	}
}

// produce is the paced producer: a ticker every millisecond hands the
// events due by then, as one batch, to one of 8 writers, each of which
// stamps their send time and writes them (several writers keep the rate
// while one waits for its acknowledgement). The writer's acknowledgements
// carry each record's LogAppendTime. warmedUp is called as the events
// after the first warm are handed out. It returns when every event is
// written, with the seconds it took.
func (r *Runner) produce(ctx context.Context, l *latencyRun, inputs []string, warm int, warmedUp func()) (float64, error) {
	w := r.conn.Writer()
	w.Completion = func(msgs []kafka.Message, err error) {
		if err != nil {
			return
		}
		for _, m := range msgs {
			if i, ok := l.index(m.Key); ok && !m.Time.IsZero() {
				l.in[i].Store(m.Time.UnixNano())
			}
		}
	}
	defer w.Close()
	r.progress("latency: producing %d events/s for %v after a warm-up of %v (%d events)", r.cfg.Rate, r.cfg.Duration, r.cfg.WarmUp, l.n)
	type span struct{ from, to int }
	due := make(chan span, 1024)
	var failed atomic.Pointer[error]
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			var g eventGen
			rng := rand.New(rand.NewPCG(r.seed, uint64(time.Now().UnixNano())))
			for s := range due {
				if failed.Load() != nil || ctx.Err() != nil {
					continue // drain
				}
				if err := r.writeEvents(ctx, w, &g, rng, l, inputs, s.from, s.to); err != nil {
					failed.CompareAndSwap(nil, &err)
				}
			}
		})
	}
	stopProgress := r.latencyProgress(l)
	start := time.Now()
	tick := time.NewTicker(time.Millisecond)
	for next := 0; next < l.n && ctx.Err() == nil && failed.Load() == nil; {
		now := <-tick.C
		to := min(l.n, int(now.Sub(start).Seconds()*float64(r.cfg.Rate)))
		for next < to {
			if next == warm {
				warmedUp()
			}
			end := min(to, next+max(1, r.cfg.Rate/100)) // at most 10 ms of events per write
			if next < warm {
				end = min(end, warm) // a write ends at the warm-up's end
			}
			due <- span{next, end}
			next = end
		}
	}
	tick.Stop()
	close(due)
	wg.Wait()
	stopProgress()
	produceSecs := time.Since(start).Seconds()
	if e := failed.Load(); e != nil {
		return produceSecs, fmt.Errorf("latency producer: %w", *e)
	}
	return produceSecs, ctx.Err()
}

// writeEvents writes events [from, to), each the first of a new user.
func (r *Runner) writeEvents(ctx context.Context, w *kafka.Writer, g *eventGen, rng *rand.Rand, l *latencyRun, inputs []string, from, to int) error {
	msgs := make([]kafka.Message, 0, to-from)
	now := time.Now()
	for i := from; i < to; i++ {
		draw := rng.Uint64()
		typ := benchKind(draw % 100)
		uid := l.prefix + strconv.Itoa(i)
		// No Time: the topic's LogAppendTime is the record's timestamp, and
		// the acknowledgement brings it back (Completion).
		msgs = append(msgs, kafka.Message{Topic: inputs[typ], Key: []byte(uid),
			Value: g.value("e-"+uid, uid, typ, now.UnixMilli(), draw>>8)})
		l.sent[i] = now.UnixNano()
	}
	err := w.WriteMessages(ctx, msgs...)
	l.produced.Add(int64(to - from))
	return err
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
				r.progress("latency: %d produced, %d outputs read", l.produced.Load(), l.out.n.Load())
			case <-done:
				return
			}
		}
	}()
	return func() { close(done) }
}
