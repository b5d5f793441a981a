package processor

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Alignment is what AlignInputs does, or would do: the input partitions
// given the first input topic's replica list, and those whose preferred
// leader is then elected.
type Alignment struct {
	Inputs   []string                     // the input topics; the others follow the first
	Replicas [][]int32                    // partition p of every input gets Replicas[p], led by its first
	Reassign map[string]map[int32][]int32 // topic → partition to move → its replicas now
	Elect    map[string][]int32           // topic → partitions whose leader is not their first replica
}

// Moves is how many partitions Reassign moves.
func (a Alignment) Moves() (n int) {
	for _, ps := range a.Reassign {
		n += len(ps)
	}
	return n
}

// Elections is how many partitions' preferred leaders are elected: those
// that move and those of Elect.
func (a Alignment) Elections() (n int) {
	for _, ps := range a.elected() {
		n += len(ps)
	}
	return n
}

// elected is the partitions whose preferred leaders are elected.
func (a Alignment) elected() kadm.TopicsSet {
	s := kadm.TopicsSet{}
	for topic, ps := range a.Reassign {
		for p := range ps {
			s.Add(topic, p)
		}
	}
	for topic, ps := range a.Elect {
		s.Add(topic, ps...)
	}
	return s
}

// PlanAlignment says how to give partition p of every input topic the
// replica list of partition p of the first, in the same order, and which
// partitions' preferred leaders to elect then, so that one broker leads
// partition p of them all: a fetch response then confirms all of its
// ends, and the merge needs no ListOffsets round trip per cycle at live
// rates (README, "Performance"). The inputs must be co-partitioned.
func PlanAlignment(ctx context.Context, adm *kadm.Client, inputs []string) (Alignment, error) {
	details, err := adm.ListTopics(ctx, inputs...)
	if err != nil {
		return Alignment{}, fmt.Errorf("processor: list topics: %w", err)
	}
	for _, name := range inputs {
		if d, ok := details[name]; !ok || d.Err != nil {
			return Alignment{}, fmt.Errorf("%w: %s; create the topics with `lifecycle topics create`", ErrMissingTopics, name)
		}
	}
	partitions, err := inputPartitions(details, inputs)
	if err != nil {
		return Alignment{}, err
	}
	a := Alignment{Inputs: inputs, Replicas: replicaLists(details[inputs[0]]), Reassign: map[string]map[int32][]int32{}, Elect: map[string][]int32{}}
	for p, want := range a.Replicas {
		if len(want) == 0 {
			return Alignment{}, fmt.Errorf("processor: partition %d of %s lists no replicas", p, inputs[0])
		}
	}
	for _, name := range inputs {
		for p := range partitions {
			want, got := a.Replicas[p], details[name].Partitions[p]
			if !slices.Equal(got.Replicas, want) {
				if a.Reassign[name] == nil {
					a.Reassign[name] = map[int32][]int32{}
				}
				a.Reassign[name][p] = got.Replicas
			}
			if got.Leader != want[0] {
				a.Elect[name] = append(a.Elect[name], p)
			}
		}
	}
	return a, nil
}

// AlignInputs carries out a plan of PlanAlignment: it reassigns the
// partitions, waits until Kafka has moved their replicas (progress says
// how many are still moving, every few seconds), then elects their
// preferred leaders. Where a partition already has the brokers it gets, in
// another order, nothing is copied; otherwise Kafka copies its replicas,
// unthrottled (for large topics, kafka-reassign-partitions --throttle is
// the gentler way). Stopped midway, Kafka finishes the reassignments on its
// own; running it again then elects the leaders.
func AlignInputs(ctx context.Context, cl *kgo.Client, a Alignment, progress func(moving int)) error {
	adm := kadm.NewClient(cl)
	if a.Moves() > 0 {
		var req kadm.AlterPartitionAssignmentsReq
		for topic, ps := range a.Reassign {
			for p := range ps {
				req.Assign(topic, p, slices.Clone(a.Replicas[p]))
			}
		}
		resp, err := adm.AlterPartitionAssignments(ctx, req)
		if err == nil {
			err = resp.Error()
		}
		if err != nil {
			return fmt.Errorf("processor: reassign the input partitions: %w", err)
		}
		if err := waitReassigned(ctx, adm, a, progress); err != nil {
			return err
		}
	}
	elect := a.elected()
	if len(elect) == 0 {
		return nil
	}
	res, err := adm.ElectLeaders(ctx, kadm.ElectPreferredReplica, elect)
	if err != nil {
		return fmt.Errorf("processor: elect the input partitions' preferred leaders: %w", err)
	}
	var errs []error
	for topic, ps := range res {
		for p, r := range ps {
			if r.Err != nil && !errors.Is(r.Err, kerr.ElectionNotNeeded) {
				errs = append(errs, fmt.Errorf("partition %d of %s: %w %s", p, topic, r.Err, r.ErrMessage))
			}
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("processor: elect the input partitions' preferred leaders: %w", errors.Join(errs...))
	}
	return waitLed(ctx, cl, a)
}

// waitLed returns once every broker names, for partition p of every
// input topic, the first of a.Replicas[p] as its leader: an election is
// answered before every broker knows of it, and a fetch sent meanwhile
// to a former leader finds the partitions apart.
func waitLed(ctx context.Context, cl *kgo.Client, a Alignment) error {
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	for {
		led, err := everyBroker(ctx, cl, a.Inputs, func(t kmsg.MetadataResponseTopic) bool {
			for _, p := range t.Partitions {
				if int(p.Partition) >= len(a.Replicas) || p.Leader != a.Replicas[p.Partition][0] {
					return false
				}
			}
			return len(t.Partitions) == len(a.Replicas)
		})
		if err == nil && led {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("processor: the input partitions' preferred leaders elected, but not every broker names them after a minute (%v): %w", err, ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// waitReassigned returns once no partition of a's is being reassigned.
func waitReassigned(ctx context.Context, adm *kadm.Client, a Alignment, progress func(moving int)) error {
	set := kadm.TopicsSet{}
	for topic, ps := range a.Reassign {
		for p := range ps {
			set.Add(topic, p)
		}
	}
	last := time.Now()
	for {
		moving, err := adm.ListPartitionReassignments(ctx, set)
		if err != nil {
			return fmt.Errorf("processor: list the input partitions' reassignments: %w", err)
		}
		n := 0
		moving.Each(func(r kadm.ListPartitionReassignmentsResponse) {
			if len(r.AddingReplicas)+len(r.RemovingReplicas) > 0 {
				n++
			}
		})
		if n == 0 {
			return nil
		}
		if progress != nil && time.Since(last) >= 5*time.Second {
			progress(n)
			last = time.Now()
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("processor: %d input partitions still moving; Kafka goes on moving them, and `lifecycle topics align` run again elects their leaders: %w", n, ctx.Err())
		case <-time.After(200 * time.Millisecond):
		}
	}
}
