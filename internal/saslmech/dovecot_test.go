package saslmech_test

import (
	"bufio"
	"crypto/tls"
	"encoding/base64"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/multidrop/multidrop/internal/dovecottest"
	"github.com/multidrop/multidrop/internal/saslmech"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// authDovecot runs "AUTH" with c over POP3S against the private Dovecot and
// returns the final status line.
func authDovecot(t *testing.T, srv *dovecottest.Server, c sasl.Client) string {
	t.Helper()
	conn, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", srv.POP3S, srv.TLSConfig(t))
	require.NoError(t, err)
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(20 * time.Second))
	r := bufio.NewReader(conn)
	line := func() string {
		l, err := r.ReadString('\n')
		require.NoError(t, err)
		return strings.TrimRight(l, "\r\n")
	}
	send := func(s string) {
		_, err := io.WriteString(conn, s+"\r\n")
		require.NoError(t, err)
	}
	require.True(t, strings.HasPrefix(line(), "+OK"))
	mech, ir, err := c.Start()
	require.NoError(t, err)
	cmd := "AUTH " + mech
	if ir != nil {
		cmd += " " + base64.StdEncoding.EncodeToString(ir)
		if len(ir) == 0 {
			cmd += "="
		}
	}
	send(cmd)
	for {
		reply := line()
		if !strings.HasPrefix(reply, "+ ") && reply != "+" {
			send("QUIT")
			return reply
		}
		ch, err := base64.StdEncoding.DecodeString(strings.TrimSpace(strings.TrimPrefix(reply, "+")))
		require.NoError(t, err)
		resp, err := c.Next(ch)
		if err != nil {
			send("*")
			t.Logf("client: %v", err)
			continue
		}
		send(base64.StdEncoding.EncodeToString(resp))
	}
}

func TestDovecotInterop(t *testing.T) {
	srv := dovecottest.Get(t)
	user := srv.NewUser(t, "sasl")
	tests := []struct {
		name string
		c    sasl.Client
		ok   bool
	}{
		{"CRAM-MD5", saslmech.NewCRAMMD5Client(user, dovecottest.Password), true},
		{"CRAM-MD5 wrong", saslmech.NewCRAMMD5Client(user, "wrong"), false},
		{"SCRAM-SHA-1", saslmech.NewSCRAMClient("SHA-1", user, dovecottest.Password), true},
		{"SCRAM-SHA-256", saslmech.NewSCRAMClient("SHA-256", user, dovecottest.Password), true},
		{"SCRAM-SHA-256 wrong", saslmech.NewSCRAMClient("SHA-256", user, "wrong"), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			reply := authDovecot(t, srv, tt.c)
			if tt.ok {
				assert.True(t, strings.HasPrefix(reply, "+OK"), reply)
			} else {
				assert.True(t, strings.HasPrefix(reply, "-ERR"), reply)
			}
		})
	}
}
