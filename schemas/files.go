package schemas

import "embed"

// Files holds the JSON Schema files (draft 2020-12), the source of truth for
// the wire formats, and dlq.md. Tests elsewhere load them from here; see the
// schematest package for a compiled validator.
//
//go:embed event.v1.schema.json transition.v1.schema.json churn-warning.v1.schema.json segment.v1.schema.json metrics.v1.schema.json rules.v1.schema.json dlq.md
var Files embed.FS

// Names of the schema files in Files.
const (
	EventSchemaFile      = "event.v1.schema.json"
	TransitionSchemaFile = "transition.v1.schema.json"
	RulesSchemaFile      = "rules.v1.schema.json"
)
