package processor

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/segmentio/kafka-go"
	"go.uber.org/zap/zaptest"

	"github.com/lifecycle-engine/lifecycle/schemas"
	"github.com/lifecycle-engine/lifecycle/state/record"
)

type recordingWriter struct{ msgs []kafka.Message }

func (w *recordingWriter) WriteMessages(_ context.Context, msgs ...kafka.Message) error {
	w.msgs = append(w.msgs, msgs...)
	return nil
}

type fakeCommitter struct {
	err   error
	calls int
}

func (c *fakeCommitter) CommitOffsets(map[string]map[int]int64) error {
	c.calls++
	return c.err
}

// TestZombieWritesNothing: a sender that was out of touch for longer than
// half a session asks the coordinator before writing, and a member the
// group has dropped writes neither outputs nor changelog records.
func TestZombieWritesNothing(t *testing.T) {
	for _, tc := range []struct {
		name      string
		commitErr error
		wantErr   error
		wantMsgs  int
	}{
		{"still a member", nil, nil, 2},
		{"dropped from the group", kafka.UnknownMemberId, errNotMember, 0},
		{"generation moved on", kafka.IllegalGeneration, errNotMember, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, cl := &recordingWriter{}, &recordingWriter{}
			committer := &fakeCommitter{err: tc.commitErr}
			s := &sender{
				partition: 0, jobs: make(chan job, 1), w: out, changelog: cl, changelogChunk: changelogChunkLimits(defaultMaxMessageBytes), store: openStore(t, vfs.NewMem()),
				commit: committer, stats: &partitionStats{}, log: zaptest.NewLogger(t),
				session: 10 * time.Second, lastContact: time.Now().Add(-time.Minute), // paused for a minute
				committed: map[string]int64{"in": 5},
			}
			s.jobs <- job{from: 0, to: 1, outs: []record.Output{{Topic: "out", Key: []byte("u")}},
				changelog: []kafka.Message{{Topic: "cl", Key: []byte("m")}}, offsets: map[string]int64{"in": 6}}
			close(s.jobs)
			err := s.run(context.Background())
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("run = %v, want %v", err, tc.wantErr)
			}
			if got := len(out.msgs) + len(cl.msgs); got != tc.wantMsgs {
				t.Errorf("wrote %d records, want %d", got, tc.wantMsgs)
			}
			if committer.calls == 0 {
				t.Error("the membership was not checked after the pause")
			}
		})
	}
}

// refusingWriter acts as a broker whose topic "out" takes records of at
// most limit bytes: a write that holds a larger one is refused as a whole,
// as a broker refuses the batch, with MessageSizeTooLarge for every record.
type refusingWriter struct {
	limit int
	calls int
	msgs  []kafka.Message
}

func (w *refusingWriter) WriteMessages(_ context.Context, msgs ...kafka.Message) error {
	w.calls++
	for _, m := range msgs {
		if m.Topic == "out" && len(m.Key)+len(m.Value) > w.limit {
			errs := make(kafka.WriteErrors, len(msgs))
			for i := range errs {
				errs[i] = kafka.MessageSizeTooLarge
			}
			return errs
		}
	}
	w.msgs = append(w.msgs, msgs...)
	return nil
}

// TestRefusedOutputSetAside: an output that Kafka refuses for good is set
// aside with a notice on the dead-letter topic; the outputs around it are
// delivered in order, the job completes, and nothing is retried for ever.
func TestRefusedOutputSetAside(t *testing.T) {
	out := &refusingWriter{limit: 100}
	stats := &partitionStats{}
	s := &sender{
		partition: 0, jobs: make(chan job, 1), w: out, changelog: &recordingWriter{}, store: openStore(t, vfs.NewMem()),
		stats: stats, log: zaptest.NewLogger(t), dlq: "dlq", dlqMaxBytes: 1 << 20,
	}
	big := bytes.Repeat([]byte("x"), 5000)
	s.jobs <- job{from: 0, to: 3, outs: []record.Output{
		{Topic: "out", Key: []byte("a"), Value: []byte("1")},
		{Topic: "out", Key: []byte("b"), Value: big, Headers: []record.Header{{Key: schemas.HeaderID, Value: []byte("id-b")}}},
		{Topic: "out", Key: []byte("c"), Value: []byte("3")},
	}}
	close(s.jobs)
	done := make(chan error, 1)
	go func() { done <- s.run(context.Background()) }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("run = %v", err)
		}
	case <-time.After(time.Minute):
		t.Fatalf("the sender is still retrying a refused output after %d writes", out.calls)
	}
	var got []string
	for _, m := range out.msgs {
		got = append(got, m.Topic+"/"+string(m.Key))
	}
	if want := []string{"out/a", "dlq/b", "out/c"}; !slices.Equal(got, want) {
		t.Fatalf("delivered %v, want %v", got, want)
	}
	notice := out.msgs[1]
	sum := sha256.Sum256(big)
	for k, want := range map[string]string{
		schemas.HeaderDLQCode:         schemas.DLQCodeOutputRefused,
		schemas.HeaderDLQTopic:        "out",
		schemas.HeaderDLQOutputID:     "id-b",
		schemas.HeaderDLQOriginalSize: "5000",
		schemas.HeaderDLQSHA256:       hex.EncodeToString(sum[:]),
	} {
		if h := header(notice, k); h != want {
			t.Errorf("notice header %s = %q, want %q", k, h, want)
		}
	}
	if len(notice.Value) > noticeValueBytes || !bytes.HasPrefix(big, notice.Value) {
		t.Errorf("notice value: %d bytes, want the first %d of the output", len(notice.Value), noticeValueBytes)
	}
	if n := stats.deadOutputs.Load(); n != 1 {
		t.Errorf("dead outputs counted: %d, want 1", n)
	}
	if seqs, _, err := s.store.Outbox(0); err != nil || len(seqs) != 0 {
		t.Errorf("outbox after the job: %v (%v), want empty", seqs, err)
	}
}

// TestUntilNext: every partition's changelog stage wakes at the same
// boundaries, whenever its batch came, and never waits longer than the
// linger.
func TestUntilNext(t *testing.T) {
	const d = 100 * time.Millisecond
	base := time.Date(2026, 12, 5, 18, 0, 0, 0, time.UTC)
	for _, at := range []time.Duration{0, time.Nanosecond, 37 * time.Millisecond, d - time.Nanosecond, d, 5*d + 3*time.Millisecond} {
		now := base.Add(at)
		w := untilNext(now, d)
		if w <= 0 || w > d {
			t.Errorf("at +%v: waits %v; want within (0, %v]", at, w, d)
		}
		if end := now.Add(w); end.UnixNano()%int64(d) != 0 {
			t.Errorf("at +%v: wakes at %v, not on a %v boundary", at, end, d)
		}
	}
}
