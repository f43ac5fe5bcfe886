//go:build race

package main

// raceEnabled: the test binary was built with -race, so TestBinary builds
// the command with -race too and reuses the compiled packages.
const raceEnabled = true
