package produce

import (
	"context"
	"errors"
	"net"
	"sync"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/segmentio/kafka-go/protocol"
	metadataAPI "github.com/segmentio/kafka-go/protocol/metadata"
	produceAPI "github.com/segmentio/kafka-go/protocol/produce"
)

// Gather writes the records of many concurrent writers (every partition's
// sender of a process) in as few produce requests as it can: the writes
// that come while a request is in flight go out together in the next, one
// request per leader broker for every topic and partition they hold.
// kafka-go's Writer sends one request per topic partition, so at a live
// rate, where each of a process's partitions writes a record or two every
// few milliseconds, its requests cost more than the records (BENCHMARKS.md,
// "One produce request for every partition's outputs").
//
// Its WriteMessages answers as kafka-go's Writer does, so that callers
// handle both alike: each record goes to the partition of its key's
// Murmur2 hash (PartitionOf), with acks from all in-sync replicas; a
// record larger than its topic takes is refused before anything is sent
// (kafka.MessageTooLargeError); and a failure names the records it
// concerns (kafka.WriteErrors), the others having been written. The
// records of one call to one partition keep their order, and a call's
// records are acknowledged before it returns, so a caller that waits for
// each call before the next keeps its order per partition.
type Gather struct {
	transport   kafka.RoundTripper
	addr        net.Addr
	compression protocol.Attributes
	maxBytes    func(topic string) int

	writes chan *gatherWrite
	quit   chan struct{}
	done   chan struct{}
	close  sync.Once
}

// GatherConfig says where and how Gather writes.
type GatherConfig struct {
	Transport   kafka.RoundTripper
	Addr        net.Addr
	Compression kafka.Compression // 0 for none
	// MaxBytes is the most a record batch of topic may take (its
	// max.message.bytes); nil or 0 for Kafka's default.
	MaxBytes func(topic string) int
}

// gatherWrite is one WriteMessages call waiting for its answer.
type gatherWrite struct {
	msgs []kafka.Message
	errs []error // per message, filled by the loop
	done chan struct{}
}

// defaultMaxBytes is Kafka's default max.message.bytes.
const defaultMaxBytes = 1048588

// gatherTimeout bounds one request, as kafka-go's Writer's WriteTimeout
// does (10 s).
const gatherTimeout = 10 * time.Second

// maxRequestBytes bounds the records of one request, well below the
// broker's socket.request.max.bytes (100 MiB).
const maxRequestBytes = 16 << 20

// NewGather starts a Gather; Close stops it.
func NewGather(cfg GatherConfig) *Gather {
	g := &Gather{
		transport:   cfg.Transport,
		addr:        cfg.Addr,
		compression: protocol.Attributes(cfg.Compression) & 7,
		maxBytes:    cfg.MaxBytes,
		writes:      make(chan *gatherWrite, 64),
		quit:        make(chan struct{}),
		done:        make(chan struct{}),
	}
	go g.loop()
	return g
}

// ErrGatherClosed is returned by a write to a closed Gather.
var ErrGatherClosed = errors.New("produce: the gathering producer is closed")

// WriteMessages writes msgs and returns once Kafka acknowledged them or
// refused some (see Gather). When ctx ends first, the records may still be
// written.
func (g *Gather) WriteMessages(ctx context.Context, msgs ...kafka.Message) error {
	if len(msgs) == 0 {
		return nil
	}
	for i := range msgs {
		if recordBytes(&msgs[i]) > g.limit(msgs[i].Topic) {
			return tooLarge(msgs, i)
		}
	}
	w := &gatherWrite{msgs: msgs, errs: make([]error, len(msgs)), done: make(chan struct{})}
	select {
	case g.writes <- w:
	case <-g.quit:
		return ErrGatherClosed
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case <-w.done:
	case <-g.done:
		select {
		case <-w.done:
		default: // queued as the loop ended: never sent
			return ErrGatherClosed
		}
	case <-ctx.Done():
		return ctx.Err()
	}
	for _, err := range w.errs {
		if err != nil {
			return kafka.WriteErrors(w.errs)
		}
	}
	return nil
}

// Close stops the loop once its requests in flight are answered; writes
// still waiting get ErrGatherClosed.
func (g *Gather) Close() error {
	g.close.Do(func() { close(g.quit) })
	<-g.done
	return nil
}

func (g *Gather) loop() {
	defer close(g.done)
	for {
		var first *gatherWrite
		select {
		case first = <-g.writes:
		case <-g.quit:
			g.refuseWaiting()
			return
		}
		batch := []*gatherWrite{first}
	gathering:
		for {
			select {
			case w := <-g.writes:
				batch = append(batch, w)
			default:
				break gathering
			}
		}
		g.send(batch)
		for _, w := range batch {
			close(w.done)
		}
	}
}

// refuseWaiting answers the writes queued at Close.
func (g *Gather) refuseWaiting() {
	for {
		select {
		case w := <-g.writes:
			for i := range w.errs {
				w.errs[i] = ErrGatherClosed
			}
			close(w.done)
		default:
			return
		}
	}
}

// where is a record of a gathered write: the write and the message's index.
type where struct{ write, msg int }

// topicPartition is one partition of a topic.
type topicPartition struct {
	topic     string
	partition int32
}

// pending is what a partition still has to write: its records in order,
// and where each came from.
type pending struct {
	tp      topicPartition
	leader  int32
	records []protocol.Record
	bytes   []int
	from    []where
}

// send writes the batch's records and fills in each write's errors.
func (g *Gather) send(batch []*gatherWrite) {
	parts, order := g.route(batch)
	for {
		// One request per leader this round, in the order leaders came up.
		var reqs []*leaderRequest
		byLeader := map[int32]*leaderRequest{}
		for _, tp := range order {
			p := parts[tp]
			if len(p.records) == 0 {
				continue
			}
			r := byLeader[p.leader]
			room := maxRequestBytes
			if r != nil {
				room -= r.size
			}
			c := p.next(g.limit(tp.topic), room)
			if c == nil {
				continue
			}
			if r == nil {
				r = &leaderRequest{req: &produceAPI.Request{Acks: int16(kafka.RequireAll), Timeout: int32(gatherTimeout / time.Millisecond)}}
				byLeader[p.leader] = r
				reqs = append(reqs, r)
			}
			addTo(r.req, tp, protocol.RecordSet{Attributes: g.compression, Records: protocol.NewRecordReader(c.records...)})
			r.chunks = append(r.chunks, c)
			r.size += c.size
		}
		switch len(reqs) {
		case 0:
			return
		case 1: // the usual case: no goroutine to start and wait for
			g.roundTrip(reqs[0].req, reqs[0].chunks, parts, batch)
		default:
			var wg sync.WaitGroup
			for _, r := range reqs {
				wg.Go(func() { g.roundTrip(r.req, r.chunks, parts, batch) })
			}
			wg.Wait()
		}
	}
}

// leaderRequest is one round's request to one leader and the chunks it
// carries.
type leaderRequest struct {
	req    *produceAPI.Request
	chunks []*chunk
	size   int
}

// chunk is the part of a partition's records one request carries.
type chunk struct {
	tp      topicPartition
	records []protocol.Record
	from    []where
	size    int
}

// next takes from p the records of its next request: as many as fit in
// limit (one record batch) and room (what is left of the request), at
// least one when the request is empty.
func (p *pending) next(limit, room int) *chunk {
	size, n := 0, 0
	for n < len(p.records) && size+p.bytes[n] <= min(limit, room) {
		size += p.bytes[n]
		n++
	}
	if n == 0 {
		if room < maxRequestBytes {
			return nil // the next request has room for it
		}
		n, size = 1, p.bytes[0] // larger than estimated: the broker says
	}
	c := &chunk{tp: p.tp, records: p.records[:n], from: p.from[:n], size: size}
	p.records, p.bytes, p.from = p.records[n:], p.bytes[n:], p.from[n:]
	return c
}

// route groups the batch's records by partition, in the order they came,
// with each partition's leader. A record whose topic or leader is unknown
// fails at once.
func (g *Gather) route(batch []*gatherWrite) (map[topicPartition]*pending, []topicPartition) {
	parts := map[topicPartition]*pending{}
	var order []topicPartition
	topics := map[string]*metadataAPI.ResponseTopic{}
	var meta *metadataAPI.Response
	var metaErr error
	for wi, w := range batch {
		for mi := range w.msgs {
			m := &w.msgs[mi]
			t, ok := topics[m.Topic]
			if !ok {
				if meta == nil && metaErr == nil {
					meta, metaErr = g.metadata(batch)
				}
				if metaErr != nil {
					w.errs[mi] = metaErr
					continue
				}
				t = findTopic(meta, m.Topic)
				topics[m.Topic] = t
			}
			if t == nil {
				w.errs[mi] = kafka.UnknownTopicOrPartition
				continue
			}
			if t.ErrorCode != 0 {
				w.errs[mi] = kafka.Error(t.ErrorCode)
				continue
			}
			if len(t.Partitions) == 0 { // listed before its partitions are
				w.errs[mi] = kafka.LeaderNotAvailable
				continue
			}
			tp := topicPartition{m.Topic, PartitionOf(m.Key, int32(len(t.Partitions)))}
			p := parts[tp]
			if p == nil {
				p = &pending{tp: tp, leader: leaderOf(t, tp.partition)}
				parts[tp] = p
				order = append(order, tp)
			}
			if p.leader < 0 {
				w.errs[mi] = kafka.LeaderNotAvailable
				continue
			}
			p.records = append(p.records, record(m))
			p.bytes = append(p.bytes, recordBytes(m))
			p.from = append(p.from, where{wi, mi})
		}
	}
	return parts, order
}

// metadata asks for the batch's topics; kafka-go's transport answers from
// its cache, refreshed every MetadataTTL.
func (g *Gather) metadata(batch []*gatherWrite) (*metadataAPI.Response, error) {
	seen := map[string]bool{}
	var names []string
	for _, w := range batch {
		for i := range w.msgs {
			if t := w.msgs[i].Topic; !seen[t] {
				seen[t] = true
				names = append(names, t)
			}
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), gatherTimeout)
	defer cancel()
	r, err := g.transport.RoundTrip(ctx, g.addr, &metadataAPI.Request{TopicNames: names})
	if err != nil {
		return nil, err
	}
	return r.(*metadataAPI.Response), nil
}

// roundTrip sends req to its leader and records the answer of each chunk
// in the writes it came from. A failed chunk fails the rest of its
// partition too: sent after it, those records would overtake the ones
// the caller sends again.
func (g *Gather) roundTrip(req *produceAPI.Request, chunks []*chunk, parts map[topicPartition]*pending, batch []*gatherWrite) {
	fail := func(c *chunk, err error) {
		for _, f := range c.from {
			batch[f.write].errs[f.msg] = err
		}
		p := parts[c.tp]
		for _, f := range p.from {
			batch[f.write].errs[f.msg] = err
		}
		p.records, p.bytes, p.from = nil, nil, nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), gatherTimeout)
	defer cancel()
	res, err := g.transport.RoundTrip(ctx, g.addr, req)
	if err != nil {
		for _, c := range chunks {
			fail(c, err)
		}
		return
	}
	answered := map[topicPartition]error{}
	for _, t := range res.(*produceAPI.Response).Topics {
		for _, p := range t.Partitions {
			var err error
			if p.ErrorCode != 0 {
				err = kafka.Error(p.ErrorCode)
			}
			answered[topicPartition{t.Topic, p.Partition}] = err
		}
	}
	for _, c := range chunks {
		err, ok := answered[c.tp]
		if !ok {
			err = protocol.ErrNoPartition
		}
		if err != nil {
			fail(c, err)
		}
	}
}

// addTo adds a record set for tp to req.
func addTo(req *produceAPI.Request, tp topicPartition, rs protocol.RecordSet) {
	p := produceAPI.RequestPartition{Partition: tp.partition, RecordSet: rs}
	for i := range req.Topics {
		if req.Topics[i].Topic == tp.topic {
			req.Topics[i].Partitions = append(req.Topics[i].Partitions, p)
			return
		}
	}
	req.Topics = append(req.Topics, produceAPI.RequestTopic{Topic: tp.topic, Partitions: []produceAPI.RequestPartition{p}})
}

func findTopic(meta *metadataAPI.Response, name string) *metadataAPI.ResponseTopic {
	for i := range meta.Topics {
		if meta.Topics[i].Name == name {
			return &meta.Topics[i]
		}
	}
	return nil
}

func leaderOf(t *metadataAPI.ResponseTopic, partition int32) int32 {
	for _, p := range t.Partitions {
		if p.PartitionIndex == partition {
			return p.LeaderID
		}
	}
	return -1
}

// record is m as a record of a produce request. A zero Time is stamped
// with the time of encoding, as kafka-go's Writer stamps it.
func record(m *kafka.Message) protocol.Record {
	r := protocol.Record{Time: m.Time}
	if m.Key != nil {
		r.Key = protocol.NewBytes(m.Key)
	}
	if m.Value != nil {
		r.Value = protocol.NewBytes(m.Value)
	}
	if len(m.Headers) > 0 {
		r.Headers = make([]protocol.Header, len(m.Headers))
		for i, h := range m.Headers {
			r.Headers[i] = protocol.Header{Key: h.Key, Value: h.Value}
		}
	}
	return r
}

// recordBytes is at least what m takes in a record batch: its key, value
// and headers, and the most each record's framing takes.
func recordBytes(m *kafka.Message) int {
	n := 32 + len(m.Key) + len(m.Value)
	for _, h := range m.Headers {
		n += 10 + len(h.Key) + len(h.Value)
	}
	return n
}

// limit is the most a record batch of topic may take, less a batch
// header's room.
func (g *Gather) limit(topic string) int {
	n := 0
	if g.maxBytes != nil {
		n = g.maxBytes(topic)
	}
	if n <= 0 {
		n = defaultMaxBytes
	}
	return max(1<<10, n-128)
}

// tooLarge is kafka-go Writer's answer to a record larger than a batch
// may be: nothing was sent.
func tooLarge(msgs []kafka.Message, i int) error {
	rest := make([]kafka.Message, 0, len(msgs)-1)
	rest = append(append(rest, msgs[:i]...), msgs[i+1:]...)
	return kafka.MessageTooLargeError{Message: msgs[i], Remaining: rest}
}
