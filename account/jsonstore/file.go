package jsonstore

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"time"
)

// A CorruptError reports a file that exists but does not decode. The file
// is left as it is: every operation fails until it is repaired or removed.
type CorruptError struct {
	Path string
	Err  error
}

func (e *CorruptError) Error() string {
	return fmt.Sprintf("jsonstore: %s: corrupt: %v", e.Path, e.Err)
}

func (e *CorruptError) Unwrap() error { return e.Err }

// checker is implemented by the file formats that are written by hand
// too: check vets the decoded value, given the file's bytes, when the file
// is loaded.
type checker interface {
	check(data []byte) error
}

// versioned is implemented by the file formats.
type versioned interface {
	// upgrade converts a value decoded in an older format to the current
	// one, or fails for a version it does not know.
	upgrade() error
	// setVersion sets the current version before a write.
	setVersion()
}

// file is one JSON document on disk holding a value of type T, read and
// rewritten under an advisory lock on a separate lock file, cached between
// operations while the file does not change on disk.
type file[T any, PT interface {
	*T
	versioned
}] struct {
	path string
	lock *lockFile

	mu     sync.Mutex
	cached PT          // nil until loaded
	fi     fs.FileInfo // of the file cached; nil when the file did not exist
}

func openFile[T any, PT interface {
	*T
	versioned
}](path string) (*file[T, PT], error) {
	if path == "" {
		return nil, errors.New("jsonstore: empty path")
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("jsonstore: %w", err)
	}
	lf, err := openLock(abs + ".lock")
	if err != nil {
		return nil, err
	}
	f := &file[T, PT]{path: abs, lock: lf}
	if err := f.read(context.Background(), func(PT) error { return nil }); err != nil {
		_ = lf.close()
		return nil, err
	}
	return f, nil
}

func (f *file[T, PT]) close() error { return f.lock.close() }

// read runs fn on the current value under a shared lock. fn must not keep
// or change the value.
func (f *file[T, PT]) read(ctx context.Context, fn func(PT) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.lock.lock(ctx, false); err != nil {
		return err
	}
	defer f.lock.unlock()
	if err := f.refresh(); err != nil {
		return err
	}
	return fn(f.cached)
}

// update runs fn on the current value under an exclusive lock and, when fn
// returns nil, writes the changed value back atomically. fn returns
// errUnchanged when it changed nothing.
func (f *file[T, PT]) update(ctx context.Context, fn func(PT) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.lock.lock(ctx, true); err != nil {
		return err
	}
	defer f.lock.unlock()
	if err := f.refresh(); err != nil {
		return err
	}
	err := fn(f.cached)
	if errors.Is(err, errUnchanged) {
		return nil
	}
	if err != nil {
		// fn may have changed the value before failing: reload next time.
		f.cached, f.fi = nil, nil
		return err
	}
	if err := f.write(); err != nil {
		f.cached, f.fi = nil, nil
		return err
	}
	return nil
}

// refresh loads the file unless the cached value is of the same file: same
// inode, size and modification time. Writers always replace the file by
// rename, so a change by another process shows as another inode.
func (f *file[T, PT]) refresh() error {
	fi, err := os.Stat(f.path)
	if errors.Is(err, fs.ErrNotExist) {
		if f.cached == nil || f.fi != nil {
			f.cached, f.fi = PT(new(T)), nil
		}
		return nil
	}
	if err != nil {
		return fmt.Errorf("jsonstore: %w", err)
	}
	if f.cached != nil && f.fi != nil && os.SameFile(f.fi, fi) && f.fi.ModTime().Equal(fi.ModTime()) && f.fi.Size() == fi.Size() {
		return nil
	}
	f.cached, f.fi = nil, nil
	data, err := os.ReadFile(f.path)
	if err != nil {
		return fmt.Errorf("jsonstore: %w", err)
	}
	v := PT(new(T))
	dec := json.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(v); err != nil {
		return &CorruptError{Path: f.path, Err: err}
	}
	if dec.More() {
		return &CorruptError{Path: f.path, Err: errors.New("data after the JSON document")}
	}
	if err := v.upgrade(); err != nil {
		return &CorruptError{Path: f.path, Err: err}
	}
	if c, ok := any(v).(checker); ok {
		if err := c.check(data); err != nil {
			return &CorruptError{Path: f.path, Err: err}
		}
	}
	f.cached, f.fi = v, fi
	return nil
}

// formatVersion is the version of the accounts and leases files.
const formatVersion = 1

// checkVersion is the upgrade of a format that has had one version.
func checkVersion(v int) error {
	switch {
	case v == 0:
		return fmt.Errorf(`no "version": want "version": %d`, formatVersion)
	case v != formatVersion:
		return fmt.Errorf(`unsupported format version %d (want "version": %d)`, v, formatVersion)
	}
	return nil
}

// errUnchanged tells update that there is nothing to write.
var errUnchanged = errors.New("unchanged")

// write replaces the file atomically: a temporary file in the same
// directory, written and fsynced, renamed over the file, and the directory
// fsynced so that the rename itself survives a crash.
func (f *file[T, PT]) write() error {
	f.cached.setVersion()
	data, err := json.MarshalIndent(f.cached, "", "\t")
	if err != nil {
		return fmt.Errorf("jsonstore: encoding %s: %w", f.path, err)
	}
	data = append(data, '\n')
	dir, base := filepath.Split(f.path)
	tmp, err := os.CreateTemp(dir, "."+base+".tmp-*") // mode 0600
	if err != nil {
		return fmt.Errorf("jsonstore: %w", err)
	}
	done := false
	defer func() {
		if !done {
			_ = tmp.Close()
			_ = os.Remove(tmp.Name())
		}
	}()
	if _, err := tmp.Write(data); err != nil {
		return fmt.Errorf("jsonstore: writing %s: %w", tmp.Name(), err)
	}
	if err := tmp.Chmod(0o600); err != nil {
		return fmt.Errorf("jsonstore: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		return fmt.Errorf("jsonstore: fsync %s: %w", tmp.Name(), err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("jsonstore: %w", err)
	}
	if err := os.Rename(tmp.Name(), f.path); err != nil {
		return fmt.Errorf("jsonstore: %w", err)
	}
	done = true
	if err := syncDir(dir); err != nil {
		return fmt.Errorf("jsonstore: fsync directory %s: %w", dir, err)
	}
	fi, err := os.Stat(f.path)
	if err != nil {
		return fmt.Errorf("jsonstore: %w", err)
	}
	f.fi = fi
	return nil
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// pollLock is the longest wait between two attempts to take a busy lock.
const pollLock = 50 * time.Millisecond
