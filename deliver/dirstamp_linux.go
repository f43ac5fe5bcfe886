package deliver

import (
	"os"
	"syscall"
	"time"
)

// dirStamp identifies a state of a directory: a change to it (an entry
// added, removed or renamed; its times set) changes its ctime, which
// nothing but the kernel sets, or its mtime.
type dirStamp struct {
	dev, ino     uint64
	mtime, ctime syscall.Timespec
}

// stampOf returns fi's stamp, or false when the system gives none.
func stampOf(fi os.FileInfo) (dirStamp, bool) {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return dirStamp{}, false
	}
	return dirStamp{dev: uint64(st.Dev), ino: st.Ino, mtime: st.Mtim, ctime: st.Ctim}, true
}

// localSettle is how long after its last change a directory on a local
// file system must have been read for the reading to be kept: the kernel
// stamps changes with its coarse clock, at most a tick (10 ms) behind the
// time read, so a change made just after a reading in the same tick would
// leave the stamp as it was.
const localSettle = 100 * time.Millisecond

// Local file systems whose times come from this kernel's clock.
var localFS = map[uint32]bool{
	0xEF53:     true, // ext2, ext3, ext4
	0x58465342: true, // XFS
	0x9123683E: true, // btrfs
	0x01021994: true, // tmpfs
	0xF2F52010: true, // F2FS
	0x2FC12FC1: true, // ZFS
}

// settledFor reports whether a reading of dir made age after its last
// change may be kept. Never on a network or unknown file system: its times
// come from another machine's clock, which may be behind this one by any
// amount.
func settledFor(dir string, age time.Duration) bool {
	if age < localSettle {
		return false
	}
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		return false
	}
	return localFS[uint32(st.Type)]
}
