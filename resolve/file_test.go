package resolve

import (
	"bytes"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// writeFile replaces path atomically, as an administrator's tooling should.
func writeFile(t *testing.T, path, content string) {
	t.Helper()
	tmp := path + ".tmp"
	require.NoError(t, os.WriteFile(tmp, []byte(content), 0o644))
	require.NoError(t, os.Rename(tmp, path))
}

func lookup(t *testing.T, d Directory, addr string) []string {
	t.Helper()
	local, domain, _ := strings.Cut(addr, "@")
	got, err := d.Lookup(t.Context(), domain, local)
	require.NoError(t, err)
	return got
}

type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func TestFileReload(t *testing.T) {
	path := filepath.Join(t.TempDir(), "users")
	writeFile(t, path, "alice@example.com Alice Liddell\nteam@example.com: alice\n")
	var logs logBuffer
	f, err := OpenFile(path, &FileOptions{CheckInterval: time.Hour, Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	require.NoError(t, err)
	assert.Equal(t, []string{"alice@example.com"}, lookup(t, f, "ALICE@example.com"))
	assert.Equal(t, []string{"alice@example.com"}, lookup(t, f, "team@example.com"))
	names, err := f.LookupName(t.Context(), "example.com", "alice liddell")
	require.NoError(t, err)
	assert.Equal(t, []string{"alice@example.com"}, names)

	// A good new file is installed by Reload.
	writeFile(t, path, "alice@example.com\nbob@example.com\nteam@example.com: alice, bob\n")
	require.NoError(t, f.Reload())
	assert.Equal(t, []string{"alice@example.com", "bob@example.com"}, lookup(t, f, "team@example.com"))
	assert.Equal(t, 2, f.Len())

	// A bad one is refused: the previous contents stay, the error is kept.
	writeFile(t, path, "alice@example.com\nteam@example.com: nobody\n")
	err = f.Reload()
	require.Error(t, err)
	assert.Contains(t, err.Error(), "not a user")
	assert.Equal(t, err, f.Err())
	assert.Equal(t, []string{"bob@example.com"}, lookup(t, f, "bob@example.com"))
	assert.Empty(t, logs.String(), "Reload returns its error; it does not also log it")

	writeFile(t, path, "carol@example.com\nx y\n")
	err = f.Reload()
	var se *SyntaxError
	require.ErrorAs(t, err, &se)
	assert.Equal(t, path, se.Path)
	assert.Equal(t, 2, se.Line)
	assert.Empty(t, lookup(t, f, "carol@example.com"))

	// A deleted file too.
	require.NoError(t, os.Remove(path))
	require.Error(t, f.Reload())
	assert.Equal(t, []string{"bob@example.com"}, lookup(t, f, "bob@example.com"))

	// Fixed: the error clears.
	writeFile(t, path, "carol@example.com\n")
	require.NoError(t, f.Reload())
	require.NoError(t, f.Err())
	assert.Empty(t, lookup(t, f, "bob@example.com"))
	assert.Equal(t, []string{"carol@example.com"}, lookup(t, f, "carol@example.com"))
}

// Lookups notice a changed file by themselves, at most every
// CheckInterval.
func TestFileAutoReload(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "users")
		writeFile(t, path, "alice@example.com\n")
		var logs logBuffer
		f, err := OpenFile(path, &FileOptions{CheckInterval: 10 * time.Second, Logger: slog.New(slog.NewTextHandler(&logs, nil))})
		require.NoError(t, err)

		writeFile(t, path, "alice@example.com\nbob@example.com\n")
		assert.Empty(t, lookup(t, f, "bob@example.com"), "not checked before the interval")
		time.Sleep(10 * time.Second)
		assert.Equal(t, []string{"bob@example.com"}, lookup(t, f, "bob@example.com"))
		assert.Contains(t, logs.String(), "directory reloaded")

		// A bad file is refused once, logged once, and the old table serves.
		writeFile(t, path, "alice@example.com\nalice@example.com\n")
		for range 3 {
			time.Sleep(10 * time.Second)
			assert.Equal(t, []string{"bob@example.com"}, lookup(t, f, "bob@example.com"))
		}
		require.Error(t, f.Err())
		assert.Equal(t, 1, strings.Count(logs.String(), "previous contents kept"), logs.String())

		writeFile(t, path, "carol@example.com\n")
		time.Sleep(10 * time.Second)
		assert.Equal(t, []string{"carol@example.com"}, lookup(t, f, "carol@example.com"))
		require.NoError(t, f.Err())
	})
}

func TestFileOpenErrors(t *testing.T) {
	dir := t.TempDir()
	_, err := OpenFile(filepath.Join(dir, "missing"), nil)
	require.ErrorIs(t, err, os.ErrNotExist)

	bad := filepath.Join(dir, "bad")
	writeFile(t, bad, "not-an-address Name\n")
	_, err = OpenFile(bad, nil)
	var se *SyntaxError
	require.ErrorAs(t, err, &se)
	assert.Equal(t, bad+":1", se.Path+":1")

	big := filepath.Join(dir, "big")
	writeFile(t, big, strings.Repeat("# filler\n", 100))
	_, err = OpenFile(big, &FileOptions{MaxSize: 100})
	require.ErrorContains(t, err, "more than the limit of 100")
}

// Lookups run while the file is rewritten and reloaded; with -race this
// checks the swap.
func TestFileConcurrent(t *testing.T) {
	path := filepath.Join(t.TempDir(), "users")
	writeFile(t, path, "alice@example.com\n")
	f, err := OpenFile(path, &FileOptions{CheckInterval: -1, Logger: slog.New(slog.DiscardHandler)})
	require.NoError(t, err)
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for range 4 {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				got, err := f.Lookup(t.Context(), "example.com", "alice")
				if err != nil || len(got) != 1 || got[0] != "alice@example.com" {
					t.Errorf("lookup during reload: %v %v", got, err)
					return
				}
			}
		})
	}
	for i := range 50 {
		content := "alice@example.com\n" + strings.Repeat("bob@example.com\n", i%2)
		writeFile(t, path, content)
		if i%5 == 0 {
			require.NoError(t, f.Reload())
		}
	}
	close(stop)
	wg.Wait()
}
