package multidrop_test

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/multidrop/multidrop"
	"github.com/multidrop/multidrop/deliver"
	"github.com/multidrop/multidrop/deliver/delivertest"
	"github.com/multidrop/multidrop/parse"
	"github.com/multidrop/multidrop/pop"
	"github.com/multidrop/multidrop/pop/poptest"
)

// Each message report says what became of the message; Report.Err stays
// nil for a healthy check that kept some; Dropped counts only what this
// check dropped, Retry what it kept for a temporary failure.
func TestMessageOutcomes(t *testing.T) {
	srv := &poptest.Server{}
	srv.AddUser(popUser, popPass,
		poptest.Message{UID: "ok", Data: msg("a", "Message-ID: <ok@x>", "To: alice@example.com")},
		poptest.Message{UID: "copy", Data: msg("a", "Message-ID: <ok@x>", "To: alice@example.com")},
		poptest.Message{UID: "refused", Data: msg("r", "Message-ID: <r@x>", "To: carol@example.com")},
		poptest.Message{UID: "later", Data: msg("l", "Message-ID: <l@x>", "To: bob@example.com")},
		poptest.Message{UID: "nobody", Data: msg("n", "Message-ID: <n@x>", "To: nobody@example.com")},
		poptest.Message{UID: "big", Data: msg("b", "Message-ID: <b@x>", "To: alice@example.com", "X-Pad: "+string(make([]byte, 4096)))},
	)
	e := newEnv(t, srv, nil, func(e *env, o *multidrop.Options) {
		e.dlv.Fail("carol@example.com", delivertest.Fault{Status: deliver.Permanent})
		e.dlv.Fail("bob@example.com", delivertest.Fault{Status: deliver.Temporary})
		o.Spool.MaxMessageSize = 2048
		o.Guard.Min = 10
	})
	r := e.check()
	require.NoError(t, r.Err, "message failures are reported with their message")
	got := map[string]multidrop.MessageReport{}
	for _, m := range r.Messages {
		got[m.UID] = m
	}
	for uid, want := range map[string]struct {
		outcome multidrop.Outcome
		action  pop.Action
		reason  string
	}{
		"ok":      {multidrop.OutcomeDelivered, pop.Delete, "delivered"},
		"copy":    {multidrop.OutcomeDelivered, pop.Delete, "delivered"},
		"refused": {multidrop.OutcomeRefused, pop.Delete, "every recipient refused it permanently"},
		"later":   {multidrop.OutcomeRetry, pop.Keep, "temporary delivery failure; kept for retry"},
		"nobody":  {multidrop.OutcomeDropped, pop.Delete, "no valid recipient; deleted"},
		"big":     {multidrop.OutcomeFailed, pop.Keep, "spool failed"},
	} {
		m, ok := got[uid]
		require.True(t, ok, uid)
		assert.Equal(t, want.outcome, m.Outcome, uid)
		assert.Equal(t, want.action, m.Action, uid)
		assert.Equal(t, want.reason, m.Reason, uid)
	}
	assert.Equal(t, []string{"alice@example.com"}, got["copy"].Already)
	assert.Equal(t, 1, r.Dropped, "only the message without a recipient")
	assert.Equal(t, 2, r.Kept)
	assert.Equal(t, 1, r.Retry)
	require.Len(t, r.Only(multidrop.OutcomeRetry), 1)
	assert.Equal(t, "later", r.Only(multidrop.OutcomeRetry)[0].UID)
	// The error says each package once.
	require.Error(t, got["big"].Err)
	assert.NotContains(t, got["big"].Err.Error(), "spool: spool:")
}

// A message report carries the Subject and From of the message, decoded
// and made safe to show: delivered, dropped and kept messages alike.
func TestReportSubjectFrom(t *testing.T) {
	long := strings.Repeat("x", 500)
	srv := &poptest.Server{}
	srv.AddUser(popUser, popPass,
		poptest.Message{UID: "enc", Data: msg("a", "Message-ID: <e@x>", "To: alice@example.com",
			"From: =?UTF-8?Q?J=C3=B6rg?= <joerg@remote.test>", "Subject: =?UTF-8?B?R3LDvMOfZQ==?=\r\n\tfolded")},
		poptest.Message{UID: "ctl", Data: msg("b", "Message-ID: <c@x>", "To: nobody@example.com",
			"From: x@remote.test", "Subject: bell\x07 "+long)},
		poptest.Message{UID: "none", Data: msg("c", "Message-ID: <n@x>", "To: alice@example.com")},
	)
	e := newEnv(t, srv, nil)
	r := e.check()
	require.NoError(t, r.Err)
	got := map[string]multidrop.MessageReport{}
	for _, m := range r.Messages {
		got[m.UID] = m
	}
	assert.Equal(t, "Grüße folded", got["enc"].Subject)
	assert.Equal(t, "Jörg <joerg@remote.test>", got["enc"].From)
	assert.Equal(t, multidrop.OutcomeDropped, got["ctl"].Outcome)
	assert.Equal(t, "x@remote.test", got["ctl"].From)
	assert.True(t, strings.HasPrefix(got["ctl"].Subject, "bell\uFFFD xxx"), got["ctl"].Subject)
	assert.True(t, strings.HasSuffix(got["ctl"].Subject, "..."))
	assert.Len(t, []rune(got["ctl"].Subject), parse.DefaultTextLength+3)
	assert.Empty(t, got["none"].Subject)
	assert.Empty(t, got["none"].From)
}
