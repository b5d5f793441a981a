package bench

import (
	"bytes"
	"context"
	"errors"
	"math/rand/v2"
	"strconv"
	"time"

	"github.com/lifecycle-engine/lifecycle/processor"
	"github.com/lifecycle-engine/lifecycle/processor/produce"
	"github.com/lifecycle-engine/lifecycle/processor/simulate"
	"github.com/segmentio/kafka-go"
)

// The workloads of the drain and memory modes.
const (
	WorkloadSimulated = "simulated"
	WorkloadUniform   = "uniform"
)

// eventGen writes the benchmark's events: ~70% logins, ~15% purchases, ~15%
// content, RFC 3339 timestamps, the shape producers write.
type eventGen struct {
	buf []byte
}

var benchKinds = [...]string{"like", "comment", "answer", "post", "review"}

// benchKind picks the event type from a uniform draw r in [0, 100).
func benchKind(r uint64) int {
	switch {
	case r < 70:
		return 0
	case r < 85:
		return 1
	default:
		return 2
	}
}

func (g *eventGen) value(eventID, userID string, typ int, ts int64, r uint64) []byte {
	b := g.buf[:0]
	b = append(b, `{"event_id":"`...)
	b = append(b, eventID...)
	b = append(b, `","user_id":"`...)
	b = append(b, userID...)
	b = append(b, `","type":"`...)
	b = append(b, [...]string{"login", "purchase", "content"}[typ]...)
	b = append(b, `","ts":"`...)
	b = time.UnixMilli(ts).UTC().AppendFormat(b, "2006-01-02T15:04:05.000Z")
	b = append(b, '"')
	switch typ {
	case 1:
		cents := 199 + int64(r%9800)
		b = append(b, `,"amount":"`...)
		b = strconv.AppendInt(b, cents/100, 10)
		b = append(b, '.', byte('0'+cents%100/10), byte('0'+cents%10))
		b = append(b, `","currency":"USD"`...)
	case 2:
		b = append(b, `,"kind":"`...)
		b = append(b, benchKinds[r%uint64(len(benchKinds))]...)
		b = append(b, '"')
	}
	b = append(b, '}')
	g.buf = b
	return bytes.Clone(b)
}

// preload writes at most n events of the workload into the input topics. It
// returns the bytes written (keys and values), the events written (fewer
// than n only when a simulated population has fewer) and the number of
// distinct users among them.
func (s *session) preload(ctx context.Context, t processor.Topics, n, users int) (int64, int, int, error) {
	sink := produce.NewSink(ctx, s.conn.Writer())
	defer sink.Close()
	if s.workload == WorkloadSimulated {
		return s.preloadSimulated(ctx, sink, t, n, users)
	}
	bytesOut, distinct, err := s.preloadUniform(sink, t, n, users)
	return bytesOut, n, distinct, err
}

// errEnough stops the simulator once the bench has the events it asked for.
var errEnough = errors.New("enough events")

// preloadSimulated writes the first n events of the simulator's population
// of users (arrivals over 180 days, power-law activity, lapses, returns and
// dropouts: processor/simulate), in event-time order.
func (s *session) preloadSimulated(ctx context.Context, sink *produce.Sink, t processor.Topics, n, users int) (int64, int, int, error) {
	cfg := simulate.Config{Users: users, Seed: int64(s.seed),
		Topics: simulate.Topics{Login: t.Inputs[0], Purchase: t.Inputs[1], Content: t.Inputs[2]}}
	seen := make(map[string]struct{}, users)
	var bytesOut int64
	var written int
	last := time.Now()
	_, err := simulate.Run(ctx, cfg, func(r simulate.Record) error {
		if written == n {
			return errEnough
		}
		if err := sink.Add(kafka.Message{Topic: r.Topic, Key: r.Key, Value: r.Value}); err != nil {
			return err
		}
		written++
		bytesOut += int64(len(r.Key) + len(r.Value))
		if _, ok := seen[string(r.Key)]; !ok {
			seen[string(r.Key)] = struct{}{}
		}
		if time.Since(last) > 2*time.Second {
			last = time.Now()
			s.progress("preloading: %d of %d events", written, n)
		}
		return nil
	})
	if err != nil && !errors.Is(err, errEnough) {
		return 0, 0, 0, err
	}
	return bytesOut, written, len(seen), sink.Flush()
}

// preloadUniform writes n events: the first min(n, users) are the first
// events of users 0, 1, …; the rest belong to uniformly random users. Event
// time runs evenly over 180 days.
func (s *session) preloadUniform(sink *produce.Sink, t processor.Topics, n, users int) (int64, int, error) {
	rng := rand.New(rand.NewPCG(s.seed, 42))
	var g eventGen
	start := simulate.DefaultStart.UnixMilli()
	step := float64(180*24*time.Hour/time.Millisecond) / float64(n)
	var bytesOut int64
	last := time.Now()
	for i := range n {
		u := i
		if i >= users {
			u = rng.IntN(users)
		}
		r := rng.Uint64()
		typ := benchKind(r % 100)
		uid := "u-" + strconv.Itoa(u)
		v := g.value("e-"+strconv.Itoa(i), uid, typ, start+int64(float64(i)*step), r>>8)
		bytesOut += int64(len(uid) + len(v))
		if err := sink.Add(kafka.Message{Topic: t.Inputs[typ], Key: []byte(uid), Value: v}); err != nil {
			return 0, 0, err
		}
		if time.Since(last) > 2*time.Second {
			last = time.Now()
			s.progress("preloading: %d of %d events", i+1, n)
		}
	}
	return bytesOut, min(n, users), sink.Flush()
}

// uniformEventTime is the event time (Unix ms) of event i of n of the
// uniform workload, as preloadUniform writes it.
func uniformEventTime(i, n int) int64 {
	step := float64(180*24*time.Hour/time.Millisecond) / float64(n)
	return simulate.DefaultStart.UnixMilli() + int64(float64(i)*step)
}
