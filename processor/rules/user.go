package rules

import (
	"github.com/cespare/xxhash/v2"

	"github.com/lifecycle-engine/lifecycle/processor/predict"
	"github.com/lifecycle-engine/lifecycle/schemas"
)

// RecentIDs is how many of a user's most recent event ids are remembered to
// drop re-sent events (invariant 2). Re-sends come soon after the original
// (producer retries, at-least-once upstreams); a re-send older than the last
// RecentIDs events of the same user is counted again.
const RecentIDs = 8

// User is everything the rules know about one user. Times are Unix
// milliseconds of event time; 0 means "never". The counts and Spend
// saturate at their largest value (schemas.AddSat), never wrap.
type User struct {
	Stage        Stage
	Since        int64 // when Stage began
	FirstSeen    int64
	LastActivity int64 // latest event time of any kind
	LastPurchase int64 // latest purchase time; meaningful when Purchases > 0
	Purchases    int64
	Spend        schemas.Micros // total paid
	Logins       int64
	Contents     int64
	Returns      int64 // times the user came back after churning

	// Buys summarises the purchase history the way the BG/NBD and
	// Gamma-Gamma models read it (purchase days, first and repeat value).
	Buys predict.Tracker

	// Recent holds hashes of the last RecentIDs applied event ids, a ring
	// written at RecentNext. A zero slot is empty (hashes are never zero).
	Recent     [RecentIDs]uint64
	RecentNext uint8
}

// idHash is the fingerprint of an event id kept in User.Recent: 64 bits, so a
// false "duplicate" (which would drop an event) is practically impossible.
func idHash(id string) uint64 { return xxhash.Sum64String(id) | 1 }

func (u *User) seen(h uint64) bool {
	for _, r := range u.Recent {
		if r == h {
			return true
		}
	}
	return false
}

func (u *User) remember(h uint64) {
	u.Recent[u.RecentNext%RecentIDs] = h
	u.RecentNext = (u.RecentNext + 1) % RecentIDs
}

// IsDuplicate reports whether event id is one of the user's recent ones:
// Apply would drop it. The runtime asks first, so that a re-sent event
// cannot move anything else either.
func (u *User) IsDuplicate(id string) bool { return u.seen(idHash(id)) }
