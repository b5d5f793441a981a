package main

import (
	"fmt"
	"path/filepath"

	"github.com/lifecycle-engine/lifecycle/schemas"
)

// ratesFlag adds --rates-file, which goes with --rules (rulesFlag): the
// subcommands that take a rules file (run, replay, evaluate) take a rates
// table too.
func (fs *flagSet) ratesFlag() {
	fs.ratesFile = fs.String("rates-file", "", "exchange rates (CSV with the header date,currency,rate; see README, Multi-currency): purchases in its currencies are converted into --currency at the rate of their date instead of going to the dead-letter topic. "+
		"Part of the rules (a changed table is a rules change). With --rules, put it in the rules file as rates_file: instead")
}

// applyRates reads the rates table into fs.rates: from the rules file's
// rates_file: (fromRules, relative to the rules file rulesPath) or else
// from --rates-file. Both at once is refused, as the rule flags are
// beside a rules file: the file is then the one place that says what
// ran.
func (fs *flagSet) applyRates(rulesPath string, fromRules *string) error {
	path := ""
	if fs.ratesFile != nil {
		path = *fs.ratesFile
	}
	if rulesPath != "" && path != "" {
		if fromRules != nil {
			return fmt.Errorf("%w: --rates-file (or %s) given with --rules, whose file %s has rates_file: too; keep one, in the rules file", errUsage, envName("rates-file"), rulesPath)
		}
		return fmt.Errorf("%w: --rates-file (or %s) given with --rules: put it in the rules file %s as rates_file: %s, so that the file says what ran", errUsage, envName("rates-file"), rulesPath, path)
	}
	if fromRules != nil {
		if *fromRules == "" {
			return fmt.Errorf("%w: rules file %s: rates_file is empty; give the path of a rates file (relative to the rules file), or leave it out", errUsage, rulesPath)
		}
		path = *fromRules
		if !filepath.IsAbs(path) {
			path = filepath.Join(filepath.Dir(rulesPath), path)
		}
	}
	if path == "" {
		return nil
	}
	t, err := schemas.LoadRates(path)
	if err != nil {
		return fmt.Errorf("%w: %v", errUsage, err)
	}
	fs.rates = t
	return nil
}
