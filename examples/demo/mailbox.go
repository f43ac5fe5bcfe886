package main

import (
	"fmt"
	"strings"

	"github.com/multidrop/multidrop/pop/poptest"
)

// The sample domain, its POP mailbox at the provider and its users.
const (
	domain     = "example.com"
	popUser    = "example.com"
	popPass    = "demo-secret"
	postmaster = "postmaster@example.com"

	// maxMessageSize is the account's size limit: the one large sample
	// message is over it.
	maxMessageSize = 32 << 10
)

// users are the valid users of example.com; alias expands to several.
var (
	users = []string{"alice@example.com", "bob@example.com", "carol@example.com", "dave@example.com", postmaster}
	alias = map[string][]string{"sales@example.com": {"alice", "bob"}}
)

// sample is one message of the demo mailbox and what it shows.
type sample struct {
	UID  string
	Note string // printed under the message's heading
	Data []byte
}

// The provider's trace fields, written when it accepted each message.
const (
	recvPartner = "Received: from mail.example.net (mail.example.net [192.0.2.25])\r\n" +
		"\tby mx1.provider.example (Postfix) with ESMTPS id 4ZxK1Q;\r\n" +
		"\tTue, 24 Nov 2026 09:14:03 +0000 (UTC)"
	recvList = "Received: from lists.example.org (lists.example.org [198.51.100.7])\r\n" +
		"\tby mx2.provider.example (Postfix) with ESMTPS id 7PqR2T;\r\n" +
		"\tTue, 24 Nov 2026 10:02:41 +0000 (UTC)"
	recvSpam = "Received: from unknown (HELO win.example) ([203.0.113.66])\r\n" +
		"\tby mx1.provider.example (Postfix) with SMTP id 2AbC3D;\r\n" +
		"\tTue, 24 Nov 2026 11:30:12 +0000 (UTC)"
)

// mailbox returns the sample mailbox: what a provider's multidrop mailbox
// for example.com typically holds after a morning. Messages are built fresh
// on each call.
func mailbox() []sample {
	planning := func(rcpt string) []byte {
		return message([]string{
			"Return-Path: <grace@example.net>",
			"X-Original-To: " + rcpt,
			"Delivered-To: " + rcpt,
			recvPartner,
			"From: Grace Hopper <grace@example.net>",
			"To: Alice Liddell <alice@example.com>",
			"Cc: bob@example.com",
			"Subject: Quarterly planning",
			"Date: Tue, 24 Nov 2026 09:14:00 +0000",
			"Message-ID: <q4-planning.7731@example.net>",
		}, "Agenda attached. Alice, Bob: see you Thursday.")
	}
	lunch := message([]string{
		"Return-Path: <erin@example.net>",
		recvPartner,
		"From: Erin <erin@example.net>",
		"To: Carol <carol@example.com>",
		"Cc: bob@example.com, Frank <frank@example.net>",
		"Subject: Lunch on Friday?",
		"Date: Tue, 24 Nov 2026 09:20:00 +0000",
		"Message-ID: <lunch.20261124@example.net>",
	}, "The usual place at noon?")

	return []sample{
		{"u01", "one copy per envelope recipient: this is Alice's (Delivered-To)", planning("alice@example.com")},
		{"u02", "the same message, Bob's copy: the envelope header decides, not To/Cc", planning("bob@example.com")},
		{"u03", "the same message again: Dave was Bcc, named only in the envelope header", planning("dave@example.com")},
		{"u04", "no envelope header: the recipients are guessed from To and Cc", lunch},
		{"u05", "an identical second copy (same Message-ID): nobody gets it twice", lunch},
		{"u06", "mailing list: To is the list, Delivered-To names the local subscriber", message([]string{
			"Return-Path: <golang-nuts+bounces@lists.example.org>",
			"X-Original-To: bob@example.com",
			"Delivered-To: bob@example.com",
			recvList,
			"From: Rob <rob@example.org>",
			"To: golang-nuts@lists.example.org",
			"Subject: [golang-nuts] iterators and generics",
			"Date: Tue, 24 Nov 2026 10:02:30 +0000",
			"Message-ID: <CAGo1234.iter@example.org>",
			"List-Id: Go Nuts <golang-nuts.lists.example.org>",
			"Precedence: list",
		}, "range-over-func questions inside.")},
		{"u07", "an alias: sales@ expands to Alice and Bob", message([]string{
			"Return-Path: <orders@shop.example.net>",
			"X-Original-To: sales@example.com",
			"Delivered-To: sales@example.com",
			recvPartner,
			"From: Webshop <orders@shop.example.net>",
			"To: sales@example.com",
			"Subject: Order #4711",
			"Date: Tue, 24 Nov 2026 10:15:00 +0000",
			"Message-ID: <order-4711@shop.example.net>",
		}, "2 x USB-C cable")},
		{"u08", "no envelope header, To hides the recipients: the provider's Received \"for\" names carol+invoices", message([]string{
			"Return-Path: <billing@example.net>",
			"Received: from mail.example.net (mail.example.net [192.0.2.25])\r\n" +
				"\tby mx1.provider.example (Postfix) with ESMTPS id 9TuV4W\r\n" +
				"\tfor <carol+invoices@example.com>; Tue, 24 Nov 2026 10:40:00 +0000 (UTC)",
			"From: Billing <billing@example.net>",
			"To: undisclosed-recipients:;",
			"Subject: Invoice 2026-118",
			"Date: Tue, 24 Nov 2026 10:39:58 +0000",
			"Message-ID: <inv-2026-118@example.net>",
		}, "Amount due: 120.00 EUR")},
		{"u09", "spam for another domain only: no local recipient, deleted", message([]string{
			"Return-Path: <promo@win.example>",
			recvSpam,
			"From: Prize Office <promo@win.example>",
			"To: winner@example.org",
			"Subject: You have won!",
			"Date: Tue, 24 Nov 2026 11:30:00 +0000",
			"Message-ID: <prize-99@win.example>",
		}, "Claim now.")},
		{"u10", "a user example.com does not have: rejected, deleted", message([]string{
			"Return-Path: <applicant@example.net>",
			recvPartner,
			"From: Applicant <applicant@example.net>",
			"To: Jobs <jobs@example.com>",
			"Subject: Application: senior Go engineer",
			"Date: Tue, 24 Nov 2026 11:45:00 +0000",
			"Message-ID: <cv-2026@example.net>",
		}, "Please find my CV attached.")},
		{"u11", "over the account's 32 KiB limit: left on the server, the postmaster is told", large()},
	}
}

// large is a message with a 48 KiB attachment.
func large() []byte {
	var b strings.Builder
	b.WriteString("--b1\r\nContent-Type: text/plain\r\n\r\nPhotos of the new office.\r\n" +
		"--b1\r\nContent-Type: image/jpeg\r\nContent-Transfer-Encoding: base64\r\n\r\n")
	line := strings.Repeat("/9j/4AAQSkZJRgABAQEASABIAAD", 3)[:76]
	for b.Len() < 48<<10 {
		b.WriteString(line)
		b.WriteString("\r\n")
	}
	b.WriteString("--b1--")
	return message([]string{
		"Return-Path: <grace@example.net>",
		"X-Original-To: carol@example.com",
		"Delivered-To: carol@example.com",
		recvPartner,
		"From: Grace Hopper <grace@example.net>",
		"To: carol@example.com",
		"Subject: Site photos",
		"Date: Tue, 24 Nov 2026 12:00:00 +0000",
		"Message-ID: <photos.1@example.net>",
		"MIME-Version: 1.0",
		`Content-Type: multipart/mixed; boundary="b1"`,
	}, b.String())
}

// message joins header fields and a body with CRLF line endings.
func message(header []string, body string) []byte {
	return fmt.Appendf(nil, "%s\r\n\r\n%s\r\n", strings.Join(header, "\r\n"), body)
}

// popMessages converts the samples for poptest.
func popMessages(s []sample) []poptest.Message {
	out := make([]poptest.Message, len(s))
	for i, m := range s {
		out[i] = poptest.Message{UID: m.UID, Data: m.Data}
	}
	return out
}
