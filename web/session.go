package web

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Sessions are stateless, so that any replica can serve any request: the
// cookie holds an expiry and a random id, signed with a key derived from
// HERALD_SECRET_KEY and bound to the admin token's hash (changing the token
// signs everybody out). The CSRF token of a session is derived from its id.

const (
	sessionCookie = "herald_session"
	sessionTTL    = 12 * time.Hour
	csrfField     = "csrf"
)

// session is a signed-in console session.
type session struct {
	id      string
	expires time.Time
}

func (c *Console) mac(parts ...string) []byte {
	m := hmac.New(sha256.New, c.key)
	m.Write(c.tokenHash[:])
	for _, p := range parts {
		m.Write([]byte{0})
		m.Write([]byte(p))
	}
	return m.Sum(nil)
}

// newSession signs a new session and sets its cookie.
func (c *Console) newSession(w http.ResponseWriter, r *http.Request) {
	raw := make([]byte, 16)
	_, _ = rand.Read(raw)
	id := base64.RawURLEncoding.EncodeToString(raw)
	expires := c.now().Add(sessionTTL)
	value := strconv.FormatInt(expires.Unix(), 10) + "." + id
	value += "." + base64.RawURLEncoding.EncodeToString(c.mac("session", value))
	http.SetCookie(w, &http.Cookie{
		Name: sessionCookie, Value: value, Path: "/", Expires: expires,
		HttpOnly: true, SameSite: http.SameSiteStrictMode, Secure: isTLS(r),
	})
}

// clearSession removes the session cookie.
func clearSession(w http.ResponseWriter, r *http.Request) {
	http.SetCookie(w, &http.Cookie{
		Name: sessionCookie, Value: "", Path: "/", MaxAge: -1,
		HttpOnly: true, SameSite: http.SameSiteStrictMode, Secure: isTLS(r),
	})
}

// sessionOf returns the request's valid session, or false.
func (c *Console) sessionOf(r *http.Request) (session, bool) {
	ck, err := r.Cookie(sessionCookie)
	if err != nil {
		return session{}, false
	}
	i := strings.LastIndexByte(ck.Value, '.')
	if i < 0 {
		return session{}, false
	}
	value, sig := ck.Value[:i], ck.Value[i+1:]
	got, err := base64.RawURLEncoding.DecodeString(sig)
	if err != nil || !hmac.Equal(got, c.mac("session", value)) {
		return session{}, false
	}
	exp, id, ok := strings.Cut(value, ".")
	if !ok {
		return session{}, false
	}
	secs, err := strconv.ParseInt(exp, 10, 64)
	if err != nil || c.now().Unix() >= secs {
		return session{}, false
	}
	return session{id: id, expires: time.Unix(secs, 0)}, true
}

// csrfToken is the token every form of the session carries.
func (c *Console) csrfToken(s session) string {
	return base64.RawURLEncoding.EncodeToString(c.mac("csrf", s.id))
}

// validCSRF checks a form's token against the session's.
func (c *Console) validCSRF(s session, token string) bool {
	want := c.csrfToken(s)
	return subtle.ConstantTimeCompare([]byte(token), []byte(want)) == 1
}

// checkToken reports whether token is the admin API token.
func (c *Console) checkToken(token string) bool {
	got := sha256.Sum256([]byte(strings.TrimSpace(token)))
	return subtle.ConstantTimeCompare(got[:], c.tokenHash[:]) == 1
}

func isTLS(r *http.Request) bool {
	return r.TLS != nil || strings.EqualFold(r.Header.Get("X-Forwarded-Proto"), "https")
}
