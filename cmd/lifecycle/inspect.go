package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"

	"github.com/lifecycle-engine/lifecycle/processor/engine"
	"github.com/lifecycle-engine/lifecycle/processor/httpapi"
	"github.com/lifecycle-engine/lifecycle/state"
	"github.com/lifecycle-engine/lifecycle/state/record"
)

func runInspect(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("inspect", "--state-dir DIR [--user ID]",
		`Prints the stored state of every user (or of one) as JSON lines, in
partition and user id order. Read-only: it never changes the store. Stop
"lifecycle run" on the directory first (Pebble allows one process at a time).`)
	stateDir := fs.String("state-dir", "", "directory of the Pebble store (required)")
	user := fs.String("user", "", "print only this user")
	modelFile := fs.String("model", "", "model file from `lifecycle fit`: add each user's prediction at the partition's stream time")
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
	var model *engine.Model
	if *modelFile != "" {
		if model, err = engine.LoadModel(*modelFile); err != nil {
			return fmt.Errorf("%w: --model: %v", errUsage, err)
		}
	}
	view := func(p int32, id string, r record.User) (httpapi.UserView, error) {
		v := httpapi.NewUserView(p, id, r)
		if model != nil {
			meta, _, err := store.Meta(p)
			if err != nil {
				return v, err
			}
			v.Prediction = engine.PredictAt(model, engine.Prediction{}, r.User.Buys, max(meta.StreamTime, r.User.LastActivity))
		}
		return v, nil
	}
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
				v, err := view(p, *user, r)
				if err == nil {
					err = enc.Encode(v)
				}
				if err != nil {
					return err
				}
			}
			continue
		}
		err := store.Users(p, func(id string, r record.User) error {
			if err := ctx.Err(); err != nil {
				return err
			}
			v, err := view(p, id, r)
			if err != nil {
				return err
			}
			return enc.Encode(v)
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
