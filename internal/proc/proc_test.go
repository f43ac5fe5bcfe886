package proc

import (
	"os"
	"os/exec"
	"runtime"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestGone(t *testing.T) {
	if runtime.GOOS == "windows" || runtime.GOOS == "plan9" {
		t.Skip("no signal 0 here")
	}
	assert.False(t, Gone(os.Getpid()), "this process runs")
	assert.False(t, Gone(0), "no pid: not known to be gone")
	cmd := exec.Command("true")
	require.NoError(t, cmd.Run())
	assert.True(t, Gone(cmd.Process.Pid), "a reaped child is gone")
	assert.Len(t, Tag, 12)
}
