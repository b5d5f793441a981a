// Package produce holds what every producer in this module does with a
// kafka-go write error: send again only the records that failed.
package produce

import (
	"errors"

	"github.com/segmentio/kafka-go"
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
