//go:build unix

package deliver

import (
	"bufio"
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/multidrop/multidrop/internal/proc"
)

// sweepChildEnv carries the configuration of TestMaildirCrashChild.
const sweepChildEnv = "MULTIDROP_TEST_MAILDIR_CRASH_CHILD"

type crashChild struct {
	Dir  string // the Maildir
	Mode string // "write": stop mid-write; "link": stop after the link into new/; "rename": after the rename into new/
}

// crashMsg is large enough that a part of it is on disk before the end.
var crashMsg = "From: a@example.org\r\nSubject: crash\r\n\r\n" + strings.Repeat(strings.Repeat("x", 78)+"\r\n", 1400)

var crashEnv = Envelope{From: "a@example.org", To: []string{"alice@example.com"}, Trace: Trace{Account: "acct", Host: "pop.example", Key: "UID1"}}

func newCrashMaildir(t *testing.T, dir string) *Maildir {
	t.Helper()
	m, err := NewMaildir(&MaildirOptions{
		Path: func(string) (string, error) { return dir, nil }, Create: true, Host: "host.example",
		TraceOptions: TraceOptions{LocalHost: "mx.example.com", Now: func() time.Time { return mdTime }},
	})
	require.NoError(t, err)
	return m
}

// stopReader says "ready" on standard output when it is read and blocks
// for ever: the process is in the middle of the delivery.
type stopReader struct{}

func (stopReader) Read([]byte) (int, error) {
	os.Stdout.WriteString("ready\n")
	select {}
}

// stopRemoveFS says "ready" and blocks for ever when a file under tmp/ is
// removed: the message is linked into new/ and new/ is fsynced. It offers
// no rename without replacing, so the delivery links.
type stopRemoveFS struct{ osFS }

func (stopRemoveFS) RenameNoReplace(string, string) error { return errNoRename }

// stopSyncFS says "ready" and blocks for ever when a directory is fsynced:
// the message is renamed into new/, which is not fsynced yet.
type stopSyncFS struct{ osFS }

func (f stopSyncFS) SyncDir(name string) error {
	stopReader{}.Read(nil)
	return f.osFS.SyncDir(name)
}

func (f stopRemoveFS) Remove(name string) error {
	if filepath.Base(filepath.Dir(name)) == "tmp" {
		stopReader{}.Read(nil)
	}
	return f.osFS.Remove(name)
}

// TestMaildirCrashChild is the process TestMaildirCrashSweep kills.
func TestMaildirCrashChild(t *testing.T) {
	raw := os.Getenv(sweepChildEnv)
	if raw == "" {
		t.Skip("helper process of TestMaildirCrashSweep")
	}
	var c crashChild
	require.NoError(t, json.Unmarshal([]byte(raw), &c))
	m := newCrashMaildir(t, c.Dir)
	var msg io.Reader = strings.NewReader(crashMsg)
	switch c.Mode {
	case "write":
		msg = io.MultiReader(msg, stopReader{})
	case "link":
		m.fs = stopRemoveFS{}
	case "rename":
		m.fs = stopSyncFS{}
	}
	_, _ = m.Deliver(t.Context(), crashEnv, msg)
	t.Fatal("the delivery returned")
}

// TestMaildirCrashSweep kills a delivering process (SIGKILL) in the middle
// of writing a file, after linking it into new/ before its tmp/ name is
// removed, and after renaming it into new/ before new/ is fsynced; the next
// deliverer of this host removes the dead process's leftover in tmp/ and
// delivers the message exactly once.
func TestMaildirCrashSweep(t *testing.T) {
	for _, mode := range []string{"write", "link", "rename"} {
		t.Run(mode, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "Maildir")
			raw, err := json.Marshal(crashChild{Dir: dir, Mode: mode})
			require.NoError(t, err)
			cmd := exec.CommandContext(t.Context(), os.Args[0], "-test.run=^TestMaildirCrashChild$", "-test.count=1")
			cmd.Env = append(os.Environ(), sweepChildEnv+"="+string(raw))
			out, err := cmd.StdoutPipe()
			require.NoError(t, err)
			require.NoError(t, cmd.Start())
			line, err := bufio.NewReader(out).ReadString('\n')
			require.NoError(t, err)
			require.Equal(t, "ready\n", line)
			require.NoError(t, cmd.Process.Signal(syscall.SIGKILL))
			require.Error(t, cmd.Wait())

			left := files(t, dir, "tmp")
			if mode == "rename" {
				require.Empty(t, left, "the file left tmp/ by its rename")
			} else {
				require.Len(t, left, 1, "the killed process left its file in tmp/")
				fi, err := os.Stat(filepath.Join(dir, "tmp", left[0]))
				require.NoError(t, err)
				require.Positive(t, fi.Size())
			}
			wantNew := map[string]int{"write": 0, "link": 1, "rename": 1}[mode]
			require.Len(t, files(t, dir, "new"), wantNew)

			m := newCrashMaildir(t, dir)
			res, err := m.Deliver(t.Context(), crashEnv, strings.NewReader(crashMsg))
			require.NoError(t, err)
			require.Equal(t, Delivered, res[0].Status, "%v", res[0].Err)
			assert.Empty(t, files(t, dir, "tmp"), "tmp/ is clean")
			got := readNew(t, dir)
			require.Len(t, got, 1, "delivered exactly once")
			assert.True(t, strings.HasSuffix(string(got[0]), "\r\n"+crashMsg), "the whole message")
		})
	}
}

// TestMaildirSweepTmp: the first delivery into a Maildir removes from tmp/
// the files of this host's dead processes (an earlier process with this
// process's pid included) and any file older than 36 hours, and nothing
// else; later deliveries do not sweep again.
func TestMaildirSweepTmp(t *testing.T) {
	dead := exec.Command(os.Args[0], "-test.run=^$")
	require.NoError(t, dead.Run())
	deadPid := strconv.Itoa(dead.Process.Pid)
	self := strconv.Itoa(os.Getpid())
	live := strconv.Itoa(os.Getppid())
	require.NotEqual(t, self, live)
	otherTag := strings.Repeat("0", len(proc.Tag))
	if otherTag == proc.Tag {
		otherTag = strings.Repeat("1", len(proc.Tag))
	}
	name := func(pid, tag, host string) string {
		n := "1700000000.M1P" + pid + "Q1"
		if tag != "" {
			n += "R" + tag
		}
		return n + "." + host
	}
	old := time.Now().Add(-37 * time.Hour)
	recent := time.Now().Add(-35 * time.Hour)
	for _, tc := range []struct {
		name string
		file string
		mod  time.Time
		kept bool
	}{
		{"this process", name(self, proc.Tag, "host.example"), old, true},
		{"this pid, an earlier process", name(self, otherTag, "host.example"), time.Now(), false},
		{"dead pid", name(deadPid, otherTag, "host.example"), time.Now(), false},
		{"dead pid, name without tag", name(deadPid, "", "host.example"), time.Now(), false},
		{"live pid", name(live, otherTag, "host.example"), recent, true},
		{"live pid, old", name(live, otherTag, "host.example"), old, false},
		{"other host", name(deadPid, otherTag, "other.example"), recent, true},
		{"other host, old", name(deadPid, otherTag, "other.example"), old, false},
		{"foreign name", "courier.12345", recent, true},
		{"foreign name, old", "courier.12345", old, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "Maildir")
			for _, sub := range []string{"tmp", "new", "cur"} {
				require.NoError(t, os.MkdirAll(filepath.Join(dir, sub), 0o700))
			}
			path := filepath.Join(dir, "tmp", tc.file)
			require.NoError(t, os.WriteFile(path, []byte("partial"), 0o600))
			require.NoError(t, os.Chtimes(path, tc.mod, tc.mod))
			m := newCrashMaildir(t, dir)
			res, err := m.Deliver(t.Context(), crashEnv, strings.NewReader(testMsg))
			require.NoError(t, err)
			require.Equal(t, Delivered, res[0].Status)
			_, err = os.Stat(path)
			assert.Equal(t, tc.kept, err == nil, "kept: %v", err)

			// Once per Maildir: a leftover appearing later stays.
			later := filepath.Join(dir, "tmp", name(deadPid, otherTag, "host.example"))
			require.NoError(t, os.WriteFile(later, nil, 0o600))
			env := crashEnv
			env.Trace.Key = "UID2"
			_, err = m.Deliver(t.Context(), env, strings.NewReader(testMsg))
			require.NoError(t, err)
			assert.FileExists(t, later)
		})
	}
}
