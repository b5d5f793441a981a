package schemas

import (
	"strconv"
	"time"
)

// ReasonFutureTimestamp: ts lies further ahead of the record's own time
// than the deployment allows (the processor's --max-future-skew). One such
// event would move its partition's stream time years ahead and fire every
// user's timers at once.
const ReasonFutureTimestamp Reason = "future_timestamp"

// CheckFuture returns a *RejectError with ReasonFutureTimestamp when event
// time ts is more than skew ahead of ref (both Unix ms); nil otherwise, and
// always nil when skew is 0 or less (the check is off).
func CheckFuture(ts, ref int64, skew time.Duration) error {
	if skew <= 0 || ts <= ref+skew.Milliseconds() {
		return nil
	}
	ahead := time.Duration(ts-ref) * time.Millisecond
	return reject(ReasonFutureTimestamp, "ts", FormatTime(ts)+" is "+roundAhead(ahead)+" ahead of the record's time "+FormatTime(ref)+
		"; at most "+skew.String()+" is allowed (--max-future-skew). Check the producer's clock, or the unit of ts (epoch milliseconds)")
}

// roundAhead writes d in days when it is long, in Go's form otherwise.
func roundAhead(d time.Duration) string {
	if d >= 48*time.Hour {
		return strconv.FormatInt(int64(d/(24*time.Hour)), 10) + " days"
	}
	return d.Round(time.Second).String()
}
