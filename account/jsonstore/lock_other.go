//go:build !unix

package jsonstore

import (
	"context"
	"errors"
)

type lockFile struct{}

func openLock(string) (*lockFile, error) {
	return nil, errors.New("jsonstore: file locking is not supported on this platform")
}

func (*lockFile) lock(context.Context, bool) error { return errors.New("jsonstore: no file locking") }
func (*lockFile) unlock()                          {}
func (*lockFile) close() error                     { return nil }
