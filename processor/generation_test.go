package processor

import (
	"slices"
	"testing"

	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/lifecycle-engine/lifecycle/processor/kafkatest"
	"github.com/lifecycle-engine/lifecycle/processor/simulate"
)

// TestAssignmentThatMissedATopic: the group's leader assigns from a
// metadata answer that lacks an input topic (deleted, or created anew a
// moment later), while kafka-go's partition watcher, looking after it,
// finds the topic. kafka-go then assigns nothing and the watcher starts
// no new generation: the group owned nothing until the next rebalance
// (TestInputTopicCreatedAnew failed so on real Kafka). The group must
// assign again and read every record. The broker here answers the
// leader's first assignment as if the login topic were missing: kafka-go
// asks for every subscribed topic at once with Metadata v6 or older,
// which no other client of the processor does (franz-go asks newer
// versions; the watcher one topic at a time). In-process broker only: a
// real one cannot be made to answer so.
func TestAssignmentThatMissedATopic(t *testing.T) {
	c, err := kfake.NewCluster(kfake.NumBrokers(1))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	f, msgs := newHeldFixtureOn(t, c.ListenAddrs(), simulate.Config{Users: 30, Days: 10, Seed: 3}, 2)
	kafkatest.Produce(t, f.brokers, msgs...)
	login := f.inputs[0]
	answered := make(chan struct{})
	c.ControlKey(int16(kmsg.Metadata), func(r kmsg.Request) (kmsg.Response, error, bool) {
		req := r.(*kmsg.MetadataRequest)
		var topics []string
		for _, tp := range req.Topics {
			if tp.Topic != nil {
				topics = append(topics, *tp.Topic)
			}
		}
		if req.Version > 6 || len(topics) < 2 || !slices.Contains(topics, login) {
			return nil, nil, false
		}
		resp := req.ResponseKind().(*kmsg.MetadataResponse)
		tp := kmsg.NewMetadataResponseTopic()
		tp.Topic, tp.ErrorCode = &login, kerr.UnknownTopicOrPartition.Code
		resp.Topics = append(resp.Topics, tp)
		close(answered)
		return resp, nil, true
	})

	cfg := f.config(t)
	p, errc, stop := startRunOn(t, cfg, openStore(t, vfs.NewMem()))
	// While the generation that assigned nothing waits (unlistedRetry),
	// the member says why it is not ready.
	sawMissing := false
	waitFor(t, "every record read", func() bool {
		select {
		case err := <-errc:
			t.Fatalf("Run: %v", err)
		default:
		}
		st := p.Stats()
		if slices.Contains(st.MissingTopics, login) && !p.Ready() {
			sawMissing = true
		}
		return seen(st) == int64(f.records) && caughtUp(t, cfg)
	})
	select {
	case <-answered:
	default:
		t.Fatal("the leader's assignment never asked for the metadata this test answers: the test no longer tests the case")
	}
	if !sawMissing {
		t.Error("never saw the member not ready with the missing topic in Stats().MissingTopics while it waited")
	}
	if st := p.Stats(); len(st.MissingTopics) != 0 || !p.Ready() {
		t.Errorf("after the next generation assigned: missing topics %v, ready %v; want none, ready", st.MissingTopics, p.Ready())
	}
	stop()
	if err := <-errc; err != nil {
		t.Fatalf("Run: %v", err)
	}
}
