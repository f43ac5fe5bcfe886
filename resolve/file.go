package resolve

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

// FileOptions configures a [File] directory. The zero value of each field
// is the documented default.
type FileOptions struct {
	// CheckInterval is how often, at most, a lookup stats the file to see
	// whether it changed. 0 means 2s; a negative value stats on every lookup.
	CheckInterval time.Duration
	// CaseSensitive compares local parts byte for byte (see [Table]).
	CaseSensitive bool
	// MaxSize bounds the file; a larger file is refused like a malformed
	// one. 0 means 64 MiB.
	MaxSize int64
	// Logger receives, for the reloads that lookups start, a warning when
	// a changed file cannot be loaded (once per distinct error) and an info
	// line when it is; [File.Reload] returns its error instead. nil means
	// slog.Default().
	Logger *slog.Logger
}

// File is a [Directory] and [NameLookup] read from a text file in the
// format of [ParseDirectory]. It reloads the file when its modification
// time, size or identity (a new file renamed over it) changes, checked at
// most every CheckInterval during lookups, and whenever [File.Reload] is
// called. A file that fails to load leaves the previous contents in force:
// the error is logged, returned by Reload and kept in [File.Err] until a
// load succeeds. Safe for concurrent use; lookups never wait for a reload.
type File struct {
	path     string
	opts     FileOptions
	cur      atomic.Pointer[Static]
	nextStat atomic.Int64 // unix nanoseconds of the next due stat
	mu       sync.Mutex   // serialises loads; guards the fields below
	info     os.FileInfo  // of the loaded file
	err      error        // of the last load, nil after a success
}

var (
	_ Directory  = (*File)(nil)
	_ NameLookup = (*File)(nil)
)

// OpenFile loads the directory file at path. The first load must succeed.
func OpenFile(path string, opts *FileOptions) (*File, error) {
	f := &File{path: path}
	if opts != nil {
		f.opts = *opts
	}
	if f.opts.CheckInterval == 0 {
		f.opts.CheckInterval = 2 * time.Second
	}
	if f.opts.MaxSize <= 0 {
		f.opts.MaxSize = 64 << 20
	}
	if f.opts.Logger == nil {
		f.opts.Logger = slog.Default()
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, err := f.load(true); err != nil {
		return nil, err
	}
	f.nextStat.Store(time.Now().Add(f.opts.CheckInterval).UnixNano())
	return f, nil
}

// Reload reads the file again, changed or not, and returns the load error,
// if any; the previous contents stay in force on error.
func (f *File) Reload() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	_, err := f.load(true)
	return err
}

// Err returns the error of the last load attempt, nil if it succeeded.
func (f *File) Err() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.err
}

// Len returns the number of users currently loaded.
func (f *File) Len() int { return f.cur.Load().Len() }

// Lookup implements [Directory].
func (f *File) Lookup(ctx context.Context, domain, local string) ([]string, error) {
	return f.current().Lookup(ctx, domain, local)
}

// LookupName implements [NameLookup].
func (f *File) LookupName(ctx context.Context, domain, name string) ([]string, error) {
	return f.current().LookupName(ctx, domain, name)
}

// current returns the loaded table, first checking the file when a check is
// due. Only one caller checks; the others use the table in hand.
func (f *File) current() *Static {
	now := time.Now().UnixNano()
	if next := f.nextStat.Load(); now >= next || f.opts.CheckInterval < 0 {
		if f.mu.TryLock() {
			f.nextStat.Store(now + int64(f.opts.CheckInterval))
			prev := f.err
			installed, err := f.load(false)
			f.mu.Unlock()
			// Nobody receives the error of a background reload: log it,
			// once per distinct error.
			switch {
			case err != nil && (prev == nil || prev.Error() != err.Error()):
				f.opts.Logger.Warn("resolve: directory file not reloaded, previous contents kept", "path", f.path, "error", err)
			case installed:
				f.opts.Logger.Info("resolve: directory reloaded", "path", f.path, "users", f.cur.Load().Len())
			}
		}
	}
	return f.cur.Load()
}

// load reads the file if force is set or it changed. f.mu is held. It
// reports whether new contents were installed.
func (f *File) load(force bool) (bool, error) {
	before, err := os.Stat(f.path)
	if err != nil {
		return false, f.fail(err)
	}
	if !force && f.info != nil && f.err == nil && sameFile(f.info, before) {
		return false, nil
	}
	if f.err != nil && f.info != nil && sameFile(f.info, before) && !force {
		return false, f.err // the same bad file: do not re-read or re-log it
	}
	if before.Size() > f.opts.MaxSize {
		f.info = before
		return false, f.fail(fmt.Errorf("resolve: %s: %d bytes, more than the limit of %d", f.path, before.Size(), f.opts.MaxSize))
	}
	data, err := readLimited(f.path, f.opts.MaxSize)
	if err != nil {
		f.info = before
		return false, f.fail(err)
	}
	t, err := ParseDirectory(bytes.NewReader(data))
	if err != nil {
		if se, ok := err.(*SyntaxError); ok {
			se.Path = f.path
		}
		f.info = before
		return false, f.fail(err)
	}
	t.CaseSensitive = f.opts.CaseSensitive
	s, err := NewStatic(t)
	if err != nil {
		f.info = before
		return false, f.fail(fmt.Errorf("%w (in %s)", err, f.path))
	}
	// A writer that changed the file while we read it: install what we read
	// but remember no identity, so the next check reads it again.
	after, err := os.Stat(f.path)
	if err == nil && sameFile(before, after) {
		f.info = after
	} else {
		f.info = nil
	}
	f.cur.Store(s)
	f.err = nil
	return true, nil
}

// fail records a load error; with contents already loaded they stay.
func (f *File) fail(err error) error {
	f.err = err
	return err
}

// readLimited reads the file at path, refusing more than max bytes (the
// file may grow after the Stat that checked its size).
func readLimited(path string, max int64) ([]byte, error) {
	fh, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer fh.Close()
	data, err := io.ReadAll(io.LimitReader(fh, max+1))
	if err != nil {
		return nil, err
	}
	if int64(len(data)) > max {
		return nil, fmt.Errorf("resolve: %s: more than the limit of %d bytes", path, max)
	}
	return data, nil
}

func sameFile(a, b os.FileInfo) bool {
	return os.SameFile(a, b) && a.Size() == b.Size() && a.ModTime().Equal(b.ModTime())
}
