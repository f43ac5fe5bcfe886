// Command demo shows multidrop at work with no set-up and no network:
//
//	go run ./examples/demo
//
// A provider drops all mail for a whole domain, example.com, into one POP3
// mailbox, and the SMTP envelope — who each message was really for — is
// gone. The demo starts an in-process POP3 server (package pop/poptest,
// implicit TLS with a throw-away CA) holding a realistic morning of such
// mail: one copy per envelope recipient with Delivered-To and
// X-Original-To, a Bcc recipient named only in the envelope header, mail
// with only To and Cc, a mailing-list message, an alias, a plus-address
// found in the provider's Received "for" clause, spam for another domain,
// a message for a user the domain does not have, two identical copies of
// one message, and a message over the account's size limit.
//
// It then runs one check of the account with a [multidrop.Pipeline]: a
// static directory of users (package resolve) decides who is local, and
// package deliver writes each message into the Maildir of every recipient
// under -out (a fresh temporary directory by default, which is kept). The
// output shows, per message, every recipient candidate with the header
// field, occurrence and stage it came from, what became of it, and whether
// the message was deleted from the server or kept there; then the check's
// totals and the Maildirs.
//
// Flags:
//
//	-out DIR   deliver into DIR instead of a new temporary directory
//	-v         also print each message's full resolution explanation
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"time"
)

func main() {
	var cfg config
	flag.StringVar(&cfg.Out, "out", "", "deliver into Maildirs under `DIR` (default: a new temporary directory)")
	flag.BoolVar(&cfg.Verbose, "v", false, "print each message's full resolution explanation")
	flag.Parse()
	if flag.NArg() > 0 {
		flag.Usage()
		os.Exit(2)
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	if _, err := run(ctx, os.Stdout, cfg); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
