//go:build !unix

package deliver

// processAlive reports every process alive where it cannot be checked:
// leftovers in tmp/ are then removed only by age.
func processAlive(string) bool { return true }
