package bench

import (
	"context"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/lifecycle-engine/lifecycle/processor"
)

// session is what every bench run has: the connection to the broker, the
// run's name, the topics and groups it created, the workload it preloads,
// and its progress lines on stderr.
type session struct {
	stderr     io.Writer
	conn       processor.Conn
	cl         *kgo.Client    // the admin requests' client
	adm        *kadm.Client   // over cl
	cluster    *kfake.Cluster // the embedded broker, or nil
	embedded   bool
	broker     string // the summary's description of the broker
	run        string
	partitions int32
	keep       bool // leave the topics and groups at the end
	seed       uint64
	workload   string

	created []string // topics to delete
	groups  []string

	progressMu sync.Mutex
}

// connect starts the embedded broker when conn names no brokers (and
// writes to it with conn's Compression), else connects to them; it checks the connection and names the run. On an
// error it has closed what it opened; else disconnect closes the admin
// client and the embedded broker.
func (s *session) connect(ctx context.Context, conn processor.Conn) (err error) {
	if len(conn.Brokers) == 0 {
		if s.cluster, err = kfake.NewCluster(kfake.NumBrokers(1)); err != nil {
			return fmt.Errorf("starting the embedded broker: %w", err)
		}
		s.conn = processor.Conn{Brokers: s.cluster.ListenAddrs(), Compression: conn.Compression}
		s.broker = "embedded kfake (in process)"
		s.embedded = true
	} else {
		s.conn = conn
		s.broker = "kafka at " + strings.Join(s.conn.Brokers, ",")
	}
	if s.cl, err = s.conn.Client(); err == nil {
		s.adm = kadm.NewClient(s.cl)
		err = s.conn.Check(ctx, s.adm)
	}
	if err != nil {
		s.disconnect()
		return err
	}
	s.run = fmt.Sprintf("bench-%d", time.Now().UnixNano()%1e12)
	return nil
}

func (s *session) disconnect() {
	if s.cl != nil {
		s.cl.Close()
	}
	if s.cluster != nil {
		s.cluster.Close()
	}
}

// progress writes a line to stderr; the latency mode's ticker writes from
// a goroutine of its own.
func (s *session) progress(format string, args ...any) {
	s.progressMu.Lock()
	defer s.progressMu.Unlock()
	fmt.Fprintf(s.stderr, "bench: "+format+"\n", args...)
}

// topics creates a fresh, uniquely named set of topics for one phase.
func (s *session) topics(ctx context.Context, phase string) (processor.Topics, string, error) {
	prefix := s.run + "-" + phase
	group := prefix + "-group"
	t := phaseTopics(prefix, group)
	created, _, err := processor.CreateTopics(ctx, s.cl, t, processor.TopicSpec{Partitions: s.partitions, Replication: 1})
	s.created = append(s.created, created...)
	s.groups = append(s.groups, group)
	return t, group, err
}

// phaseTopics names every topic of a phase after it, the outputs too: a
// default name would be shared by every run, and deleted by the first run
// that created it while others write to it.
func phaseTopics(prefix, group string) processor.Topics {
	return processor.Topics{
		Inputs:      []string{prefix + ".login", prefix + ".purchase", prefix + ".content"},
		Transitions: prefix + ".transitions",
		Warnings:    prefix + ".churn-warnings",
		Segments:    prefix + ".segments",
		Metrics:     prefix + ".metrics",
		DLQ:         prefix + ".dlq",
		Changelog:   processor.ChangelogTopic(group),
	}
}

// cleanup deletes the run's groups and topics, unless they are kept or
// the broker, being embedded, goes with them.
func (s *session) cleanup() {
	if s.keep || s.embedded || len(s.created) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := s.adm.DeleteGroups(ctx, s.groups...); err != nil {
		s.progress("deleting groups: %v", err)
	}
	if _, err := s.adm.DeleteTopics(ctx, s.created...); err != nil {
		s.progress("deleting topics: %v", err)
	}
}
