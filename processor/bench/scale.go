package bench

import (
	"context"
	"fmt"
	"io"
)

// The scale mode drains the uniform workload (one event per user: a
// growing user base) at each size of Config.Scale in turn, on fresh topics
// and a fresh store each time, and reports how the cost per event grows:
// the CPU each added event cost between two sizes. A flat curve is issue
// 18's target (3M users ≤ 1.2 × the CPU per event at 200k, 10M ≤ 1.5 ×
// 100k).

// ScalePoint is one size of the scale mode.
type ScalePoint struct {
	Users        int     `json:"users"`
	EventsPerSec float64 `json:"events_per_sec"`
	CPUSecPerM   float64 `json:"cpu_sec_per_million"`
	// AddedCPUus is the CPU microseconds each event added since the
	// previous size cost: (CPU here − CPU there) ÷ (events here − there).
	AddedCPUus   float64 `json:"added_event_cpu_us,omitempty"`
	Transitions  int64   `json:"transitions"`
	RSSPeak      int64   `json:"rss_peak_bytes"`
	HeapPerUser  float64 `json:"heap_bytes_per_user"`
	PebbleComp   int64   `json:"pebble_bytes_compacted"`
	WriteAmp     float64 `json:"pebble_write_amp"`
	LoadAvgStart string  `json:"load_avg_start"`
}

// scale runs the drain of the uniform workload at each size.
func (r *Runner) scale(ctx context.Context) ([]ScalePoint, error) {
	var points []ScalePoint
	r.session.workload, r.sum.Workload = WorkloadUniform, WorkloadUniform
	for _, n := range r.cfg.Scale {
		r.cfg.Users, r.cfg.Events = n, n
		pt := ScalePoint{Users: n, LoadAvgStart: loadAvg()}
		r.progress("scale: %d users, one event each; load average %s", n, pt.LoadAvgStart)
		d, m, err := r.drain(ctx, fmt.Sprintf("scale-%d", n), false, false)
		if err != nil {
			return points, fmt.Errorf("scale, %d users: %w", n, err)
		}
		pt.EventsPerSec, pt.CPUSecPerM, pt.Transitions = d.Processor.EventsPerSec, d.Processor.CPUSecPerM, d.Transitions
		pt.RSSPeak, pt.HeapPerUser = m.RSSPeak, m.HeapPerUser
		if m.Pebble != nil {
			pt.PebbleComp, pt.WriteAmp = int64(m.Pebble.CompactedBytes), m.Pebble.WriteAmp
		}
		if len(points) > 0 {
			prev := points[len(points)-1]
			cpu := pt.CPUSecPerM*float64(n)/1e6 - prev.CPUSecPerM*float64(prev.Users)/1e6
			pt.AddedCPUus = cpu / float64(n-prev.Users) * 1e6
		}
		points = append(points, pt)
	}
	return points, nil
}

func printScale(w io.Writer, points []ScalePoint) {
	if len(points) == 0 {
		return
	}
	fmt.Fprintf(w, "\nscale (uniform workload: users = events)\n")
	fmt.Fprintf(w, "%10s %12s %14s %16s %12s %14s %10s  %s\n", "users", "events/s", "CPU s/million", "added event, µs", "peak RSS MB", "heap B/user", "write amp", "load at start")
	for _, p := range points {
		added := "-"
		if p.AddedCPUus != 0 {
			added = fmt.Sprintf("%.1f", p.AddedCPUus)
		}
		fmt.Fprintf(w, "%10d %12.0f %14.2f %16s %12.0f %14.0f %10.2f  %s\n", p.Users, p.EventsPerSec, p.CPUSecPerM, added, float64(p.RSSPeak)/1e6, p.HeapPerUser, p.WriteAmp, p.LoadAvgStart)
	}
	first, last := points[0], points[len(points)-1]
	fmt.Fprintf(w, "CPU per event at %d users ÷ at %d: %.2f (issue 18's targets: 3M ≤ 1.2 × 200k, 10M ≤ 1.5 × 100k)\n", last.Users, first.Users, last.CPUSecPerM/first.CPUSecPerM)
}
