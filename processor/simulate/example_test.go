package simulate_test

import (
	"bufio"
	"context"
	"os"

	"github.com/lifecycle-engine/lifecycle/processor/simulate"
)

// Writes the stream of a tiny population as NDJSON and its truth as CSV.
func Example() {
	out := bufio.NewWriter(os.Stdout)
	truth, err := simulate.Run(context.Background(), simulate.Config{Users: 3, Days: 7, Seed: 1}, simulate.WriteNDJSON(out))
	if err != nil {
		panic(err)
	}
	out.Flush()
	simulate.WriteTruthCSV(os.Stdout, truth)
	// Output:
	// {"event_id":"e-u-000003-1","user_id":"u-000003","type":"login","ts":"2026-01-04T13:00:16.315Z","seq":1}
	// {"event_id":"e-u-000001-1","user_id":"u-000001","type":"login","ts":"2026-01-04T17:38:02.439Z","seq":1}
	// {"event_id":"e-u-000002-1","user_id":"u-000002","type":"login","ts":"2026-01-04T23:24:16.306Z","seq":1}
	// {"event_id":"e-u-000003-2","user_id":"u-000003","type":"login","ts":"2026-01-06T02:22:34.242Z","seq":2}
	// user_id,dropout_at
	// u-000001,2026-01-06T13:53:54.207Z
	// u-000002,
	// u-000003,
}
