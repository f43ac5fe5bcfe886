//go:build unix

package deliver

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"testing/iotest"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var mdTime = time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)

// mdTrace is a deterministic TraceOptions for tests.
func mdTrace() TraceOptions {
	return TraceOptions{LocalHost: "mx.example.com", Now: func() time.Time { return mdTime }}
}

func newTestMaildir(t *testing.T, o MaildirOptions) (*Maildir, string) {
	t.Helper()
	root := t.TempDir()
	if o.Path == nil && o.Template == "" {
		o.Template = "{root}/{domain}/{user}/Maildir"
	}
	o.Root = root
	if o.TraceOptions.LocalHost == "" {
		o.TraceOptions = mdTrace()
	}
	if o.Host == "" {
		o.Host = "host.example"
	}
	m, err := NewMaildir(&o)
	require.NoError(t, err)
	return m, root
}

// files returns the names in dir/sub, sorted.
func files(t *testing.T, dir, sub string) []string {
	t.Helper()
	entries, err := os.ReadDir(filepath.Join(dir, sub))
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	require.NoError(t, err)
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return names
}

func readNew(t *testing.T, dir string) [][]byte {
	t.Helper()
	var out [][]byte
	for _, n := range files(t, dir, "new") {
		b, err := os.ReadFile(filepath.Join(dir, "new", n))
		require.NoError(t, err)
		out = append(out, b)
	}
	return out
}

const testMsg = "Delivered-To: provider-box@isp.example\r\nFrom: a@example.org\r\nSubject: hi\r\n\r\nline one\r\nline two\r\n"

var uniqueName = regexp.MustCompile(`^[0-9]+\.M[0-9]+P[0-9]+Q[0-9]+\.host\.example,S=([0-9]+)$`)

// TestMaildirDefaults: options with only Root (and Create) deliver into
// DefaultMaildirTemplate, with a key-derived name and Delivered-To; the No
// options turn each off; the default template without Root is refused.
func TestMaildirDefaults(t *testing.T) {
	env := Envelope{From: "a@example.org", To: []string{"alice@example.com"}, Trace: Trace{Host: "pop.isp.example", Key: "UID1"}}
	for _, tc := range []struct {
		name         string
		noKey, noDTo bool
		keyName, dTo bool
	}{
		{"defaults", false, false, true, true},
		{"NoKeyNames", true, false, false, true},
		{"NoDeliveredTo", false, true, true, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			root := t.TempDir()
			m, err := NewMaildir(&MaildirOptions{Root: root, Create: true, NoKeyNames: tc.noKey, NoDeliveredTo: tc.noDTo})
			require.NoError(t, err)
			res, err := m.Deliver(t.Context(), env, strings.NewReader(testMsg))
			require.NoError(t, err)
			require.Equal(t, Delivered, res[0].Status, "%v", res[0].Err)
			dir := filepath.Join(root, "example.com", "alice", "Maildir")
			names := files(t, dir, "new")
			require.Len(t, names, 1)
			assert.Equal(t, tc.keyName, names[0] == keyName(env.Trace, "alice@example.com"), "key-derived name %q", names[0])
			assert.Equal(t, tc.dTo, strings.HasPrefix(string(readNew(t, dir)[0]), "Delivered-To: alice@example.com\r\n"))
		})
	}
	_, err := NewMaildir(&MaildirOptions{})
	require.ErrorContains(t, err, "Root is required")
	_, err = NewMaildir(nil)
	require.ErrorContains(t, err, "Root is required")
	_, err = NewMaildir(&MaildirOptions{Template: "/var/mail/{user}"})
	require.NoError(t, err)
}

func TestMaildirDeliver(t *testing.T) {
	m, root := newTestMaildir(t, MaildirOptions{Create: true, NoKeyNames: true, TraceOptions: TraceOptions{
		LocalHost: "mx.example.com", DeliveredTo: true, Now: func() time.Time { return mdTime },
	}})
	env := Envelope{From: "a@example.org", To: []string{"alice@example.com"}, Trace: Trace{Host: "pop.isp.example", Key: "UID1"}}
	res, err := m.Deliver(t.Context(), env, strings.NewReader(testMsg))
	require.NoError(t, err)
	require.Len(t, res, 1)
	assert.Equal(t, Result{Recipient: "alice@example.com", Status: Delivered}, res[0])

	dir := filepath.Join(root, "example.com", "alice", "Maildir")
	names := files(t, dir, "new")
	require.Len(t, names, 1)
	sm := uniqueName.FindStringSubmatch(names[0])
	require.NotNil(t, sm, "name %q", names[0])
	want := "Delivered-To: alice@example.com\r\n" +
		"Received: from pop.isp.example by mx.example.com with POP3 id UID1\r\n" +
		"\tfor <alice@example.com>; Sun, 01 Jun 2025 12:00:00 +0000\r\n" +
		"X-Original-Delivered-To: provider-box@isp.example\r\nFrom: a@example.org\r\nSubject: hi\r\n\r\nline one\r\nline two\r\n"
	got := readNew(t, dir)[0]
	assert.Equal(t, want, string(got))
	assert.Equal(t, strconv.Itoa(len(got)), sm[1], "S= is the file size")
	assert.Empty(t, files(t, dir, "tmp"), "tmp/ is cleaned")
	assert.Empty(t, files(t, dir, "cur"))

	fi, err := os.Stat(filepath.Join(dir, "new", names[0]))
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o600), fi.Mode().Perm())
	for _, d := range []string{dir, filepath.Join(dir, "tmp"), filepath.Join(dir, "new"), filepath.Join(dir, "cur")} {
		fi, err := os.Stat(d)
		require.NoError(t, err)
		assert.Equal(t, os.FileMode(0o700), fi.Mode().Perm(), d)
	}
}

func TestMaildirByteExact(t *testing.T) {
	// With no trace fields to add and the header kept, the file is the
	// message, byte for byte, whatever it contains.
	var all []byte
	for i := range 256 {
		all = append(all, byte(i))
	}
	msgs := []string{
		"",
		"no header at all",
		"Subject: x\r\n\r\nbare\nLF and lone\rCR and NUL\x00 and \xff\r\n.\r\n..dots\r\n",
		strings.Repeat("long line without end ", 100000),
		string(all) + string(all),
	}
	for i, msg := range msgs {
		m, root := newTestMaildir(t, MaildirOptions{Create: true, Path: nil})
		m.opts.TraceOptions.Hygiene.Action = KeepEnvelopeFields
		env := Envelope{To: []string{"bob@example.com"}}
		_, err := m.Deliver(t.Context(), env, iotest.HalfReader(strings.NewReader(msg)))
		require.NoError(t, err)
		got := readNew(t, filepath.Join(root, "example.com", "bob", "Maildir"))
		require.Len(t, got, 1)
		pre, err := m.opts.TraceOptions.Prelude(env, env.To)
		require.NoError(t, err)
		assert.True(t, bytes.Equal(append(pre, msg...), got[0]), "message %d differs", i)
	}
}

func TestMaildirFanOutHardLink(t *testing.T) {
	m, root := newTestMaildir(t, MaildirOptions{Create: true, TraceOptions: TraceOptions{
		LocalHost: "mx.example.com", DeliveredTo: true, Now: func() time.Time { return mdTime },
	}})
	rcpts := []string{"a@example.com", "b@example.com", "c@other.example", "d@example.com", "e@example.com"}
	res, err := m.Deliver(t.Context(), Envelope{To: rcpts, Trace: Trace{Key: "K"}}, strings.NewReader(testMsg))
	require.NoError(t, err)
	var first os.FileInfo
	for i, r := range rcpts {
		assert.Equal(t, Delivered, res[i].Status, r)
		at := strings.IndexByte(r, '@')
		dir := filepath.Join(root, r[at+1:], r[:at], "Maildir")
		names := files(t, dir, "new")
		require.Len(t, names, 1, r)
		fi, err := os.Stat(filepath.Join(dir, "new", names[0]))
		require.NoError(t, err)
		if first == nil {
			first = fi
			b, err := os.ReadFile(filepath.Join(dir, "new", names[0]))
			require.NoError(t, err)
			assert.NotContains(t, string(b), "Delivered-To: a@", "no recipient's address in a shared file")
			assert.NotContains(t, string(b), "for <")
		} else {
			assert.True(t, os.SameFile(first, fi), "%s is a hard link of the first file", r)
		}
		if st, ok := fi.Sys().(*syscall.Stat_t); ok {
			assert.EqualValues(t, len(rcpts), st.Nlink, "one inode, linked to each recipient, tmp removed")
		}
		assert.Empty(t, files(t, dir, "tmp"))
	}
}

func TestMaildirSeparate(t *testing.T) {
	m, root := newTestMaildir(t, MaildirOptions{Create: true, Separate: true, TraceOptions: TraceOptions{
		LocalHost: "mx.example.com", DeliveredTo: true, Now: func() time.Time { return mdTime },
	}})
	rcpts := []string{"a@example.com", "b@example.com"}
	// A plain stream: the deliverer must spool it to read it twice.
	res, err := m.Deliver(t.Context(), Envelope{To: rcpts}, iotest.OneByteReader(strings.NewReader(testMsg)))
	require.NoError(t, err)
	var infos []os.FileInfo
	for i, r := range rcpts {
		require.Equal(t, Delivered, res[i].Status)
		dir := filepath.Join(root, "example.com", r[:1], "Maildir")
		got := readNew(t, dir)
		require.Len(t, got, 1)
		assert.True(t, strings.HasPrefix(string(got[0]), "Delivered-To: "+r+"\r\n"), string(got[0]))
		assert.Contains(t, string(got[0]), "for <"+r+">")
		assert.True(t, strings.HasSuffix(string(got[0]), "\r\n\r\nline one\r\nline two\r\n"))
		fi, err := os.Stat(filepath.Join(dir, "new", files(t, dir, "new")[0]))
		require.NoError(t, err)
		infos = append(infos, fi)
	}
	assert.False(t, os.SameFile(infos[0], infos[1]))
}

// faultFS wraps the real file system with injected failures and a log of
// operations.
type faultFS struct {
	osFS
	mu         sync.Mutex
	ops        []string
	create     error
	write      error // returned once writeAfter bytes were written
	writeAfter int64
	short      bool // write fewer bytes than asked, without an error
	sync       error
	close      error
	syncDir    error
	link       func(oldname, newname string) error // link and rename into new/
	noRename   bool                                // rename without replacing is not offered
	syncDirFn  func(name string) error
	writes     int // successful writes to message files
}

func (f *faultFS) log(op, name string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.ops = append(f.ops, op+" "+filepath.Base(filepath.Dir(name)))
}

func (f *faultFS) Create(name string, perm os.FileMode) (maildirFile, error) {
	f.log("create", name)
	if f.create != nil && filepath.Base(name) != "maildirfolder" {
		return nil, &os.PathError{Op: "open", Path: name, Err: f.create}
	}
	file, err := os.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, perm)
	if err != nil {
		return nil, err
	}
	return &faultFile{File: file, fs: f}, nil
}

func (f *faultFS) Link(oldname, newname string) error {
	f.log("link", newname)
	if f.link != nil {
		if err := f.link(oldname, newname); err != nil {
			return err
		}
	}
	return f.osFS.Link(oldname, newname)
}

func (f *faultFS) RenameNoReplace(oldname, newname string) error {
	if f.noRename {
		return errNoRename
	}
	f.log("rename", newname)
	if f.link != nil {
		if err := f.link(oldname, newname); err != nil {
			return err
		}
	}
	return f.osFS.RenameNoReplace(oldname, newname)
}

func (f *faultFS) ReadDirNames(name string, fn func(string) bool) error {
	f.log("readdir", name+"/.")
	return f.osFS.ReadDirNames(name, fn)
}

func (f *faultFS) Remove(name string) error {
	f.log("remove", name)
	return f.osFS.Remove(name)
}

func (f *faultFS) SyncDir(name string) error {
	f.log("syncdir", name+"/.")
	if f.syncDir != nil {
		return &os.PathError{Op: "sync", Path: name, Err: f.syncDir}
	}
	if f.syncDirFn != nil {
		if err := f.syncDirFn(name); err != nil {
			return err
		}
	}
	return f.osFS.SyncDir(name)
}

type faultFile struct {
	*os.File
	fs     *faultFS
	n      int64
	writes int
}

func (f *faultFile) Write(p []byte) (int, error) {
	if f.fs.write != nil || f.fs.short {
		if room := f.fs.writeAfter - f.n; int64(len(p)) > room {
			n, _ := f.File.Write(p[:max(room, 0)])
			f.n += int64(n)
			if f.fs.short {
				return n, nil
			}
			return n, &os.PathError{Op: "write", Path: f.Name(), Err: f.fs.write}
		}
	}
	n, err := f.File.Write(p)
	f.n += int64(n)
	f.writes++
	f.fs.mu.Lock()
	f.fs.writes++
	f.fs.mu.Unlock()
	return n, err
}

func (f *faultFile) Sync() error {
	f.fs.log("sync", f.Name())
	if f.fs.sync != nil {
		return &os.PathError{Op: "sync", Path: f.Name(), Err: f.fs.sync}
	}
	return f.File.Sync()
}

func (f *faultFile) Close() error {
	f.fs.log("close", f.Name())
	err := f.File.Close()
	if f.fs.close != nil {
		return &os.PathError{Op: "close", Path: f.Name(), Err: f.fs.close}
	}
	return err
}

func TestMaildirOrderOfOperations(t *testing.T) {
	m, root := newTestMaildir(t, MaildirOptions{Create: true})
	fs := &faultFS{}
	m.fs = fs
	_, err := m.Deliver(t.Context(), Envelope{To: []string{"a@example.com", "b@example.com"}}, strings.NewReader(testMsg))
	require.NoError(t, err)
	// The file is complete and fsynced before it is linked; new/ is
	// fsynced (once per Maildir) before the recipients count as delivered;
	// the last recipient takes the tmp/ name by renaming it. Each
	// Maildir's tmp/ is swept first (once).
	assert.Equal(t, []string{"readdir tmp", "readdir tmp", "create tmp", "sync tmp", "close tmp", "link new", "rename new", "syncdir new", "syncdir new"}, fs.ops)
	assert.Len(t, files(t, filepath.Join(root, "example.com", "a", "Maildir"), "new"), 1)
	assert.Empty(t, files(t, filepath.Join(root, "example.com", "b", "Maildir"), "tmp"))

	// Where rename without replacing is not offered, the last recipient
	// links too and the tmp/ name is removed; that is remembered.
	fs = &faultFS{noRename: true}
	m.fs = fs
	for range 2 {
		fs.ops = nil
		_, err = m.Deliver(t.Context(), Envelope{To: []string{"c@example.com"}}, strings.NewReader(testMsg))
		require.NoError(t, err)
		assert.Equal(t, []string{"create tmp", "sync tmp", "close tmp", "link new", "syncdir new", "remove tmp"}, fs.ops[len(fs.ops)-6:])
	}
	dir := filepath.Join(root, "example.com", "c", "Maildir")
	assert.Len(t, files(t, dir, "new"), 2)
	assert.Empty(t, files(t, dir, "tmp"))
	_, no := m.noRename.Load(filepath.Join(dir, "new"))
	assert.True(t, no)
}

// A single recipient's file is renamed into new/ and never replaces one
// there: a key-derived name found at rename time is an earlier delivery.
func TestMaildirRenameNoReplace(t *testing.T) {
	m, root := newTestMaildir(t, MaildirOptions{Create: true})
	env := Envelope{To: []string{"a@example.com"}, Trace: Trace{Account: "acct", Key: "UID1"}}
	dir := filepath.Join(root, "example.com", "a", "Maildir")
	first := false
	m.fs = &faultFS{link: func(oldname, newname string) error {
		if !first {
			// Another process delivers the same message between the
			// look-up and the rename.
			first = true
			require.NoError(t, os.WriteFile(newname, []byte("earlier"), 0o600))
		}
		return nil
	}}
	res, err := m.Deliver(t.Context(), env, strings.NewReader(testMsg))
	require.NoError(t, err)
	assert.Equal(t, Delivered, res[0].Status)
	got := files(t, dir, "new")
	require.Len(t, got, 1)
	b, err := os.ReadFile(filepath.Join(dir, "new", got[0]))
	require.NoError(t, err)
	assert.Equal(t, "earlier", string(b), "the file there is kept")
	assert.Empty(t, files(t, dir, "tmp"), "the copy not renamed is removed")
}

func TestMaildirFailures(t *testing.T) {
	big := strings.Repeat("x", 300<<10) // larger than one copy buffer
	tests := []struct {
		name     string
		fs       *faultFS
		code     int
		enhanced string
		cause    error
	}{
		{"ENOSPC mid-write", &faultFS{write: syscall.ENOSPC, writeAfter: 1000}, 452, "4.3.1", syscall.ENOSPC},
		{"EDQUOT mid-write", &faultFS{write: syscall.EDQUOT, writeAfter: 100}, 452, "4.2.2", syscall.EDQUOT},
		{"EIO at once", &faultFS{write: syscall.EIO}, 451, "4.3.0", syscall.EIO},
		{"short write", &faultFS{short: true, writeAfter: 5000}, 451, "4.3.0", io.ErrShortWrite},
		{"fsync fails", &faultFS{sync: syscall.EIO}, 451, "4.3.0", syscall.EIO},
		{"close fails", &faultFS{close: syscall.EDQUOT}, 452, "4.2.2", syscall.EDQUOT},
		{"create fails", &faultFS{create: syscall.EACCES}, 451, "4.3.0", syscall.EACCES},
		{"link fails", &faultFS{link: func(string, string) error { return syscall.EIO }}, 451, "4.3.0", syscall.EIO},
		{"fsync of new fails", &faultFS{syncDir: syscall.EIO}, 451, "4.3.0", syscall.EIO},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m, root := newTestMaildir(t, MaildirOptions{Create: true})
			m.fs = tc.fs
			rcpts := []string{"a@example.com", "b@example.com"}
			res, err := m.Deliver(t.Context(), Envelope{To: rcpts}, strings.NewReader(big))
			require.NoError(t, err, "file system failures are per-recipient results")
			for i := range rcpts {
				assert.Equal(t, Temporary, res[i].Status)
				require.Error(t, res[i].Err)
				assert.True(t, IsTemporary(res[i].Err))
				assert.ErrorIs(t, res[i].Err, tc.cause)
				var de *Error
				require.ErrorAs(t, res[i].Err, &de)
				assert.Equal(t, tc.code, de.Code)
				assert.Equal(t, tc.enhanced, de.Enhanced)
				dir := filepath.Join(root, "example.com", rcpts[i][:1], "Maildir")
				assert.Empty(t, files(t, dir, "new"), "nothing in new/")
				assert.Empty(t, files(t, dir, "tmp"), "the partial file is removed")
			}
		})
	}
}

func TestMaildirCrashBeforeLink(t *testing.T) {
	// The process dies between writing tmp/ and linking into new/: new/
	// holds nothing, no recipient is reported delivered.
	m, root := newTestMaildir(t, MaildirOptions{Create: true})
	m.fs = &faultFS{link: func(string, string) error { panic("crash") }}
	var res Results
	func() {
		defer func() { assert.Equal(t, "crash", recover()) }()
		res, _ = m.Deliver(t.Context(), Envelope{To: []string{"a@example.com"}}, strings.NewReader(testMsg))
	}()
	assert.Nil(t, res)
	dir := filepath.Join(root, "example.com", "a", "Maildir")
	assert.Empty(t, files(t, dir, "new"))
}

func TestMaildirCrossDevice(t *testing.T) {
	// Links into other.example fail with EXDEV as across file systems:
	// that recipient gets a copy; the others share the first file.
	m, root := newTestMaildir(t, MaildirOptions{Create: true})
	other := filepath.Join(root, "other.example")
	fs := &faultFS{link: func(oldname, newname string) error {
		if strings.HasPrefix(oldname, other) != strings.HasPrefix(newname, other) {
			return &os.LinkError{Op: "link", Old: oldname, New: newname, Err: syscall.EXDEV}
		}
		return nil
	}}
	m.fs = fs
	rcpts := []string{"a@example.com", "x@other.example", "b@example.com", "y@other.example"}
	res, err := m.Deliver(t.Context(), Envelope{To: rcpts}, strings.NewReader(testMsg))
	require.NoError(t, err)
	infos := map[string]os.FileInfo{}
	var content []byte
	for i, r := range rcpts {
		require.Equal(t, Delivered, res[i].Status, r)
		at := strings.IndexByte(r, '@')
		dir := filepath.Join(root, r[at+1:], r[:at], "Maildir")
		names := files(t, dir, "new")
		require.Len(t, names, 1)
		b, err := os.ReadFile(filepath.Join(dir, "new", names[0]))
		require.NoError(t, err)
		if content == nil {
			content = b
		}
		assert.Equal(t, string(content), string(b), "identical bytes in every copy")
		fi, err := os.Stat(filepath.Join(dir, "new", names[0]))
		require.NoError(t, err)
		infos[r] = fi
		assert.Empty(t, files(t, dir, "tmp"))
	}
	assert.True(t, os.SameFile(infos["a@example.com"], infos["b@example.com"]))
	assert.True(t, os.SameFile(infos["x@other.example"], infos["y@other.example"]), "the copy is linked on its own file system")
	assert.False(t, os.SameFile(infos["a@example.com"], infos["x@other.example"]))
}

func TestMaildirMissingOrUnwritable(t *testing.T) {
	t.Run("missing", func(t *testing.T) {
		m, root := newTestMaildir(t, MaildirOptions{})
		res, err := m.Deliver(t.Context(), Envelope{To: []string{"a@example.com"}}, strings.NewReader(testMsg))
		require.NoError(t, err)
		assert.Equal(t, Temporary, res[0].Status, "a valid user's missing Maildir is never unknown user")
		assert.ErrorIs(t, res[0].Err, os.ErrNotExist)
		assert.NoDirExists(t, filepath.Join(root, "example.com"))
	})
	t.Run("unwritable", func(t *testing.T) {
		if os.Geteuid() == 0 {
			t.Skip("root writes to read-only directories")
		}
		m, root := newTestMaildir(t, MaildirOptions{Create: true})
		dir := filepath.Join(root, "example.com", "a", "Maildir")
		for _, s := range []string{"tmp", "new", "cur"} {
			require.NoError(t, os.MkdirAll(filepath.Join(dir, s), 0o700))
		}
		require.NoError(t, os.Chmod(filepath.Join(dir, "tmp"), 0o500))
		t.Cleanup(func() { os.Chmod(filepath.Join(dir, "tmp"), 0o700) })
		res, err := m.Deliver(t.Context(), Envelope{To: []string{"a@example.com"}}, strings.NewReader(testMsg))
		require.NoError(t, err)
		assert.Equal(t, Temporary, res[0].Status)
		assert.ErrorIs(t, res[0].Err, os.ErrPermission)
	})
}

func TestMaildirRecipients(t *testing.T) {
	m, root := newTestMaildir(t, MaildirOptions{Create: true})
	to := []string{`"a/b"@example.com`, "not-an-address", "ok@example.com", `"..."@example.com`, "x@[127.0.0.1]"}
	res, err := m.Deliver(t.Context(), Envelope{To: to}, strings.NewReader(testMsg))
	require.NoError(t, err)
	want := []Status{Permanent, Permanent, Delivered, Delivered, Delivered}
	for i := range to {
		assert.Equal(t, want[i], res[i].Status, to[i])
		if want[i] == Permanent {
			assert.False(t, IsTemporary(res[i].Err))
		}
	}
	// Nothing outside the root.
	entries, err := os.ReadDir(filepath.Dir(root))
	require.NoError(t, err)
	for _, e := range entries {
		assert.NotEqual(t, "b", e.Name())
	}

	// Path errors: temporary unless permanent.
	m2, _ := newTestMaildir(t, MaildirOptions{Path: func(rcpt string) (string, error) {
		if rcpt == "gone@example.com" {
			return "", Permanentf("no such user")
		}
		return "", errors.New("directory unavailable")
	}})
	res, err = m2.Deliver(t.Context(), Envelope{To: []string{"gone@example.com", "x@example.com"}}, strings.NewReader(testMsg))
	require.NoError(t, err)
	assert.Equal(t, Permanent, res[0].Status)
	assert.Equal(t, Temporary, res[1].Status)
	assert.ErrorContains(t, res[1].Err, "directory unavailable")
}

func TestMaildirOptionsErrors(t *testing.T) {
	for _, o := range []MaildirOptions{
		{},
		{Template: "{root}/{nope}"},
		{Template: "{root/x"},
		{Template: "root}/x"},
		{Template: "{root}", Folder: "a/b"},
		{Template: "{root}", Folder: ".."},
		{Template: "{root}", TraceOptions: TraceOptions{LocalHost: "bad host"}},
	} {
		_, err := NewMaildir(&o)
		assert.Error(t, err, "%+v", o)
	}
	_, err := NewMaildir(nil)
	assert.Error(t, err)
}

func TestMaildirFolder(t *testing.T) {
	m, root := newTestMaildir(t, MaildirOptions{Create: true, Folder: "Lists.Go"})
	res, err := m.Deliver(t.Context(), Envelope{To: []string{"a@example.com"}}, strings.NewReader(testMsg))
	require.NoError(t, err)
	require.Equal(t, Delivered, res[0].Status)
	md := filepath.Join(root, "example.com", "a", "Maildir")
	assert.Len(t, files(t, filepath.Join(md, ".Lists.Go"), "new"), 1)
	assert.FileExists(t, filepath.Join(md, ".Lists.Go", "maildirfolder"))
	assert.DirExists(t, filepath.Join(md, "cur"), "the inbox exists too")
	assert.Empty(t, files(t, md, "new"))
}

func TestMaildirKeyNames(t *testing.T) {
	m, root := newTestMaildir(t, MaildirOptions{Create: true})
	dir := filepath.Join(root, "example.com", "a", "Maildir")
	env := Envelope{To: []string{"a@example.com", "b@example.com"}, Trace: Trace{Key: "UIDL-1"}}
	deliver := func(env Envelope) {
		t.Helper()
		res, err := m.Deliver(t.Context(), env, strings.NewReader(testMsg))
		require.NoError(t, err)
		for _, r := range res {
			require.Equal(t, Delivered, r.Status, r.Recipient)
		}
	}
	deliver(env)
	names := files(t, dir, "new")
	require.Len(t, names, 1)
	assert.Equal(t, keyName(env.Trace, "a@example.com"), names[0])

	deliver(env) // repeated: found in new/
	assert.Equal(t, names, files(t, dir, "new"))

	// The same UID from another account, or a server that reused the UID
	// for other content, is another message.
	for _, other := range []Trace{{Key: "UIDL-1", Account: "other"}, {Key: "UIDL-1", Digest: "sha256:00"}} {
		assert.NotEqual(t, keyName(env.Trace, "a@example.com"), keyName(other, "a@example.com"))
	}

	// A mail reader moves it to cur/ with flags; still found.
	require.NoError(t, os.Rename(filepath.Join(dir, "new", names[0]), filepath.Join(dir, "cur", names[0]+",S=300:2,S")))
	deliver(env)
	assert.Empty(t, files(t, dir, "new"))
	assert.Len(t, files(t, dir, "cur"), 1)

	// Found at link time too (a concurrent delivery got there first).
	bdir := filepath.Join(root, "example.com", "b", "Maildir")
	require.NoError(t, os.Remove(filepath.Join(bdir, "new", keyName(env.Trace, "b@example.com"))))
	m.fs = &faultFS{link: func(_, newname string) error {
		if strings.HasPrefix(newname, bdir) {
			require.NoError(t, os.WriteFile(newname, []byte("first"), 0o600))
		}
		return nil
	}}
	deliver(Envelope{To: []string{"b@example.com"}, Trace: env.Trace})
	got := readNew(t, bdir)
	require.Len(t, got, 1)
	assert.Equal(t, "first", string(got[0]), "never replaced")
	assert.Empty(t, files(t, bdir, "tmp"))
	m.fs = osFS{}

	// Another key: another file.
	deliver(Envelope{To: []string{"a@example.com"}, Trace: Trace{Key: "UIDL-2"}})
	assert.Len(t, files(t, dir, "new"), 1)
	assert.Len(t, files(t, dir, "cur"), 1)
}

// cur/ is read again only when it changed, and only when it had been left
// alone for a while before it was read (its time could hide a change made
// in the same tick otherwise).
func TestMaildirKeyNamesCurScans(t *testing.T) {
	m, root := newTestMaildir(t, MaildirOptions{Create: true})
	fs := &faultFS{}
	m.fs = fs
	dir := filepath.Join(root, "example.com", "a", "Maildir")
	deliver := func(key string) {
		t.Helper()
		res, err := m.Deliver(t.Context(), Envelope{To: []string{"a@example.com"}, Trace: Trace{Key: key}}, strings.NewReader(testMsg))
		require.NoError(t, err)
		require.Equal(t, Delivered, res[0].Status)
	}
	readdirs := func() int {
		fs.mu.Lock()
		defer fs.mu.Unlock()
		n := 0
		for _, op := range fs.ops {
			if op == "readdir cur" {
				n++
			}
		}
		return n
	}
	// A cur/ changed just now (here: stamped in the future, so that a slow
	// run cannot make it settled) is read each time.
	for _, sub := range []string{"tmp", "new", "cur"} {
		require.NoError(t, os.MkdirAll(filepath.Join(dir, sub), 0o700))
	}
	soon := time.Now().Add(time.Hour)
	require.NoError(t, os.Chtimes(filepath.Join(dir, "cur"), soon, soon))
	deliver("k1")
	deliver("k2")
	assert.Equal(t, 2, readdirs(), "a cur/ changed just now is read each time")

	old := time.Now().Add(-time.Hour)
	require.NoError(t, os.Chtimes(filepath.Join(dir, "cur"), old, old))
	deliver("k3")
	deliver("k4")
	deliver("k5")
	if localFileSystem(dir) { // elsewhere cur/ is read each time
		assert.Equal(t, 3, readdirs(), "a settled cur/ is read once")
	}
	assert.Len(t, files(t, dir, "new"), 5)

	// A mail reader moves k1's file to cur/: cur/ changed, it is read
	// again, and k1 is found there.
	move := func(key string) {
		name := keyName(Trace{Key: key}, "a@example.com")
		require.NoError(t, os.Rename(filepath.Join(dir, "new", name), filepath.Join(dir, "cur", name+",S=300:2,S")))
	}
	move("k1")
	deliver("k1")
	assert.Len(t, files(t, dir, "new"), 4, "no second copy of k1")
	assert.Len(t, files(t, dir, "cur"), 1)

	// Settled again, then k2 moved and cur/'s times put back, as a
	// restore that keeps times would: the change time still tells.
	require.NoError(t, os.Chtimes(filepath.Join(dir, "cur"), old, old))
	deliver("k6")
	move("k2")
	require.NoError(t, os.Chtimes(filepath.Join(dir, "cur"), old, old))
	deliver("k2")
	assert.Len(t, files(t, dir, "new"), 4, "no second copy of k2")
	assert.Len(t, files(t, dir, "cur"), 2)
}

// Concurrent deliveries to one Maildir share the fsyncs of new/: those
// that linked while a sync was running wait for the next one, which serves
// them all; when it fails, they all fail and take their links back. When
// the running one fails, they fail too: the directory may have lost their
// links, and the next sync may not say so.
func TestMaildirSharedDirSync(t *testing.T) {
	for _, failing := range []int32{0, 1, 2} { // which sync fails
		t.Run(fmt.Sprint("failing=", failing), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				m, root := newTestMaildir(t, MaildirOptions{Create: true})
				release := make(chan struct{})
				var calls atomic.Int32
				m.fs = &faultFS{syncDirFn: func(string) error {
					c := calls.Add(1)
					if c == 1 {
						<-release
					}
					if c == failing {
						return syscall.EIO
					}
					return nil
				}}
				deliver := func() Results {
					res, err := m.Deliver(t.Context(), Envelope{To: []string{"a@example.com"}}, strings.NewReader(testMsg))
					assert.NoError(t, err)
					return res
				}
				first := make(chan Results, 1)
				go func() { first <- deliver() }()
				synctest.Wait() // the first delivery's sync is running
				const n = 8
				results := make(chan Results, n)
				for range n {
					go func() { results <- deliver() }()
				}
				synctest.Wait() // the others have linked and wait for a sync
				close(release)
				if failing == 1 {
					assert.Equal(t, Temporary, (<-first)[0].Status)
				} else {
					assert.Equal(t, Delivered, (<-first)[0].Status)
				}
				for range n {
					r := <-results
					if failing != 0 {
						assert.Equal(t, Temporary, r[0].Status)
						assert.ErrorIs(t, r[0].Err, syscall.EIO)
					} else {
						assert.Equal(t, Delivered, r[0].Status)
					}
				}
				assert.Equal(t, int32(2), calls.Load(), "one sync for the first, one for the others")
				want := map[int32]int{0: n + 1, 1: 0, 2: 1}[failing]
				assert.Len(t, files(t, filepath.Join(root, "example.com", "a", "Maildir"), "new"), want)
			})
		})
	}
}

// A message read a byte at a time is written in a few large writes, not
// one system call per read.
func TestMaildirWritesFullBuffers(t *testing.T) {
	m, root := newTestMaildir(t, MaildirOptions{Create: true})
	fs := &faultFS{}
	m.fs = fs
	body := strings.Repeat("0123456789abcdef\r\n", 10000) // 180,000 bytes
	res, err := m.Deliver(t.Context(), Envelope{To: []string{"a@example.com"}},
		iotest.OneByteReader(strings.NewReader("Subject: big\r\n\r\n"+body)))
	require.NoError(t, err)
	require.Equal(t, Delivered, res[0].Status)
	got := readNew(t, filepath.Join(root, "example.com", "a", "Maildir"))
	require.Len(t, got, 1)
	assert.True(t, strings.HasSuffix(string(got[0]), "\r\n\r\n"+body))
	assert.LessOrEqual(t, fs.writes, 4, "180 kB in 64 KiB writes")
}

// A Maildir, or a part of it, removed after it was prepared is made again
// (Create): the delivery in hand fails for the time being, the next one
// succeeds.
func TestMaildirRemovedWhileRunning(t *testing.T) {
	for _, part := range []string{"", "tmp", "new"} {
		t.Run("removed="+part, func(t *testing.T) {
			m, root := newTestMaildir(t, MaildirOptions{Create: true})
			dir := filepath.Join(root, "example.com", "a", "Maildir")
			env := Envelope{To: []string{"a@example.com"}}
			res, err := m.Deliver(t.Context(), env, strings.NewReader(testMsg))
			require.NoError(t, err)
			require.Equal(t, Delivered, res[0].Status)
			require.NoError(t, os.RemoveAll(filepath.Join(dir, part)))

			res, err = m.Deliver(t.Context(), env, strings.NewReader(testMsg))
			require.NoError(t, err)
			assert.Equal(t, Temporary, res[0].Status)
			assert.ErrorIs(t, res[0].Err, os.ErrNotExist)

			res, err = m.Deliver(t.Context(), env, strings.NewReader(testMsg))
			require.NoError(t, err)
			assert.Equal(t, Delivered, res[0].Status)
			assert.NotEmpty(t, files(t, dir, "new"))
			assert.Empty(t, files(t, dir, "tmp"))
		})
	}
}

func TestLFWriter(t *testing.T) {
	tests := []struct{ in, want string }{
		{"", ""},
		{"a\r\nb\r\n", "a\nb\n"},
		{"lone\rCR", "lone\rCR"},
		{"\r\r\n", "\r\n"},
		{"end\r", "end\r"},
		{"\r\n\r\n\r\n", "\n\n\n"},
		{"bare\nLF\r\n", "bare\nLF\n"},
		{"\r\r\r", "\r\r\r"},
	}
	for _, tc := range tests {
		for _, chunk := range []int{1, 2, 3, 1 << 20} {
			var b bytes.Buffer
			w := &lfWriter{w: &b}
			for rest := tc.in; len(rest) > 0; {
				n := min(chunk, len(rest))
				k, err := w.Write([]byte(rest[:n]))
				require.NoError(t, err)
				require.Equal(t, n, k)
				rest = rest[n:]
			}
			require.NoError(t, w.Close())
			assert.Equal(t, tc.want, b.String(), "%q in chunks of %d", tc.in, chunk)
		}
	}
}

func TestMaildirLF(t *testing.T) {
	m, root := newTestMaildir(t, MaildirOptions{Create: true, LF: true})
	msg := "Subject: x\r\n\r\nbody\r\nlone\rcr\r\n"
	_, err := m.Deliver(t.Context(), Envelope{To: []string{"a@example.com"}}, iotest.OneByteReader(strings.NewReader(msg)))
	require.NoError(t, err)
	dir := filepath.Join(root, "example.com", "a", "Maildir")
	got := readNew(t, dir)
	require.Len(t, got, 1)
	assert.True(t, strings.HasSuffix(string(got[0]), "\nSubject: x\n\nbody\nlone\rcr\n"), "%q", got[0])
	assert.NotContains(t, string(got[0]), "\r\n")
	sm := uniqueName.FindStringSubmatch(files(t, dir, "new")[0])
	require.NotNil(t, sm)
	assert.Equal(t, strconv.Itoa(len(got[0])), sm[1], "S= counts the stored bytes")
}

func TestMaildirConcurrent(t *testing.T) {
	m, root := newTestMaildir(t, MaildirOptions{Create: true})
	const workers, each = 16, 25
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := range each {
				msg := fmt.Sprintf("Subject: %d-%d\r\n\r\nbody\r\n", w, i)
				res, err := m.Deliver(t.Context(), Envelope{To: []string{"a@example.com"}}, strings.NewReader(msg))
				assert.NoError(t, err)
				assert.Equal(t, Delivered, res[0].Status)
			}
		})
	}
	wg.Wait()
	dir := filepath.Join(root, "example.com", "a", "Maildir")
	names := files(t, dir, "new")
	assert.Len(t, names, workers*each, "no file lost, no name reused")
	var subjects []string
	for _, b := range readNew(t, dir) {
		i := bytes.Index(b, []byte("Subject: "))
		j := bytes.Index(b[i:], []byte("\r\n"))
		subjects = append(subjects, string(b[i+9:i+j]))
	}
	slices.Sort(subjects)
	assert.Len(t, slices.Compact(subjects), workers*each)
	assert.Empty(t, files(t, dir, "tmp"))
}

func TestMaildirSourceError(t *testing.T) {
	m, root := newTestMaildir(t, MaildirOptions{Create: true})
	boom := errors.New("connection reset")
	msg := io.MultiReader(strings.NewReader("Subject: x\r\n\r\npartial"), iotest.ErrReader(boom))
	res, err := m.Deliver(t.Context(), Envelope{To: []string{"a@example.com"}}, msg)
	require.ErrorIs(t, err, boom)
	assert.Equal(t, Temporary, res[0].Status)
	assert.ErrorIs(t, res[0].Err, boom)
	dir := filepath.Join(root, "example.com", "a", "Maildir")
	assert.Empty(t, files(t, dir, "new"))
	assert.Empty(t, files(t, dir, "tmp"))

	// A cancelled context: nothing delivered.
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	res, err = m.Deliver(ctx, Envelope{To: []string{"a@example.com"}}, strings.NewReader(testMsg))
	require.ErrorIs(t, err, context.Canceled)
	assert.Equal(t, Temporary, res[0].Status)
	assert.Empty(t, files(t, dir, "new"))
	assert.Empty(t, files(t, dir, "tmp"))
}

// FuzzLFWriter checks the streaming conversion against the whole-buffer
// one, whatever the chunking.
func FuzzLFWriter(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte, chunk uint8) {
		var b bytes.Buffer
		w := &lfWriter{w: &b}
		step := int(chunk%16) + 1
		for rest := data; len(rest) > 0; {
			n := min(step, len(rest))
			if _, err := w.Write(rest[:n]); err != nil {
				t.Fatal(err)
			}
			rest = rest[n:]
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		if want := bytes.ReplaceAll(data, []byte("\r\n"), []byte("\n")); !bytes.Equal(want, b.Bytes()) {
			t.Fatalf("%q: got %q, want %q", data, b.Bytes(), want)
		}
	})
}

// patternReader yields n bytes of text without holding them.
type patternReader struct{ n int64 }

func (r *patternReader) Read(p []byte) (int, error) {
	if r.n == 0 {
		return 0, io.EOF
	}
	if int64(len(p)) > r.n {
		p = p[:r.n]
	}
	for i := range p {
		p[i] = "abcdefghij\r\n"[i%12]
	}
	r.n -= int64(len(p))
	return len(p), nil
}

// TestMaildirBoundedMemory delivers a 64 MiB stream, to one recipient and
// (spooled, written twice) to two: the bytes allocated do not grow with the
// message.
func TestMaildirBoundedMemory(t *testing.T) {
	const size = 64 << 20
	for _, separate := range []bool{false, true} {
		m, root := newTestMaildir(t, MaildirOptions{Create: true, Separate: separate, LF: true})
		m.opts.SpoolDir = t.TempDir()
		to := []string{"a@example.com", "b@example.com"}[:1+btoi(separate)]
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		res, err := m.Deliver(t.Context(), Envelope{To: to}, &patternReader{n: size})
		runtime.ReadMemStats(&after)
		require.NoError(t, err)
		for _, r := range res {
			require.Equal(t, Delivered, r.Status)
		}
		alloc := after.TotalAlloc - before.TotalAlloc
		t.Logf("separate=%v: allocated %d bytes for a %d-byte message", separate, alloc, size)
		assert.Less(t, alloc, uint64(8<<20))
		fi, err := os.Stat(filepath.Join(root, "example.com", "a", "Maildir", "new", files(t, filepath.Join(root, "example.com", "a", "Maildir"), "new")[0]))
		require.NoError(t, err)
		assert.Greater(t, fi.Size(), int64(size*11/12), "LF conversion removed only the CRs")
	}
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

func TestMaildirCancelledMidGroup(t *testing.T) {
	// The context ends after the first recipient's link: that recipient's
	// file is in new/ and must be reported (and synced) as delivered, not
	// left for a retry that would duplicate it.
	m, root := newTestMaildir(t, MaildirOptions{Create: true})
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	fs := &faultFS{link: func(string, string) error { cancel(); return nil }}
	m.fs = fs
	res, err := m.Deliver(ctx, Envelope{To: []string{"a@example.com", "b@example.com"}}, strings.NewReader(testMsg))
	require.ErrorIs(t, err, context.Canceled)
	assert.Equal(t, Delivered, res[0].Status)
	assert.Equal(t, Temporary, res[1].Status)
	assert.ErrorIs(t, res[1].Err, context.Canceled)
	assert.Len(t, files(t, filepath.Join(root, "example.com", "a", "Maildir"), "new"), 1)
	assert.Empty(t, files(t, filepath.Join(root, "example.com", "b", "Maildir"), "new"))
	assert.Contains(t, fs.ops, "syncdir new")
	assert.Empty(t, files(t, filepath.Join(root, "example.com", "a", "Maildir"), "tmp"))
}

func TestMaildirRepeatedRecipient(t *testing.T) {
	m, root := newTestMaildir(t, MaildirOptions{Create: true})
	to := []string{"a@example.com", "b@example.com", "a@example.com"}
	res, err := m.Deliver(t.Context(), Envelope{To: to}, strings.NewReader(testMsg))
	require.NoError(t, err)
	require.Len(t, res, 3)
	for i, r := range res {
		assert.Equal(t, to[i], r.Recipient)
		assert.Equal(t, Delivered, r.Status)
	}
	assert.Len(t, files(t, filepath.Join(root, "example.com", "a", "Maildir"), "new"), 1, "one file for a repeated recipient")
}

// gateReader blocks its first read until gate is closed, then reads r.
type gateReader struct {
	gate <-chan struct{}
	r    io.Reader
}

func (g *gateReader) Read(p []byte) (int, error) {
	<-g.gate
	return g.r.Read(p)
}

// A delivery about to fsync new/ waits, up to dirSyncDelay, for the other
// deliveries into the same Maildir still writing their files, so that one
// fsync serves them all; none reports Delivered before its link is synced.
func TestMaildirDirSyncGathers(t *testing.T) {
	for _, late := range []bool{false, true} {
		t.Run(fmt.Sprint("late=", late), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				m, root := newTestMaildir(t, MaildirOptions{Create: true})
				var mu sync.Mutex
				var syncs []int // links in new/ at each sync
				synced := func() []int { mu.Lock(); defer mu.Unlock(); return slices.Clone(syncs) }
				dir := filepath.Join(root, "example.com", "a", "Maildir")
				fs := &faultFS{syncDirFn: func(name string) error {
					mu.Lock()
					defer mu.Unlock()
					syncs = append(syncs, len(files(t, dir, "new")))
					return nil
				}}
				m.fs = fs
				// Prepare the Maildir (its first delivery sweeps tmp/).
				_, err := m.Deliver(t.Context(), Envelope{To: []string{"a@example.com"}}, strings.NewReader(testMsg))
				require.NoError(t, err)
				mu.Lock()
				syncs = nil
				mu.Unlock()

				gate := make(chan struct{})
				slow := make(chan Results, 1)
				go func() {
					res, err := m.Deliver(t.Context(), Envelope{To: []string{"a@example.com"}}, &gateReader{gate: gate, r: strings.NewReader(testMsg)})
					assert.NoError(t, err)
					slow <- res
				}()
				synctest.Wait() // the slow delivery waits for its message
				fast := make(chan Results, 1)
				go func() {
					res, err := m.Deliver(t.Context(), Envelope{To: []string{"a@example.com"}}, strings.NewReader(testMsg))
					assert.NoError(t, err)
					fast <- res
				}()
				synctest.Wait() // the fast one has linked and waits for the slow one
				assert.Empty(t, synced(), "no sync yet")
				select {
				case <-fast:
					t.Fatal("delivered before new/ was synced")
				default:
				}
				if late {
					time.Sleep(dirSyncDelay)
					synctest.Wait()
					assert.Equal(t, []int{2}, synced(), "the wait is bounded: the fast one synced alone")
				}
				close(gate)
				assert.Equal(t, Delivered, (<-fast)[0].Status)
				assert.Equal(t, Delivered, (<-slow)[0].Status)
				if late {
					assert.Equal(t, []int{2, 3}, synced())
				} else {
					assert.Equal(t, []int{3}, synced(), "one sync for both")
				}
				m.syncMu.Lock()
				assert.Empty(t, m.syncs, "nothing left behind")
				m.syncMu.Unlock()
			})
		})
	}
}
