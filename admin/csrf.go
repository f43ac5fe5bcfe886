package admin

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"net/http"
	"time"
)

// CSRFHeader is the request header that carries the anti-CSRF token of a
// JSON API request; HTML forms carry it in the field named CSRFField.
const (
	CSRFHeader = "X-CSRF-Token"
	CSRFField  = "csrf"
)

// CSRFTokenLifetime is how long a token is accepted after it was issued.
const CSRFTokenLifetime = 24 * time.Hour

// errCSRF is the answer to a state-changing request without a valid token.
var errCSRF = errors.New("admin: missing, expired or invalid anti-CSRF token; reload the page")

// errCrossOrigin is the answer to a cross-origin state-changing request.
var errCrossOrigin = errors.New("admin: cross-origin request refused")

// csrfKey issues and verifies tokens: a time stamp and a random nonce,
// authenticated with HMAC-SHA-256 under the handler's key. A token proves
// that the request's sender could read a page of this handler, which the
// same-origin policy denies to other sites.
type csrfKey struct{ key []byte }

func newCSRFKey(key []byte) *csrfKey { return &csrfKey{key: append([]byte(nil), key...)} }

const (
	tokenStamp = 8
	tokenNonce = 16
	tokenMAC   = sha256.Size
)

func (k *csrfKey) mac(msg []byte) []byte {
	m := hmac.New(sha256.New, k.key)
	m.Write([]byte("multidrop admin csrf\x00"))
	m.Write(msg)
	return m.Sum(nil)
}

// token returns a new token issued at now.
func (k *csrfKey) token(now time.Time) string {
	b := make([]byte, tokenStamp+tokenNonce, tokenStamp+tokenNonce+tokenMAC)
	binary.BigEndian.PutUint64(b, uint64(now.Unix()))
	_, _ = rand.Read(b[tokenStamp:])
	b = append(b, k.mac(b)...)
	return base64.RawURLEncoding.EncodeToString(b)
}

// valid reports whether tok was issued by this key within the lifetime.
func (k *csrfKey) valid(tok string, now time.Time) bool {
	b, err := base64.RawURLEncoding.DecodeString(tok)
	if err != nil || len(b) != tokenStamp+tokenNonce+tokenMAC {
		return false
	}
	msg, sum := b[:tokenStamp+tokenNonce], b[tokenStamp+tokenNonce:]
	if !hmac.Equal(sum, k.mac(msg)) {
		return false
	}
	issued := time.Unix(int64(binary.BigEndian.Uint64(msg)), 0)
	return !issued.After(now.Add(time.Minute)) && now.Sub(issued) <= CSRFTokenLifetime
}

// requestToken returns the token of r: the header, else the form field.
func (h *Handler) requestToken(r *http.Request) string {
	if t := r.Header.Get(CSRFHeader); t != "" {
		return t
	}
	ct := r.Header.Get("Content-Type")
	if ct == "application/x-www-form-urlencoded" || len(ct) > 33 && ct[:33] == "application/x-www-form-urlencoded" {
		return r.PostFormValue(CSRFField)
	}
	return ""
}

func (h *Handler) denyCrossOrigin(w http.ResponseWriter, r *http.Request) {
	h.opt.Logger.Warn("admin: cross-origin request refused", "method", r.Method, "path", r.URL.Path,
		"origin", r.Header.Get("Origin"), "sec_fetch_site", r.Header.Get("Sec-Fetch-Site"))
	h.fail(w, r, http.StatusForbidden, errCrossOrigin)
}
