package main

import (
	"fmt"
	"strconv"
	"time"

	"github.com/lifecycle-engine/lifecycle/processor/warnings"
)

// warnFlags are the churn warnings' settings, the same for run and
// evaluate, so that what evaluate measures is what run does.
type warnFlags struct {
	risk, removedLevels  *string
	lifetime, prior      *time.Duration
	tenure, pAliveBelow  *float64
	cooldown, quietAfter *time.Duration
	recall               *float64
	recallLead           *time.Duration
	breaks               *string
	detectBreaks         *bool
}

func (fs *flagSet) warnFlags() *warnFlags {
	d := warnings.Config{}.WithDefaults()
	return &warnFlags{
		risk:          fs.String("warn-risk", fmt.Sprintf("%g,%g,%g", d.Risk[0], d.Risk[1], d.Risk[2]), "risks (the probability that a quiet user has left, from their own rhythm) at which watch, at_risk and critical warnings come due"),
		removedLevels: fs.String("warn-levels", "", "removed: warnings come due at risks now (--warn-risk), not at fractions of --churn-after"),
		lifetime:      fs.duration("warn-lifetime", d.Lifetime, "users are taken to leave at the rate 1/(this + --warn-tenure-weight × their tenure)"),
		tenure:        fs.Float64("warn-tenure-weight", d.TenureWeight, "how much a user's tenure lengthens their expected lifetime"),
		prior:         fs.duration("warn-prior-gap", d.PriorGap, "median gap between visits assumed for a user with few visits yet"),
		cooldown:      fs.duration("warn-cooldown", d.Cooldown, "at most one churn warning per user per reason in this time (escalations excepted)"),
		pAliveBelow:   fs.Float64("warn-p-alive-below", d.PAliveBelow, "with --model: add low_p_alive when P(alive) is below this"),
		quietAfter:    fs.duration("warn-quiet-after", d.QuietAfter, "valuable_quiet from this long without activity"),
		recall:        fs.Float64("warn-recall", d.Recall, "each partition chooses its watch level from its own departures (churns without a return within 4 weeks): the highest risk that this share of them had reached --warn-recall-lead before their churn, once it has 50 of them, in place of --warn-risk's first; 0 keeps --warn-risk's"),
		recallLead:    fs.duration("warn-recall-lead", d.Lead, "how long before their churn --warn-recall reads the departures' risk"),
		breaks:        fs.String("warn-break-days", "", "days users stop together (public holidays, a shutdown, a region's week off): UTC, comma-separated, each a day or first..last, like 2026-12-24..2027-01-01,2027-07-14. Their time does not count in a silence or a gap, so users quiet over them are not warned for it; the churn (--churn-after) counts every day"),
		detectBreaks:  fs.Bool("warn-detect-breaks", true, "each partition also takes as a break a day on which far fewer of its users came than on its last three of that weekday (below 75 % of them, and by more than 4 standard deviations: a holiday, an input that stopped), once stream time has passed it; false: only --warn-break-days"),
	}
}

// config reads the flags into a warnings.Config, with errors that say what
// to write instead.
func (f *warnFlags) config() (warnings.Config, error) {
	if *f.removedLevels != "" {
		return warnings.Config{}, fmt.Errorf("%w: --warn-levels was removed: warnings no longer come due at fractions of --churn-after but when the user's risk of having left reaches --warn-risk (default 0.4,0.7,0.85)", errUsage)
	}
	var c warnings.Config
	parts := list(*f.risk)
	if len(parts) != 3 {
		return c, fmt.Errorf("%w: --warn-risk %q: want three increasing risks, like 0.4,0.7,0.85", errUsage, *f.risk)
	}
	for i, p := range parts {
		v, err := strconv.ParseFloat(p, 64)
		if err != nil || v <= 0 || v >= 1 || (i > 0 && v <= c.Risk[i-1]) {
			return c, fmt.Errorf("%w: --warn-risk %q: want three increasing risks between 0 and 1, like 0.4,0.7,0.85", errUsage, *f.risk)
		}
		c.Risk[i] = v
	}
	if !(*f.tenure > 0) {
		return c, fmt.Errorf("%w: --warn-tenure-weight %v must be positive (a small value like 0.01 nearly ignores tenure)", errUsage, *f.tenure)
	}
	c.Lifetime, c.PriorGap, c.TenureWeight = *f.lifetime, *f.prior, *f.tenure
	c.Cooldown, c.QuietAfter, c.PAliveBelow = *f.cooldown, *f.quietAfter, *f.pAliveBelow
	if !(*f.recall >= 0 && *f.recall < 1) {
		return c, fmt.Errorf("%w: --warn-recall %v: want a share in [0, 1), like 0.9 (0: the watch level is --warn-risk's first)", errUsage, *f.recall)
	}
	c.Recall, c.Lead = *f.recall, *f.recallLead
	if c.Recall == 0 {
		c.Recall = -1 // 0 in a Config means the default
	}
	if c.Lead == 0 {
		c.Lead = time.Millisecond // likewise: a departure's risk read at its churn
	}
	breaks, err := warnings.ParseBreaks(*f.breaks)
	if err != nil {
		return c, fmt.Errorf("%w: --warn-break-days: %v", errUsage, err)
	}
	c.Breaks = breaks
	c.NoBreakDetection = !*f.detectBreaks
	if err := c.Validate(); err != nil {
		return c, fmt.Errorf("%w: %v", errUsage, err)
	}
	return c, nil
}
