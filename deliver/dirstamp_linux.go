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
// leave the stamp as it was. Times in whole seconds (ext2 and ext3, ext4
// with 128-byte inodes) need a second more.
const localSettle = 100 * time.Millisecond

// Local file systems whose times come from this kernel's clock.
var localFS = map[uint32]bool{
	0xEF53:     true, // ext2, ext3, ext4
	0x58465342: true, // XFS
	0x9123683E: true, // btrfs
	0x01021994: true, // tmpfs
	0xF2F52010: true, // F2FS
	0x2FC12FC1: true, // ZFS
	0x794C7630: true, // overlayfs (its upper layer is one of these)
}

// settled reports whether a reading at now of the directory dir, whose
// stat is fi, may be kept. Never on a network or unknown file system: its
// times may come from another machine's clock, behind this one by any
// amount.
func settled(dir string, fi os.FileInfo, now time.Time) bool {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return false
	}
	if now.Sub(fi.ModTime()) < settleWait(st) {
		return false
	}
	return localFileSystem(dir)
}

// settleWait returns how long after its last change a directory must be
// read: localSettle, and a second more when both its times are whole
// seconds (a file system that keeps no more, most likely).
func settleWait(st *syscall.Stat_t) time.Duration {
	if st.Mtim.Nsec == 0 && st.Ctim.Nsec == 0 {
		return localSettle + time.Second
	}
	return localSettle
}

// localFileSystem reports whether dir is on a file system of localFS.
func localFileSystem(dir string) bool {
	var sfs syscall.Statfs_t
	if err := syscall.Statfs(dir, &sfs); err != nil {
		return false
	}
	return localFS[uint32(sfs.Type)]
}
