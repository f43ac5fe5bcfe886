package admin

import (
	"net/url"

	"github.com/multidrop/multidrop/account"
)

// redact is [account.Account.Redacted] plus the password of the proxy
// URL, which the page and the API treat as a secret like Auth.Secret.
func redact(a account.Account) account.Account {
	r := a.Redacted()
	if pw, ok := proxyPassword(a.Proxy); ok && pw != "" && pw != account.RedactedSecret {
		r.Proxy = withProxyPassword(a.Proxy, account.RedactedSecret)
	}
	return r
}

// proxyPassword returns the password of a proxy URL; ok is false when the
// URL does not parse or has no user.
func proxyPassword(proxy string) (string, bool) {
	if proxy == "" {
		return "", false
	}
	u, err := url.Parse(proxy)
	if err != nil || u.User == nil {
		return "", false
	}
	pw, _ := u.User.Password()
	return pw, true
}

// proxyUser returns the user of a proxy URL, or "".
func proxyUser(proxy string) string {
	u, err := url.Parse(proxy)
	if err != nil || u.User == nil {
		return ""
	}
	return u.User.Username()
}

// withProxyPassword returns proxy with its password set to pw ("" removes
// it); a URL that does not parse or has no user is returned as it is.
func withProxyPassword(proxy, pw string) string {
	u, err := url.Parse(proxy)
	if err != nil || u.User == nil {
		return proxy
	}
	if pw == "" {
		u.User = url.User(u.User.Username())
	} else {
		u.User = url.UserPassword(u.User.Username(), pw)
	}
	return u.String()
}

// keepProxyPassword carries the stored proxy password of old into a when a
// names the same proxy user without a password or with the redaction
// marker: the password is write-only, like Auth.Secret.
func keepProxyPassword(a *account.Account, old account.Account) {
	pw, ok := proxyPassword(a.Proxy)
	if !ok || (pw != "" && pw != account.RedactedSecret) {
		return
	}
	oldPW, _ := proxyPassword(old.Proxy)
	if proxyUser(old.Proxy) != proxyUser(a.Proxy) {
		oldPW = "" // another user: the old password is not theirs
	}
	a.Proxy = withProxyPassword(a.Proxy, oldPW)
}
