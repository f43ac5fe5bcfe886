package main

import (
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/multidrop/multidrop"
)

// console shares a terminal between log lines and a status line: each log
// line clears the status line, is written, and the status line is drawn
// again below it, so that log lines scroll above the status line instead
// of being written over it.
type console struct {
	mu     sync.Mutex
	out    io.Writer // the terminal the status line is drawn on
	log    io.Writer // where log lines go (the same terminal, usually)
	status string
}

// Write writes a log line (slog handlers write one record per call).
func (c *console) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.status != "" {
		fmt.Fprint(c.out, "\r\x1b[K")
	}
	n, err := c.log.Write(p)
	if c.status != "" {
		fmt.Fprint(c.out, c.status)
	}
	return n, err
}

// SetStatus redraws the status line as s; "" clears it.
func (c *console) SetStatus(s string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.status = s
	fmt.Fprintf(c.out, "\r\x1b[K%s", s)
}

// End leaves the status line as it is, ends it with a newline and stops
// redrawing it.
func (c *console) End() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.status != "" {
		fmt.Fprint(c.out, "\n")
	}
	c.status = ""
}

// progress draws one status line on a terminal from the Pipeline's events:
// accounts done of total, messages and bytes handled.
type progress struct {
	c     *console
	total int

	mu       sync.Mutex
	done     int
	messages int
	bytes    int64
	drawn    time.Time
}

// event is the Pipeline's Observer. It is called synchronously, so it only
// formats one short line, at most every 100 ms except when an account ends.
func (p *progress) event(e multidrop.Event) {
	p.mu.Lock()
	defer p.mu.Unlock()
	switch e.Kind {
	case multidrop.EventMessage:
		p.messages++
		if e.Message != nil {
			p.bytes += e.Message.Size
		}
	case multidrop.EventCheckEnd:
		p.done++
	default:
		return
	}
	now := time.Now()
	if e.Kind == multidrop.EventCheckEnd || now.Sub(p.drawn) >= 100*time.Millisecond {
		p.drawn = now
		p.c.SetStatus(p.line())
	}
}

func (p *progress) line() string {
	return fmt.Sprintf("%d/%d accounts, %d messages, %s", p.done, p.total, p.messages, formatBytes(p.bytes))
}

// finish replaces the status line with its final state.
func (p *progress) finish() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.c.SetStatus(p.line())
	p.c.End()
	fmt.Fprintln(p.c.out)
}

// writeSummary writes a table with one row per account (names and
// statuses aligned left, counts right), then each failed account's error.
func writeSummary(w io.Writer, reports []*multidrop.Report) {
	rows := [][]string{{"ACCOUNT", "STATUS", "LISTED", "RETRIEVED", "DELIVERED", "DELETED", "KEPT", "SKIPPED", "BYTES", "TIME"}}
	var errs []string
	for _, r := range reports {
		status := "ok"
		if errors.Is(r.Err, multidrop.ErrAccountBusy) {
			status = "busy"
			errs = append(errs, fmt.Sprintf("%s: not checked: %v", r.Account, oneLine(r.Err.Error())))
		} else if deferred(r.Err) {
			status = "deferred"
			errs = append(errs, oneLine(r.Err.Error()))
		} else if r.Err != nil {
			status = "FAILED"
			errs = append(errs, fmt.Sprintf("%s: %v", r.Account, oneLine(r.Err.Error())))
		} else if !r.Committed && r.Deleted > 0 {
			status = "uncommitted"
		}
		rows = append(rows, []string{r.Account, status,
			strconv.Itoa(r.Listed), strconv.Itoa(r.Retrieved), strconv.Itoa(r.Delivered),
			strconv.Itoa(r.Deleted), strconv.Itoa(r.Kept), strconv.Itoa(r.Skipped),
			formatBytes(r.Bytes), r.Duration.Round(time.Millisecond).String()})
	}
	width := make([]int, len(rows[0]))
	for _, row := range rows {
		for i, cell := range row {
			width[i] = max(width[i], utf8.RuneCountInString(cell))
		}
	}
	var b strings.Builder
	for _, row := range rows {
		b.Reset()
		for i, cell := range row {
			pad := strings.Repeat(" ", width[i]-utf8.RuneCountInString(cell))
			if i > 0 {
				b.WriteString("  ")
			}
			if i < 2 {
				b.WriteString(cell)
				if i < len(row)-1 {
					b.WriteString(pad)
				}
			} else {
				b.WriteString(pad + cell)
			}
		}
		fmt.Fprintln(w, b.String())
	}
	if len(errs) > 0 {
		fmt.Fprintln(w)
		for _, e := range errs {
			fmt.Fprintln(w, e)
		}
	}
}

// oneLine joins the lines of a joined error.
func oneLine(s string) string { return strings.ReplaceAll(s, "\n", "; ") }

// formatBytes formats n in binary units.
func formatBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}
