package bench

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
)

// FailoverSummary is what lifecycle bench failover reports (--json).
type FailoverSummary struct {
	Started        string           `json:"started"`
	Machine        Machine          `json:"machine"`
	Broker         string           `json:"broker"`
	Users          int              `json:"users"`
	Partitions     int              `json:"partitions"`
	SessionTimeout string           `json:"session_timeout"`
	LoadAvgStart   string           `json:"load_avg_start"`
	LoadAvgEnd     string           `json:"load_avg_end"`
	Runs           []FailoverResult `json:"runs"`
}

// FailoverResult is one mode's measurement. Times are seconds; the
// timeline is seconds after the kill of A.
type FailoverResult struct {
	Mode            string  `json:"mode"` // no-standby or standby
	StandbyReplicas int     `json:"standby_replicas"`
	Events          int     `json:"events"`
	PreloadSeconds  float64 `json:"preload_seconds"`
	// DrainSeconds is from A's start until the group had committed the
	// end of the input.
	DrainSeconds float64 `json:"drain_seconds"`
	// StandbyCopySeconds is from B's start until the group's lag on the
	// changelog was 0 (standby mode).
	StandbyCopySeconds float64 `json:"standby_copy_seconds,omitempty"`
	ChangelogRecords   int64   `json:"changelog_records"` // end offsets after the kill, summed
	Partition          int     `json:"partition"`         // the new user's
	TotalSeconds       float64 `json:"total_seconds"`     // kill → the new user's transition read
	SessionSeconds     float64 `json:"session_seconds"`   // kill → B's "partitions assigned" with the partition
	RestoreSeconds     float64 `json:"restore_seconds"`   // "took" of B's "partition restored" or "standby promoted"
	RestSeconds        float64 `json:"rest_seconds"`
	// Restored: B logged "partition restored" for the partition after the
	// kill; Promoted: "standby promoted". Exactly one is expected, by mode.
	Restored                 bool               `json:"restored"`
	RestoredRecords          int64              `json:"restored_records"`
	RestoredUsers            int64              `json:"restored_users,omitempty"`
	RestoreRecordsPerSec     float64            `json:"restore_records_per_second,omitempty"`
	Promoted                 bool               `json:"promoted"`
	PromotedChangelogRecords int64              `json:"promoted_changelog_records"`
	PromotedUsers            int64              `json:"promoted_users,omitempty"`
	Timeline                 map[string]float64 `json:"timeline"`
	// Notices are B's warnings and errors after the kill, and what was
	// not as expected.
	Notices []string `json:"notices,omitempty"`
	// BLog is B's log from the kill until the output was read (at most
	// 50 lines).
	BLog       []string `json:"b_log_after_kill"`
	Unexpected string   `json:"unexpected,omitempty"`
	LoadAvg    string   `json:"load_avg"`
}

// Print writes the summary as a table, a column per mode, then what B
// logged after the kill and what was not as expected.
func (s *FailoverSummary) Print(w io.Writer) {
	fmt.Fprintf(w, "lifecycle bench failover: %s, %s (%d cores, %d MiB), %s\n", s.Broker, s.Machine.CPU, s.Machine.Cores, s.Machine.MemoryMiB, s.Machine.Go)
	fmt.Fprintf(w, "users %d (one event each), partitions %d, --session-timeout %s; load average %s at start, %s at end\n\n",
		s.Users, s.Partitions, s.SessionTimeout, s.LoadAvgStart, s.LoadAvgEnd)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	row := func(name string, cell func(r FailoverResult) string) {
		fmt.Fprint(tw, name)
		for _, r := range s.Runs {
			fmt.Fprint(tw, "\t"+cell(r))
		}
		fmt.Fprintln(tw, "\t")
	}
	secs := func(v float64) string { return fmt.Sprintf("%.2f s", v) }
	row("measure", func(r FailoverResult) string {
		return fmt.Sprintf("%s (--standby-replicas %d)", r.Mode, r.StandbyReplicas)
	})
	row("failover: kill → new user's output", func(r FailoverResult) string { return secs(r.TotalSeconds) })
	row("  session: kill → B assigned", func(r FailoverResult) string { return secs(r.SessionSeconds) })
	row("  restore or promotion (B's log)", func(r FailoverResult) string {
		switch {
		case r.Restored:
			return fmt.Sprintf("%s: restored %d records, %.0f records/s", secs(r.RestoreSeconds), r.RestoredRecords, r.RestoreRecordsPerSec)
		case r.Promoted:
			return fmt.Sprintf("%s: promoted, %d changelog records applied", secs(r.RestoreSeconds), r.PromotedChangelogRecords)
		}
		return "neither logged"
	})
	row("  rest", func(r FailoverResult) string { return secs(r.RestSeconds) })
	row("changelog at the kill", func(r FailoverResult) string { return fmt.Sprintf("%d records", r.ChangelogRecords) })
	row("A's drain of the input", func(r FailoverResult) string {
		return fmt.Sprintf("%s (%.0f events/s)", secs(r.DrainSeconds), float64(r.Events)/r.DrainSeconds)
	})
	row("B's standby copy current after", func(r FailoverResult) string {
		if r.StandbyReplicas == 0 {
			return "-"
		}
		return secs(r.StandbyCopySeconds)
	})
	row("load average after", func(r FailoverResult) string { return r.LoadAvg })
	tw.Flush()
	for _, r := range s.Runs {
		if len(r.Notices) > 0 {
			fmt.Fprintf(w, "\n%s: B logged after the kill: %s\n", r.Mode, strings.Join(r.Notices, "; "))
		}
		if r.Unexpected != "" {
			fmt.Fprintf(w, "\n%s: UNEXPECTED: %s\n", r.Mode, r.Unexpected)
		}
	}
}
