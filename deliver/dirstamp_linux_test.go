package deliver

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// A reading of cur/ is kept only on a local file system, once the
// directory's last change is older than the kernel clock's tick (a second
// more when its times are whole seconds).
func TestSettled(t *testing.T) {
	dir := t.TempDir()
	if !localFileSystem(dir) {
		t.Skipf("%s is not on a local file system that the Maildir knows", dir)
	}
	at := func(mtime time.Time) os.FileInfo {
		t.Helper()
		require.NoError(t, os.Chtimes(dir, mtime, mtime))
		fi, err := os.Stat(dir)
		require.NoError(t, err)
		return fi
	}
	now := time.Now()
	assert.True(t, settled(dir, at(now.Add(-time.Second+time.Millisecond)), now), "a local directory")
	assert.False(t, settled(dir, at(now.Add(-10*time.Millisecond)), now), "changed within the last tick or so")
	proc, err := os.Stat("/proc")
	require.NoError(t, err)
	assert.False(t, settled("/proc", proc, now.Add(time.Hour)), "not a local file system for mail")
	assert.False(t, localFileSystem(filepath.Join(dir, "missing")))
}

func TestSettleWait(t *testing.T) {
	for _, tc := range []struct {
		mtime, ctime syscall.Timespec
		want         time.Duration
	}{
		{syscall.Timespec{Sec: 7, Nsec: 4_000_000}, syscall.Timespec{Sec: 7, Nsec: 4_000_000}, localSettle},
		{syscall.Timespec{Sec: 7}, syscall.Timespec{Sec: 9, Nsec: 1}, localSettle}, // mtime set to a whole second
		{syscall.Timespec{Sec: 7}, syscall.Timespec{Sec: 7}, localSettle + time.Second},
	} {
		assert.Equal(t, tc.want, settleWait(&syscall.Stat_t{Mtim: tc.mtime, Ctim: tc.ctime}), "%+v", tc)
	}
}
