package admin

import (
	"net/url"

	"github.com/multidrop/multidrop/account"
)

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
	if pw := a.ProxyPassword(); pw != "" && pw != account.RedactedSecret {
		return
	}
	oldPW := old.ProxyPassword()
	if proxyUser(old.Proxy) != proxyUser(a.Proxy) {
		oldPW = "" // another user: the old password is not theirs
	}
	a.Proxy = withProxyPassword(a.Proxy, oldPW)
}
