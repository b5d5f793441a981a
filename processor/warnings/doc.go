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
// # Rules (reason codes)
//
//   - inactive: no activity for Fractions × ChurnAfter: watch at 0.5 (15 of
//     30 days), at_risk at 0.7 (21), critical at 0.85 (25.5). Due at
//     LastActivity + fraction × ChurnAfter.
//   - falling_visits, falling_purchases, falling_spend: at the end of each
//     activity period (Week, from the user's first event), the period's
//     logins (purchases, spend) are compared with the user's own baseline,
//     an exponentially weighted average of their earlier complete periods
//     (newest weighted 1/4, in fixed-point integers); below FallingRatio ×
//     baseline warns (watch), for users past WarmupPeriods with a baseline of
//     at least MinBaseline visits (MinBasePurchases purchases). Not once an
//     inactivity level has come due in the quiet spell: then those speak.
//   - valuable_quiet (at_risk): at the same checks (inactivity levels and
//     period ends), when the runtime's RFM segment is "important keep" or
//     "important retain" and the user has been quiet for QuietAfter.
//   - low_p_alive (at_risk): at the same checks, when the prediction model's
//     P(alive) (BG/NBD, processor/predict) is below PAliveBelow; absent
//     without a model (Context.PAlive < 0).
//
// Reasons found at the same check go out as one warning whose level is the
// highest of theirs. The cool-down holds back a reason warned less than
// Cooldown ago at the same or a lower level; an escalation (watch → at_risk
// → critical) always goes out.
//
// Recovered: activity of a user with an open inactive, valuable_quiet or
// low_p_alive warning, at or after that warning's At, closes them (At = the
// event's time, Trigger = its id); a period that is no longer falling closes
// an open falling_* warning (At = the period's end). A late event from
// before the warning recovers nothing. At the churn (stream time past
// LastActivity + ChurnAfter) the warnings end: open ones are dropped without
// a Recovered, and nothing is due at or after the churn; a return starts
// afresh (the stage model's "returned" reports it).
//
// Score is the noisy-OR 1 − Π(1 − p) over the warning's reasons, p being the
// rule's precision measured on the reference simulation (reasonScore), and
// 1 − P(alive) for low_p_alive.
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
// Tuned with `lifecycle evaluate --users 5000 --days 180 --seed 1`:
//
//	rule               warnings  precision  recall  lead med  lead p10  churn lead med  FA/1k user-wk
//	inactive              16195      0.742   0.998      -6.0     -13.9            15.0          125.9
//	falling_visits         1153      0.475   0.105       5.1      -6.8            27.3           17.1
//	falling_purchases       476      0.425   0.037       9.5      -7.3            28.1            7.4
//	falling_spend           526      0.427   0.037      12.3      -6.1            31.5            7.9
//	valuable_quiet          137      0.618   0.018      -1.7     -19.6            15.9            1.7
//	overall               17882      0.718   0.998      -3.8     -13.7            15.0          150.6
//
// The inactivity fractions trade lead for false alarms: 0.4/0.6/0.8 gives a
// median lead to dropout of 0 days but precision 0.68 and 188 false alarms
// per 1,000 user-weeks; 0.6/0.75/0.9 gives 0.75 and 126 but comes 7 days
// after the dropout. 0.5/0.7/0.85 keeps 15 days before the declared churn
// for every recalled user (the domain's "70 %" is at_risk). FallingRatio
// 0.35 and MinBaseline 3 keep falling_visits near 0.5 precision (0.5 and 2
// double its false alarms for little recall); it is the rule that comes
// before the dropout (median +5 days). Cooldown 14 days: 7 adds ~3 % more
// warnings at lower precision, 28 holds back useful repeats. quality_test.go
// holds floors under these numbers.
package warnings
