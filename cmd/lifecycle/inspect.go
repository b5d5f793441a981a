package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"

	"github.com/lifecycle-engine/lifecycle/processor/httpapi"
	"github.com/lifecycle-engine/lifecycle/state"
)

func runInspect(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("inspect", "--state-dir DIR [--user ID]",
		`Prints the stored state of every user (or of one) as JSON lines, in
partition and user id order. Read-only: it never changes the store. Stop
"lifecycle run" on the directory first (Pebble allows one process at a time).`)
	stateDir := fs.String("state-dir", "", "directory of the Pebble store (required)")
	user := fs.String("user", "", "print only this user")
	if err := fs.parse(args, stdout); err != nil {
		return err
	}
	if *stateDir == "" {
		return fmt.Errorf("%w: --state-dir is required", errUsage)
	}
	store, err := state.Open(state.Options{Dir: *stateDir, ReadOnly: true})
	if err != nil {
		return fmt.Errorf("%w (is the directory a lifecycle store, and is no lifecycle run using it?)", err)
	}
	defer store.Close()
	parts, err := store.Partitions()
	if err != nil {
		return err
	}
	w := bufio.NewWriter(stdout)
	defer w.Flush()
	enc := json.NewEncoder(w)
	found := false
	for _, p := range parts {
		if *user != "" {
			r, ok, err := store.User(p, *user)
			if err != nil {
				return err
			}
			if ok {
				found = true
				if err := enc.Encode(httpapi.NewUserView(p, *user, r)); err != nil {
					return err
				}
			}
			continue
		}
		err := store.Users(p, func(id string, r state.Record) error {
			if err := ctx.Err(); err != nil {
				return err
			}
			return enc.Encode(httpapi.NewUserView(p, id, r))
		})
		if err != nil {
			return err
		}
	}
	if *user != "" && !found {
		return fmt.Errorf("user %q is not in the store (%d partitions searched)", *user, len(parts))
	}
	return nil
}
