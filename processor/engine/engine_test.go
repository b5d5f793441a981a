package engine

import (
	"github.com/lifecycle-engine/lifecycle/processor/rules"
	"github.com/lifecycle-engine/lifecycle/processor/segments"
	"github.com/lifecycle-engine/lifecycle/processor/warnings"
	"github.com/lifecycle-engine/lifecycle/schemas"
)

// testConfig is an engine configuration with every default, as the
// runtime makes it.
func testConfig() Config {
	r := rules.Config{}.WithDefaults()
	w := warnings.Config{ChurnAfter: r.ChurnAfter}.WithDefaults()
	return Config{
		Topics: Topics{Inputs: []string{schemas.DefaultLoginTopic, schemas.DefaultPurchaseTopic, schemas.DefaultContentTopic}, Transitions: "t", Warnings: "w", Segments: "s", DLQ: "d"},
		Rules:  r, Warnings: w, Segments: segments.Config{}.WithDefaults(), Prediction: Prediction{}.WithDefaults(),
		BatchRecords: 5000, MaxUsersCached: 1_000_000, DLQMaxBytes: 1 << 20,
	}
}
