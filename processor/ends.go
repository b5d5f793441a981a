package processor

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// endsAsker shares the merges' confirmations of end offsets (merger.confirm)
// among the partitions of a process: at most one ListOffsets request is in
// flight, and the next one asks for every partition that asked meanwhile.
// At a live rate each partition asks once per cycle, and a request per
// partition was a round trip and a goroutine per cycle each (BENCHMARKS.md,
// "The paced cycle"); with a fetch wait (Config.FetchWait) the partitions
// get their records at the same moment and ask together, so one request
// serves most of them ("The fetch wait"). Each answer comes from a request
// sent after its question was asked, so it covers every record the asker
// had seen: what the merge's order needs (ARCHITECTURE.md, invariant 4).
type endsAsker struct {
	cl     *kgo.Client
	topics []string

	mu      sync.Mutex
	waiting map[int32][]chan endsAnswer
	running bool

	requests *atomic.Int64 // counts the requests sent (Stats.EndsRequests)
}

func newEndsAsker(cl *kgo.Client, topics []string, requests *atomic.Int64) *endsAsker {
	return &endsAsker{cl: cl, topics: topics, waiting: map[int32][]chan endsAnswer{}, requests: requests}
}

// ends returns the end offsets of partition p of the topics, in order, from
// a request sent after the call.
func (a *endsAsker) ends(ctx context.Context, p int32) ([]int64, error) {
	reply := make(chan endsAnswer, 1)
	a.mu.Lock()
	a.waiting[p] = append(a.waiting[p], reply)
	if !a.running {
		a.running = true
		go a.serve()
	}
	a.mu.Unlock()
	select {
	case r := <-reply:
		return r.ends, r.err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// serve sends requests until no partition is waiting.
func (a *endsAsker) serve() {
	for {
		a.mu.Lock()
		waiting := a.waiting
		if len(waiting) == 0 {
			a.running = false
			a.mu.Unlock()
			return
		}
		a.waiting = map[int32][]chan endsAnswer{}
		a.mu.Unlock()
		parts := make([]int32, 0, len(waiting))
		for p := range waiting {
			parts = append(parts, p)
		}
		a.requests.Add(1)
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		ends, errs := endOffsets(ctx, a.cl, a.topics, parts)
		cancel()
		for p, replies := range waiting {
			for _, r := range replies {
				r <- endsAnswer{ends[p], errs[p]}
			}
		}
	}
}

// endOffsets returns the end offsets (the last stable offsets) of
// partitions parts of topics, per partition in the order of topics, in
// one round trip to each leader (kadm asks for the metadata first and
// lists every partition): the merge asks for them at the live edge, where
// each round trip is latency. A partition without every answer has an
// error.
func endOffsets(ctx context.Context, cl *kgo.Client, topics []string, parts []int32) (map[int32][]int64, map[int32]error) {
	req := kmsg.NewPtrListOffsetsRequest()
	req.ReplicaID = -1
	req.IsolationLevel = 1 // read committed: the last stable offsets, the end of what is read (inputs.go)
	for _, topic := range topics {
		rt := kmsg.NewListOffsetsRequestTopic()
		rt.Topic = topic
		for _, p := range parts {
			rp := kmsg.NewListOffsetsRequestTopicPartition()
			rp.Partition, rp.Timestamp = p, -1 // -1: the end
			rt.Partitions = append(rt.Partitions, rp)
		}
		req.Topics = append(req.Topics, rt)
	}
	index := make(map[string]int, len(topics))
	for i, t := range topics {
		index[t] = i
	}
	ends := make(map[int32][]int64, len(parts))
	got := make(map[int32]int, len(parts))
	errs := make(map[int32]error, len(parts))
	for _, p := range parts {
		ends[p] = make([]int64, len(topics))
	}
	for _, shard := range cl.RequestSharded(ctx, req) {
		if shard.Err != nil {
			// The partitions this shard asked for get its error.
			for _, rt := range shard.Req.(*kmsg.ListOffsetsRequest).Topics {
				for _, rp := range rt.Partitions {
					errs[rp.Partition] = shard.Err
				}
			}
			continue
		}
		for _, t := range shard.Resp.(*kmsg.ListOffsetsResponse).Topics {
			i, ok := index[t.Topic]
			if !ok {
				continue
			}
			for _, rp := range t.Partitions {
				if _, asked := ends[rp.Partition]; !asked {
					continue
				}
				if err := kerr.ErrorForCode(rp.ErrorCode); err != nil {
					errs[rp.Partition] = fmt.Errorf("processor: end offset of %s/%d: %w", t.Topic, rp.Partition, err)
					continue
				}
				ends[rp.Partition][i] = rp.Offset
				got[rp.Partition]++
			}
		}
	}
	for _, p := range parts {
		if errs[p] == nil && got[p] != len(topics) {
			errs[p] = fmt.Errorf("processor: no end offset of every input topic's partition %d in the answer", p)
		}
		if errs[p] != nil {
			ends[p] = nil
		}
	}
	return ends, errs
}
