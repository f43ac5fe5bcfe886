//go:build unix

package deliver

import (
	"io"
	"os"
	"syscall"
)

// fdFile is a message file written through its descriptor. Unlike an
// *os.File it is never offered to the runtime's network poller, which
// refuses regular files and directories (one failing epoll_ctl for each
// file and each directory fsync), and it has no finalizer.
type fdFile struct {
	fd   int
	name string
}

// createFile creates name exclusively for writing.
func createFile(name string, perm os.FileMode) (maildirFile, error) {
	for {
		fd, err := syscall.Open(name, syscall.O_WRONLY|syscall.O_CREAT|syscall.O_EXCL|syscall.O_CLOEXEC, uint32(perm.Perm()))
		if err == syscall.EINTR {
			continue
		}
		if err != nil {
			return nil, &os.PathError{Op: "open", Path: name, Err: err}
		}
		return &fdFile{fd: fd, name: name}, nil
	}
}

// Write writes all of p, or fails.
func (f *fdFile) Write(p []byte) (int, error) {
	n := 0
	for n < len(p) {
		m, err := syscall.Write(f.fd, p[n:])
		if err == syscall.EINTR {
			continue
		}
		if err != nil {
			return n, &os.PathError{Op: "write", Path: f.name, Err: err}
		}
		if m == 0 {
			return n, io.ErrShortWrite
		}
		n += m
	}
	return n, nil
}

func (f *fdFile) Sync() error {
	for {
		err := syscall.Fsync(f.fd)
		if err == syscall.EINTR {
			continue
		}
		if err != nil {
			return &os.PathError{Op: "sync", Path: f.name, Err: err}
		}
		return nil
	}
}

// Close closes the descriptor (once: a close interrupted by a signal has
// closed it anyway).
func (f *fdFile) Close() error {
	if f.fd < 0 {
		return os.ErrClosed
	}
	err := syscall.Close(f.fd)
	f.fd = -1
	if err != nil {
		return &os.PathError{Op: "close", Path: f.name, Err: err}
	}
	return nil
}

// syncDir fsyncs the directory name.
func syncDir(name string) error {
	var fd int
	var err error
	for {
		fd, err = syscall.Open(name, syscall.O_RDONLY|syscall.O_CLOEXEC, 0)
		if err != syscall.EINTR {
			break
		}
	}
	if err != nil {
		return &os.PathError{Op: "open", Path: name, Err: err}
	}
	for {
		err = syscall.Fsync(fd)
		if err != syscall.EINTR {
			break
		}
	}
	if cerr := syscall.Close(fd); err == nil && cerr != nil {
		err = cerr
	}
	if err != nil {
		return &os.PathError{Op: "sync", Path: name, Err: err}
	}
	return nil
}
