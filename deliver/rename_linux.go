package deliver

import (
	"errors"
	"os"

	"golang.org/x/sys/unix"
)

// renameNoReplace renames oldname to newname unless newname exists
// (renameat2 with RENAME_NOREPLACE, Linux 3.15 on ext4, XFS, btrfs, tmpfs
// and others): os.ErrExist when it does, errNoRename where the kernel or
// the file system does not offer it.
func renameNoReplace(oldname, newname string) error {
	err := unix.Renameat2(unix.AT_FDCWD, oldname, unix.AT_FDCWD, newname, unix.RENAME_NOREPLACE)
	switch {
	case err == nil:
		return nil
	case errors.Is(err, unix.EINVAL), errors.Is(err, unix.ENOSYS), errors.Is(err, unix.EOPNOTSUPP):
		return errNoRename
	}
	return &os.LinkError{Op: "rename", Old: oldname, New: newname, Err: err}
}
