package main

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"net/http"
	"strings"

	"github.com/multidrop/multidrop"
	"github.com/multidrop/multidrop/admin"
)

// adminHandler returns the Remote POP Accounts page over the daemon's
// store. Its checks go to whichever Pipeline is current, so a reload does
// not invalidate the page (or its anti-CSRF tokens).
func (d *Daemon) adminHandler() (http.Handler, error) {
	h, err := admin.New(&admin.Options{
		Store:   d.store,
		Checker: checker{d},
		Logger:  d.log,
	})
	if err != nil {
		return nil, err
	}
	return h, nil
}

// checker is an admin.Checker over the daemon's current Pipeline.
type checker struct{ d *Daemon }

var _ admin.Checker = checker{}

func (c checker) Check(ctx context.Context, id string) (*multidrop.Report, error) {
	p, _ := c.d.Pipeline()
	return p.Check(ctx, id)
}

func (c checker) LastReport(id string) *multidrop.Report {
	return c.d.lastReport(id)
}

// lastReport returns the account's last report from the current Pipeline,
// or from the ones a reload replaced.
func (d *Daemon) lastReport(id string) *multidrop.Report {
	d.mu.Lock()
	ps := append([]*multidrop.Pipeline{d.p}, d.retired...)
	d.mu.Unlock()
	for _, p := range ps {
		if r := p.LastReport(id); r != nil {
			return r
		}
	}
	return nil
}

// requireAuth serves h only to requests with the configured credentials:
// HTTP basic authentication with admin.user and admin.password (plain
// text or a bcrypt hash), or
// "Authorization: Bearer" with admin.token. Comparisons take constant time.
func requireAuth(c AdminConfig, h http.Handler) http.Handler {
	digest := func(s string) [32]byte { return sha256.Sum256([]byte(s)) }
	user, token := digest(c.User), digest(c.Token)
	pass := newPasswordChecker(c.Password)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if c.Token != "" {
			if t, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer "); ok {
				got := digest(strings.TrimSpace(t))
				if subtle.ConstantTimeCompare(got[:], token[:]) == 1 {
					h.ServeHTTP(w, r)
					return
				}
			}
		}
		if c.Password != "" {
			if u, p, ok := r.BasicAuth(); ok {
				gu := digest(u)
				okUser := subtle.ConstantTimeCompare(gu[:], user[:]) == 1
				// The password is checked even for a wrong user, so the
				// time does not tell which was wrong.
				okPass := pass.Match(p)
				if okUser && okPass {
					h.ServeHTTP(w, r)
					return
				}
			}
			w.Header().Set("WWW-Authenticate", `Basic realm="multidrop admin", charset="UTF-8"`)
		} else {
			w.Header().Set("WWW-Authenticate", `Bearer realm="multidrop admin"`)
		}
		http.Error(w, "authentication required", http.StatusUnauthorized)
	})
}
