package deliver

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The files and directory syncs of osFS: exclusive creation with the mode
// asked for (less the umask), whole writes, errors that name the path.
func TestMaildirFileAndDirSync(t *testing.T) {
	dir := t.TempDir()
	name := filepath.Join(dir, "msg")
	f, err := createFile(name, 0o600)
	require.NoError(t, err)
	big := strings.Repeat("x", 1<<20)
	n, err := f.Write([]byte(big))
	require.NoError(t, err)
	assert.Equal(t, len(big), n)
	require.NoError(t, f.Sync())
	require.NoError(t, f.Close())
	assert.ErrorIs(t, f.Close(), os.ErrClosed)
	b, err := os.ReadFile(name)
	require.NoError(t, err)
	assert.Equal(t, big, string(b))
	fi, err := os.Stat(name)
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o600), fi.Mode().Perm())

	_, err = createFile(name, 0o600)
	assert.ErrorIs(t, err, os.ErrExist, "never replaces a file")
	var pe *os.PathError
	require.ErrorAs(t, err, &pe)
	assert.Equal(t, name, pe.Path)

	require.NoError(t, syncDir(dir))
	err = syncDir(filepath.Join(dir, "missing"))
	assert.ErrorIs(t, err, os.ErrNotExist)
}
