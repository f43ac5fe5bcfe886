//go:build !linux

package deliver

// renameNoReplace is not offered here: rename(2) replaces an existing
// file, so Maildir links and unlinks instead.
func renameNoReplace(oldname, newname string) error { return errNoRename }
