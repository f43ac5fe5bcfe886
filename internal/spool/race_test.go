//go:build race

package spool

// raceEnabled: sync.Pool drops items at random under the race detector.
const raceEnabled = true
