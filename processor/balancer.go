package processor

import (
	"cmp"
	"encoding/binary"
	"slices"
	"sort"

	"github.com/segmentio/kafka-go"
)

// copartitionBalancer assigns partition p of every input topic to the same
// member, so that one goroutine sees all of a user's events. kafka-go's
// default balancers split each topic on its own and do not keep that
// (field-notes.md).
//
// It is sticky by state: each member says in its join metadata how far
// its local state of each partition has got (held), and a partition goes
// to the member whose state is furthest, as long as the counts stay
// balanced. A restarted instance so gets its own partitions back, and a
// failed one's go to their standbys: neither restores from the changelog.
// Without such state, partition p goes to member p mod n (members sorted
// by id). Every member computes the same answer from the same input.
//
// With standbys > 0 the changelog topic is part of the group's
// subscription, and a member's changelog partitions are the ones it keeps
// a standby copy of: the standbys members of each partition other than
// its owner, the furthest first.
//
// On the member that leads the group, it also reports the subscribed
// topics the broker listed no partitions of (unlisted): kafka-go then
// assigns nothing at all, and only its partition watcher would start a
// new generation when the topic comes (back). A topic that appears
// between the assignment and the watcher's first look never starts one,
// and the group would own nothing until the next rebalance.
type copartitionBalancer struct {
	changelog string                 // the changelog topic; "" without standbys
	standbys  int                    // standby copies per partition
	held      func() map[int32]int64 // this member's progress per partition; nil: none
	unlisted  func(topics []string)  // called on every assignment this member computes; nil: not told
}

func (copartitionBalancer) ProtocolName() string { return "lifecycle-copartition" }

// UserData is this member's held progress: a uvarint count, then per
// partition its number and progress (uvarints), in partition order.
func (b copartitionBalancer) UserData() ([]byte, error) {
	if b.held == nil {
		return nil, nil
	}
	held := b.held()
	ids := make([]int32, 0, len(held))
	for p := range held {
		ids = append(ids, p)
	}
	slices.Sort(ids)
	out := binary.AppendUvarint(nil, uint64(len(ids)))
	for _, p := range ids {
		out = binary.AppendUvarint(out, uint64(p))
		out = binary.AppendUvarint(out, uint64(max(held[p], 0)))
	}
	return out, nil
}

// decodeHeld reads UserData; metadata it cannot read counts as no state.
func decodeHeld(b []byte) map[int32]int64 {
	held := map[int32]int64{}
	n, w := binary.Uvarint(b)
	if w <= 0 {
		return held
	}
	b = b[w:]
	for range n {
		p, w1 := binary.Uvarint(b)
		if w1 <= 0 {
			return map[int32]int64{}
		}
		v, w2 := binary.Uvarint(b[w1:])
		if w2 <= 0 {
			return map[int32]int64{}
		}
		held[int32(p)] = int64(v)
		b = b[w1+w2:]
	}
	return held
}

func (b copartitionBalancer) AssignGroups(members []kafka.GroupMember, partitions []kafka.Partition) kafka.GroupMemberAssignments {
	sorted := slices.Clone(members)
	slices.SortFunc(sorted, func(a, b kafka.GroupMember) int { return cmp.Compare(a.ID, b.ID) })
	n := len(sorted)
	out := make(kafka.GroupMemberAssignments, n)
	held := make([]map[int32]int64, n)
	for i, m := range sorted {
		out[m.ID] = map[string][]int{}
		held[i] = decodeHeld(m.UserData)
	}
	if b.unlisted != nil {
		b.unlisted(unlistedTopics(members, partitions))
	}
	if n == 0 {
		return out
	}
	topicsOf := map[int][]string{} // input partition number → its topics
	for _, p := range partitions {
		if p.Topic != b.changelog {
			topicsOf[p.ID] = append(topicsOf[p.ID], p.Topic)
		}
	}
	ids := make([]int, 0, len(topicsOf))
	for id := range topicsOf {
		ids = append(ids, id)
	}
	sort.Ints(ids)

	// Owners: the furthest holder with room, then the least loaded.
	// Room: every member gets len/n partitions, len%n of them one more.
	base, extra := len(ids)/n, len(ids)%n
	count := make([]int, n)
	room := func(m int) bool { return count[m] < base || count[m] == base && extra > 0 }
	take := func(m int) {
		if count[m] == base {
			extra--
		}
		count[m]++
	}
	owner := make(map[int]int, len(ids))
	for _, id := range ids {
		best := -1
		for m := range n {
			if p := held[m][int32(id)]; p > 0 && room(m) && (best < 0 || p > held[best][int32(id)]) {
				best = m
			}
		}
		if best >= 0 {
			owner[id] = best
			take(best)
		}
	}
	for _, id := range ids {
		if _, ok := owner[id]; ok {
			continue
		}
		best := -1
		for m := range n {
			if room(m) && (best < 0 || count[m] < count[best]) {
				best = m
			}
		}
		owner[id] = best
		take(best)
	}
	for _, id := range ids {
		for _, topic := range topicsOf[id] {
			as := out[sorted[owner[id]].ID]
			as[topic] = append(as[topic], id)
		}
	}

	// Standbys: the furthest other holders, then the least loaded.
	if b.changelog != "" && b.standbys > 0 {
		load := make([]int, n)
		for _, id := range ids {
			others := make([]int, 0, n-1)
			for m := range n {
				if m != owner[id] {
					others = append(others, m)
				}
			}
			slices.SortStableFunc(others, func(x, y int) int {
				if c := cmp.Compare(held[y][int32(id)], held[x][int32(id)]); c != 0 {
					return c
				}
				return cmp.Compare(load[x], load[y])
			})
			for _, m := range others[:min(b.standbys, len(others))] {
				load[m]++
				as := out[sorted[m].ID]
				as[b.changelog] = append(as[b.changelog], id)
			}
		}
	}
	for _, topics := range out {
		for _, ps := range topics {
			sort.Ints(ps)
		}
	}
	return out
}

// unlistedTopics are the topics some member subscribes to that have no
// partition among partitions, sorted.
func unlistedTopics(members []kafka.GroupMember, partitions []kafka.Partition) []string {
	listed := map[string]bool{}
	for _, p := range partitions {
		listed[p.Topic] = true
	}
	var out []string
	for _, m := range members {
		for _, t := range m.Topics {
			if !listed[t] {
				listed[t] = true // reported once
				out = append(out, t)
			}
		}
	}
	slices.Sort(out)
	return out
}
