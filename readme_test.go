package multidrop_test

import (
	"os"
	"regexp"
	"testing"

	"github.com/stretchr/testify/require"
)

// The README shows only compiled code: its Go block is Example, verbatim.
func TestReadmeExample(t *testing.T) {
	readme, err := os.ReadFile("README.md")
	require.NoError(t, err)
	src, err := os.ReadFile("example_test.go")
	require.NoError(t, err)
	block := regexp.MustCompile("(?s)```go\n(.*?)```").FindSubmatch(readme)
	require.NotNil(t, block, "README has a Go block")
	fn := regexp.MustCompile(`(?ms)^func Example\(\) \{\n.*?^\}\n`).Find(src)
	require.NotNil(t, fn)
	require.Equal(t, string(fn), string(block[1]))
}
