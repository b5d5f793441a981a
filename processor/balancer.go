package processor

import (
	"sort"

	"github.com/segmentio/kafka-go"
)

// copartitionBalancer assigns partition p of every input topic to the same
// member, so that one goroutine sees all of a user's events. kafka-go's
// default balancers split each topic on its own and do not keep that
// (field-notes.md). Members are sorted by id and partition p goes to member
// p mod n: every member computes the same answer from the same input.
type copartitionBalancer struct{}

func (copartitionBalancer) ProtocolName() string { return "lifecycle-copartition" }

func (copartitionBalancer) UserData() ([]byte, error) { return nil, nil }

func (copartitionBalancer) AssignGroups(members []kafka.GroupMember, partitions []kafka.Partition) kafka.GroupMemberAssignments {
	ids := make([]string, len(members))
	for i, m := range members {
		ids[i] = m.ID
	}
	sort.Strings(ids)
	out := make(kafka.GroupMemberAssignments, len(ids))
	for _, id := range ids {
		out[id] = map[string][]int{}
	}
	if len(ids) == 0 {
		return out
	}
	for _, p := range partitions {
		id := ids[p.ID%len(ids)]
		out[id][p.Topic] = append(out[id][p.Topic], p.ID)
	}
	for _, topics := range out {
		for _, ps := range topics {
			sort.Ints(ps)
		}
	}
	return out
}
