// Package warnings is the churn warning of domain.md ("Churn warning") as
// pure functions: (warning state, event or stream time, context) → (warning
// state, warnings). "Low-level operations repair after the fact; high-level
// operations prevent": a warning comes before the stage model's churn
// threshold passes, with its reasons, so that a retention action can still
// work.
//
// Nothing here does I/O, reads a clock or draws a random number; everything
// is in event time, with the semantics of processor/rules: checks are timers
// that fire when stream time passes their due time (a due time equal to
// stream time has not passed, so activity exactly then is in time), a
// warning's At is its due time, never the moment of firing, and a user's own
// overdue checks fire before their event is applied. So the same input gives
// the same warnings whatever the batching (TestSameWarningsWhateverTheBatching).
//
// # The risk, and the levels
//
// A warning says that a user's silence has become long for them. Each
// user's rhythm is learned from their own gaps between visits, pooled
// with a population prior while they have few (rhythm.go): a user who comes
// three times a day is on watch after about three quiet days, one who comes
// weekly after about three weeks, and one who comes monthly, once his
// rhythm is known, not before the stage model churns him. The risk is the
// probability that the user left at their last visit, given the silence,
// their rhythm and their tenure, and a level is due when it reaches Risk (watch 0.4, at_risk 0.7, critical 0.85), never
// before the user's usual gap has passed. Levels due at the same time go
// out as one warning of the highest. Each warning carries ChurnAt: when
// the stage model will declare the churn if the silence goes on.
//
// Where users leave matters as much as how long they are silent: in a
// population that leaves right after a purchase (BG/NBD's "buy till you
// die"), a silence after a visit without one is no news, and a silence
// after a purchase is. Each partition counts, per kind of visit (with or
// without a purchase), the silences that ended and those that ended in a
// departure (outcomes.go), and from the first departure on scales the
// chance of leaving at a visit by that kind's share of departures relative
// to the average ((D_k + 10) / (E_k + 10), E_k the departures the kind
// would have if the kinds did not differ: the partition's departures
// shared out by the chances the model gave each kind's ended silences, so
// that a kind of slow users' long gaps is not taken for a likelier last
// visit; the 10 keep a few departures from moving it far). Where the kinds
// do not differ both stay near 1; it changes only at Refresh.
//
// A first silence, after a user's only visit so far, is where populations
// differ most and where the user's own rhythm says nothing: in a "buy
// till you die" population nobody leaves at the first purchase, in an
// app's many try it once. Its risk is the partition's own (first.go): of
// the first silences that lasted longer than this one, the share that
// ended in a churn (a return takes it back), pooled with the rhythm
// model's risk worth 10 silences, up to the churn; it changes only at
// Refresh.
//
// The watch level is the population's own once it has shown enough
// departures (outcomes.go): where users come rarely or stay long, a user
// who leaves reaches a lower risk before the churn, and a fixed level
// misses them. Each partition keeps its departures by the risk they had
// reached Lead before their churn (as if none of their silence's days had
// been a break: breaks are exceptions the level must not learn from), and
// at every rebuild point takes the highest risk that a share Recall of
// them had reached. The same record
// gives the warnings' Score: per level, the share of the partition's
// silences warned at it (not held back by the cool-down, as evaluate
// counts them) that ended in a departure, so that the score
// means on each population what it says (the risk alone claimed 0.4 at
// watch where 0.22 of the users had left on one population and 0.93 on
// another). The share is kept apart by how much of the user's rhythm the
// warning knew (a first silence, a rhythm of no more gaps than the prior
// is worth, one learned from the user's own gaps), each class's share
// pooled with the partition's worth MinLevelSilences silences: among
// users who keep a regular rhythm (evaluate --population regular), a
// watch warning after five visits or more was right 0.99 of the time and
// one after a single visit 0.40, where both carried 0.67-0.83. A level
// with fewer than MinLevelSilences ended silences scores their share
// with the risk standing in for those not ended yet.
//
// # Breaks
//
// Users who stop together (a holiday, a company's summer weeks, an outage
// upstream) look to each user's rhythm like departures. Days given in
// Config.Breaks, and days a partition sees far fewer of its users than on
// its last three of that weekday (seen.go: below 75 % of them and by more
// than 4 standard deviations, judged when stream time passes the day's
// end), do not count in a silence or a gap (breaks.go: counted, after).
// A due time moves only later when a day is judged a break; a timer
// indexed at the earlier time fires, finds nothing due and moves on.
//
// # Reasons (codes)
//
//   - inactive: every level has it: days silent, with the user's usual gap.
//   - valuable_quiet: joins a level when the runtime's RFM segment is
//     "important keep" or "important retain" and the user has been quiet
//     for QuietAfter: who is worth a retention action.
//   - low_p_alive: joins a level when the prediction model's P(alive)
//     (BG/NBD, processor/predict) is below PAliveBelow; absent without a
//     model (Context.PAlive < 0).
//   - falling_visits, falling_purchases, falling_spend are retired. In the
//     first release they warned at precision 0.43–0.48 on the simulator and
//     0.32–0.50 on the rhythm family, below the rhythm-aware inactivity's
//     0.69–0.72, and beside it they added no recall (0.931 with them,
//     0.931 without, rhythm family, seed 2), only false warnings.
//
// The cool-down holds back a reason warned less than Cooldown ago at the
// same or a higher level; an escalation (watch → at_risk → critical)
// always goes out.
//
// Recovered: activity of a user with open warnings, at or after the latest
// warning's At, closes them (At = the event's time, Trigger = its id). A
// late event from before the warning recovers nothing. At the churn
// (stream time past LastActivity + ChurnAfter) the warnings end: open ones
// are dropped without a Recovered, and nothing is due at or after the
// churn; a return starts afresh (the stage model's "returned" reports it),
// keeping the rhythm, which learns the long gap.
//
// # Runtime integration
//
// Keep one State per user next to rules.User (AppendBinary / DecodeState:
// a version byte and one varint per field). For each applied event (not a
// re-sent duplicate), after rules.Config.Apply: Advance(ctx, streamTime),
// OnEvent(ev, ctx), Advance(ctx, streamTime), with ctx the stage after the
// event, the RFM segment and P(alive) as of now. Index the user by
// min(rules Wake, warnings Wake) and, when stream time passes it, call
// rules Advance then warnings Advance. Outputs go to lifecycle.churn-warnings
// with ids derived from (user, "warning", level + Warning.Codes(), At,
// Trigger). ChurnAfter must equal the stage model's.
// Keep one Outcomes per partition in Config.Outcomes, stored with the
// partition's state in every commit (AppendBinary, DecodeOutcomes), and
// call its Refresh at fixed points of event time, after the timers due
// before them fired: the watch level then changes at the same points in
// every replay.
//
// # Evaluation
//
// Evaluation (and `lifecycle evaluate`) runs the stage model and the
// warnings over events in event-time order and scores them against true
// dropout times:
//
//   - true positive: a warning (Recovered is not one) at t of a user whose
//     true dropout D is in (t − Grace, t + Horizon]; Horizon defaults to
//     ChurnAfter + 14 days, Grace to ChurnAfter (a warning after D still
//     precedes the declared churn, which comes at most ChurnAfter after the
//     last event, itself before D). A warning of a user who never dropped
//     out, with t + Horizon after the end of the data, is undecided and not
//     counted; any other warning is a false alarm.
//   - precision = TP / (TP + FP), over warnings (a warning counts for each
//     of its reasons' rules).
//   - recall = observable dropouts with a true-positive warning / observable
//     dropouts, observable meaning D + ChurnAfter ≤ the end of the data.
//   - lead: per recalled user, from the first true-positive warning to D
//     (negative when the user had already left) and to the stage model's
//     churn transition; median and 10th percentile (nearest rank), in days.
//   - false alarms per 1,000 active user-weeks; an active user-week is a
//     user and a UTC calendar week since the epoch with at least one event.
//
// # Defaults
//
// Tuned on the simulator's population only (`lifecycle evaluate --users
// 5000 --days 180 --seed 1`), for recall ≥ 0.95 and a median lead of at
// least 14 days to the declared churn, then the fewest false warnings:
// Lifetime 120 days with TenureWeight 1 (90 and 180 days, weights 1 to 4,
// were tried), watch at 0.4 (0.3 gives more lead and 50 % more false
// warnings, 0.5 loses recall), Cooldown 30 days (14 days: 10 % more false
// warnings at the same recall). The prior (a median gap of 2 days, spread
// 1.5, worth 2 gaps) is a generic consumer-app rhythm; `lifecycle fit`
// replaces it with the population's own (PriorFit). They are reported on
// the rhythm family, which they were not tuned on, in the README ("Churn
// warnings: measured") and held by the floors of processor/quality.
//
// Recall 0.85 and Lead 10 days were chosen later, on the simulator (seed
// 1) and the rhythm family (seed 1) together: the setting that kept recall
// at 0.93 or more and a median lead to the churn of 14 days on both with
// the fewest warnings per stayer-year. On the simulator the levels it
// chooses (0.37–0.40) come back to the hand-tuned 0.4.
//
// Lifetime and TenureWeight stay chosen constants. Fitting them instead,
// by maximum likelihood under this model (1 − p for every observed gap,
// p + (1 − p)·S(silence) for the silence open at the end), made the
// spread between population families wider, not narrower. On the tuning
// populations (seed 1) the fit gives about 90 days on the simulator and
// about 240 days on the rhythm family. With 240 days the rhythm family's
// recall falls from 0.90 to 0.67 and its levels grow more underconfident
// (had left at at_risk: 0.97 against 0.91). With 90 days the simulator's
// stayers get 4.3 warnings a year instead of 3.3. The log-normal gap's
// tail is heavier than Poisson visits', so the likelihood explains long
// silences as gaps. A Weibull gap shape, taken from each user's spread,
// was worse as well (rhythm: precision 0.53, 5.3 warnings per
// stayer-year). processor/quality/FINDINGS.md has the numbers.
//
// The log-normal's tail stays too. Replacing it by the population's own
// (a per-partition histogram of completed gaps normalized by each user's
// μ and σ, refreshed at the RFM rebuild points, with the lifetime fitted
// by the cure model over resolved silences) calibrated the levels on the
// rhythm family (had left 0.43–0.46, 0.72, 0.85–0.86 at watch, at_risk,
// critical) but doubled the simulator's warnings per stayer-year (6.3–6.7),
// took the rhythm family's recall below 0.9 (0.83–0.84) and lost the
// monthly variant (recall 0.17). The measured tail is lighter than the
// log-normal's on both families where the levels sit, not heavier on the
// simulator as guessed. processor/quality/FINDINGS.md ("The gap tail
// from the population") has the numbers.
package warnings
