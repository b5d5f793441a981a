package processor

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/segmentio/kafka-go"
	"go.uber.org/zap/zaptest"

	"github.com/lifecycle-engine/lifecycle/state"
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
				partition: 0, jobs: make(chan job, 1), w: out, changelog: cl, store: openStore(t, vfs.NewMem()),
				commit: committer, stats: &partitionStats{}, log: zaptest.NewLogger(t),
				session: 10 * time.Second, lastContact: time.Now().Add(-time.Minute), // paused for a minute
				committed: map[string]int64{"in": 5},
			}
			s.jobs <- job{from: 0, to: 1, outs: []state.Output{{Topic: "out", Key: []byte("u")}},
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
