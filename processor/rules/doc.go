// Package rules is the lifecycle model of domain.md as pure functions:
// (user state, event or stream time) → (user state, transitions).
//
// Nothing here does I/O, reads a clock or draws a random number. That is what
// makes a replay reproduce its outputs exactly (invariant 4) and what lets the
// datadriven files in testdata/ state the rules in the domain's own words.
//
// Stages: a user is None before their first event; New while they have never
// paid; Growing after the first purchase; Mature from the MatureAt-th
// purchase; Silent when they used to buy but have not bought for SilentAfter;
// Churned after ChurnAfter without any activity. A churned user who comes back
// moves to the stage their history gives, with Returned set.
//
// Time is event time. Inactivity transitions are timers: they fire when the
// partition's stream time (the largest event time seen) passes their due
// time, and the transition's At is the due time, never the moment of firing.
// Before an event is applied, the user's own overdue timers fire, so a user's
// outputs do not depend on when the runtime gets round to firing timers for
// users who are quiet. A late event (older than the user's current stage) is
// counted in the aggregates but never retracts a transition already made.
package rules
