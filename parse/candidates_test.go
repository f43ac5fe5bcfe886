package parse

import (
	"bufio"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/multidrop/multidrop/account"
)

// hdr reads a header written with "\n" line endings.
func hdr(t testing.TB, s string) *Header {
	t.Helper()
	h, err := ReadHeader(bufio.NewReader(strings.NewReader(strings.ReplaceAll(s, "\n", "\r\n"))), nil)
	require.NoError(t, err)
	return h
}

// got is a compact form of a candidate: stage/field[occurrence]=address.
func got(cs []Candidate) []string {
	out := []string{}
	for _, c := range cs {
		s := string(c.Stage) + "/" + c.Field + "[" + itoa(c.Occurrence) + "]=" + c.Address
		if c.Route != "" {
			s += " route " + c.Route
		}
		out = append(out, s)
	}
	return out
}

func itoa(i int) string {
	if i < 10 {
		return string(rune('0' + i))
	}
	return itoa(i/10) + string(rune('0'+i%10))
}

var local = []string{"example.com"}

func TestCandidatesStages(t *testing.T) {
	tests := []struct {
		name      string
		header    string
		opts      Options
		decided   Stage
		want      []string
		untrusted []string
		unused    []string
		warnings  int
	}{
		{
			name: "postfix x-original-to decides",
			header: `Return-Path: <s@sender.org>
X-Original-To: alice@example.com
Delivered-To: box@provider.net
Received: from mx by mx.provider.net with ESMTP id 1 for <box@provider.net>; Mon
From: s@sender.org
To: alice@example.com, bob@example.com
`,
			decided: StageEnvelope,
			want:    []string{"envelope/X-Original-To[1]=alice@example.com", "envelope/Delivered-To[1]=box@provider.net"},
		},
		{
			name: "forged delivered-to below the provider's trace is untrusted",
			header: `Received: from evil by mx.provider.net; Mon
Delivered-To: admin@example.com
From: evil@evil.com
To: alice@example.com
`,
			decided:   StageGuess,
			want:      []string{"guess/To[1]=alice@example.com"},
			untrusted: []string{"envelope/Delivered-To[1]=admin@example.com"},
		},
		{
			name: "forged delivered-to below a message field is untrusted even without Received",
			header: `From: evil@evil.com
Delivered-To: admin@example.com
To: alice@example.com
`,
			decided:   StageGuess,
			want:      []string{"guess/To[1]=alice@example.com"},
			untrusted: []string{"envelope/Delivered-To[1]=admin@example.com"},
		},
		{
			name: "name:n with skip received trusts the provider's second occurrence",
			header: `Delivered-To: box@provider.net
Received: by internal.provider.net; Mon
Delivered-To: carol@example.com
Received: from x by mx.provider.net for <carol@example.com>; Mon
Delivered-To: forged@example.com
To: someone@else.org
`,
			opts:    Options{Envelope: []EnvelopeHeader{{"Delivered-To", 2}}, SkipReceived: 1},
			decided: StageEnvelope,
			want:    []string{"envelope/Delivered-To[2]=carol@example.com"},
		},
		{
			name: "name:n below the trusted block is untrusted",
			header: `Delivered-To: box@provider.net
Received: from x by mx.provider.net; Mon
Delivered-To: forged@example.com
To: dave@example.com
`,
			opts:      Options{Envelope: []EnvelopeHeader{{"Delivered-To", 2}}},
			decided:   StageGuess,
			want:      []string{"guess/To[1]=dave@example.com"},
			untrusted: []string{"envelope/Delivered-To[2]=forged@example.com"},
		},
		{
			name: "foreign envelope falls through to received",
			header: `Delivered-To: box@provider.net
Received: by mx.provider.net; Mon
Received: from a by mx.provider.net with ESMTP for <erin@example.com>; Mon
To: list@lists.org
`,
			opts:    Options{SkipReceived: 1},
			decided: StageReceived,
			want:    []string{"received/Received[2]=erin@example.com"},
			unused:  []string{"envelope/Delivered-To[1]=box@provider.net"},
		},
		{
			name: "received for inside a comment is ignored",
			header: `Received: from a (for <x@example.com>) by mx.provider.net; Mon
To: frank@example.com
`,
			decided: StageGuess,
			want:    []string{"guess/To[1]=frank@example.com"},
		},
		{
			name: "received with two paths is not used",
			header: `Received: from a by mx.provider.net for <x@example.com> <y@example.com>; Mon
To: grace@example.com
`,
			decided:  StageGuess,
			want:     []string{"guess/To[1]=grace@example.com"},
			warnings: 1,
		},
		{
			name: "received by another host is skipped",
			header: `Received: from a by relay.other.net for <x@example.com>; Mon
Received: from b by mx.provider.net for <heidi@example.com>; Mon
`,
			opts:    Options{ReceivedBy: []string{".provider.net"}},
			decided: StageReceived,
			want:    []string{"received/Received[2]=heidi@example.com"},
		},
		{
			name: "only the topmost qualifying received counts",
			header: `Received: from a by mx.provider.net for <ivan@example.com>; Mon
Received: from b by mx.sender.org for <judy@example.com>; Mon
`,
			decided: StageReceived,
			want:    []string{"received/Received[1]=ivan@example.com"},
		},
		{
			name: "received for after the date is not a clause",
			header: `Received: from a by mx.provider.net; Mon, 1 Jan for <x@example.com>
To: kim@example.com
`,
			decided: StageGuess,
			want:    []string{"guess/To[1]=kim@example.com"},
		},
		{
			name: "resent fields replace to and cc",
			header: `Resent-From: r@example.org
Resent-To: leo@example.com
Resent-Date: Mon
From: s@sender.org
To: mallory@example.com
`,
			decided: StageGuess,
			want:    []string{"guess/Resent-To[1]=leo@example.com"},
		},
		{
			name: "guess reads to cc bcc apparently-to and extra headers",
			header: `To: a@example.com
Cc: "B" <b@example.com>
Bcc: c@example.com
Apparently-To: d@example.com
X-Custom-To: e@example.com
`,
			opts:    Options{ExtraHeaders: []string{"X-Custom-To"}},
			decided: StageGuess,
			want: []string{"guess/To[1]=a@example.com", "guess/Cc[1]=b@example.com", "guess/Bcc[1]=c@example.com",
				"guess/Apparently-To[1]=d@example.com", "guess/X-Custom-To[1]=e@example.com"},
		},
		{
			name:    "subject address",
			header:  "Subject: for you (nina@example.com) and (not an address)\nTo: list@lists.org\n",
			opts:    Options{SubjectAddress: true},
			decided: StageGuess,
			want:    []string{"guess/To[1]=list@lists.org", "guess/Subject[1]=nina@example.com"},
		},
		{
			name:     "malformed field yields nothing, others count",
			header:   "To: \"unterminated <a@example.com>\nCc: oscar@example.com\n",
			decided:  StageGuess,
			want:     []string{"guess/Cc[1]=oscar@example.com"},
			warnings: 1,
		},
		{
			name:    "nothing local: all candidates returned, none decided",
			header:  "Delivered-To: box@provider.net\nTo: x@other.org\n",
			decided: "",
			want:    []string{"envelope/Delivered-To[1]=box@provider.net", "guess/To[1]=x@other.org"},
		},
		{
			name:    "route address is not local",
			header:  "To: <@example.com:evil@evil.com>\n",
			decided: "",
			want:    []string{"guess/To[1]=evil@evil.com route @example.com"},
		},
		{
			name:    "idn domain matches punycode local domain",
			header:  "To: peggy@bücher.example\n",
			opts:    Options{Domains: []string{"xn--bcher-kva.example"}},
			decided: StageGuess,
			want:    []string{"guess/To[1]=peggy@bücher.example"},
		},
		{
			name:    "punycode domain matches unicode local domain",
			header:  "To: peggy@XN--BCHER-KVA.example\n",
			opts:    Options{Domains: []string{"Bücher.example"}},
			decided: StageGuess,
			want:    []string{"guess/To[1]=peggy@XN--BCHER-KVA.example"},
		},
		{
			name:    "a look-alike domain is not local",
			header:  "Delivered-To: peggy@bucher.example\nTo: x@xn--bcher-kva.example\n",
			opts:    Options{Domains: []string{"xn--bcher-kva.example"}},
			decided: StageGuess,
			want:    []string{"guess/To[1]=x@xn--bcher-kva.example"},
			unused:  []string{"envelope/Delivered-To[1]=peggy@bucher.example"},
		},
		{
			name:    "uppercase domain is local",
			header:  "To: Quinn@EXAMPLE.COM\n",
			decided: StageGuess,
			want:    []string{"guess/To[1]=Quinn@EXAMPLE.COM"},
		},
		{
			name:    "empty header",
			header:  "",
			decided: "",
			want:    []string{},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := tt.opts
			if o.Domains == nil {
				o.Domains = local
			}
			r, err := Candidates(hdr(t, tt.header), &o)
			require.NoError(t, err)
			assert.Equal(t, tt.decided, r.Decided)
			assert.Equal(t, tt.want, got(r.Candidates))
			if tt.untrusted == nil {
				tt.untrusted = []string{}
			}
			assert.Equal(t, tt.untrusted, got(r.Untrusted))
			if tt.unused == nil {
				tt.unused = []string{}
			}
			assert.Equal(t, tt.unused, got(r.Unused))
			assert.Len(t, r.Warnings, tt.warnings, "%v", r.Warnings)
		})
	}
}

func TestOptionsFrom(t *testing.T) {
	o, err := OptionsFrom(account.Parsing{
		Mode:            account.ModeUnion,
		EnvelopeHeaders: []string{"Delivered-To:2", "X-Envelope-To"},
		NoReceived:      true,
		SkipReceived:    1,
		ReceivedBy:      []string{"mx.provider.net"},
		ExtraHeaders:    []string{"X-To"},
		SubjectAddress:  true,
	}, "example.com", "", "example.org")
	require.NoError(t, err)
	assert.Equal(t, &Options{
		Mode:           account.ModeUnion,
		Stages:         []Stage{StageEnvelope, StageGuess},
		Envelope:       []EnvelopeHeader{{"Delivered-To", 2}, {"X-Envelope-To", 1}},
		SkipReceived:   1,
		ReceivedBy:     []string{"mx.provider.net"},
		ExtraHeaders:   []string{"X-To"},
		SubjectAddress: true,
		Domains:        []string{"example.com", "example.org"},
	}, o)

	for _, bad := range []account.Parsing{
		{Mode: "sometimes"},
		{EnvelopeHeaders: []string{"Delivered-To:0"}},
		{EnvelopeHeaders: []string{"Bad Name"}},
		{EnvelopeHeaders: []string{"Delivered-To:x"}},
		{ExtraHeaders: []string{"A:B"}},
		{SkipReceived: -1},
		{Mode: account.ModeEnvelopeOnly, NoEnvelope: true},
	} {
		_, err := OptionsFrom(bad)
		assert.Error(t, err, "%+v", bad)
	}
}
