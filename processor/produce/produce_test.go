package produce

import (
	"errors"
	"fmt"
	"testing"

	"github.com/segmentio/kafka-go"
	"github.com/segmentio/kafka-go/protocol"
)

// Refused looks into kafka-go's WriteErrors, which errors.Is cannot.
func TestRefused(t *testing.T) {
	noLeader := fmt.Errorf("produce: %w", protocol.NewErrNoLeader("t", 1))
	for _, tc := range []struct {
		err  error
		want bool
	}{
		{kafka.UnknownTopicOrPartition, true},
		{noLeader, true},
		{kafka.WriteErrors{nil, kafka.NotLeaderForPartition, noLeader}, true},
		{kafka.WriteErrors{kafka.LeaderNotAvailable, kafka.MessageSizeTooLarge}, false},
		{errors.New("i/o timeout"), false},
	} {
		if got := Refused(tc.err); got != tc.want {
			t.Errorf("Refused(%v) = %v, want %v", tc.err, got, tc.want)
		}
	}
	msgs := []kafka.Message{{Value: []byte("a")}, {Value: []byte("b")}}
	if got := FailedOnly(msgs, kafka.WriteErrors{nil, noLeader}); len(got) != 1 || string(got[0].Value) != "b" {
		t.Errorf("FailedOnly kept %v, want only b", got)
	}
}
