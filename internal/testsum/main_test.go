package main

import (
	"bytes"
	"os"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// testdata/sample.json is "go test -json" of testdata/sample (run with a
// go.mod of its own): one pass, one skip, one failure, a subtest skipped.
func TestSummarizeSample(t *testing.T) {
	f, err := os.Open("testdata/sample.json")
	require.NoError(t, err)
	defer f.Close()
	var out bytes.Buffer
	ok, err := summarize(f, &out)
	require.NoError(t, err)
	assert.False(t, ok)
	got := out.String()
	assert.Contains(t, got, "SKIP  sample TestSkip: needs Dovecot: MULTIDROP_DOVECOT not set\n")
	assert.Contains(t, got, "SKIP  sample TestSub/b: skipped 1\n")
	assert.Contains(t, got, "FAIL  sample TestFail (")
	assert.Contains(t, got, "sample_test.go:11: want 2, got 3")
	assert.NotContains(t, got, "TestPass", "passing tests are counted, not listed")
	assert.True(t, strings.HasSuffix(got, "\n3 passed, 1 failed, 2 skipped\n"), got)
}

func TestSummarizeCases(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		ok       bool
		want     []string
	}{
		{"all pass", `{"Action":"pass","Package":"p","Test":"T1"}
{"Action":"pass","Package":"p","Elapsed":1.5}
`, true, []string{"ok    p (1.5s)", "1 passed, 0 failed, 0 skipped"}},
		{"build failure", `{"Action":"output","Package":"p","Output":"# p\n"}
{"Action":"output","Package":"p","Output":"./x.go:3:1: syntax error\n"}
{"Action":"output","Package":"p","Output":"FAIL\tp [build failed]\n"}
{"Action":"fail","Package":"p","Elapsed":0}
`, false, []string{"FAIL  p (0s)", "./x.go:3:1: syntax error", "0 passed, 0 failed, 0 skipped"}},
		{"no tests", `{"Action":"skip","Package":"p/q"}
`, true, []string{"none  p/q (no tests)"}},
		{"non-json line", "go: downloading x\n", true, []string{"go: downloading x"}},
		{"skip without reason", `{"Action":"output","Package":"p","Test":"T","Output":"=== RUN   T\n"}
{"Action":"skip","Package":"p","Test":"T"}
`, true, []string{"SKIP  p T: (no reason given)", "0 passed, 0 failed, 1 skipped"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var out bytes.Buffer
			ok, err := summarize(strings.NewReader(tc.in), &out)
			require.NoError(t, err)
			assert.Equal(t, tc.ok, ok)
			for _, w := range tc.want {
				assert.Contains(t, out.String(), w)
			}
			assert.NotContains(t, out.String(), "FAIL\tp [build failed]", "go test's own line is noise")
		})
	}
}
