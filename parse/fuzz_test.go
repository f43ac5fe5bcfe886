package parse

import (
	"bufio"
	"bytes"
	"errors"
	"net/mail"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/multidrop/multidrop/account"
)

// checkAddress asserts the properties every parsed address has: it comes
// from the input (each label of its domain appears there), it is valid
// UTF-8 without control characters, and its canonical form parses back to
// itself.
func checkAddress(t *testing.T, in string, addr, local, domain string) {
	t.Helper()
	if !utf8.ValidString(addr) {
		t.Fatalf("invalid UTF-8 address %q", addr)
	}
	for i := 0; i < len(addr); i++ {
		if c := addr[i]; c < ' ' && c != '\t' || c == 0x7f {
			t.Fatalf("control character in address %q", addr)
		}
	}
	if strings.Contains(addr, "=?") {
		t.Fatalf("encoded-word in address %q", addr)
	}
	at := strings.LastIndexByte(addr, '@')
	if at < 1 || addr[at+1:] != domain {
		t.Fatalf("address %q does not end in @%q", addr, domain)
	}
	for _, label := range strings.Split(strings.Trim(domain, "[]"), ".") {
		if !strings.Contains(in, label) {
			t.Fatalf("domain label %q of %q not in the input", label, addr)
		}
	}
	a, err := Mailbox(addr)
	if err != nil {
		t.Fatalf("canonical %q does not parse: %v", addr, err)
	}
	if a.Address != addr || a.Local != local || a.Domain != domain {
		t.Fatalf("canonical %q parses to %+v, want local %q domain %q", addr, a, local, domain)
	}
}

func FuzzAddressList(f *testing.F) {
	for _, s := range []string{
		"alice@example.com", `"a@example.com"@evil.com`, "a(@example.com)@evil.com",
		"<@example.com:evil@evil.com>", "=?utf-8?q?a@example.com?= <x@evil.com>",
		"undisclosed-recipients:;", "g: a@b.c, d@e.f;", "x@[192.0.2.1]", "jörg@bücher.example",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		as, err := AddressList(in)
		if err != nil {
			var se *SyntaxError
			var le *LimitError
			if !errors.As(err, &se) && !errors.As(err, &le) {
				t.Fatalf("untyped error %T %v", err, err)
			}
		}
		for _, a := range as {
			checkAddress(t, in, a.Address, a.Local, a.Domain)
			if !utf8.ValidString(a.Name) {
				t.Fatalf("invalid UTF-8 name %q", a.Name)
			}
		}
		// What net/mail accepts we accept too, with the same addresses,
		// except where we are deliberately stricter: encoded-words, '@'
		// or white space in domain literals, line breaks.
		want, nerr := mail.ParseAddressList(in)
		if nerr != nil || strings.ContainsAny(in, "[\r\n") || strings.Contains(in, "=?") {
			return
		}
		if err != nil {
			t.Fatalf("net/mail accepts %q, we reject it: %v", in, err)
		}
		if len(as) != len(want) {
			t.Fatalf("%q: %d addresses, net/mail %d", in, len(as), len(want))
		}
		for i := range as {
			if as[i].Local+"@"+as[i].Domain != want[i].Address {
				t.Fatalf("%q: %q, net/mail %q", in, as[i].Local+"@"+as[i].Domain, want[i].Address)
			}
		}
	})
}

func FuzzCandidates(f *testing.F) {
	for _, s := range []string{
		"Delivered-To: alice@example.com\r\nReceived: from a by b for <c@example.com>; x\r\nTo: d@example.com\r\n\r\nbody",
		"Return-Path: <>\nResent-To: r@example.com\nTo: t@example.com\nSubject: (s@example.com)\n\n",
		"From x\n (\nTo: \"a@example.com\"@evil.com, a(@example.com)@evil.com\n",
	} {
		f.Add([]byte(s))
	}
	lim := Limits{MaxHeaderBytes: 64 << 10, MaxFields: 200, MaxLineLength: 8 << 10, MaxAddressesPerField: 100, MaxAddresses: 300}
	f.Fuzz(func(t *testing.T, data []byte) {
		br := bufio.NewReader(bytes.NewReader(data))
		h, err := ReadHeader(br, &lim)
		if err != nil {
			var le *LimitError
			if !errors.As(err, &le) {
				t.Fatalf("ReadHeader: untyped error %T %v", err, err)
			}
		}
		in := string(data)
		for _, mode := range []account.Mode{account.ModeChain, account.ModeUnion, account.ModeEnvelopeOnly} {
			r, err := Candidates(h, &Options{
				Mode: mode, Domains: []string{"example.com"}, SubjectAddress: true,
				ExtraHeaders: []string{"X-To"}, Limits: lim,
			})
			if err != nil {
				var le *LimitError
				if !errors.As(err, &le) {
					t.Fatalf("Candidates: untyped error %T %v", err, err)
				}
			}
			all := append(append(append([]Candidate(nil), r.Candidates...), r.Unused...), r.Untrusted...)
			if len(all) > lim.MaxAddresses {
				t.Fatalf("%d candidates over the cap of %d", len(all), lim.MaxAddresses)
			}
			for _, c := range all {
				checkAddress(t, in, c.Address, c.Local, c.Domain)
				if c.Field == "" || c.Occurrence < 1 || c.Stage == "" {
					t.Fatalf("candidate without provenance: %+v", c)
				}
			}
		}
	})
}
