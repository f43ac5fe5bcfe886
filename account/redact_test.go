package account_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"reflect"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/multidrop/multidrop/account"
)

// SecretFields are the Go paths of the string fields of Account that hold
// secrets; every other string field is shown by Redacted.
var secretFields = map[string]bool{
	"Auth.Secret":   true,
	"TLS.ClientKey": true,
	"Proxy":         true, // its userinfo password (the user name is shown)
}

// fillMarkers sets every string reachable in v (struct fields, slice
// elements, map keys and values) to a marker naming its path, and returns
// the markers by path.
func fillMarkers(v reflect.Value, path string, out map[string]string) {
	switch v.Kind() {
	case reflect.String:
		m := "MARK-" + strings.NewReplacer(".", "-", "[", "-", "]", "").Replace(path) + "-END"
		v.SetString(m)
		out[path] = m
	case reflect.Struct:
		for i := range v.NumField() {
			f := v.Type().Field(i)
			if !f.IsExported() {
				continue
			}
			p := f.Name
			if path != "" {
				p = path + "." + f.Name
			}
			fillMarkers(v.Field(i), p, out)
		}
	case reflect.Slice:
		s := reflect.MakeSlice(v.Type(), 1, 1)
		fillMarkers(s.Index(0), path+"[0]", out)
		v.Set(s)
	case reflect.Map:
		m := reflect.MakeMap(v.Type())
		k := reflect.New(v.Type().Key()).Elem()
		fillMarkers(k, path+"[key]", out)
		e := reflect.New(v.Type().Elem()).Elem()
		fillMarkers(e, path+"[elem]", out)
		m.SetMapIndex(k, e)
		v.Set(m)
	case reflect.Pointer:
		p := reflect.New(v.Type().Elem())
		fillMarkers(p.Elem(), path, out)
		v.Set(p)
	}
}

func TestRedactedCoversEveryField(t *testing.T) {
	var a account.Account
	markers := map[string]string{}
	fillMarkers(reflect.ValueOf(&a).Elem(), "", markers)
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
