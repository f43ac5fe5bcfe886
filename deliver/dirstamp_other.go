//go:build !linux

package deliver

import "os"

// dirStamp: elsewhere cur/ is read for each delivery.
type dirStamp struct{}

func stampOf(os.FileInfo) (dirStamp, bool) { return dirStamp{}, false }
