// Package record defines what the state holds (a user's record, a
// partition's metadata, a buyers index entry, an outbox record, a timer
// entry) and its stored form, with no storage attached: the Pebble store
// (package state), the changelog and the engine's own cache and in-memory
// store all read and write these bytes. Keeping it free of Pebble lets the
// engine (processor/engine) depend on it and on nothing of the runtime.
//
// Records carry a version byte; bytes written by a newer version are
// refused with ErrNewerFormat rather than misread.
package record
