package schemas

// The default input topics, one per event type: where producers send
// events and the processor reads them unless told otherwise.
const (
	DefaultLoginTopic    = "events.login"
	DefaultPurchaseTopic = "events.purchase"
	DefaultContentTopic  = "events.content"
)

// Schema names, the values of HeaderSchema.
const (
	SchemaEventV1      = "event.v1"
	SchemaTransitionV1 = "transition.v1"
)

// Headers of output records (see dlq.md for the dead-letter ones).
const (
	// HeaderID carries the output's deterministic id (OutputID), equal to
	// its "id" field, so consumers can drop duplicates without parsing.
	HeaderID = "lifecycle.id"
	// HeaderSchema names the schema of the value, e.g. SchemaTransitionV1.
	HeaderSchema = "lifecycle.schema"
)

// Headers of a dead-letter record. Its key is the original record's key and
// its value the original bytes, unchanged; dlq.md describes the record.
const (
	// HeaderDLQReason is a human-readable sentence: RejectError.Error(), or
	// another error through TruncateReason; at most MaxReasonBytes bytes.
	HeaderDLQReason = "lifecycle.dlq.reason"
	// HeaderDLQCode is the stable reason code: a Reason, e.g. "bad_timestamp".
	HeaderDLQCode = "lifecycle.dlq.code"
	// HeaderDLQTopic is the topic the record was read from.
	HeaderDLQTopic = "lifecycle.dlq.topic"
	// HeaderDLQPartition is its partition, as a decimal string.
	HeaderDLQPartition = "lifecycle.dlq.partition"
	// HeaderDLQOffset is its offset, as a decimal string.
	HeaderDLQOffset = "lifecycle.dlq.offset"
	// HeaderDLQTimestamp is its timestamp, epoch milliseconds as a decimal
	// string (the dead letter's own timestamp is when it was written);
	// absent for a record replayed from an archive, which has none.
	HeaderDLQTimestamp = "lifecycle.dlq.timestamp"
	// HeaderDLQOriginalSize is set on a dead letter whose value was cut to
	// fit the dead-letter topic: the original value's length in bytes.
	HeaderDLQOriginalSize = "lifecycle.dlq.original_size"
	// HeaderDLQOriginalKeySize is set when the key was cut too (to 1 KiB).
	HeaderDLQOriginalKeySize = "lifecycle.dlq.original_key_size"
	// HeaderDLQSHA256 is the hex SHA-256 of the original value, on a dead
	// letter whose value was cut.
	HeaderDLQSHA256 = "lifecycle.dlq.sha256"
	// HeaderDLQOutputID is the lifecycle.id of an output the broker refused
	// for good, on the notice that replaces it (code DLQCodeOutputRefused).
	HeaderDLQOutputID = "lifecycle.dlq.output_id"
)

// DLQCodeOutputRefused is the code of a dead-letter notice that stands for
// an output record the broker refused for good (too large for its topic,
// or invalid): the notice names the output's topic, id, size and hash and
// carries the start of its value; the partition goes on without it.
const DLQCodeOutputRefused = "output_refused"
