package processor

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"go.uber.org/zap"
)

// changelogWatchEvery is how often a generation asks for the changelog's
// topic ID: about the longest a new changelog goes without the state it
// lacks.
const changelogWatchEvery = 10 * time.Second

// errNoTopic is topicID's error for a topic that does not exist.
var errNoTopic = errors.New("processor: the topic does not exist")

// topicID returns topic's ID (zero when the broker has none: Kafka before
// 2.8).
func topicID(ctx context.Context, adm *kadm.Client, topic string) (kadm.TopicID, error) {
	ids, err := topicIDs(ctx, adm, topic)
	return ids[topic], err
}

// topicIDs returns the IDs of topics (zero when the broker has none).
func topicIDs(ctx context.Context, adm *kadm.Client, topics ...string) (map[string]kadm.TopicID, error) {
	lctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	details, err := adm.ListTopics(lctx, topics...)
	if err != nil {
		return nil, err
	}
	ids := make(map[string]kadm.TopicID, len(topics))
	for _, topic := range topics {
		d, ok := details[topic]
		switch {
		case !ok || errors.Is(d.Err, kerr.UnknownTopicOrPartition):
			return nil, fmt.Errorf("%w: %s", errNoTopic, topic)
		case d.Err != nil:
			return nil, d.Err
		}
		ids[topic] = d.ID
	}
	return ids, nil
}

// errChangelogReplaced is the cause that stops a partition's ownership or
// standby copy when the changelog topic was deleted and created anew.
var errChangelogReplaced = errors.New("processor: the changelog topic was deleted and created anew")

// changelogIdentity is a generation's knowledge of the changelog topic's
// ID. The watcher updates it; each partition and standby copy works on
// the ID it started with, and stops (errChangelogReplaced) to start again
// on a new one.
type changelogIdentity struct {
	mu    sync.Mutex
	id    kadm.TopicID
	next  int
	stops map[int]context.CancelCauseFunc
}

func newChangelogIdentity(id kadm.TopicID) *changelogIdentity {
	return &changelogIdentity{id: id, stops: map[int]context.CancelCauseFunc{}}
}

// follow returns a context that ends with ctx or when the ID changes, the
// ID now, and release, to call once the work on it has stopped.
func (c *changelogIdentity) follow(ctx context.Context) (context.Context, kadm.TopicID, func()) {
	fctx, cancel := context.WithCancelCause(ctx)
	c.mu.Lock()
	defer c.mu.Unlock()
	n := c.next
	c.next++
	c.stops[n] = cancel
	return fctx, c.id, func() {
		c.mu.Lock()
		delete(c.stops, n)
		c.mu.Unlock()
		cancel(nil)
	}
}

func (c *changelogIdentity) current() kadm.TopicID {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.id
}

// replace records the new ID and stops everything that works on the old.
func (c *changelogIdentity) replace(id kadm.TopicID) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.id = id
	for n, stop := range c.stops {
		stop(errChangelogReplaced)
		delete(c.stops, n)
	}
}

// watchChangelog asks for the changelog's topic ID until ctx ends. When it
// changes (the topic was deleted and created anew), the generation's
// partitions start again on the new topic, and makeCurrent seeds it from
// their local state; the standby copies copy it anew. Without this a
// running instance went on writing only its changes to the new topic, and
// the next restore (a partition moving, a lost disk) brought back only the
// users written since (65 of 3,000, measured on Kafka 4.3.1). A missing
// changelog is logged once: its writes wait for it.
func (p *Processor) watchChangelog(ctx context.Context, adm *kadm.Client, ident *changelogIdentity, log *zap.Logger) {
	topic := p.cfg.Topics.Changelog
	every := p.cfg.changelogWatch
	if every <= 0 {
		every = changelogWatchEvery
	}
	t := time.NewTicker(every)
	defer t.Stop()
	missing := false
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		id, err := topicID(ctx, adm, topic)
		switch known := ident.current(); {
		case errors.Is(err, errNoTopic):
			if !missing {
				log.Error("the changelog topic is missing: its writes wait for it; create it with lifecycle topics create, and the partitions seed it from their local state", zap.String("changelog", topic))
			}
			missing = true
		case err != nil:
			log.Debug("reading the changelog's topic ID failed", zap.Error(err))
		case id == kadm.TopicID{} || id == known:
			// The broker has no IDs, or nothing changed.
			missing = false
		case known == kadm.TopicID{}:
			log.Info("the changelog's topic ID is known now; the partitions start again to check their state against it", zap.Stringer("id", id))
			ident.replace(id)
		default:
			log.Warn("the changelog topic was deleted and created anew; the partitions start again on it and seed it from their local state",
				zap.String("changelog", topic), zap.Stringer("was", known), zap.Stringer("now", id))
			ident.replace(id)
			missing = false
		}
	}
}

// ErrChangelogUnseeded: a partition's state would come from a changelog
// that was deleted and created anew and that no owner has seeded from its
// local state since. It holds only what was written to it since, so a
// restore would bring back only those users, and the others would come
// back as new.
var ErrChangelogUnseeded = errors.New("processor: the changelog was deleted and created anew and not seeded since")

// changelogSeeded returns ErrChangelogUnseeded when partition id's
// changelog, whose topic ID is now, ends with metadata stamped with
// another topic's ID (changelogIDHeader): its writer had not noticed that
// the topic was created anew, and a crash then kept it from seeding it.
// A restore or a promotion from it is refused before anything is written,
// so that the instance that still holds the state can seed it.
func changelogSeeded(topic string, id int32, now kadm.TopicID, tail changelogTail) error {
	none := kadm.TopicID{}
	if tail.meta == nil || now == none || tail.on.changelog == none || tail.on.changelog == now {
		return nil
	}
	return fmt.Errorf("%w: partition %d of %s (topic ID %s) ends with state written by an owner of the deleted topic (%s), and holds only what was written to it since: "+
		"a restore from it would bring back only those users, so this instance stops. The partition's full state is in the state directory of the instance "+
		"that owned it then: start that instance with it, and it seeds the new changelog at start. If that directory is lost too, rebuild the state from an archive "+
		"of every event (lifecycle replay --archive … --handover DIR) and run a new --group on it; or, to start the partition's users anew, "+
		"delete the changelog and create it with lifecycle topics create (the other partitions' owners seed it from their local state)",
		ErrChangelogUnseeded, id, topic, now, tail.on.changelog)
}

// inputsUnchanged returns ErrInputRestarted when an input topic's ID now
// differs from the one partition id's state applied records of (then and
// applied, the next offset per topic, from its changelog's newest
// metadata; inputIDHeader): the topic was deleted and created anew
// meanwhile, perhaps while no instance ran, and its new records below the
// state's position would be skipped even once the topic has grown past
// it. A topic the state has applied nothing of yet (a topic created anew
// before its first record, to change its partitions) and unknown IDs (a
// broker without them, records of older versions) pass.
func inputsUnchanged(id int32, then map[string]kadm.TopicID, applied map[string]int64, now map[string]kadm.TopicID) error {
	for _, topic := range slices.Sorted(maps.Keys(then)) {
		was, is := then[topic], now[topic]
		if applied[topic] > 0 && is != (kadm.TopicID{}) && is != was {
			return fmt.Errorf("%w: %s/%d: the topic was deleted and created anew since this partition's state applied its records (topic ID %s then, %s now). "+
				"A topic created anew starts its offsets again at 0, and its records below what the state has applied would be taken as applied already and skipped. "+
				"%s", ErrInputRestarted, topic, id, was, is, inputRestartedWayOn)
		}
	}
	return nil
}
