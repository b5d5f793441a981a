package httpapi

import (
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
)

// Limits of a bearer token. The minimum makes a placeholder such as
// "CHANGE-ME" or a word fail at start rather than protect nothing; the
// maximum keeps the header far below DefaultMaxHeaderBytes.
const (
	MinTokenLen = 16
	MaxTokenLen = 4096
)

// openPaths are served without a token: the kubelet's probes and
// Prometheus. /metrics carries counts of the whole population only, no
// user's data. The page (/ and /assets/) is static files without data: it
// asks for the token and sends it with its requests to /v1/stats.
var openPaths = map[string]bool{"/healthz": true, "/readyz": true, "/metrics": true, "/": true}

func isOpen(path string) bool {
	return openPaths[path] || strings.HasPrefix(path, assetsPrefix)
}

// RequireToken wraps h so that every request except those for /healthz,
// /readyz, /metrics and the page's static files (/, /assets/) needs the
// header "Authorization: Bearer <token>".
// Anything else (the /v1/ views, unknown paths) without it, or with another
// token, is answered 401 with a WWW-Authenticate: Bearer challenge. The
// tokens are compared in constant time (of their SHA-256 sums, so the
// comparison does not reveal the token's length either).
func RequireToken(h http.Handler, token string) http.Handler {
	want := sha256.Sum256([]byte(token))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if isOpen(r.URL.Path) {
			h.ServeHTTP(w, r)
			return
		}
		got, ok := bearerToken(r)
		if !ok {
			w.Header().Set("WWW-Authenticate", `Bearer realm="lifecycle"`)
			writeJSON(w, http.StatusUnauthorized, map[string]string{"error": "missing bearer token: send the header Authorization: Bearer <token>"})
			return
		}
		sum := sha256.Sum256([]byte(got))
		if subtle.ConstantTimeCompare(sum[:], want[:]) != 1 {
			w.Header().Set("WWW-Authenticate", `Bearer realm="lifecycle", error="invalid_token"`)
			writeJSON(w, http.StatusUnauthorized, map[string]string{"error": "invalid bearer token"})
			return
		}
		h.ServeHTTP(w, r)
	})
}

// bearerToken returns the token of an "Authorization: Bearer <token>"
// header (the scheme is case-insensitive).
func bearerToken(r *http.Request) (string, bool) {
	scheme, tok, ok := strings.Cut(r.Header.Get("Authorization"), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	tok = strings.TrimSpace(tok)
	return tok, tok != ""
}

// ReadTokenFile reads a bearer token from a file (a mounted secret): the
// whole file, surrounding white space ignored. The errors say what to fix.
func ReadTokenFile(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", fmt.Errorf("cannot read the token file: %v (create it with a random token, for example `openssl rand -hex 32 > %s`, or mount the Secret there and make it readable by this process)", err, path)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, MaxTokenLen+1024))
	if err != nil {
		return "", fmt.Errorf("cannot read the token file %s: %v (it must be a file holding a random token, for example `openssl rand -hex 32 > FILE`)", path, err)
	}
	tok := strings.TrimSpace(string(b))
	if err := CheckToken(tok); err != nil {
		return "", fmt.Errorf("token file %s: %v", path, err)
	}
	return tok, nil
}

// CheckToken reports whether tok can serve as a bearer token.
func CheckToken(tok string) error {
	const how = "for example `openssl rand -hex 32`"
	switch {
	case tok == "":
		return errors.New("the token is empty: write a random token into it, " + how)
	case len(tok) < MinTokenLen:
		return fmt.Errorf("the token has %d characters, want at least %d: use a random token, %s", len(tok), MinTokenLen, how)
	case len(tok) > MaxTokenLen:
		return fmt.Errorf("the token is longer than %d characters: use a shorter random token, %s", MaxTokenLen, how)
	}
	for _, c := range []byte(tok) {
		if c <= ' ' || c > '~' {
			return fmt.Errorf("the token contains a space, control or non-ASCII character, which clients cannot send in an Authorization header: use a random token of letters and digits, %s", how)
		}
	}
	return nil
}
