//go:build !unix

package deliver

import "os"

// createFile creates name exclusively for writing.
func createFile(name string, perm os.FileMode) (maildirFile, error) {
	return os.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, perm)
}

// syncDir fsyncs the directory name.
func syncDir(name string) error {
	d, err := os.Open(name)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}
