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

	"github.com/lifecycle-engine/lifecycle/processor/httpapi"
	"github.com/lifecycle-engine/lifecycle/schemas"
)

// errHelp is returned after --help printed the help text: exit code 0.
var errHelp = errors.New("help shown")

// flagSet is a subcommand's flags. Each flag can also come from an
// environment variable LIFECYCLE_<NAME>; a flag given on the command line
// wins.
type flagSet struct {
	*flag.FlagSet
	name, summary, usage string
	inputs               *schemas.Mapping // the rules file's inputs: section (applyRules); nil without
	ratesFile            *string          // --rates-file, with --rules (rulesFlag)
	rates                *schemas.Rates   // the rates table of --rates-file or rates_file: (applyRules); nil without
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

// httpFlags configure the HTTP read side of run.
type httpFlags struct {
	addr, tokenFile                        *string
	maxConns                               *int
	readTimeout, writeTimeout, idleTimeout *time.Duration
}

func (fs *flagSet) httpFlags() httpFlags {
	d := httpapi.DefaultServerConfig()
	return httpFlags{
		addr: fs.String("http", "127.0.0.1:8080", "address of the HTTP read side (the live page at /, /healthz, /readyz, /metrics, /v1/users/{id}, /v1/stats); \"off\" disables it. "+
			"/v1/ shows users' spend and activity: bind to all interfaces (0.0.0.0) only behind a firewall or NetworkPolicy, with --http-token-file"),
		tokenFile: fs.String("http-token-file", "", fmt.Sprintf("file holding a bearer token (a mounted secret; at least %d characters, surrounding white space ignored): "+
			"every path except /healthz, /readyz, /metrics and the page (/, /assets/: no data; it asks for the token) then needs the header \"Authorization: Bearer <token>\" and answers 401 without it. "+
			"Unset: no token needed. Restart to change the token", httpapi.MinTokenLen)),
		maxConns: fs.Int("http-max-conns", d.MaxConns, "most HTTP connections open at once, idle keep-alive ones included; further clients wait (in the kernel's accept queue) until one closes"),
		readTimeout: fs.duration("http-read-timeout", d.ReadTimeout, fmt.Sprintf("longest time a client may take to send a whole request, body included (the headers alone: at most %v); "+
			"then the connection is closed", d.ReadHeaderTimeout)),
		writeTimeout: fs.duration("http-write-timeout", d.WriteTimeout, "longest time from the end of a request's headers to the end of its response; a response not written by then is cut off"),
		idleTimeout:  fs.duration("http-idle-timeout", d.IdleTimeout, "how long an idle keep-alive connection stays open waiting for its next request"),
	}
}

// config returns the listen address ("" for off) and the server settings,
// with the token read from --http-token-file.
func (h httpFlags) config() (addr string, cfg httpapi.ServerConfig, err error) {
	if *h.addr == "off" || *h.addr == "" {
		return "", cfg, nil
	}
	switch {
	case *h.maxConns < 1:
		return "", cfg, fmt.Errorf("%w: --http-max-conns %d must be 1 or more", errUsage, *h.maxConns)
	case *h.readTimeout <= 0 || *h.writeTimeout <= 0 || *h.idleTimeout <= 0:
		return "", cfg, fmt.Errorf("%w: --http-read-timeout, --http-write-timeout and --http-idle-timeout must be positive, like 10s", errUsage)
	}
	cfg = httpapi.ServerConfig{MaxConns: *h.maxConns, ReadTimeout: *h.readTimeout, WriteTimeout: *h.writeTimeout, IdleTimeout: *h.idleTimeout}
	if *h.tokenFile != "" {
		if cfg.Token, err = httpapi.ReadTokenFile(*h.tokenFile); err != nil {
			return "", cfg, fmt.Errorf("%w: --http-token-file: %v", errUsage, err)
		}
	}
	return *h.addr, cfg, nil
}
