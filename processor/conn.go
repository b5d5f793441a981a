package processor

import (
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// Conn says how to reach a Kafka cluster, for both client libraries the
// processor uses: kafka-go for consuming and producing, franz-go's kadm for
// administration.
type Conn struct {
	// Brokers are the bootstrap addresses, host:port.
	Brokers []string
}

// dialer is what kafka-go's readers and consumer group connect with.
func (c Conn) dialer() *kafka.Dialer {
	return &kafka.Dialer{Timeout: 10 * time.Second, DualStack: true}
}

// transport is what kafka-go's writer connects with.
func (c Conn) transport() *kafka.Transport {
	return &kafka.Transport{DialTimeout: 10 * time.Second}
}

// Admin returns an admin client; close it with Close.
func (c Conn) Admin() (*kadm.Client, error) {
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.Brokers...), kgo.DialTimeout(10*time.Second))
	if err != nil {
		return nil, err
	}
	return kadm.NewClient(cl), nil
}

// Writer returns a producer set up as the processor needs it, and as any
// producer of input events should be: the key hash of the Java client
// (Murmur2), so that one user's events of every kind land in the same
// partition number; acks from all in-sync replicas; and no lingering (the
// default waits up to 1 s for a batch to fill). Close it when done.
func (c Conn) Writer() *kafka.Writer {
	return &kafka.Writer{
		Addr:         kafka.TCP(c.Brokers...),
		Transport:    c.transport(),
		Balancer:     &kafka.Murmur2Balancer{},
		RequiredAcks: kafka.RequireAll,
		BatchTimeout: time.Millisecond,
		BatchSize:    10_000,
		MaxAttempts:  10,
		Compression:  kafka.Lz4,
	}
}
