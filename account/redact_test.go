package account_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/multidrop/multidrop/account"
	"github.com/multidrop/multidrop/account/accounttest"
)

// secretFields are the paths of the secret string fields of Account
// (accounttest.SecretFields) and the proxy URL, whose password is its
// secret (the user name is shown).
var secretFields = func() map[string]bool {
	m := map[string]bool{"Proxy": true}
	for _, f := range accounttest.SecretFields {
		m[f] = true
	}
	return m
}()

func TestRedactedCoversEveryField(t *testing.T) {
	var a account.Account
	markers := accounttest.FillMarkers(&a)
	require.Contains(t, markers, "Auth.Secret")
	require.Contains(t, markers, "Resolving.Rules[0].Users[0]", "the walk reaches nested fields")
	for p := range secretFields {
		require.Contains(t, markers, p, "secret field %s no longer exists", p)
	}
	// The proxy's secret is the password inside its URL.
	markers["Proxy"] = "MARK-Proxy-password-END"
	markers["Proxy.User"] = "MARK-Proxy-user-END"
	a.Proxy = "socks5://" + markers["Proxy.User"] + ":" + markers["Proxy"] + "@proxy.example:1080"
	orig := fmt.Sprintf("%#v", accountRaw(a))
	r := a.Redacted()

	var buf bytes.Buffer
	data, err := json.Marshal(r)
	require.NoError(t, err)
	buf.Write(data)
	for _, verb := range []string{"%v", "%+v", "%#v", "%s"} {
		fmt.Fprintf(&buf, verb+"\n", a)
		fmt.Fprintf(&buf, verb+"\n", &a)
		fmt.Fprintf(&buf, verb+"\n", r)
	}
	fmt.Fprintf(&buf, "%#v\n", accountRaw(r))
	slog.New(slog.NewJSONHandler(&buf, nil)).Info("x", "account", a, "auth", a.Auth, "tls", a.TLS)
	slog.New(slog.NewTextHandler(&buf, nil)).Info("x", "account", a, "auth", a.Auth, "tls", a.TLS)
	out := buf.String()
	raw := fmt.Sprintf("%#v", accountRaw(r))
	for p, m := range markers {
		if secretFields[p] {
			assert.NotContains(t, out, m, "secret %s leaks", p)
		} else {
			assert.Contains(t, raw, m, "Redacted drops the non-secret %s", p)
		}
	}
	assert.Equal(t, orig, fmt.Sprintf("%#v", accountRaw(a)), "Redacted does not change the original")
	assert.Equal(t, "socks5://MARK-Proxy-user-END:%5Bredacted%5D@proxy.example:1080", r.Proxy)
	assert.Equal(t, "MARK-Proxy-password-END", a.ProxyPassword())
}

type accountRaw account.Account

func TestRedactProxy(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"", ""},
		{"socks5://proxy.example:1080", "socks5://proxy.example:1080"},
		{"socks5://user@proxy.example:1080", "socks5://user@proxy.example:1080"},
		{"socks5://user:pa%40ss@proxy.example:1080", "socks5://user:%5Bredacted%5D@proxy.example:1080"},
		{"socks5://:pw@proxy.example:1080", "socks5://:%5Bredacted%5D@proxy.example:1080"},
		{"user:pw@proxy.example:1080", account.RedactedSecret},  // no scheme: parsed as opaque
		{"socks5://us er:p w@bad host", account.RedactedSecret}, // does not parse
	} {
		assert.Equal(t, tc.want, account.RedactProxy(tc.in), tc.in)
	}
	assert.Equal(t, "pa@ss", account.Account{Proxy: "socks5://user:pa%40ss@proxy.example:1080"}.ProxyPassword())
	assert.Empty(t, account.Account{Proxy: "socks5://proxy.example:1080"}.ProxyPassword())
}
