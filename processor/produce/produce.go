// Package produce holds what every producer in this module shares: the
// partition a key goes to, and what to do with a kafka-go write error
// (tell whether it may be sent again, and send again only the records
// that failed).
package produce

import (
	"errors"

	"github.com/segmentio/kafka-go"
	"github.com/segmentio/kafka-go/protocol"
)

// FailedOnly returns the messages of a WriteMessages call that err says
// failed (all of them when err does not say which): the others were
// delivered, and sending them again would only make duplicates.
func FailedOnly(msgs []kafka.Message, err error) []kafka.Message {
	var we kafka.WriteErrors
	if !errors.As(err, &we) || len(we) != len(msgs) {
		return msgs
	}
	var failed []kafka.Message
	for i, e := range we {
		if e != nil {
			failed = append(failed, msgs[i])
		}
	}
	return failed
}

// Refused reports whether every write that err reports failed was refused
// for want of a partition leader (a topic just created, a broker
// restarting): such a write was not made, so sending it again makes no
// duplicate. kafka-go's WriteErrors does not unwrap: its elements are
// looked at one by one.
func Refused(err error) bool {
	var we kafka.WriteErrors
	if errors.As(err, &we) {
		for _, e := range we {
			if e != nil && !Refused(e) {
				return false
			}
		}
		return true
	}
	return errors.Is(err, kafka.UnknownTopicOrPartition) || errors.Is(err, kafka.LeaderNotAvailable) ||
		errors.Is(err, kafka.NotLeaderForPartition) || errors.Is(err, protocol.ErrNoLeader)
}

// PartitionOf is the partition of partitions a record with key goes to:
// the Java client's key hash (Murmur2), which every producer of this
// module uses, so that a user's events land where the processor expects.
func PartitionOf(key []byte, partitions int32) int32 {
	ps := partitionIDs[:]
	if int(partitions) <= len(partitionIDs) {
		ps = ps[:partitions]
	} else {
		ps = make([]int, partitions)
		for i := range ps {
			ps[i] = i
		}
	}
	return int32((kafka.Murmur2Balancer{}).Balance(kafka.Message{Key: key}, ps...))
}

// partitionIDs are the partition numbers PartitionOf hands the balancer
// without allocating, for up to that many partitions.
var partitionIDs = func() (ids [1024]int) {
	for i := range ids {
		ids[i] = i
	}
	return ids
}()
