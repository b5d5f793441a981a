package processor

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
)

// Crash points let fault tests kill the process (SIGKILL, as kill -9 does)
// at the moments the delivery order must survive. They are chosen with the
// environment variable LIFECYCLE_CRASH_AT=<point>:<n>, which kills the
// process at the n-th time any partition passes <point>. Unset, each costs
// one atomic load.
const (
	crashCommitted    = "committed"    // state committed to Pebble, outputs not yet produced
	crashSent         = "sent"         // outputs acknowledged, changelog not yet written
	crashChangelogged = "changelogged" // changelog acknowledged, group offsets not yet committed
	crashRevoking     = "revoking"     // partition stopping (revocation or shutdown), before its last commit
	crashRebuilding   = "rebuilding"   // RFM rebuild: a batch of re-scored users committed, the rest not yet
	crashReplayed     = "replayed"     // lifecycle replay: an output queued for its replay topic (earlier batches sent)
	crashChunked      = "chunked"      // a changelog write of several produce batches: some acknowledged, the rest not yet written
)

// chunkedCrashRecords is the changelog's chunk size while the chunked
// point is armed, so that a small test fixture's writes span several
// produce batches, as a busy partition's do.
const chunkedCrashRecords = 16

// crashArmed reports whether point is the armed crash point.
func crashArmed(point string) bool { return crash.point == point }

// EnvCrashAt names the environment variable that arms a crash point.
const EnvCrashAt = "LIFECYCLE_CRASH_AT"

var crash struct {
	point string
	left  atomic.Int64
}

func init() {
	v := os.Getenv(EnvCrashAt)
	if v == "" {
		return
	}
	point, n, _ := strings.Cut(v, ":")
	count, err := strconv.Atoi(n)
	switch point {
	case crashCommitted, crashSent, crashChangelogged, crashRevoking, crashRebuilding, crashReplayed, crashChunked:
	default:
		err = fmt.Errorf("unknown point %q", point)
	}
	if err != nil || count < 1 {
		fmt.Fprintf(os.Stderr, "lifecycle: %s=%q: want <committed|sent|changelogged|revoking|rebuilding|replayed|chunked>:<n ≥ 1>\n", EnvCrashAt, v)
		os.Exit(2)
	}
	crash.point = point
	crash.left.Store(int64(count))
}

// crashPoint kills the process if point is armed and this is its n-th pass.
func crashPoint(point string) { crashPointAfter(point, nil) }

// crashPointAfter is crashPoint calling before (if not nil) just before the
// kill: to make a commit durable that the point is about, which Pebble's
// NoSync commits may not yet be when the process dies.
func crashPointAfter(point string, before func()) {
	if crash.point != point {
		return
	}
	if crash.left.Add(-1) == 0 {
		if before != nil {
			before()
		}
		fmt.Fprintf(os.Stderr, "lifecycle: crash point %q reached: SIGKILL\n", point)
		syscall.Kill(os.Getpid(), syscall.SIGKILL)
		select {} // the signal is on its way
	}
}
