package parse

import (
	"bufio"
	"errors"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/multidrop/multidrop/account"
)

const copyHeader = `Return-Path: <bounce@sender.org>
Delivered-To: alice@example.com
Received: from mx.sender.org by mx.provider.net with ESMTP id 1 for <alice@example.com>; Mon
Delivered-To: list@lists.org
Received: from a by lists.org; Mon
Message-ID: <m1@sender.org>
From: Sender <s@sender.org>
To: alice@example.com, bob@example.com
Cc: carol@example.com, alice@example.com
`

func TestModes(t *testing.T) {
	h := hdr(t, copyHeader)
	tests := []struct {
		mode      account.Mode
		decided   Stage
		want      []string
		untrusted []string
		missing   bool
	}{
		{account.ModeChain, StageEnvelope, []string{"envelope/Delivered-To[1]=alice@example.com"}, []string{}, false},
		{account.ModeEnvelopeOnly, StageEnvelope, []string{"envelope/Delivered-To[1]=alice@example.com"}, []string{}, false},
		{account.ModeUnion, "", []string{
			"envelope/Delivered-To[1]=alice@example.com",
			"received/Received[1]=alice@example.com",
			"guess/To[1]=alice@example.com", "guess/To[1]=bob@example.com",
			"guess/Cc[1]=carol@example.com", "guess/Cc[1]=alice@example.com",
		}, []string{"envelope/Delivered-To[2]=list@lists.org"}, false},
	}
	for _, tt := range tests {
		t.Run(string(tt.mode), func(t *testing.T) {
			r, err := Candidates(h, &Options{Mode: tt.mode, Domains: local})
			require.NoError(t, err)
			assert.Equal(t, tt.mode, r.Mode)
			assert.Equal(t, tt.decided, r.Decided)
			assert.Equal(t, tt.want, got(r.Candidates))
			assert.Equal(t, tt.untrusted, got(r.Untrusted))
			assert.Equal(t, tt.missing, r.MissingEnvelope)
		})
	}

	// Envelope-only with no envelope header: reported, nothing guessed.
	r, err := Candidates(hdr(t, "Received: from a by mx.provider.net for <x@example.com>; Mon\nTo: x@example.com\n"), &Options{Mode: account.ModeEnvelopeOnly, Domains: local})
	require.NoError(t, err)
	assert.True(t, r.MissingEnvelope)
	assert.Empty(t, r.Candidates)
	assert.Equal(t, Stage(""), r.Decided)

	// Envelope-only with a forged one only: still missing.
	r, err = Candidates(hdr(t, "Received: from a by mx.provider.net; Mon\nDelivered-To: x@example.com\n"), &Options{Mode: account.ModeEnvelopeOnly, Domains: local})
	require.NoError(t, err)
	assert.True(t, r.MissingEnvelope)
	assert.Equal(t, []string{"envelope/Delivered-To[1]=x@example.com"}, got(r.Untrusted))

	_, err = Candidates(h, &Options{Mode: "sometimes"})
	assert.Error(t, err)
	_, err = Candidates(h, &Options{Stages: []Stage{"magic"}})
	assert.Error(t, err)
	_, err = Candidates(h, &Options{Stages: []Stage{StageGuess, StageGuess}})
	assert.Error(t, err)

	// A nil header is an empty one; an empty stage list finds nothing.
	r, err = Candidates(nil, nil)
	require.NoError(t, err)
	assert.Empty(t, r.Candidates)
	r, err = Candidates(h, &Options{Stages: []Stage{}})
	require.NoError(t, err)
	assert.Empty(t, r.Candidates)
	assert.Equal(t, "<m1@sender.org>", r.MessageID)
}

func TestChainLocalFunc(t *testing.T) {
	h := hdr(t, "Delivered-To: box@provider.net\nTo: a@example.com\n")
	var asked []string
	r, err := Candidates(h, &Options{Local: func(d string) bool {
		asked = append(asked, d)
		return d == "example.com"
	}})
	require.NoError(t, err)
	assert.Equal(t, StageGuess, r.Decided)
	assert.Equal(t, []string{"provider.net", "example.com"}, asked)

	// Without domains every candidate is local: the first stage decides.
	r, err = Candidates(h, nil)
	require.NoError(t, err)
	assert.Equal(t, StageEnvelope, r.Decided)
	assert.Equal(t, account.ModeChain, r.Mode)
}

func TestResultFacts(t *testing.T) {
	tests := []struct {
		name        string
		header      string
		opts        Options
		msgID       string
		sender      string
		senderField string
		received    int
		listID      string
		precedence  string
	}{
		{
			name:        "return-path",
			header:      copyHeader + "List-Id: The List <list.lists.org>\nPrecedence: bulk\n",
			msgID:       "<m1@sender.org>",
			sender:      "bounce@sender.org",
			senderField: "Return-Path",
			received:    2,
			listID:      "The List <list.lists.org>",
			precedence:  "bulk",
		},
		{
			name:        "null sender",
			header:      "Return-Path: < >\nFrom: MAILER-DAEMON@x.org\nMessage-ID: (c) <a@b> \n",
			msgID:       "<a@b>",
			senderField: "Return-Path",
		},
		{
			name:        "from fallback",
			header:      "From: A <a@x.org>, b@x.org\nMessage-ID: no-brackets\n",
			msgID:       "no-brackets",
			sender:      "a@x.org",
			senderField: "From",
		},
		{
			name:        "sender before from",
			header:      "From: a@x.org\nSender: s@x.org\n",
			sender:      "s@x.org",
			senderField: "Sender",
		},
		{
			name:   "no fallback",
			header: "From: a@x.org\n",
			opts:   Options{NoSenderFallback: true},
		},
		{
			name:        "custom fallback",
			header:      "From: a@x.org\nX-Sender: xs@x.org\n",
			opts:        Options{SenderFields: []string{"X-Sender"}},
			sender:      "xs@x.org",
			senderField: "X-Sender",
		},
		{
			name:   "control characters and invalid UTF-8 are not passed on",
			header: "Message-ID: <a\x00b@x>\nList-Id: \xff\nPrecedence: bulk\x01\n",
		},
		{
			name:   "malformed from gives no sender",
			header: "From: a@x.org, bad@@x.org\n",
		},
		{
			name:        "malformed return-path falls back",
			header:      "Return-Path: <broken\nFrom: a@x.org\n",
			sender:      "a@x.org",
			senderField: "From",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := Candidates(hdr(t, tt.header), &tt.opts)
			require.NoError(t, err)
			assert.Equal(t, tt.msgID, r.MessageID)
			assert.Equal(t, tt.sender, r.Sender)
			assert.Equal(t, tt.senderField, r.SenderField)
			assert.Equal(t, tt.received, r.Received)
			assert.Equal(t, tt.listID, r.ListID)
			assert.Equal(t, tt.precedence, r.Precedence)
		})
	}
}

func TestLoops(t *testing.T) {
	h := hdr(t, `Delivered-To: box@provider.net
Received: from x by mx.provider.net; Mon
X-Multidrop-Loop: gw1.example.com
Delivered-To: alice@example.com
Received: from y by mail.example.com with LMTP; Mon
To: alice@example.com, bob@example.com
`)
	r, err := Candidates(h, &Options{Domains: local, LoopID: "gw1.example.com"})
	require.NoError(t, err)
	assert.Equal(t, StageGuess, r.Decided)
	assert.Equal(t, []Loop{
		{Kind: LoopStamp, Field: account.LoopField, Occurrence: 1, Value: "gw1.example.com"},
		{Kind: LoopDelivered, Field: "Delivered-To", Occurrence: 2, Address: "alice@example.com"},
	}, r.Loops)

	// Another installation's stamp is not ours.
	r, err = Candidates(h, &Options{Domains: local, LoopID: "gw2.example.com"})
	require.NoError(t, err)
	require.Len(t, r.Loops, 1)
	assert.Equal(t, LoopDelivered, r.Loops[0].Kind)

	// A second Delivered-To inside the provider's block is the provider's,
	// not a loop.
	r, err = Candidates(hdr(t, "Delivered-To: box@provider.net\nDelivered-To: alice@example.com\nReceived: x\nTo: alice@example.com\n"), &Options{Domains: local})
	require.NoError(t, err)
	assert.Equal(t, StageGuess, r.Decided)
	assert.Empty(t, r.Loops)

	// The trusted envelope header itself is not a loop.
	r, err = Candidates(hdr(t, "Delivered-To: alice@example.com\nReceived: x\nTo: alice@example.com\n"), &Options{Domains: local})
	require.NoError(t, err)
	assert.Empty(t, r.Loops)
}

func TestWarnings(t *testing.T) {
	h := hdr(t, "From nobody Mon\nTo: ok@example.com\nCc: bad@@example.com\nBcc:\nDelivered-To: =?utf-8?q?x?=@example.com\n")
	r, err := Candidates(h, &Options{Domains: local})
	require.NoError(t, err)
	var ws []string
	for _, w := range r.Warnings {
		ws = append(ws, w.String())
	}
	require.Len(t, ws, 4, "%q", ws)
	assert.Contains(t, ws[0], "line 1:")
	assert.Contains(t, ws[1], "Delivered-To[1]: parse: malformed address")
	assert.Contains(t, ws[2], "Cc[1]: parse: malformed address")
	assert.Contains(t, ws[3], "Bcc[1]: parse: empty field")
	var se *SyntaxError
	assert.True(t, errors.As(r.Warnings[1].Err, &se))
	assert.Equal(t, []string{"guess/To[1]=ok@example.com"}, got(r.Candidates))
}

func TestAddressLimits(t *testing.T) {
	// A 100,000-address To line: the field stops at its cap, the result is
	// usable, the error says which limit.
	h := NewHeader(Field{"To", strings.Repeat("u@example.com, ", 100000)})
	r, err := Candidates(h, &Options{Domains: local})
	var le *LimitError
	require.True(t, errors.As(err, &le), "%v", err)
	assert.Equal(t, LimitAddressesPerField, le.What)
	assert.Len(t, r.Candidates, DefaultMaxAddressesPerField)
	require.NotEmpty(t, r.Warnings)
	assert.Equal(t, "To", r.Warnings[0].Field)

	// The per-message cap counts across fields.
	h = hdr(t, "To: a@example.com, b@example.com\nCc: c@example.com, d@example.com\nBcc: e@example.com\n")
	r, err = Candidates(h, &Options{Domains: local, Limits: Limits{MaxAddresses: 3}})
	require.True(t, errors.As(err, &le), "%v", err)
	assert.Equal(t, LimitAddresses, le.What)
	assert.Equal(t, 3, le.Limit)
	assert.Equal(t, []string{"guess/To[1]=a@example.com", "guess/To[1]=b@example.com", "guess/Cc[1]=c@example.com"}, got(r.Candidates))
}

// TestCandidatesPathological runs every mode over headers built to make a
// careless implementation quadratic (in fields, occurrences or comment
// depth). As in TestAddressListLinear, the test timeout is the bound.
func TestCandidatesPathological(t *testing.T) {
	n := DefaultMaxFields - 1
	headers := map[string]string{
		"received": strings.Repeat("Received: from a (c (d (e))) by b for <x@example.com>; now\n", n),
		"delivered-to": "Received: x\n" + strings.Repeat("Delivered-To: x@example.com\n", n/2) +
			"To: " + strings.Repeat("x@example.com,", 1000) + "\n",
		"loop stamps": strings.Repeat(account.LoopField+": gw\n", n),
		"resent":      strings.Repeat("Resent-To: r@example.com\nX: y\n", n/2),
		"comments":    "To: " + strings.Repeat("(", 500000) + strings.Repeat(")", 500000) + "a@example.com\n",
	}
	for name, s := range headers {
		t.Run(name, func(t *testing.T) {
			h, err := ReadHeader(bufio.NewReader(strings.NewReader(s)), &Limits{MaxLineLength: -1})
			require.NoError(t, err)
			for _, m := range []account.Mode{account.ModeChain, account.ModeUnion, account.ModeEnvelopeOnly} {
				_, err := Candidates(h, &Options{Mode: m, Domains: local, Envelope: []EnvelopeHeader{{"Delivered-To", 1}, {"X-Original-To", 1}}})
				if err != nil {
					var le *LimitError
					require.True(t, errors.As(err, &le), "%v", err)
				}
			}
		})
	}
}
