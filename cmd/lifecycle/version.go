package main

import (
	"context"
	"fmt"
	"io"
	"runtime/debug"

	"github.com/lifecycle-engine/lifecycle/state"
)

// version is set at build time: -ldflags "-X main.version=v1.2.3".
var version = ""

func runVersion(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("version", "", "Prints the version, the Go version and the state format version.")
	if err := fs.parse(args, stdout); err != nil {
		return err
	}
	v, goVersion := version, "unknown"
	if bi, ok := debug.ReadBuildInfo(); ok {
		goVersion = bi.GoVersion
		if v == "" {
			v = bi.Main.Version
		}
	}
	if v == "" || v == "(devel)" {
		v = "dev"
	}
	fmt.Fprintf(stdout, "lifecycle %s (%s, state format %d)\n", v, goVersion, state.FormatVersion)
	return nil
}
