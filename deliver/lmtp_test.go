package deliver

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestLMTPPerRecipientReplies(t *testing.T) {
	checkNoLeak(t)
	f := startFake(t, &fakeServer{
		rcpt: func(_ int, to string) error {
			switch {
			case strings.HasPrefix(to, "unknown"):
				return smtpErr(550, smtp.EnhancedCode{5, 1, 1}, "no such user")
			case strings.HasPrefix(to, "busy"):
				return smtpErr(451, smtp.EnhancedCode{4, 3, 0}, "busy")
			}
			return nil
		},
		data: func(to string) error {
			switch {
			case strings.HasPrefix(to, "full"):
				return smtpErr(452, smtp.EnhancedCode{4, 2, 2}, "mailbox full")
			case strings.HasPrefix(to, "reject"):
				return smtpErr(554, smtp.EnhancedCode{5, 7, 1}, "rejected by\x7fpolicy")
			}
			return nil
		},
	}, true, nil)
	l := NewLMTP("tcp", f.Addr, &LMTPOptions{TraceOptions: TraceOptions{LocalHost: "mx", Now: fixedNow}})
	to := []string{"a@x.example", "unknown@x.example", "busy@x.example", "full@x.example", "reject@x.example", "b@x.example"}
	res, err := l.Deliver(t.Context(), Envelope{From: "s@y.example", To: to}, strings.NewReader("S: s\n\nbody\n"))
	require.NoError(t, err)
	assert.Equal(t, []Status{Delivered, Permanent, Temporary, Temporary, Permanent, Delivered}, statuses(res))
	var e *Error
	require.ErrorAs(t, res[4].Err, &e)
	assert.Equal(t, 554, e.Code)
	assert.Equal(t, "5.7.1", e.Enhanced)
	assert.NotContains(t, e.Message, "\x7f", "server text is sanitised")
	msgs := f.received()
	require.Len(t, msgs, 1)
	assert.Equal(t, []string{"a@x.example", "full@x.example", "reject@x.example", "b@x.example"}, msgs[0].to,
		"refused recipients get no data")
	assert.Equal(t, "s@y.example", msgs[0].from)
}

func TestLMTPDropAfterDot(t *testing.T) {
	checkNoLeak(t)
	// The server answers for the first recipient, then the connection goes.
	var logs bytes.Buffer
	f := startFake(t, &fakeServer{closeOnWrite: func(reply string) bool {
		return strings.Contains(reply, "<b@x.example> OK")
	}}, true, nil)
	l := NewLMTP("tcp", f.Addr, &LMTPOptions{Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	res, err := l.Deliver(t.Context(), Envelope{To: []string{"a@x.example", "b@x.example", "c@x.example"}},
		strings.NewReader("S: s\r\n\r\nb\r\n"))
	require.Error(t, err)
	assert.True(t, IsTemporary(err))
	assert.Equal(t, []Status{Delivered, Temporary, Temporary}, statuses(res))
	assert.Contains(t, logs.String(), "rcpt=b@x.example")
	assert.Contains(t, logs.String(), "rcpt=c@x.example")
	assert.Contains(t, logs.String(), "duplicate")
	assert.NotContains(t, logs.String(), "rcpt=a@x.example")
}

func TestLMTPSlowReplyContextTimeout(t *testing.T) {
	checkNoLeak(t)
	f := startFake(t, &fakeServer{dataDelay: time.Second}, true, nil)
	l := NewLMTP("tcp", f.Addr, nil)
	ctx, cancel := context.WithTimeout(t.Context(), 200*time.Millisecond)
	defer cancel()
	res, err := l.Deliver(ctx, Envelope{To: []string{"a@x.example"}}, strings.NewReader("S: s\r\n\r\nb\r\n"))
	require.Error(t, err)
	assert.ErrorIs(t, err, context.DeadlineExceeded)
	assert.Equal(t, []Status{Temporary}, statuses(res))
}

func TestLMTPSlowReplyTimeout(t *testing.T) {
	checkNoLeak(t)
	f := startFake(t, &fakeServer{dataDelay: time.Second}, true, nil)
	l := NewLMTP("tcp", f.Addr, &LMTPOptions{Timeouts: Timeouts{DataTermination: 100 * time.Millisecond}})
	res, err := l.Deliver(t.Context(), Envelope{To: []string{"a@x.example"}}, strings.NewReader("S: s\r\n\r\nb\r\n"))
	require.Error(t, err)
	assert.Equal(t, []Status{Temporary}, statuses(res))
}

func TestLMTPCancelledBeforeConnect(t *testing.T) {
	checkNoLeak(t)
	f := startFake(t, &fakeServer{}, true, nil)
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	res, err := NewLMTP("tcp", f.Addr, nil).Deliver(ctx, Envelope{To: []string{"a@x.example"}}, strings.NewReader("x\r\n"))
	require.ErrorIs(t, err, context.Canceled)
	assert.Equal(t, []Status{Temporary}, statuses(res))
	assert.Empty(t, f.received())
}

func TestLMTPConnectRefused(t *testing.T) {
	f := startFake(t, &fakeServer{}, true, nil)
	addr := f.Addr
	require.NoError(t, f.lis.Close())
	res, err := NewLMTP("tcp", addr, nil).Deliver(t.Context(), Envelope{To: []string{"a@x.example", "bad"}}, strings.NewReader("x\r\n"))
	require.Error(t, err)
	assert.True(t, IsTemporary(err), "a refused connection keeps the mail")
	assert.Equal(t, []Status{Temporary, Permanent}, statuses(res))
}

func TestLMTPNoValidRecipient(t *testing.T) {
	res, err := NewLMTP("tcp", "127.0.0.1:1", nil).Deliver(t.Context(), Envelope{To: []string{"x\r\n@y", "z"}}, strings.NewReader("x\r\n"))
	require.NoError(t, err, "nothing to connect for")
	assert.Equal(t, []Status{Permanent, Permanent}, statuses(res))
}
