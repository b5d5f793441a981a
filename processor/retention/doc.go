// Package retention keeps one partition's streaming retention metrics in
// event time: daily active users over 1, 7 and 30 days, daily and weekly
// cohorts with their retention, stage-to-stage flows (returns included)
// and warnings per day, and the R×F grid of the last RFM rebuild. The
// engine feeds it each applied event, transition and warning; it keeps its
// counters as a few small records per period, stored with the partition's
// state in the same commit as the users (and restored with them from the
// changelog), and publishes the changed ones at the end of each UTC day of
// event time.
//
// # Definitions (UTC days, event time)
//
//   - A user is active on day d when an event of theirs with a time on d
//     is applied (duplicates and dead letters are not).
//   - DAU(d): users active on d. WAU(d), MAU(d): users active on at least
//     one of the 7 (30) days ending with d, as GA4's 7- and 30-day active
//     users.
//   - The cohort of a user is the day of their first applied event; the
//     weekly cohort its ISO week (Monday to Sunday). A user of cohort C is
//     retained at day k when active on day C+k (k = 1…30), at week k when
//     active in week W+k (k = 1…12).
//   - Flows(d): the transitions whose time is on d, by (from, to); none→new
//     are new users, churned→* are returns. Churn rate of a period: users
//     who moved to churned in it over the users in an active stage (new,
//     growing, mature, silent) at its start; return rate: returns in it
//     over the users churned at its start.
//
// Counting distinct users exactly costs one bit per user and day: each
// user record carries its Activity, the days it was active among the 64
// ending with its last activity, so a user's first event of a day counts
// once. An event more than Lateness days older than the user's latest
// activity cannot be placed in that window and counts in no activity
// metric (its stage and RFM effects are unchanged).
//
// Every number is a function of the input in merge order: events and
// transitions add to the records of their own day, whatever the commit
// boundaries, and the records are published at event-time boundaries that
// the engine reaches at the same input record in every run (after firing
// every timer due before them). Records older than KeepDays (KeepWeeks)
// before the last boundary are deleted, and later updates to them dropped.
package retention
