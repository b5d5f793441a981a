package rules

import (
	"fmt"

	"github.com/lifecycle-engine/lifecycle/processor/predict"
	"github.com/lifecycle-engine/lifecycle/schemas"
)

// Transition is one change of stage, with the facts the output record carries.
type Transition struct {
	From, To Stage
	At       int64  // event time of the change: the event's time, or a timer's due time
	Reason   string // for people: why the user moved
	Trigger  string // id of the event that caused it; "" for a timer
	Returned bool   // a churned user came back

	// Snapshot of the user's purchase history at At, for the output's RFM
	// and prediction blocks.
	Purchases    int64
	Spend        schemas.Micros
	LastPurchase int64
	Buys         predict.Tracker
}

// Apply applies one event to u and appends the transitions it causes to dst.
// streamTime is the partition's stream time including this event. It returns
// applied=false, and changes nothing, when the event id is one of the user's
// recent ones (a re-send).
//
// Order: the user's timers that are overdue at streamTime fire first, then the
// event is applied, then timers fire again (an old event can leave a timer
// already overdue, for example a new user first seen long ago).
func (c Config) Apply(dst []Transition, u *User, ev schemas.Event, streamTime int64) (_ []Transition, applied bool) {
	h := idHash(ev.ID)
	if u.seen(h) {
		return dst, false
	}
	dst = c.Advance(dst, u, streamTime)
	u.remember(h)

	first := u.Stage == None
	if first || ev.Time < u.FirstSeen {
		u.FirstSeen = ev.Time
	}
	lastActive := u.LastActivity
	if ev.Time > u.LastActivity {
		u.LastActivity = ev.Time
	}
	lastPurchase := u.LastPurchase
	// Counts and the total saturate (schemas.AddSat): a history that
	// reaches the bound gives the same state on every replay and never a
	// negative total in an output (invariants 4 and 6).
	switch ev.Type {
	case schemas.Login:
		u.Logins = schemas.AddSat(u.Logins, 1)
	case schemas.Content:
		u.Contents = schemas.AddSat(u.Contents, 1)
	case schemas.Purchase:
		u.Purchases = schemas.AddSat(u.Purchases, 1)
		u.Spend = schemas.AddSat(u.Spend, ev.Amount)
		if ev.Time > u.LastPurchase {
			u.LastPurchase = ev.Time
		}
		u.Buys.Add(ev.Time, ev.Amount)
	}

	// at never precedes the current stage: a late event cannot move a user
	// back in time, so it cannot retract what was already emitted.
	at := max(ev.Time, u.Since)
	switch {
	case first:
		to := c.stageAt(u, ev.Time)
		reason := "first activity: " + ev.Type.String()
		if ev.Type == schemas.Purchase {
			reason = "first event is a purchase"
		}
		dst = c.move(dst, u, to, ev.Time, reason, ev.ID, false)
	case u.Stage == Churned:
		if ev.Time < u.Since {
			break // activity from before the churn, arriving late: counted, no return
		}
		u.Returns = schemas.AddSat(u.Returns, 1)
		reason := fmt.Sprintf("returned after %d days without activity (%s)", (ev.Time-lastActive)/Day, ev.Type)
		dst = c.move(dst, u, c.stageAt(u, ev.Time), at, reason, ev.ID, true)
	case u.Stage == Silent && u.LastPurchase == lastPurchase:
		// No newer purchase: the history is as silent as when the timer
		// moved the user. (stageAt alone would disagree when at is the
		// silence's own due time, where a purchase still counts as in time.)
	default:
		to := c.stageAt(u, at)
		if to == u.Stage {
			break
		}
		var reason string
		switch {
		case u.Stage == Silent:
			reason = fmt.Sprintf("purchase after %d days without one", (ev.Time-lastPurchase)/Day)
		case u.Purchases == 1:
			reason = "first purchase"
		default:
			reason = fmt.Sprintf("purchase number %d; mature from %d", u.Purchases, c.MatureAt)
		}
		dst = c.move(dst, u, to, at, reason, ev.ID, false)
	}
	return c.Advance(dst, u, streamTime), true
}

// Advance fires every timer of u that is overdue at streamTime, oldest first,
// and appends the transitions to dst. A timer is overdue when streamTime has
// passed its due time: activity at exactly the due time still counts as in time.
func (c Config) Advance(dst []Transition, u *User, streamTime int64) []Transition {
	for {
		due, to := c.nextTimer(u)
		if to == None || due >= streamTime {
			return dst
		}
		var reason string
		if to == Silent {
			reason = fmt.Sprintf("no purchase for %d days", c.silentMs()/Day)
		} else {
			reason = fmt.Sprintf("no activity for %d days", c.churnMs()/Day)
		}
		dst = c.move(dst, u, to, max(due, u.Since), reason, "", false)
	}
}

// Wake is the event time of u's next timer, or 0 when u has none. The runtime
// indexes users by it so it can find overdue users without scanning them all.
func (c Config) Wake(u *User) int64 {
	due, to := c.nextTimer(u)
	if to == None {
		return 0
	}
	return due
}

// nextTimer returns the earliest pending timer of u and the stage it leads
// to; to is None when u has no timer. When silence and churn fall due at the
// same moment, churn wins: it is the stronger fact.
func (c Config) nextTimer(u *User) (due int64, to Stage) {
	if u.Stage == None || u.Stage == Churned {
		return 0, None
	}
	churnDue := u.LastActivity + c.churnMs()
	if u.Stage == Growing || u.Stage == Mature {
		if silentDue := u.LastPurchase + c.silentMs(); silentDue < churnDue {
			return silentDue, Silent
		}
	}
	return churnDue, Churned
}

// stageAt is the active stage u's purchase history gives at time t.
func (c Config) stageAt(u *User, t int64) Stage {
	switch {
	case u.Purchases == 0:
		return New
	case t-u.LastPurchase > c.silentMs():
		return Silent
	case u.Purchases >= int64(c.MatureAt):
		return Mature
	}
	return Growing
}

func (c Config) move(dst []Transition, u *User, to Stage, at int64, reason, trigger string, returned bool) []Transition {
	dst = append(dst, Transition{
		From: u.Stage, To: to, At: at, Reason: reason, Trigger: trigger, Returned: returned,
		Purchases: u.Purchases, Spend: u.Spend, LastPurchase: u.LastPurchase, Buys: u.Buys,
	})
	u.Stage, u.Since = to, at
	return dst
}
