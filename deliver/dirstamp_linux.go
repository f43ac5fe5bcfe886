package deliver

import (
	"os"
	"syscall"
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
