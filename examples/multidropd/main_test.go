package main

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestProcs(t *testing.T) {
	for _, tc := range []struct {
		env           string
		current, want int
	}{
		{"", 1, minProcs},
		{"", 2, minProcs},
		{"", minProcs, minProcs},
		{"", 16, 16},
		{"2", 2, 2}, // the administrator's choice stands
		{"1", 1, 1},
	} {
		assert.Equal(t, tc.want, procs(tc.env, tc.current), "GOMAXPROCS=%q, current %d", tc.env, tc.current)
	}
}
