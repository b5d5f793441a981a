package schemas

// Rules names the rules an output was made with: the version of the rules
// file and a hash of every rule setting in effect. It is the `rules` field
// of transitions, churn warnings and segment changes when the processor
// runs with a rules file, so that outputs of different rules can be told
// apart downstream (a shadow run beside the live one, a backfill with
// other rules).
type Rules struct {
	Version string `json:"version"` // the rules file's version, as written there
	Hash    string `json:"hash"`    // 16 hex digits of a SHA-256 over the settings in effect
}
