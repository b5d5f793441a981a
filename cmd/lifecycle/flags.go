package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// errHelp is returned after --help printed the help text: exit code 0.
var errHelp = errors.New("help shown")

// flagSet is a subcommand's flags. Each flag can also come from an
// environment variable LIFECYCLE_<NAME>; a flag given on the command line
// wins.
type flagSet struct {
	*flag.FlagSet
	name, summary, usage string
}

func newFlagSet(name, usage, summary string) *flagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard) // we print help and errors ourselves
	return &flagSet{FlagSet: fs, name: name, summary: summary, usage: usage}
}

func envName(flagName string) string {
	return "LIFECYCLE_" + strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
}

// parse reads args, then the environment for flags not given. It prints the
// help text for --help and returns errHelp.
func (fs *flagSet) parse(args []string, stdout io.Writer) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fs.printHelp(stdout)
			return errHelp
		}
		return fmt.Errorf("%w: %s: %v (see lifecycle %s --help)", errUsage, fs.name, err, fs.name)
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("%w: %s: unexpected argument %q (see lifecycle %s --help)", errUsage, fs.name, fs.Arg(0), fs.name)
	}
	given := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { given[f.Name] = true })
	var err error
	fs.VisitAll(func(f *flag.Flag) {
		v, ok := os.LookupEnv(envName(f.Name))
		if given[f.Name] || !ok || err != nil {
			return
		}
		if e := fs.Set(f.Name, v); e != nil {
			err = fmt.Errorf("%w: %s=%q: %v", errUsage, envName(f.Name), v, e)
		}
	})
	return err
}

func (fs *flagSet) printHelp(w io.Writer) {
	fmt.Fprintf(w, "Usage: lifecycle %s %s\n\n%s\n\nFlags (each also from the environment variable shown):\n", fs.name, fs.usage, fs.summary)
	fs.VisitAll(func(f *flag.Flag) {
		def := f.DefValue
		if def == "" {
			def = `""`
		}
		fmt.Fprintf(w, "  --%s\n        %s\n        default %s, env %s\n", f.Name, f.Usage, def, envName(f.Name))
	})
}

// duration is a time.Duration flag that also takes whole days: "30d".
type duration struct{ d *time.Duration }

func (fs *flagSet) duration(name string, def time.Duration, usage string) *time.Duration {
	d := def
	fs.Var(duration{&d}, name, usage)
	return &d
}

func (v duration) String() string {
	if v.d == nil {
		return ""
	}
	if *v.d != 0 && *v.d%(24*time.Hour) == 0 {
		return fmt.Sprintf("%dd", *v.d/(24*time.Hour))
	}
	return v.d.String()
}

func (v duration) Set(s string) error {
	if n, ok := strings.CutSuffix(s, "d"); ok {
		days, err := strconv.ParseFloat(n, 64)
		if err != nil || days < 0 {
			return fmt.Errorf("%q is not a duration; use days like 30d or a Go duration like 90m or 12h", s)
		}
		*v.d = time.Duration(days * float64(24*time.Hour))
		return nil
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return fmt.Errorf("%q is not a duration; use days like 30d or a Go duration like 90m or 12h", s)
	}
	*v.d = d
	return nil
}

// list splits a comma-separated flag value, dropping empty parts.
func list(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// logFlags are the logging flags every long-running subcommand has.
type logFlags struct{ level, format *string }

func (fs *flagSet) logFlags() logFlags {
	return logFlags{
		level:  fs.String("log-level", "info", "log level: debug, info, warn or error"),
		format: fs.String("log-format", "json", "log format: json (for log collectors) or console (for people)"),
	}
}

// fileLogger logs JSON at info level to f: the processor's log where the
// terminal shows something else (demo's live view, bench's report).
func fileLogger(f *os.File) *zap.Logger {
	return zap.New(zapcore.NewCore(zapcore.NewJSONEncoder(zap.NewProductionEncoderConfig()), zapcore.Lock(f), zap.InfoLevel))
}

// logger builds the zap logger the flags ask for, writing to w.
func (l logFlags) logger(w io.Writer) (*zap.Logger, error) {
	var level zapcore.Level
	if err := level.UnmarshalText([]byte(*l.level)); err != nil {
		return nil, fmt.Errorf("%w: --log-level %q: use debug, info, warn or error", errUsage, *l.level)
	}
	enc := zap.NewProductionEncoderConfig()
	enc.EncodeTime = zapcore.ISO8601TimeEncoder
	var encoder zapcore.Encoder
	switch *l.format {
	case "json":
		encoder = zapcore.NewJSONEncoder(enc)
	case "console":
		encoder = zapcore.NewConsoleEncoder(enc)
	default:
		return nil, fmt.Errorf("%w: --log-format %q: use json or console", errUsage, *l.format)
	}
	return zap.New(zapcore.NewCore(encoder, zapcore.Lock(zapcore.AddSync(w)), level)), nil
}
