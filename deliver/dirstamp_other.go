//go:build !linux

package deliver

import (
	"os"
	"time"
)

// dirStamp: elsewhere cur/ is read for each delivery.
type dirStamp struct{}

func stampOf(os.FileInfo) (dirStamp, bool) { return dirStamp{}, false }

func settled(string, os.FileInfo, time.Time) bool { return false }

func localFileSystem(string) bool { return false }
