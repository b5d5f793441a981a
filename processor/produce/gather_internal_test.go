package produce

import (
	"context"
	"fmt"
	"net"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/segmentio/kafka-go/protocol"
	produceAPI "github.com/segmentio/kafka-go/protocol/produce"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
)

// heldTransport passes requests on to a real transport, counting the
// produce requests, and holds the first one until released.
type heldTransport struct {
	kafka.RoundTripper
	produces atomic.Int32
	first    sync.Once
	inFlight chan struct{} // closed when the first produce request is held
	release  chan struct{}
}

func (h *heldTransport) RoundTrip(ctx context.Context, addr net.Addr, req protocol.Message) (protocol.Message, error) {
	if _, ok := req.(*produceAPI.Request); ok {
		h.produces.Add(1)
		h.first.Do(func() {
			close(h.inFlight)
			<-h.release
		})
	}
	return h.RoundTripper.RoundTrip(ctx, addr, req)
}

// The writes that come while a request is in flight go out together: one
// request for seven writers' records to two topics and eight partitions,
// where kafka-go's Writer sends one per partition.
func TestGatherGathers(t *testing.T) {
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(4, "a", "b"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	tr := &heldTransport{RoundTripper: &kafka.Transport{}, inFlight: make(chan struct{}), release: make(chan struct{})}
	g := NewGather(GatherConfig{Transport: tr, Addr: kafka.TCP(c.ListenAddrs()...)})
	defer g.Close()

	write := func(w int) error {
		var msgs []kafka.Message
		for k := range 4 {
			msgs = append(msgs, kafka.Message{Topic: []string{"a", "b"}[k%2], Key: fmt.Appendf(nil, "w%d-u%d", w, k), Value: []byte("v")})
		}
		return g.WriteMessages(context.Background(), msgs...)
	}
	errs := make(chan error, 8)
	go func() { errs <- write(0) }()
	<-tr.inFlight
	for w := 1; w < 8; w++ {
		go func() { errs <- write(w) }()
	}
	for len(g.writes) < 7 { // the seven queued behind the request in flight
		runtime.Gosched()
	}
	close(tr.release)
	for range 8 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	if n := tr.produces.Load(); n != 2 {
		t.Errorf("%d produce requests for 8 writes, 7 of them waiting together; want 2", n)
	}
}

// On a cluster of three brokers a gathered write goes to each partition's
// leader: one request per leader, sent at once, and every record lands in
// its key's partition.
func TestGatherSeveralLeaders(t *testing.T) {
	c, err := kfake.NewCluster(kfake.NumBrokers(3), kfake.SeedTopics(6, "a"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	tr := &heldTransport{RoundTripper: &kafka.Transport{}, inFlight: make(chan struct{}), release: make(chan struct{})}
	close(tr.release)
	g := NewGather(GatherConfig{Transport: tr, Addr: kafka.TCP(c.ListenAddrs()...)})
	defer g.Close()
	var msgs []kafka.Message
	for u := range 60 {
		msgs = append(msgs, kafka.Message{Topic: "a", Key: fmt.Appendf(nil, "u%d", u), Value: []byte("v")})
	}
	writeRetrying(t, g, msgs)
	adm := admin(t, c)
	md, err := adm.Metadata(context.Background(), "a")
	if err != nil {
		t.Fatal(err)
	}
	leaders := map[int32]bool{}
	for _, p := range md.Topics["a"].Partitions {
		leaders[p.Leader] = true
	}
	if len(leaders) < 2 {
		t.Fatalf("partitions led by %d brokers; the test needs several", len(leaders))
	}
	if n := tr.produces.Load(); n < int32(len(leaders)) {
		t.Errorf("%d produce requests for partitions of %d leaders", n, len(leaders))
	}
	want := map[int32]int64{}
	for u := range 60 {
		want[PartitionOf(fmt.Appendf(nil, "u%d", u), 6)]++
	}
	checkEnds(t, adm, "a", want, "")
}

// After a partition's leader moves to another broker, a write to it is
// refused for want of a leader (the transport's cached metadata still
// names the old one) until the metadata is refreshed; sent again as a
// sender does, every record lands once.
func TestGatherAfterLeadersMove(t *testing.T) {
	c, err := kfake.NewCluster(kfake.NumBrokers(3), kfake.SeedTopics(3, "a"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	g := NewGather(GatherConfig{Transport: &kafka.Transport{MetadataTTL: 200 * time.Millisecond}, Addr: kafka.TCP(c.ListenAddrs()...)})
	defer g.Close()
	msgs := func(round int) []kafka.Message {
		var ms []kafka.Message
		for u := range 30 {
			ms = append(ms, kafka.Message{Topic: "a", Key: fmt.Appendf(nil, "u%d", u), Value: fmt.Appendf(nil, "%d", round)})
		}
		return ms
	}
	writeRetrying(t, g, msgs(1))
	for p := range int32(3) {
		if err := c.MoveTopicPartition("a", p, (c.LeaderFor("a", p)+1)%3); err != nil {
			t.Fatal(err)
		}
	}
	if refused := writeRetrying(t, g, msgs(2)); refused == 0 {
		t.Fatal("no write was refused after the leaders moved: the test did not test the move")
	}
	want := map[int32]int64{}
	for u := range 30 {
		want[PartitionOf(fmt.Appendf(nil, "u%d", u), 3)] += 2
	}
	checkEnds(t, admin(t, c), "a", want, ": each of two rounds once")
}

// writeRetrying writes msgs as a sender does, sending again what was
// refused for want of a leader, for up to 30 s; it returns how many
// writes were refused.
func writeRetrying(t *testing.T, g *Gather, msgs []kafka.Message) (refused int) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		err := g.WriteMessages(context.Background(), msgs...)
		if err == nil {
			return refused
		}
		if !Refused(err) || time.Now().After(deadline) {
			t.Fatal(err)
		}
		refused++
		msgs = FailedOnly(msgs, err)
		time.Sleep(50 * time.Millisecond)
	}
}

// admin is an admin client of the kfake cluster c, closed with the test.
func admin(t *testing.T, c *kfake.Cluster) *kadm.Client {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.ListenAddrs()...))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return kadm.NewClient(cl)
}

// checkEnds checks that each partition of topic holds want records.
func checkEnds(t *testing.T, adm *kadm.Client, topic string, want map[int32]int64, why string) {
	t.Helper()
	ends, err := adm.ListEndOffsets(context.Background(), topic)
	if err != nil {
		t.Fatal(err)
	}
	ends.Each(func(o kadm.ListedOffset) {
		if o.Offset != want[o.Partition] {
			t.Errorf("partition %d holds %d records, want %d%s", o.Partition, o.Offset, want[o.Partition], why)
		}
	})
}
