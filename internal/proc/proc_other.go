//go:build !unix

package proc

// Gone reports no process gone where it cannot be checked: callers then
// wait for expiry or age instead.
func Gone(int) bool { return false }
