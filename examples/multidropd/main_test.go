package main

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestProcs(t *testing.T) {
	for _, tc := range []struct {
		env                 string
		current, cpus, want int
	}{
		{"", 1, 1, minProcs},
		{"", 2, 2, minProcs},
		{"", minProcs, minProcs, minProcs},
		{"", 16, 16, 16},
		{"2", 2, 2, 2}, // the administrator's choice stands
		{"1", 1, 8, 1},
		{"", 1, 8, 1}, // a container's quota of one CPU
		{"", 2, 8, 2},
	} {
		assert.Equal(t, tc.want, procs(tc.env, tc.current, tc.cpus), "GOMAXPROCS=%q, current %d, %d CPUs", tc.env, tc.current, tc.cpus)
	}
}

func TestGCPercent(t *testing.T) {
	p, ok := gcPercent("")
	assert.True(t, ok)
	assert.Equal(t, 50, p)
	_, ok = gcPercent("200")
	assert.False(t, ok, "the administrator's GOGC stands")
	_, ok = gcPercent("off")
	assert.False(t, ok)
}
