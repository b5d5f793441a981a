package processor

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"go.uber.org/zap"
)

// inputs fetches the input partitions this process owns with one franz-go
// client, assigned partition by partition (the group stays kafka-go's,
// processor.go, with its co-partitioning balancer; this client joins no
// group). One fetch request per broker carries the records of every
// partition that has some: at a paced rate a reader per topic-partition
// made a fetch request per record or two, and its fetcher goroutine a
// handoff more (BENCHMARKS.md, "The paced cycle").
//
// One goroutine polls the client and hands each partition's records to
// its source's channel without blocking. A source whose channel is full
// (its partition is busy: a commit, a rebuild, a backlog) queues the rest
// and a goroutine of its own feeds them on; past sourceQueue queued records
// its partition's fetches pause until half of them are taken, so a slow
// partition holds up neither the others nor memory.
type inputs struct {
	cl          *kgo.Client
	log         *zap.Logger
	counters    fetchCounters
	clock       *inputClock   // told of every fetch that brings records; nil in a replay
	schemas     SchemaSource  // Config.Schemas: asked before a record is handed on
	schemaWaits *atomic.Int64 // sources in Prefetch now (Processor.schemaWaits)
	maxBatch    int           // what a record batch may decompress to (maxBatchBytes)
	stop        context.CancelFunc
	done        chan struct{} // closed when the poll loop has returned

	mu      sync.Mutex
	sources map[topicPartition]*source // open now
	// responses counts the broker responses delivered (source.fetchedFrom).
	responses uint64
	// changes are the sources opened and stopped since the poll loop
	// last applied them to the client, in order.
	changes []change
	// interrupt ends the poll in progress, so that changes apply at once.
	interrupt context.CancelFunc
}

type topicPartition struct {
	topic     string
	partition int32
}

type change struct {
	s    *source
	open bool
}

// fetchCounters are where the client reports its troubles.
type fetchCounters struct {
	errors   *atomic.Int64 // real failures: lifecycle_kafka_errors_total
	timeouts *atomic.Int64 // network read timeouts
}

// sourceQueue is how many records a source queues beyond its channel
// before its partition's fetches pause, and resumeBelow how few are left
// when they resume. Records arrive a fetch at a time, so a queue may hold
// one fetch's worth (fetchPartitionBytes) more.
const (
	sourceQueue = 4096
	resumeBelow = sourceQueue / 2
	feedChunk   = 256
)

// fetchPartitionBytes is how much of one partition a fetch brings, which
// bounds what a busy partition holds queued (sourceQueue). kafka-go's
// readers fetched up to 8 MiB a partition but decoded a record at a time;
// franz-go decodes a fetch whole, so that 8 MiB queued ~77,000 records a
// partition at once and doubled the peak RSS of a 3M-user drain
// (BENCHMARKS.md, "Peak RSS under a backlog"). A larger record comes
// whole anyway: the broker returns the first batch of a response
// whatever its size.
const fetchPartitionBytes = 1 << 20

// fetchWaitBytes is the fetch's minimum size with Config.FetchWait: a
// backlog's fetch reaches it at once (records are ~100-300 bytes), a live
// stream of several thousand events a second does not within the wait.
const fetchWaitBytes = 1 << 20

// newInputs starts the fetching client. Nothing is fetched until a source
// is opened. wait is Config.FetchWait; maxBatch bounds what one record
// batch may decompress to (unreadBatch).
func newInputs(c Conn, wait time.Duration, maxBatch int, schemas SchemaSource, schemaWaits *atomic.Int64, counters fetchCounters, clock *inputClock, log *zap.Logger) (*inputs, error) {
	// Without a wait: hand on what is there at once (FetchMinBytes 1), in
	// large fetches under a backlog; the broker answers as soon as a
	// record comes. A quiet process's fetch waits at the broker for
	// FetchMaxWait, and a partition added meanwhile (assigned, or its
	// source replaced) is first fetched when that fetch returns: 500 ms,
	// the Java consumer's default, bounds that start; at 2 s an assigned
	// partition could start 2 s after the others.
	minBytes, maxWait := int32(1), 500*time.Millisecond
	if wait > 0 {
		// With one, the broker holds each fetch for the wait unless a
		// backlog fills fetchWaitBytes first: a drain is not slowed, and
		// at live rates each fetch brings a wait's records.
		minBytes, maxWait = fetchWaitBytes, wait
	}
	cl, err := c.Client(
		kgo.FetchMinBytes(minBytes),
		kgo.FetchMaxWait(maxWait),
		// A response holds at most 16 partitions' worth: with franz-go's
		// default (50 MiB) the drain cost ~9 % more CPU and 300-400 MB
		// more peak RSS than kafka-go's readers (BENCHMARKS.md).
		kgo.FetchMaxPartitionBytes(fetchPartitionBytes),
		kgo.FetchMaxBytes(16<<20),
		// Only what producers committed: an aborted transaction's records
		// never happened, and an open one's may not (a Kafka Streams or
		// Flink application with exactly-once writes its outputs so). The
		// markers that end transactions come too, as controlRecord
		// stand-ins: without them a partition whose last entry is a
		// marker would look to the merge as if a record were still on
		// its way, for ever.
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.KeepControlRecords(),
		// Records deleted (retention) before they were read: go on from
		// the log start, as kafka-go did; the merge sees the gap in the
		// offsets and reports the records lost (merger.take).
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.MaxDecompressBatchBytes(maxBatch),
		// Every response then names every partition fetched from its
		// broker, with its end, records or not (an incremental fetch
		// session leaves out those that did not change): one response
		// confirms a partition's input ends (fetchedEnds), where a
		// ListOffsets round trip did at every cycle of a live partition.
		// The requests list every partition a process reads, a few dozen.
		kgo.DisableFetchSessions(),
		kgo.WithHooks(fetchHooks{counters, log}),
	)
	if err != nil {
		return nil, err
	}
	ctx, stop := context.WithCancel(context.Background())
	in := &inputs{cl: cl, log: log, counters: counters, clock: clock, schemas: schemas, schemaWaits: schemaWaits, maxBatch: maxBatch,
		stop: stop, done: make(chan struct{}), sources: map[topicPartition]*source{}}
	go in.run(ctx)
	return in, nil
}

// close stops the poll loop and the client. Every source must have been
// stopped before.
func (in *inputs) close() {
	in.stop()
	<-in.done
	in.cl.Close()
}

// source is one input topic-partition read from an offset for one
// consume() (or until the merge replaces it, merger.restartStalled).
type source struct {
	in     *inputs
	tp     topicPartition
	from   int64 // the offset to start at; kafka.FirstOffset: the log start
	out    chan kafka.Message
	notify chan<- struct{} // poked after records arrive, so the partition wakes up
	ctx    context.Context // ends when the source stops: ends a Prefetch
	cancel context.CancelFunc
	fed    sync.WaitGroup // the feeding goroutine (feed)

	// Guarded by in.mu:
	// live says the client fetches tp for this source: the poll loop has
	// assigned it at from. Records of a poll are handed only to sources
	// that were live when it began, so none read for a source's
	// predecessor reaches it.
	live    bool
	stopped bool
	next    int64           // the offset after the last record handed on; 0 before the first
	queue   []kafka.Message // records for out that did not fit; feed sends them
	feeding bool            // feed runs: records must go through queue, in order
	paused  bool            // tp's fetches are paused until queue is drained
	gone    bool            // the topic's ID is gone: the marker was handed on (deliver)

	// logStart is tp's log start offset as the latest fetch with records
	// said it (-1: none yet), so that the merge can tell records deleted
	// from an aborted transaction's without asking the broker
	// (merger.take).
	logStart atomic.Int64
	// fetchedEnd is tp's end (the last stable offset) as the latest
	// response that fetched it said it, and fetchedFrom which response
	// that was (inputs.responses; 0 before one). Stored before that
	// response's records are handed on, under in.mu.
	fetchedEnd  int64
	fetchedFrom uint64
}

// fetchedEnds returns the ends of the sources' partitions, in order, when
// one broker response said them all, and which response that was. A
// broker builds a fetch response from one reading of its partitions, so
// those ends are of one moment, as a ListOffsets answer's are: the merge
// may take them for a confirmation (merger.fetchedEnds). Partitions led
// by different brokers, or one paused or failing, leave it to ask. It
// reads under in.mu, so it never sees a response's ends half stored.
func fetchedEnds(sources []*source) ([]int64, uint64, bool) {
	in := sources[0].in
	in.mu.Lock()
	defer in.mu.Unlock()
	ends := make([]int64, len(sources))
	from := sources[0].fetchedFrom
	for i, s := range sources {
		if s.fetchedFrom == 0 || s.fetchedFrom != from {
			return nil, 0, false
		}
		ends[i] = s.fetchedEnd
	}
	return ends, from, true
}

// open starts reading topic's partition at offset from (kafka.FirstOffset:
// the log start). The caller stops the partition's previous source of the
// topic, if any, first.
func (in *inputs) open(topic string, partition int32, from int64, notify chan<- struct{}) *source {
	s := &source{in: in, tp: topicPartition{topic, partition}, from: from, out: make(chan kafka.Message, 1024), notify: notify}
	s.logStart.Store(-1)
	s.ctx, s.cancel = context.WithCancel(context.Background())
	in.mu.Lock()
	defer in.mu.Unlock()
	in.sources[s.tp] = s
	in.changed(change{s, true})
	return s
}

// stop ends s: nothing is handed to its channel after stop returns, and
// the client stops fetching its partition.
func (s *source) stop() {
	in := s.in
	in.mu.Lock()
	if !s.stopped {
		s.stopped = true
		s.queue = nil
		if in.sources[s.tp] == s {
			delete(in.sources, s.tp)
		}
		in.changed(change{s, false})
	}
	in.mu.Unlock()
	s.cancel()
	s.fed.Wait()
}

// changed queues c for the poll loop and wakes it. in.mu is held.
func (in *inputs) changed(c change) {
	in.changes = append(in.changes, c)
	if in.interrupt != nil {
		in.interrupt()
	}
}

// run polls the client until ctx ends, applying the sources' changes
// between polls: a partition is removed from the client (which drops what
// it fetched of it) before it is added again at another offset, and a
// poll's records go only to sources live before it began.
func (in *inputs) run(ctx context.Context) {
	defer close(in.done)
	assigned := map[topicPartition]bool{}
	for {
		in.mu.Lock()
		changes := in.changes
		in.changes = nil
		pctx, interrupt := context.WithCancel(ctx)
		in.interrupt = interrupt
		in.mu.Unlock()
		if len(changes) > 0 {
			in.apply(changes, assigned)
		}
		fs := in.cl.PollFetches(pctx)
		interrupt()
		if ctx.Err() != nil {
			return
		}
		in.deliver(fs)
	}
}

// apply makes the client fetch what the changes leave open: every
// partition they touch that the client fetches is removed (and unpaused),
// and added again at its new source's offset when the last change opens
// one.
func (in *inputs) apply(changes []change, assigned map[topicPartition]bool) {
	last := map[topicPartition]change{}
	for _, c := range changes {
		last[c.s.tp] = c
	}
	var remove map[string][]int32
	var add map[string]map[int32]kgo.Offset
	var opened []*source
	for tp, c := range last {
		if assigned[tp] {
			if remove == nil {
				remove = map[string][]int32{}
			}
			remove[tp.topic] = append(remove[tp.topic], tp.partition)
			delete(assigned, tp)
		}
		if !c.open {
			continue
		}
		if add == nil {
			add = map[string]map[int32]kgo.Offset{}
		}
		if add[tp.topic] == nil {
			add[tp.topic] = map[int32]kgo.Offset{}
		}
		add[tp.topic][tp.partition] = startAt(c.s.from)
		assigned[tp] = true
		opened = append(opened, c.s)
	}
	if remove != nil {
		in.cl.RemoveConsumePartitions(remove)
		in.cl.ResumeFetchPartitions(remove)
	}
	if add != nil {
		in.cl.AddConsumePartitions(add)
	}
	in.mu.Lock()
	for _, s := range opened {
		s.live = !s.stopped
	}
	in.mu.Unlock()
}

// startAt is the client's offset for a kafka-go start offset.
func startAt(from int64) kgo.Offset {
	switch from {
	case kafka.FirstOffset:
		return kgo.NewOffset().AtStart()
	case kafka.LastOffset:
		return kgo.NewOffset().AtEnd()
	}
	return kgo.NewOffset().At(from)
}

// deliver hands a poll's records to their sources.
func (in *inputs) deliver(fs kgo.Fetches) {
	var unread []unreadBatch
	var gone []topicPartition
	fs.EachError(func(topic string, partition int32, err error) {
		if closing(err) {
			return
		}
		if errors.Is(err, kerr.UnknownTopicID) {
			// The topic was deleted (and perhaps created anew: franz-go
			// never adopts a new ID for a name it holds, and fetches the
			// old one again and again without a pause).
			gone = append(gone, topicPartition{topic, partition})
			return
		}
		var big *kgo.ErrDecompressTooLarge
		if errors.As(err, &big) {
			unread = append(unread, unreadBatch{topicPartition{topic, partition}, big.Offset, big.NextOffset, big.Epoch,
				fmt.Sprintf("decompresses to more than %d bytes (16 × --max-record-bytes, at least 128 MiB)", in.maxBatch)})
			return
		}
		if strings.HasPrefix(err.Error(), errDecompressPrefix) {
			// No offsets in this error: the batch holds the partition's
			// next offset, skipped one at a time (skipUnread).
			unread = append(unread, unreadBatch{tp: topicPartition{topic, partition}, first: -1, next: -1, epoch: -1,
				why: "cannot be decompressed (" + strings.TrimPrefix(err.Error(), errDecompressPrefix+": ") + ")"})
			return
		}
		// The client retries what can be retried without telling; what
		// it reports is worth an operator's look. A partition that stops
		// coming is replaced by the merge (merger.restartStalled).
		in.counters.errors.Add(1)
		in.log.Warn("kafka fetch error", zap.String("topic", topic), zap.Int32("partition", partition), zap.Error(err))
	})
	for i, u := range unread {
		if u.next < 0 {
			if at := in.position(u.tp); at >= 0 {
				unread[i].first, unread[i].next = at, at+1
			}
		}
	}
	in.mu.Lock()
	defer in.mu.Unlock()
	// Each response's ends first, so that a merge that takes one of its
	// records finds them (fetchedEnds).
	for _, f := range fs {
		in.responses++
		for _, t := range f.Topics {
			for _, p := range t.Partitions {
				if s := in.sources[topicPartition{t.Topic, p.Partition}]; s != nil && s.live && p.Err == nil {
					s.fetchedFrom, s.fetchedEnd = in.responses, fetchEnd(p)
				}
			}
		}
	}
	came := false
	fs.EachPartition(func(p kgo.FetchTopicPartition) {
		if len(p.Records) == 0 {
			return
		}
		came = true
		s := in.sources[topicPartition{p.Topic, p.Partition}]
		if s == nil || !s.live {
			return // stopped, or replaced by a source not yet assigned
		}
		if p.LogStartOffset >= 0 {
			s.logStart.Store(p.LogStartOffset)
		}
		end := fetchEnd(p.FetchPartition)
		s.add(len(p.Records), func(i int) kafka.Message { return message(p.Records[i], end) })
	})
	if came && in.clock != nil {
		in.clock.seen(time.Now())
	}
	for _, u := range unread {
		in.skipUnread(u)
	}
	for _, tp := range gone {
		s := in.sources[tp]
		if s == nil || !s.live || s.gone {
			continue
		}
		s.gone = true
		in.counters.errors.Add(1)
		s.pause()
		s.add(1, func(int) kafka.Message {
			return kafka.Message{Topic: tp.topic, Partition: int(tp.partition), Offset: s.next, WriterData: topicGone{}}
		})
	}
}

// fetchEnd is the end of what can be read of a fetched partition: read
// committed, the last stable offset (the first record of a transaction
// still open).
func fetchEnd(p kgo.FetchPartition) int64 {
	if p.LastStableOffset >= 0 {
		return p.LastStableOffset
	}
	return p.HighWatermark
}

// controlRecord, in a stand-in message's kafka.Message.WriterData, is a
// marker that ends a transaction (commit or abort): no event, but its
// offset is read past, as a Kafka consumer's position moves past it
// (merger.take, readRange).
type controlRecord struct{}

// topicGone, in a stand-in message's kafka.Message.WriterData, tells the
// merge that the broker no longer has the topic its partition was reading
// (merger.take: ErrInputRestarted).
type topicGone struct{}

// unreadBatch is a record batch of an input partition that the client
// could not read: it decompresses to more than maxBatchBytes (a
// decompression bomb) or not at all (a zstd window beyond the bound,
// corrupt data). franz-go stops the partition at it for good, or fetches
// it again and again: a single record would stall the partition. Its
// records are dead-lettered unread instead (invariant 6): each gets a
// stand-in message carrying the unreadBatch in kafka.Message.WriterData,
// which a reader leaves unused, and merger.take rejects it in the record's
// place.
type unreadBatch struct {
	tp          topicPartition
	first, next int64 // the batch's offsets [first, next); when the client does not say, the partition's next offset alone (-1: not known)
	epoch       int32
	why         string
}

// errDecompressPrefix starts franz-go's (unexported) error for a batch it
// cannot decompress (TestPoisonRecords holds it).
const errDecompressPrefix = "unable to decompress batch"

// maxBatchBytes is what one record batch may decompress to, for records of
// at most maxRecord bytes: far more than a legitimate batch (a produce
// request holds at most the topic's max.message.bytes, 1 MiB by default,
// compressed), and a bound on the memory a hostile one takes (franz-go's
// default is 1 GiB).
func maxBatchBytes(maxRecord int) int { return max(128<<20, 16*maxRecord) }

// position is the partition's next offset, where the client fetches tp
// from: after what its source has handed on, or, before the first record,
// the source's start or the log start when that is later (records deleted
// by retention, or a source started at the log start); -1 when not known.
func (in *inputs) position(tp topicPartition) int64 {
	in.mu.Lock()
	s := in.sources[tp]
	if s == nil || s.next != 0 {
		in.mu.Unlock()
		if s == nil {
			return -1
		}
		return s.next
	}
	from := s.from
	in.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	starts, err := kadm.NewClient(in.cl).ListStartOffsets(ctx, tp.topic)
	if err != nil {
		return -1
	}
	start, ok := starts.Lookup(tp.topic, tp.partition)
	if !ok || start.Err != nil {
		return -1
	}
	return max(from, start.Offset)
}

// skipUnread hands the source of u's partition a stand-in for each record
// of the batch it has not handed on, and moves the client past them. A
// batch whose offsets the client did not say is skipped one offset at a
// time, from the partition's next (deliver): the fetch after brings it
// again while the next offset is in it. in.mu is held.
func (in *inputs) skipUnread(u unreadBatch) {
	in.counters.errors.Add(1)
	s := in.sources[u.tp]
	if s == nil || !s.live {
		return // its next source reads the batch again, and gets here again
	}
	if u.next < 0 {
		in.log.Error("an input record batch cannot be read, and the partition's next offset is not known; retrying",
			zap.String("topic", u.tp.topic), zap.Int32("partition", u.tp.partition), zap.String("why", u.why))
		return
	}
	from, to := max(u.first, s.next), u.next
	in.log.Error("an input record batch cannot be read: its records are dead-lettered unread",
		zap.String("topic", u.tp.topic), zap.Int32("partition", u.tp.partition), zap.Int64("from_offset", from),
		zap.Int64("to_offset", to), zap.String("why", u.why))
	s.add(int(to-from), func(i int) kafka.Message {
		return kafka.Message{Topic: u.tp.topic, Partition: int(u.tp.partition), Offset: from + int64(i), WriterData: u}
	})
	in.cl.SetOffsets(map[string]map[int32]kgo.EpochOffset{u.tp.topic: {u.tp.partition: {Epoch: u.epoch, Offset: to}}})
}

// add hands n records, the i-th made by at(i), to s's channel, or to its
// queue when the channel is full, the queue not empty or a schema must be
// fetched first. in.mu is held.
func (s *source) add(n int, at func(i int) kafka.Message) {
	in := s.in
	direct := !s.feeding && in.schemas == nil
	sent := false
	for i := range n {
		m := at(i)
		s.next = m.Offset + 1
		if direct {
			select {
			case s.out <- m:
				sent = true
				continue
			default:
				direct = false
			}
		}
		s.queue = append(s.queue, m)
	}
	if sent {
		poke(s.notify)
	}
	if len(s.queue) > 0 && !s.feeding {
		s.feeding = true
		s.fed.Add(1)
		go s.feed()
	}
	if len(s.queue) >= sourceQueue {
		s.pause()
	}
}

// pause stops the client fetching s's partition until feed resumes it.
// in.mu is held.
func (s *source) pause() {
	if !s.paused {
		s.paused = true
		s.in.cl.PauseFetchPartitions(map[string][]int32{s.tp.topic: {s.tp.partition}})
	}
}

// feed sends the queued records on, each once its schema is known
// (Config.Schemas: a registry outage holds this partition's records, and
// the stop of the partition ends the wait), a feedChunk at a time, and
// resumes the partition's fetches once resumeBelow or fewer are left: the
// next fetch is then on its way while the rest are taken, so a drain does
// not wait for it, and the queue holds little more than one fetch.
func (s *source) feed() {
	defer s.fed.Done()
	in := s.in
	var batch []kafka.Message
	for {
		in.mu.Lock()
		if s.stopped {
			in.mu.Unlock()
			return // the partition is removed from the client, paused or not
		}
		if s.paused && len(s.queue) <= resumeBelow {
			s.paused = false
			in.cl.ResumeFetchPartitions(map[string][]int32{s.tp.topic: {s.tp.partition}})
		}
		if len(s.queue) == 0 {
			s.queue = nil // lets the drained array go
			s.feeding = false
			in.mu.Unlock()
			return
		}
		n := min(len(s.queue), feedChunk)
		batch = append(batch[:0], s.queue[:n]...)
		clear(s.queue[:n]) // the sent records' buffers may go before the array does
		s.queue = s.queue[n:]
		in.mu.Unlock()
		for _, m := range batch {
			if in.schemas != nil && m.WriterData == nil {
				in.schemaWaits.Add(1)
				err := in.schemas.Prefetch(s.ctx, m.Value)
				in.schemaWaits.Add(-1)
				if err != nil {
					return // stopped: the record is read again by the next owner
				}
			}
			select {
			case s.out <- m:
			case <-s.ctx.Done():
				return
			}
			poke(s.notify)
		}
	}
}

// message is r as kafka-go's reader handed records on, so that the merge
// and the decoder see what they saw before. Time is the record's
// timestamp: its CreateTime, or the broker's LogAppendTime on a topic
// that sets it (kafka-go reported the CreateTime there too). end is the
// partition's end as far as it can be read (its last stable offset). A
// transaction's marker comes as a controlRecord stand-in.
func message(r *kgo.Record, end int64) kafka.Message {
	if r.Attrs.IsControl() {
		return kafka.Message{Topic: r.Topic, Partition: int(r.Partition), Offset: r.Offset, HighWaterMark: end, WriterData: controlRecord{}}
	}
	m := kafka.Message{Topic: r.Topic, Partition: int(r.Partition), Offset: r.Offset, HighWaterMark: end,
		Key: r.Key, Value: r.Value, Time: r.Timestamp}
	if len(r.Headers) > 0 {
		m.Headers = make([]kafka.Header, len(r.Headers))
		for i, h := range r.Headers {
			m.Headers[i] = kafka.Header{Key: h.Key, Value: h.Value}
		}
	}
	return m
}

// poke wakes the partition's loop if it is not awake already.
func poke(notify chan<- struct{}) {
	select {
	case notify <- struct{}{}:
	default:
	}
}

// closing reports whether err is the client's or a poll's own end.
func closing(err error) bool {
	return errors.Is(err, kgo.ErrClientClosed) || errors.Is(err, context.Canceled)
}

// fetchHooks counts and logs the client's connection and read failures:
// an outage shows as warnings and a rising lifecycle_kafka_errors_total,
// as it did with kafka-go's readers (the client retries them without
// reporting them to a poll). A quiet partition does not time out (the
// broker answers a fetch after FetchMaxWait, well within the client's
// read timeout), so a timeout is a slow broker or network.
type fetchHooks struct {
	fetchCounters
	log *zap.Logger
}

var (
	_ kgo.HookBrokerConnect = fetchHooks{}
	_ kgo.HookBrokerRead    = fetchHooks{}
)

func (h fetchHooks) OnBrokerConnect(meta kgo.BrokerMetadata, _ time.Duration, _ net.Conn, err error) {
	h.count("connecting", meta, err)
}

func (h fetchHooks) OnBrokerRead(meta kgo.BrokerMetadata, _ int16, _ int, _, _ time.Duration, err error) {
	h.count("reading", meta, err)
}

func (h fetchHooks) count(what string, meta kgo.BrokerMetadata, err error) {
	var ne net.Error
	switch {
	case err == nil || closing(err):
		return
	case errors.As(err, &ne) && ne.Timeout():
		h.timeouts.Add(1)
		h.log.Debug("kafka fetch client: "+what+" timed out; retrying", zap.String("broker", meta.Host), zap.Int32("port", meta.Port), zap.Error(err))
	default:
		h.errors.Add(1)
		h.log.Warn("kafka fetch client: "+what+" failed; retrying", zap.String("broker", meta.Host), zap.Int32("port", meta.Port), zap.Error(err))
	}
}
