package parse_test

import (
	"bufio"
	"fmt"
	"io"
	"strings"

	"github.com/multidrop/multidrop/account"
	"github.com/multidrop/multidrop/parse"
)

func ExampleReadHeader() {
	msg := "Delivered-To: alice@example.com\r\n" +
		"Subject: a folded\r\n subject\r\n" +
		"\r\n" +
		"Hello.\r\n"
	r := bufio.NewReader(strings.NewReader(msg))
	h, err := parse.ReadHeader(r, nil)
	if err != nil {
		fmt.Println(err)
		return
	}
	body, _ := io.ReadAll(r)
	fmt.Printf("%d fields, Subject %q\n", h.Len(), h.Get("subject"))
	fmt.Printf("body %q\n", body)
	// Output:
	// 2 fields, Subject "a folded subject"
	// body "Hello.\r\n"
}

func ExampleCandidates() {
	// One copy of a message for alice, as Postfix delivered it into the
	// domain mailbox; the sender forged a Delivered-To of their own.
	msg := "Return-Path: <news@shop.example>\r\n" +
		"X-Original-To: alice@example.com\r\n" +
		"Received: from mail.shop.example by mx.provider.example with ESMTPS id 4Xy for <domainbox@provider.example>; Mon, 3 Jun 2024 10:00:00 +0000\r\n" +
		"Delivered-To: postmaster@example.com\r\n" +
		"From: Shop <news@shop.example>\r\n" +
		"To: alice@example.com, bob@example.com\r\n" +
		"Message-ID: <123@shop.example>\r\n" +
		"\r\n"
	h, _ := parse.ReadHeader(bufio.NewReader(strings.NewReader(msg)), nil)
	res, err := parse.Candidates(h, &parse.Options{Domains: []string{"example.com"}})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("decided by", res.Decided, "in", res.Mode, "mode")
	for _, c := range res.Candidates {
		fmt.Printf("candidate %s from %s[%d]\n", c.Address, c.Field, c.Occurrence)
	}
	for _, c := range res.Untrusted {
		fmt.Printf("untrusted %s from %s[%d]\n", c.Address, c.Field, c.Occurrence)
	}
	fmt.Println("sender", res.Sender, "message-id", res.MessageID)
	// Output:
	// decided by envelope in chain mode
	// candidate alice@example.com from X-Original-To[1]
	// untrusted postmaster@example.com from Delivered-To[1]
	// sender news@shop.example message-id <123@shop.example>
}

func ExampleAddressList() {
	for _, in := range []string{
		`"a@example.com"@evil.com`,
		`a(@example.com)@evil.com`,
		`<@example.com:evil@evil.com>`,
		`=?utf-8?q?a@example.com?= <x@evil.com>`,
		`=?utf-8?q?x?=@example.com`,
		`team: Jörg <j@example.com>, k@example.com;`,
	} {
		as, err := parse.AddressList(in)
		if err != nil {
			fmt.Printf("%s: %v\n", in, err)
			continue
		}
		for _, a := range as {
			fmt.Printf("%s: address %s domain %s name %q route %q\n", in, a.Address, a.Domain, a.Name, a.Route)
		}
	}
	// Output:
	// "a@example.com"@evil.com: address "a@example.com"@evil.com domain evil.com name "" route ""
	// a(@example.com)@evil.com: address a@evil.com domain evil.com name "" route ""
	// <@example.com:evil@evil.com>: address evil@evil.com domain evil.com name "" route "@example.com"
	// =?utf-8?q?a@example.com?= <x@evil.com>: address x@evil.com domain evil.com name "a@example.com" route ""
	// =?utf-8?q?x?=@example.com: parse: malformed address at offset 0: encoded-word inside an addr-spec
	// team: Jörg <j@example.com>, k@example.com;: address j@example.com domain example.com name "Jörg" route ""
	// team: Jörg <j@example.com>, k@example.com;: address k@example.com domain example.com name "" route ""
}

func ExampleOptionsFrom() {
	a := account.Account{
		Domain: "example.com",
		Parsing: account.Parsing{
			Mode:            account.ModeEnvelopeOnly,
			EnvelopeHeaders: []string{"Delivered-To:2"},
			SkipReceived:    1,
		},
	}
	opts, err := parse.OptionsFrom(a.Parsing, append([]string{a.Domain}, a.ExtraDomains...)...)
	if err != nil {
		fmt.Println(err)
		return
	}
	h := parse.NewHeader(
		parse.Field{Name: "Delivered-To", Value: "domainbox@provider.example"},
		parse.Field{Name: "Received", Value: "by internal.provider.example; Mon, 3 Jun 2024 10:00:01 +0000"},
		parse.Field{Name: "Delivered-To", Value: "carol@example.com"},
		parse.Field{Name: "Received", Value: "from x by mx.provider.example; Mon, 3 Jun 2024 10:00:00 +0000"},
	)
	res, _ := parse.Candidates(h, opts)
	fmt.Println(res.Decided, res.Candidates[0].Address, res.MissingEnvelope)
	// Output:
	// envelope carol@example.com false
}
