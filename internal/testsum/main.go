// Command testsum reads the output of "go test -json" on standard input and
// prints a short account of it: each package with its time, every failed
// test with its output, every skipped test with its reason, and a last line
// "N passed, N failed, N skipped". It exits with status 1 when a test or a
// package failed (a build error included), so scripts/test can pipe into it.
//
// Usage:
//
//	go test -json ./... | go run ./internal/testsum
package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"time"
)

func main() {
	ok, err := summarize(os.Stdin, os.Stdout)
	if err != nil {
		fmt.Fprintln(os.Stderr, "testsum:", err)
		os.Exit(2)
	}
	if !ok {
		os.Exit(1)
	}
}

// event is one line of "go test -json" (cmd/test2json).
type event struct {
	Action  string
	Package string
	Test    string
	Elapsed float64
	Output  string
}

type key struct{ pkg, test string }

// summary accumulates the events.
type summary struct {
	w                       io.Writer
	output                  map[key][]string
	passed, failed, skipped int
	pkgFailed               []string
}

// summarize reads events from r and writes the account to w; ok is false
// when anything failed.
func summarize(r io.Reader, w io.Writer) (ok bool, err error) {
	s := &summary{w: w, output: map[key][]string{}}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 16<<20)
	for sc.Scan() {
		line := sc.Bytes()
		var e event
		if len(line) == 0 || line[0] != '{' || json.Unmarshal(line, &e) != nil {
			// Not an event: a build error printed by go test itself.
			fmt.Fprintf(w, "%s\n", line)
			continue
		}
		s.add(e)
	}
	if err := sc.Err(); err != nil {
		return false, err
	}
	fmt.Fprintf(w, "%d passed, %d failed, %d skipped\n", s.passed, s.failed, s.skipped)
	return s.failed == 0 && len(s.pkgFailed) == 0, nil
}

func (s *summary) add(e event) {
	k := key{e.Package, e.Test}
	switch e.Action {
	case "output":
		s.output[k] = append(s.output[k], e.Output)
		return
	case "pass":
		if e.Test != "" {
			s.passed++
		} else {
			fmt.Fprintf(s.w, "ok    %s (%s)\n", e.Package, elapsed(e.Elapsed))
		}
	case "skip":
		if e.Test != "" {
			s.skipped++
			fmt.Fprintf(s.w, "SKIP  %s %s: %s\n", e.Package, e.Test, skipReason(s.output[k]))
		} else {
			fmt.Fprintf(s.w, "none  %s (no tests)\n", e.Package)
		}
	case "fail":
		if e.Test != "" {
			s.failed++
			fmt.Fprintf(s.w, "FAIL  %s %s (%s)\n", e.Package, e.Test, elapsed(e.Elapsed))
			for _, l := range s.output[k] {
				fmt.Fprint(s.w, "      ", l)
			}
		} else {
			s.pkgFailed = append(s.pkgFailed, e.Package)
			fmt.Fprintf(s.w, "FAIL  %s (%s)\n", e.Package, elapsed(e.Elapsed))
			// Package-level output: build errors, panics outside tests,
			// TestMain failures.
			for _, l := range s.output[k] {
				if !isNoise(l) {
					fmt.Fprint(s.w, "      ", l)
				}
			}
		}
	default: // start, run, pause, cont, bench, build-output...
		if e.Action == "build-output" {
			s.output[key{e.Package, ""}] = append(s.output[key{e.Package, ""}], e.Output)
		}
		return
	}
	delete(s.output, k)
}

// isNoise reports whether l is one of go test's own summary lines.
func isNoise(l string) bool {
	t := strings.TrimSpace(l)
	return t == "FAIL" || t == "PASS" || strings.HasPrefix(t, "FAIL\t") || strings.HasPrefix(t, "ok  \t") ||
		strings.HasPrefix(t, "=== ") || strings.HasPrefix(t, "--- ")
}

// skipReason finds the message of t.Skip in a test's output: the lines
// between "=== RUN" and "--- SKIP", without the file:line prefix.
func skipReason(lines []string) string {
	var msg []string
	for _, l := range lines {
		t := strings.TrimSpace(l)
		if t == "" || strings.HasPrefix(t, "=== ") || strings.HasPrefix(t, "--- ") {
			continue
		}
		// "file_test.go:12: reason"
		if i := strings.Index(t, ".go:"); i > 0 && !strings.Contains(t[:i], " ") {
			if j := strings.Index(t[i+4:], ": "); j >= 0 {
				t = t[i+4+j+2:]
			}
		}
		msg = append(msg, t)
	}
	if len(msg) == 0 {
		return "(no reason given)"
	}
	return strings.Join(slices.Compact(msg), " / ")
}

func elapsed(s float64) string {
	return time.Duration(s * float64(time.Second)).Round(10 * time.Millisecond).String()
}
