package parse

import (
	"bufio"
	"bytes"
	"net/mail"
	"strings"
	"testing"

	"github.com/multidrop/multidrop/account"
)

// benchHeaders are realistic headers of messages as they sit in a domain
// mailbox, with a short body.
var benchHeaders = map[string]string{
	"postfix": `Return-Path: <newsletter-bounces@shop.example>
X-Original-To: alice@example.com
Delivered-To: domainbox@provider.example
Received: from mx1.shop.example (mx1.shop.example [198.51.100.7])
	(using TLSv1.3 with cipher TLS_AES_256_GCM_SHA384 (256/256 bits))
	(No client certificate requested)
	by mx.provider.example (Postfix) with ESMTPS id 4VxQ1c2kLzz9sT
	for <alice@example.com>; Mon,  3 Jun 2024 10:00:00 +0200 (CEST)
DKIM-Signature: v=1; a=rsa-sha256; c=relaxed/relaxed; d=shop.example; s=s1;
	t=1717401600; bh=47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=;
	h=From:To:Subject:Date:Message-ID;
	b=Qm9ndXMgc2lnbmF0dXJlIGZvciBiZW5jaG1hcmtpbmcgb25seSwgbm90IHZhbGlkLg==
From: "Shop News" <news@shop.example>
To: Alice Example <alice@example.com>, bob@example.com
Cc: "Smith, Carol" <carol@example.com>
Subject: =?utf-8?q?Gro=C3=9Fer_Sommerschlussverkauf?=
Date: Mon, 3 Jun 2024 08:00:00 +0000
Message-ID: <20240603080000.12345@shop.example>
MIME-Version: 1.0
Content-Type: multipart/alternative; boundary="b1"
List-Unsubscribe: <mailto:unsub@shop.example>

--b1
`,
	"gmail-forward": `Delivered-To: domainbox@gmail.example
Received: by 2002:a05:6a10:1234:b0:5a1:2b3c:4d5e with SMTP id abc123csp1234567pxb;
        Mon, 3 Jun 2024 01:00:01 -0700 (PDT)
X-Google-Smtp-Source: AGHT+IFakeSourceValueForBenchmarking0123456789abcdef
X-Received: by 2002:a17:906:1234:b0:a6f:1234:5678 with SMTP id a1-20020a170906123400b00a6f12345678mr1234567ejb.12.1717401601234;
        Mon, 03 Jun 2024 01:00:01 -0700 (PDT)
ARC-Seal: i=1; a=rsa-sha256; t=1717401601; cv=none; d=google.com; s=arc-20160816;
        b=FakeArcSealValueForBenchmarkingOnly0123456789abcdefghijklmnopqrstuvwxyz
ARC-Message-Signature: i=1; a=rsa-sha256; c=relaxed/relaxed; d=google.com; s=arc-20160816;
        h=to:subject:message-id:date:from:mime-version:dkim-signature;
        bh=FakeBodyHash=; b=FakeSignature0123456789abcdefghijklmnopqrstuvwxyz
ARC-Authentication-Results: i=1; mx.google.com;
       dkim=pass header.i=@sender.example header.s=s1 header.b=abc;
       spf=pass (google.com: domain of bob@sender.example designates 192.0.2.1 as permitted sender) smtp.mailfrom=bob@sender.example
Return-Path: <bob@sender.example>
Received: from mail.sender.example (mail.sender.example. [192.0.2.1])
        by mx.google.com with ESMTPS id a1si1234567ejb.123.2024.06.03.01.00.01
        for <dave@example.com>
        (version=TLS1_3 cipher=TLS_AES_256_GCM_SHA384 bits=256/256);
        Mon, 03 Jun 2024 01:00:01 -0700 (PDT)
Received-SPF: pass (google.com: domain of bob@sender.example designates 192.0.2.1 as permitted sender) client-ip=192.0.2.1;
Authentication-Results: mx.google.com;
       dkim=pass header.i=@sender.example header.s=s1 header.b=abc;
       spf=pass smtp.mailfrom=bob@sender.example
X-Forwarded-To: domainbox@gmail.example
X-Forwarded-For: dave@example.com domainbox@gmail.example
From: Bob Sender <bob@sender.example>
To: dave@example.com
Cc: erin@example.com, frank@other.example, "Grace Hopper" <grace@example.com>
Subject: Re: meeting
Date: Mon, 3 Jun 2024 10:00:00 +0200
Message-ID: <CAFakeMessageId0123456789@mail.sender.example>
In-Reply-To: <earlier@example.com>
References: <first@example.com> <earlier@example.com>
MIME-Version: 1.0
Content-Type: text/plain; charset="UTF-8"

Hi.
`,
	"cpanel-exim": `Return-path: <owner-list@lists.example>
Envelope-to: heidi@example.com
Delivery-date: Mon, 03 Jun 2024 10:00:02 +0200
Received: from lists.example ([203.0.113.5]:40000)
	by server.cpanel.example with esmtps  (TLS1.3) tls TLS_AES_256_GCM_SHA384
	(Exim 4.96.2)
	(envelope-from <owner-list@lists.example>)
	id 1sE0aa-0001AB-2c
	for heidi@example.com;
	Mon, 03 Jun 2024 10:00:02 +0200
Received: from author.example by lists.example with ESMTP id 77; Mon, 03 Jun 2024 09:59:00 +0200
From: Ivan Author <ivan@author.example>
To: discuss@lists.example
Subject: [discuss] release plan
Date: Mon, 3 Jun 2024 09:58:00 +0200
Message-ID: <release-plan@author.example>
List-Id: Discussion <discuss.lists.example>
Precedence: list
Sender: owner-list@lists.example
MIME-Version: 1.0
Content-Type: text/plain

Plan.
`,
	"no-envelope-guess": `Received: from relay.example by pop.provider.example; Mon, 3 Jun 2024 10:00:00 +0000
From: Judy <judy@partner.example>
To: "Team" <team@example.com>, kim@example.com, leo@example.com,
 mallory@partner.example, "Nina N." <nina@example.com>
Cc: undisclosed-recipients:;
Subject: hello
Message-ID: <hello@partner.example>
Date: Mon, 3 Jun 2024 09:00:00 +0000

Hello.
`,
}

func benchInputs() (names []string, msgs [][]byte) {
	for _, n := range []string{"postfix", "gmail-forward", "cpanel-exim", "no-envelope-guess"} {
		names = append(names, n)
		msgs = append(msgs, []byte(strings.ReplaceAll(benchHeaders[n], "\n", "\r\n")))
	}
	return names, msgs
}

// BenchmarkCandidates measures ReadHeader + Candidates per message, next
// to the baseline net/mail.ReadMessage + AddressList(To) and (Cc) on
// the same input.
func BenchmarkCandidates(b *testing.B) {
	names, msgs := benchInputs()
	opts := &Options{Domains: []string{"example.com"}}
	for i, name := range names {
		msg := msgs[i]
		b.Run(name+"/parse", func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(msg)))
			br := bufio.NewReader(nil)
			for b.Loop() {
				br.Reset(bytes.NewReader(msg))
				h, err := ReadHeader(br, nil)
				if err != nil {
					b.Fatal(err)
				}
				r, err := Candidates(h, opts)
				if err != nil || len(r.Candidates) == 0 {
					b.Fatal(err, r)
				}
			}
		})
		b.Run(name+"/netmail", func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(msg)))
			for b.Loop() {
				m, err := mail.ReadMessage(bytes.NewReader(msg))
				if err != nil {
					b.Fatal(err)
				}
				_, _ = mail.ParseAddressList(m.Header.Get("To"))
				_, _ = mail.ParseAddressList(m.Header.Get("Cc"))
			}
		})
	}
	b.Run("union-all/parse", func(b *testing.B) {
		b.ReportAllocs()
		br := bufio.NewReader(nil)
		uopts := &Options{Mode: account.ModeUnion, Domains: []string{"example.com"}}
		for b.Loop() {
			for _, msg := range msgs {
				br.Reset(bytes.NewReader(msg))
				h, _ := ReadHeader(br, nil)
				if _, err := Candidates(h, uopts); err != nil {
					b.Fatal(err)
				}
			}
		}
	})
}
