package processor

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// ErrNotCoPartitioned is returned when the input topics differ in partition count.
var ErrNotCoPartitioned = errors.New("processor: input topics are not co-partitioned")

// ErrMissingTopics is returned when topics the processor needs do not exist.
var ErrMissingTopics = errors.New("processor: topics missing")

// ErrChangelogDeletes is returned when the changelog topic's
// cleanup.policy would delete records rather than compact them.
var ErrChangelogDeletes = errors.New("processor: the changelog topic would delete state")

// changelogCompactionLag is the min.compaction.lag.ms the changelog is
// created with: a week before compaction may drop a record, so that a
// restore in that time sees a former owner's stale late write beside the
// newer record it follows, and ignores it by its epoch.
const changelogCompactionLag = 7 * 24 * time.Hour

// TopicSpec describes the topics to create.
type TopicSpec struct {
	Partitions  int32 // of every topic; default 8
	Replication int16 // default 1 for a single broker; use 3 in production
}

// CreateTopics creates the input, output and changelog topics that do not
// exist yet, with spec.Partitions partitions, or the inputs' count when
// input topics exist already (the changelog and every input must match
// them); it returns the count used. The input topics are created aligned
// (createInputs). The changelog and the metrics topic are compacted.
// Existing topics are left as they are (CheckTopics says whether they fit).
func CreateTopics(ctx context.Context, cl *kgo.Client, t Topics, spec TopicSpec) (created []string, partitions int32, err error) {
	adm := kadm.NewClient(cl)
	t = t.withDefaults()
	if spec.Partitions == 0 {
		spec.Partitions = 8
	}
	if spec.Replication == 0 {
		spec.Replication = 1
	}
	details, err := adm.ListTopics(ctx, t.Inputs...)
	if err != nil {
		return nil, 0, fmt.Errorf("processor: list topics: %w", err)
	}
	if n := existingInputPartitions(details, t.Inputs); n > 0 {
		spec.Partitions = n
	}
	resp, err := createInputs(ctx, cl, adm, t.Inputs, details, spec)
	if err != nil {
		return nil, 0, err
	}
	outputs, err := createTopics(ctx, adm, spec.Partitions, spec.Replication, t.Metrics, t.Outputs())
	if err != nil {
		return nil, 0, err
	}
	maps.Copy(resp, outputs)
	all := append(append([]string{}, t.Inputs...), t.Outputs()...)
	if t.Changelog != "" {
		compact := map[string]*string{
			"cleanup.policy":        kadm.StringPtr("compact"),
			"min.compaction.lag.ms": kadm.StringPtr(strconv.FormatInt(changelogCompactionLag.Milliseconds(), 10)),
		}
		cl, err := adm.CreateTopics(ctx, spec.Partitions, spec.Replication, compact, t.Changelog)
		if err != nil {
			return nil, 0, fmt.Errorf("processor: create topics: %w", err)
		}
		resp[t.Changelog] = cl[t.Changelog]
		all = append(all, t.Changelog)
	}
	var errs []error
	for _, name := range all {
		r, ok := resp[name]
		switch {
		case !ok:
			errs = append(errs, fmt.Errorf("topic %s: no answer from the broker", name))
		case r.Err == nil:
			created = append(created, name)
		case errors.Is(r.Err, kerr.TopicAlreadyExists):
		default:
			errs = append(errs, fmt.Errorf("topic %s: %w %s", name, r.Err, r.ErrMessage))
		}
	}
	sort.Strings(created)
	if len(errs) == 0 && len(created) > 0 {
		errs = append(errs, waitForTopics(ctx, cl, created))
	}
	return created, spec.Partitions, errors.Join(errs...)
}

// createInputs creates the input topics that do not exist yet with the
// replica list of an existing one, partition by partition and in the same
// order, so that partition p of every input topic has the same preferred
// leader. Kafka places each topic's replicas on its own, and a partition
// whose input topics are led by different brokers costs the merge a
// ListOffsets round trip per cycle at live rates, where one fetch
// response confirms the ends of topics that share a leader
// (merger.passes; README, "Performance"). When no input topic exists,
// the first is created as Kafka places it and the others follow it.
// details are the inputs as listed before.
func createInputs(ctx context.Context, cl *kgo.Client, adm *kadm.Client, inputs []string, details kadm.TopicDetails, spec TopicSpec) (kadm.CreateTopicResponses, error) {
	resp := make(kadm.CreateTopicResponses)
	var missing []string
	var model [][]int32 // the replicas of each partition of an existing input
	for _, name := range inputs {
		d, ok := details[name]
		switch {
		case !ok || d.Err != nil: // the broker's answer to the create says why
			missing = append(missing, name)
		default:
			// As the broker would answer a request to create it.
			resp[name] = kadm.CreateTopicResponse{Topic: name, Err: kerr.TopicAlreadyExists}
			if int32(len(d.Partitions)) == spec.Partitions && model == nil {
				model = replicaLists(d)
			}
		}
	}
	if len(missing) == 0 {
		return resp, nil
	}
	if model == nil {
		first, err := adm.CreateTopics(ctx, spec.Partitions, spec.Replication, nil, missing[0])
		if err != nil {
			return nil, fmt.Errorf("processor: create topics: %w", err)
		}
		resp[missing[0]] = first[missing[0]]
		if r := first[missing[0]]; r.Err != nil && !errors.Is(r.Err, kerr.TopicAlreadyExists) {
			return nil, fmt.Errorf("processor: topic %s: %w %s", missing[0], r.Err, r.ErrMessage)
		}
		if err := waitForTopics(ctx, cl, missing[:1]); err != nil {
			return nil, err
		}
		d, err := adm.ListTopics(ctx, missing[0]) // listed by cl since waitForTopics
		if err != nil {
			return nil, fmt.Errorf("processor: list topics: %w", err)
		}
		if model = replicaLists(d[missing[0]]); int32(len(model)) != spec.Partitions {
			return nil, fmt.Errorf("processor: topic %s created, but listed with %d of its %d partitions", missing[0], len(model), spec.Partitions)
		}
		missing = missing[1:]
		if len(missing) == 0 {
			return resp, nil
		}
	}
	aligned, err := createAligned(ctx, cl, model, missing)
	if err != nil {
		return nil, err
	}
	maps.Copy(resp, aligned)
	return resp, nil
}

// replicaLists is the replica list of each of d's partitions, in order.
func replicaLists(d kadm.TopicDetail) [][]int32 {
	var lists [][]int32
	for _, p := range d.Partitions.Sorted() {
		lists = append(lists, p.Replicas)
	}
	return lists
}

// createAligned creates topics whose partition p has the replicas
// model[p], which kadm's CreateTopics cannot send.
func createAligned(ctx context.Context, cl *kgo.Client, model [][]int32, topics []string) (kadm.CreateTopicResponses, error) {
	req := kmsg.NewCreateTopicsRequest()
	req.TimeoutMillis = 15_000
	for _, name := range topics {
		rt := kmsg.NewCreateTopicsRequestTopic()
		rt.Topic, rt.NumPartitions, rt.ReplicationFactor = name, -1, -1
		for p, replicas := range model {
			ra := kmsg.NewCreateTopicsRequestTopicReplicaAssignment()
			ra.Partition, ra.Replicas = int32(p), slices.Clone(replicas)
			rt.ReplicaAssignment = append(rt.ReplicaAssignment, ra)
		}
		req.Topics = append(req.Topics, rt)
	}
	kresp, err := req.RequestWith(ctx, cl)
	if err != nil {
		return nil, fmt.Errorf("processor: create topics: %w", err)
	}
	resp := make(kadm.CreateTopicResponses)
	for _, t := range kresp.Topics {
		resp[t.Topic] = kadm.CreateTopicResponse{Topic: t.Topic, ID: t.TopicID, Err: kerr.ErrorForCode(t.ErrorCode), ErrMessage: unptr(t.ErrorMessage), NumPartitions: t.NumPartitions, ReplicationFactor: t.ReplicationFactor}
	}
	return resp, nil
}

func unptr(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

// createTopics creates names, the one named metrics compacted: the
// metrics topic keeps the latest record of each partition and period, what
// a warehouse and the other instances read, and a deleting one would lose
// them after retention.ms.
func createTopics(ctx context.Context, adm *kadm.Client, partitions int32, replication int16, metrics string, names []string) (kadm.CreateTopicResponses, error) {
	others := slices.DeleteFunc(slices.Clone(names), func(n string) bool { return n == metrics })
	resp, err := adm.CreateTopics(ctx, partitions, replication, nil, others...)
	if err != nil {
		return nil, fmt.Errorf("processor: create topics: %w", err)
	}
	if slices.Contains(names, metrics) {
		mt, err := adm.CreateTopics(ctx, partitions, replication, map[string]*string{"cleanup.policy": kadm.StringPtr("compact")}, metrics)
		if err != nil {
			return nil, fmt.Errorf("processor: create topics: %w", err)
		}
		resp[metrics] = mt[metrics]
	}
	return resp, nil
}

// existingInputPartitions is the partition count of the input topics that
// details list, 0 when none exists or when they differ (CheckTopics then
// names their counts).
func existingInputPartitions(details kadm.TopicDetails, inputs []string) int32 {
	var n int32
	for _, name := range inputs {
		d, ok := details[name]
		if !ok || d.Err != nil || len(d.Partitions) == 0 {
			continue
		}
		if n != 0 && n != int32(len(d.Partitions)) {
			return 0
		}
		n = int32(len(d.Partitions))
	}
	return n
}

// waitForTopics waits until cl and every broker list every topic with a
// leader for each partition: a broker answers CreateTopics before the
// others' metadata shows the topics, and a client that asks one of those at
// once (a check, a producer) would find them missing; cl itself may hold
// them as missing from before.
func waitForTopics(ctx context.Context, cl *kgo.Client, topics []string) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	adm := kadm.NewClient(cl)
	for {
		details, err := adm.ListTopics(ctx, topics...)
		if err == nil && listed(details, topics) {
			if ready, err := everyBrokerLists(ctx, cl, topics); err == nil && ready {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("processor: topics %s created but not ready after 30s: %w", strings.Join(topics, ", "), ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// everyBrokerLists says whether every broker lists the topics, each with a
// leader for every partition.
func everyBrokerLists(ctx context.Context, cl *kgo.Client, topics []string) (bool, error) {
	return everyBroker(ctx, cl, topics, func(t kmsg.MetadataResponseTopic) bool {
		for _, p := range t.Partitions {
			if p.ErrorCode != 0 || p.Leader < 0 {
				return false
			}
		}
		return len(t.Partitions) > 0
	})
}

// everyBroker asks each broker for the topics' metadata, their own answers
// where a request of cl's may go to any one of them, and says whether each
// lists every topic and ok holds for each.
func everyBroker(ctx context.Context, cl *kgo.Client, topics []string, ok func(kmsg.MetadataResponseTopic) bool) (bool, error) {
	brokers, err := kadm.NewClient(cl).BrokerMetadata(ctx)
	if err != nil {
		return false, err
	}
	req := kmsg.NewPtrMetadataRequest()
	req.AllowAutoTopicCreation = false
	for _, name := range topics {
		rt := kmsg.NewMetadataRequestTopic()
		rt.Topic = kmsg.StringPtr(name)
		req.Topics = append(req.Topics, rt)
	}
	for _, b := range brokers.Brokers {
		resp, err := req.RequestWith(ctx, cl.Broker(int(b.NodeID)))
		if err != nil {
			return false, err
		}
		if len(resp.Topics) != len(topics) {
			return false, nil
		}
		for _, t := range resp.Topics {
			if t.ErrorCode != 0 || !ok(t) {
				return false, nil
			}
		}
	}
	return true, nil
}

// listed says whether details list every topic with a leader for each
// partition.
func listed(details kadm.TopicDetails, topics []string) bool {
	for _, name := range topics {
		d, ok := details[name]
		if !ok || d.Err != nil || len(d.Partitions) == 0 {
			return false
		}
		for _, p := range d.Partitions {
			if p.Err != nil || p.Leader < 0 {
				return false
			}
		}
	}
	return true
}

// CheckTopics verifies that every topic exists, that the inputs are
// co-partitioned and that the changelog compacts rather than deletes, and
// returns their common partition count. Its errors name the topics and
// counts and say what to do; warnings are settings that work but risk
// something (the caller logs or prints them).
func CheckTopics(ctx context.Context, adm *kadm.Client, t Topics) (partitions int32, warnings []string, err error) {
	t = t.withDefaults()
	all := append(append([]string{}, t.Inputs...), t.Outputs()...)
	if t.Changelog != "" {
		all = append(all, t.Changelog)
	}
	details, err := adm.ListTopics(ctx, all...)
	if err != nil {
		return 0, nil, fmt.Errorf("processor: list topics: %w", err)
	}
	var missing []string
	for _, name := range all {
		d, ok := details[name]
		if !ok || errors.Is(d.Err, kerr.UnknownTopicOrPartition) {
			missing = append(missing, name)
		} else if d.Err != nil {
			return 0, nil, fmt.Errorf("processor: topic %s: %w", name, d.Err)
		}
	}
	if len(missing) > 0 {
		return 0, nil, fmt.Errorf("%w: %s; create them with `lifecycle topics create` or start with --create-topics", ErrMissingTopics, strings.Join(missing, ", "))
	}
	partitions, err = inputPartitions(details, t.Inputs)
	if err != nil {
		return 0, nil, err
	}
	if t.Changelog != "" {
		if n := int32(len(details[t.Changelog].Partitions)); n != partitions {
			return 0, nil, fmt.Errorf("%w: the changelog %s has %d partitions and the inputs %d; it holds the state of input partition p in its partition p, so the counts must match. If the changelog was made with the wrong count, delete and recreate it (lifecycle topics create): each instance seeds it from its local state. If partitions were added to the input topics, users' events are split between partitions and the state must be rebuilt for the new count: lifecycle replay --archive … --partitions %d --handover DIR, then run a new --group on DIR (README: Replay and backfills)", ErrNotCoPartitioned, t.Changelog, n, partitions, partitions)
		}
	}
	warnings, err = checkCleanup(ctx, adm, t)
	if err != nil {
		return 0, nil, err
	}
	if apart := leadersApart(details, t.Inputs, partitions); len(apart) > 0 {
		warnings = append(warnings, fmt.Sprintf("input partitions %s (of %d) are led by different brokers in different input topics: at live rates each of their cycles asks the brokers for the inputs' end offsets, a round trip that a partition whose topics share a leader does without. "+
			"To save it, give the input topics the same replica list per partition number: `lifecycle topics align` does, or kafka-reassign-partitions; preferred leader election then keeps their leaders together (README: Performance)", joinInts(apart), partitions))
	}
	return partitions, warnings, nil
}

// leadersApart lists the partitions whose input topics are led by
// different brokers: a fetch response then cannot confirm all of their
// ends at once, and the merge asks the brokers (merger.passes).
func leadersApart(details kadm.TopicDetails, inputs []string, partitions int32) (apart []int32) {
	for p := range partitions {
		leader := int32(-1)
		for i, name := range inputs {
			l := details[name].Partitions[p].Leader
			if i > 0 && l != leader {
				apart = append(apart, p)
				break
			}
			leader = l
		}
	}
	return apart
}

func joinInts(ns []int32) string {
	s := make([]string, len(ns))
	for i, n := range ns {
		s[i] = strconv.Itoa(int(n))
	}
	return strings.Join(s, ", ")
}

// checkCleanup reads the changelog's and the metrics topic's cleanup
// settings. A changelog that deletes records (Kafka's default
// cleanup.policy, when a topic is created by other tools) would lose the
// state of every user not written within retention.ms, silently, at the
// next restore: refused (Kafka Streams' check of its internal topics,
// InternalTopicManager.validate, flags a changelog whose cleanup.policy
// contains delete for the same reason).
// The rest only warns: a shorter compaction lag than a week (a zombie's
// stale write could outlive the record it follows), a metrics topic that
// deletes (its history goes with retention), and configs it may not read.
func checkCleanup(ctx context.Context, adm *kadm.Client, t Topics) (warnings []string, err error) {
	topics := []string{t.Metrics}
	if t.Changelog != "" {
		topics = append(topics, t.Changelog)
	}
	rcs, err := adm.DescribeTopicConfigs(ctx, topics...)
	if err != nil {
		return []string{fmt.Sprintf("could not read the cleanup.policy of %s (%v); make sure the changelog is compacted, not deleted", strings.Join(topics, ", "), err)}, nil
	}
	for _, rc := range rcs {
		if rc.Err != nil {
			warnings = append(warnings, fmt.Sprintf("could not read the cleanup.policy of %s (%v); make sure it is compacted, not deleted", rc.Name, rc.Err))
			continue
		}
		conf := map[string]string{}
		for _, c := range rc.Configs {
			if c.Value != nil {
				conf[c.Key] = *c.Value
			}
		}
		policy, known := conf["cleanup.policy"]
		policies := strings.Split(policy, ",")
		compacts, deletes := slices.Contains(policies, "compact"), slices.Contains(policies, "delete")
		switch {
		case !known:
			warnings = append(warnings, fmt.Sprintf("the broker did not report the cleanup.policy of %s; make sure it is compacted, not deleted", rc.Name))
		case rc.Name == t.Changelog && (deletes || !compacts):
			return nil, fmt.Errorf("%w: %s has cleanup.policy=%s, so the broker deletes its records after retention.ms and a restore (a partition moving to another instance, a lost disk) would bring back only the users written since. Make it compacted: if it is younger than its retention.ms, kafka-configs.sh --bootstrap-server … --alter --entity-type topics --entity-name %s --add-config cleanup.policy=compact,min.compaction.lag.ms=%d; if older, records are gone already: stop every instance, delete the topic and create it with lifecycle topics create, and each instance seeds it from its local state at start",
				ErrChangelogDeletes, rc.Name, policy, rc.Name, changelogCompactionLag.Milliseconds())
		case rc.Name == t.Changelog:
			if lag, err := strconv.ParseInt(conf["min.compaction.lag.ms"], 10, 64); err == nil && lag < changelogCompactionLag.Milliseconds() {
				warnings = append(warnings, fmt.Sprintf("the changelog %s has min.compaction.lag.ms=%d; %d (a week, as lifecycle topics create sets it) keeps a former owner's late write beside the newer record it follows, so that a restore can tell them apart", rc.Name, lag, changelogCompactionLag.Milliseconds()))
			}
		case deletes || !compacts:
			warnings = append(warnings, fmt.Sprintf("the metrics topic %s has cleanup.policy=%s: the broker deletes its periods after retention.ms, and the cohorts and flows (/v1/cohorts, the page) lose their history; make it compacted (cleanup.policy=compact)", rc.Name, policy))
		}
	}
	return warnings, nil
}

// inputPartitions is the inputs' common partition count, or an error
// naming each input's count when they differ.
func inputPartitions(details kadm.TopicDetails, inputs []string) (int32, error) {
	var partitions int32
	counts := make([]string, len(inputs))
	same := true
	for i, name := range inputs {
		n := int32(len(details[name].Partitions))
		counts[i] = fmt.Sprintf("%s has %d", name, n)
		if i == 0 {
			partitions = n
		} else if n != partitions {
			same = false
		}
	}
	if !same {
		return 0, fmt.Errorf("%w: %s partitions; every input topic needs the same partition count and key partitioner, so that one user's events of every kind land in the same partition number", ErrNotCoPartitioned, strings.Join(counts, ", "))
	}
	return partitions, nil
}

// defaultMaxMessageBytes is Kafka's default message.max.bytes, assumed for
// a topic whose limit cannot be read.
const defaultMaxMessageBytes = 1048588

// maxMessageBytes returns each topic's max.message.bytes as the brokers
// report it (the topic's own setting, or the broker's default), or
// defaultMaxMessageBytes where it cannot be read. Outputs are written and
// dead letters cut to fit it, so that no record the processor makes can be
// refused for its size.
func maxMessageBytes(ctx context.Context, adm *kadm.Client, topics ...string) (map[string]int, error) {
	limits := make(map[string]int, len(topics))
	for _, t := range topics {
		limits[t] = defaultMaxMessageBytes
	}
	rcs, err := adm.DescribeTopicConfigs(ctx, topics...)
	if err != nil {
		return limits, fmt.Errorf("processor: reading max.message.bytes of %s: %w", strings.Join(topics, ", "), err)
	}
	for _, rc := range rcs {
		if rc.Err != nil {
			continue
		}
		for _, c := range rc.Configs {
			if c.Key != "max.message.bytes" || c.Value == nil {
				continue
			}
			if n, err := strconv.Atoi(*c.Value); err == nil && n > 0 {
				limits[rc.Name] = n
			}
		}
	}
	return limits, nil
}
