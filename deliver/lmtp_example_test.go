package deliver_test

import (
	"context"
	"fmt"
	"io"
	"log"
	"os"
	"strings"
	"time"

	"github.com/multidrop/multidrop/deliver"
)

// Deliver to Dovecot's LMTP socket, whose user names carry no domain.
func ExampleLMTP() {
	lmtp := deliver.NewLMTP("unix", "/run/dovecot/lmtp", &deliver.LMTPOptions{
		TraceOptions: deliver.TraceOptions{
			LocalHost: "mx.example.com",
			Hygiene:   deliver.Hygiene{Action: deliver.RemoveEnvelopeFields},
		},
		RcptTo: func(rcpt string) string { return strings.Split(rcpt, "@")[0] },
	})
	msg, err := os.Open("message.eml")
	if err != nil {
		log.Fatal(err)
	}
	defer msg.Close()
	env := deliver.Envelope{
		From:  "sender@example.org",
		To:    []string{"alice@example.com", "bob@example.com"},
		Trace: deliver.Trace{Host: "pop.provider.net", Key: "UID4711"},
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	res, err := lmtp.Deliver(ctx, env, msg)
	if err != nil {
		log.Print(err) // the results say which recipients it left temporary
	}
	for _, r := range res {
		switch r.Status {
		case deliver.Delivered:
			fmt.Println(r.Recipient, "delivered")
		case deliver.Permanent:
			fmt.Println(r.Recipient, "refused:", r.Err)
		default:
			fmt.Println(r.Recipient, "try again later:", r.Err)
		}
	}
}

// The trace fields prepended for one recipient of a message fetched from a
// POP server.
func ExampleTraceOptions_Prelude() {
	opts := &deliver.TraceOptions{
		LocalHost:   "mx.example.com",
		DeliveredTo: true,
		Now:         func() time.Time { return time.Date(2024, 3, 5, 7, 8, 9, 0, time.UTC) },
	}
	env := deliver.Envelope{
		From:  "sender@example.org",
		To:    []string{"alice@example.com"},
		Trace: deliver.Trace{Host: "pop.provider.net", Key: "UID4711"},
	}
	pre, err := opts.Prelude(env, env.To)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Print(strings.ReplaceAll(string(pre), "\r\n", "\n"))
	// Output:
	// Delivered-To: alice@example.com
	// Received: from pop.provider.net by mx.example.com with POP3 id UID4711
	// 	for <alice@example.com>; Tue, 05 Mar 2024 07:08:09 +0000
}

// Rename the provider's envelope fields before re-injection, so that the
// next MTA does not take its own Delivered-To for a loop.
func ExampleHygiene_Reader() {
	msg := "Delivered-To: domain@provider.net\r\nSubject: hi\r\n\r\nDelivered-To: in the body stays\r\n"
	h := &deliver.Hygiene{Action: deliver.RenameEnvelopeFields}
	var b strings.Builder
	if _, err := io.Copy(&b, h.Reader(strings.NewReader(msg))); err != nil {
		log.Fatal(err)
	}
	fmt.Print(strings.ReplaceAll(b.String(), "\r\n", "\n"))
	// Output:
	// X-Original-Delivered-To: domain@provider.net
	// Subject: hi
	//
	// Delivered-To: in the body stays
}
