//go:build !linux

package deliver

import "os"

// createUnnamed: unnamed files are a Linux feature (O_TMPFILE).
func createUnnamed(string, os.FileMode) (*os.File, error) { return nil, errNoUnnamed }

func linkUnnamed(uintptr, string, string) error { return errNoUnnamed }
