package deliver

import (
	"errors"
	"os"
	"strconv"
	"sync"

	"golang.org/x/sys/unix"
)

// procFD reports whether /proc/self/fd is there to link unnamed files by.
var procFD = sync.OnceValue(func() bool {
	_, err := os.Stat("/proc/self/fd")
	return err == nil
})

// createUnnamed opens an unnamed file in dir (O_TMPFILE, Linux 3.11).
// errNoUnnamed reports a kernel or file system without it, or no /proc.
func createUnnamed(dir string, perm os.FileMode) (*os.File, error) {
	if !procFD() {
		return nil, errNoUnnamed
	}
	fd, err := unix.Open(dir, unix.O_TMPFILE|unix.O_RDWR|unix.O_CLOEXEC, uint32(perm.Perm()))
	if err != nil {
		// EISDIR: a kernel without O_TMPFILE sees O_DIRECTORY alone.
		if errors.Is(err, unix.EOPNOTSUPP) || errors.Is(err, unix.EISDIR) || errors.Is(err, unix.EINVAL) {
			return nil, errNoUnnamed
		}
		return nil, &os.PathError{Op: "open", Path: dir, Err: err}
	}
	return os.NewFile(uintptr(fd), dir+"/(unnamed)"), nil
}

// linkUnnamed names the open file fd newname: linkat through /proc, which
// unlike AT_EMPTY_PATH needs no privilege.
func linkUnnamed(fd uintptr, name, newname string) error {
	err := unix.Linkat(unix.AT_FDCWD, "/proc/self/fd/"+strconv.FormatUint(uint64(fd), 10), unix.AT_FDCWD, newname, unix.AT_SYMLINK_FOLLOW)
	if err != nil {
		return &os.LinkError{Op: "link", Old: name, New: newname, Err: err}
	}
	return nil
}
