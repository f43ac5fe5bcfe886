package main

import (
	"cmp"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/multidrop/multidrop"
	"github.com/multidrop/multidrop/account"
	"github.com/multidrop/multidrop/deliver"
	"github.com/multidrop/multidrop/pop"
	"github.com/multidrop/multidrop/pop/poptest"
	"github.com/multidrop/multidrop/resolve"
)

func newTable(w io.Writer) *tabwriter.Writer {
	return tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
}

func printIntro(w io.Writer, a account.Account, addr string, n int, root string) {
	fmt.Fprintf(w, "multidrop demo\n\n"+
		"The provider drops all mail for %s into ONE POP3 mailbox and the SMTP envelope\n"+
		"(who each message was for) is gone. multidrop downloads every message, recovers its\n"+
		"recipients from the header, keeps the domain's real users, delivers to each user's\n"+
		"Maildir and removes the message from the server.\n\n", a.Domain)
	tw := newTable(w)
	fmt.Fprintf(tw, "  POP3 server\t%s (in-process, implicit TLS), mailbox %q, %d messages\n", addr, a.Auth.User, n)
	var locals []string
	for _, u := range users {
		l, _, _ := strings.Cut(u, "@")
		locals = append(locals, l)
	}
	fmt.Fprintf(tw, "  users\t%s (@%s)\n", strings.Join(locals, ", "), a.Domain)
	for _, k := range slices.Sorted(maps.Keys(alias)) {
		fmt.Fprintf(tw, "  alias\t%s -> %s\n", k, strings.Join(alias[k], ", "))
	}
	fmt.Fprintf(tw, "  size limit\t%s; larger messages stay on the server and %s is told\n",
		size(a.Retrieval.MaxMessageSize), a.Policy.Postmaster)
	fmt.Fprintf(tw, "  delivery\t%s\n", maildirOf(root, "{user}@"+a.Domain))
	tw.Flush()
	fmt.Fprintln(w)
}

// printMessages prints a few lines per message: its heading, every
// recipient candidate with where it was found and what became of it, and
// what the server was told.
func printMessages(w io.Writer, r *multidrop.Report, notes map[string]string, verbose bool) {
	subjects := subjectsByUID()
	msgs := slices.SortedFunc(slices.Values(r.Messages), func(x, y multidrop.MessageReport) int {
		return cmp.Compare(x.Number, y.Number)
	})
	fmt.Fprintf(w, "Messages (%d)\n\n", len(msgs))
	fmt.Fprintf(w, "Under each message: every recipient candidate, with the header field and occurrence\n"+
		"it was found in, the stage (envelope: a trusted envelope header; received: the provider's\n"+
		"Received \"for\"; guess: To, Cc and the like), the address, and what became of it.\n\n")
	for _, m := range msgs {
		head := fmt.Sprintf("#%d  uid %s  %q", m.Number, m.UID, subjects[m.UID])
		if m.MessageID != "" {
			head += "  " + m.MessageID
		}
		fmt.Fprintf(w, "%s  (%s)\n", head, size(m.Size))
		if n := notes[m.UID]; n != "" {
			fmt.Fprintf(w, "    %s\n", n)
		}
		steps := m.Resolution.Explanation.Steps
		if len(steps) == 0 && m.MessageID == "" && m.Err == nil {
			fmt.Fprintf(w, "      (not downloaded)\n")
		}
		tw := newTable(w)
		for _, s := range steps {
			c := s.Candidate
			fmt.Fprintf(tw, "      %s #%d\t%s\t%s\t%s\n", c.Field, c.Occurrence, c.Stage, c.Address, decision(s, m))
		}
		tw.Flush()
		if verbose && len(steps) > 0 {
			fmt.Fprintf(w, "    resolution: %s", indent(m.Resolution.Explanation.String(), "    "))
		}
		verb := "kept on the server"
		if m.Action == pop.Delete {
			verb = "deleted from the server"
		}
		fmt.Fprintf(w, "    => %s: %s\n", verb, m.Reason)
		if m.Err != nil {
			fmt.Fprintf(w, "    error: %v\n", m.Err)
		}
		fmt.Fprintln(w)
	}
}

// decision says what became of one candidate: the users it led to and
// their delivery, or why it was not used.
func decision(s resolve.Decision, m multidrop.MessageReport) string {
	switch s.Reason {
	case "":
	case resolve.ReasonDuplicate, resolve.ReasonSuperseded:
		return "not used: " + string(s.Reason)
	default:
		d := "REJECTED: " + string(s.Reason)
		if s.Detail != "" {
			d += " (" + s.Detail + ")"
		}
		return d
	}
	var parts []string
	for _, rcpt := range s.Recipients {
		parts = append(parts, rcpt+" "+delivery(rcpt, m))
	}
	d := "-> " + strings.Join(parts, ", ")
	switch {
	case s.Via != "" && s.Via != resolve.ViaDirectory && s.Detail != "":
		d += " (via " + string(s.Via) + ": " + s.Detail + ")"
	case s.Via != "" && s.Via != resolve.ViaDirectory:
		d += " (via " + string(s.Via) + ")"
	case s.Detail != "":
		d += " (" + s.Detail + ")"
	}
	return d
}

// delivery is the delivery outcome of one recipient of m.
func delivery(rcpt string, m multidrop.MessageReport) string {
	if slices.Contains(m.Already, rcpt) {
		return "already delivered (another copy)"
	}
	for _, r := range m.Results {
		if r.Recipient != rcpt {
			continue
		}
		switch r.Status {
		case deliver.Delivered:
			return "DELIVERED"
		case deliver.Permanent:
			return fmt.Sprintf("REFUSED (%v)", r.Err)
		default:
			return fmt.Sprintf("NOT YET DELIVERED (%v)", r.Err)
		}
	}
	return "not delivered"
}

func printTotals(w io.Writer, r *multidrop.Report) {
	fmt.Fprintf(w, "Check of account %s\n\n", r.Account)
	tw := newTable(w)
	row := func(name string, v any, what string) {
		if what == "" {
			fmt.Fprintf(tw, "  %s\t%v\n", name, v)
			return
		}
		fmt.Fprintf(tw, "  %s\t%v\t%s\n", name, v, what)
	}
	row("listed", r.Listed, "messages in the POP mailbox")
	row("retrieved", r.Retrieved, "downloaded")
	row("skipped", r.Skipped, "left on the server without download")
	row("delivered", r.Delivered, "deliveries, one per message and user")
	row("dropped", r.Dropped, "deleted undelivered by this check (no valid recipient, a policy)")
	row("kept", r.Kept, "downloaded but left on the server")
	row("deleted", r.Deleted, "removed from the server at QUIT")
	row("bytes", r.Bytes, "octets downloaded")
	row("duration", r.Duration.Round(time.Millisecond), "")
	committed := "yes"
	if !r.Committed {
		committed = "no: nothing was deleted"
	}
	row("committed", committed, "")
	tw.Flush()
	fmt.Fprintln(w)
}

func printMaildirs(w io.Writer, root string, files map[string]int, left []poptest.Message) {
	fmt.Fprintf(w, "Maildirs under %s (kept after the demo)\n\n", root)
	tw := newTable(w)
	for _, u := range users {
		fmt.Fprintf(tw, "  %s\t%d\t%s\n", u, files[u], maildirOf(root, u)+"/new")
	}
	tw.Flush()
	if files[postmaster] > 0 {
		fmt.Fprintf(w, "  (%s has multidrop's notice about the oversize message)\n", postmaster)
	}
	subjects := subjectsByUID()
	fmt.Fprintf(w, "\nLeft in the POP mailbox: %d\n", len(left))
	for _, m := range left {
		fmt.Fprintf(w, "  uid %s  %q\n", m.UID, subjects[m.UID])
	}
	fmt.Fprintf(w, "\nRead a delivered message:  cat %s/new/*\n", maildirOf(root, "bob@"+domain))
	fmt.Fprintf(w, "Every resolution step:     go run ./examples/demo -v\n")
}

// subjectsByUID reads the Subject of each sample message.
func subjectsByUID() map[string]string {
	out := map[string]string{}
	for _, s := range mailbox() {
		for line := range strings.SplitSeq(string(s.Data), "\r\n") {
			if line == "" {
				break
			}
			if v, ok := strings.CutPrefix(line, "Subject: "); ok {
				out[s.UID] = v
			}
		}
	}
	return out
}

func indent(s, prefix string) string {
	s = strings.TrimRight(s, "\n")
	return strings.ReplaceAll(s, "\n", "\n"+prefix) + "\n"
}

func size(n int64) string {
	switch {
	case n < 1024:
		return fmt.Sprintf("%d B", n)
	case n%1024 == 0:
		return fmt.Sprintf("%d KiB", n/1024)
	}
	return fmt.Sprintf("%.1f KiB", float64(n)/1024)
}
