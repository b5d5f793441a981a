package httpapi

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/lifecycle-engine/lifecycle/processor/rules"
	"github.com/lifecycle-engine/lifecycle/state/record"
)

// patience bounds every wait of these tests for something the server must
// do (answer, close a connection). The server's own timeouts in the tests
// are far shorter; hitting this one is a failure, not slowness.
const patience = 5 * time.Second

func testSource() *fakeSource {
	u := rules.User{Stage: rules.Growing, Since: 1_767_225_600_000, FirstSeen: 1_767_225_600_000, LastActivity: 1_767_225_600_000,
		LastPurchase: 1_767_225_600_000, Purchases: 1, Spend: 19_990_000}
	return &fakeSource{ready: true, users: map[string]record.User{"u-1": {User: u}}}
}

// serve runs Handler(src) on a loopback port with cfg and returns its address.
func serve(t *testing.T, cfg ServerConfig) string {
	t.Helper()
	srv, err := Listen("127.0.0.1:0", Handler(testSource()), cfg)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- srv.Serve() }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), patience)
		defer cancel()
		srv.Shutdown(ctx)
		if err := <-done; err != nil {
			t.Errorf("Serve after Shutdown: %v, want nil", err)
		}
	})
	return srv.Addr().String()
}

// conn is one raw client connection, for keeping connections open and
// sending malformed requests, which http.Client does not do.
type conn struct {
	net.Conn
	r *bufio.Reader
}

func dial(t *testing.T, addr string) *conn {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return &conn{c, bufio.NewReader(c)}
}

// send writes a keep-alive GET request for path.
func (c *conn) send(t *testing.T, path string, header ...string) {
	t.Helper()
	req := "GET " + path + " HTTP/1.1\r\nHost: test\r\n"
	for _, h := range header {
		req += h + "\r\n"
	}
	if _, err := io.WriteString(c, req+"\r\n"); err != nil {
		t.Fatal(err)
	}
}

// response reads one response, waiting at most wait.
func (c *conn) response(wait time.Duration) (*http.Response, string, error) {
	c.SetReadDeadline(time.Now().Add(wait))
	resp, err := http.ReadResponse(c.r, nil)
	if err != nil {
		return nil, "", err
	}
	b, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	return resp, string(b), err
}

func (c *conn) get(t *testing.T, path string, header ...string) (int, string) {
	t.Helper()
	c.send(t, path, header...)
	resp, body, err := c.response(patience)
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	return resp.StatusCode, body
}

// ended reports whether the server closed the connection (EOF or a reset)
// within patience, reading and discarding whatever it sent first.
func (c *conn) ended(t *testing.T) bool {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(patience))
	_, err := io.Copy(io.Discard, c.r)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return false
	}
	return true // io.Copy returns nil at EOF; a reset is an end too
}

func TestMaxConnsHoldsFurtherConnections(t *testing.T) {
	// Idle keep-alive connections hold their slots (IdleTimeout is long).
	addr := serve(t, ServerConfig{MaxConns: 2, IdleTimeout: time.Minute})
	held := []*conn{dial(t, addr), dial(t, addr)}
	for i, c := range held {
		if status, _ := c.get(t, "/healthz"); status != 200 {
			t.Fatalf("held connection %d: /healthz %d, want 200", i, status)
		}
	}
	// A third connection is not accepted (so not answered) while both are
	// open. This can only pass wrongly on a very slow machine, never fail
	// wrongly: an accepted connection is answered in microseconds.
	extra := dial(t, addr)
	extra.send(t, "/healthz")
	if resp, _, err := extra.response(300 * time.Millisecond); err == nil {
		t.Fatalf("connection beyond --http-max-conns 2: answered %s, want it left unaccepted while 2 are open", resp.Status)
	}
	// One held connection closes: the waiting one is accepted and answered.
	held[0].Close()
	resp, _, err := extra.response(patience)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("waiting connection after a slot was freed: %v %v, want 200", resp, err)
	}
	// The other held connection still works: the cap drops nobody.
	if status, _ := held[1].get(t, "/healthz"); status != 200 {
		t.Errorf("held connection after the cap was reached: %d, want 200", status)
	}
}

func TestIdleTimeoutFreesSlots(t *testing.T) {
	addr := serve(t, ServerConfig{MaxConns: 1, IdleTimeout: 100 * time.Millisecond})
	idle := dial(t, addr)
	if status, _ := idle.get(t, "/healthz"); status != 200 {
		t.Fatalf("/healthz %d, want 200", status)
	}
	// The connection the client keeps open is closed by the server...
	if !idle.ended(t) {
		t.Fatalf("idle keep-alive connection still open after %v with IdleTimeout 100ms, want it closed", patience)
	}
	// ...and its slot serves the next client.
	if status, _ := dial(t, addr).get(t, "/healthz"); status != 200 {
		t.Errorf("next connection: %d, want 200", status)
	}
}

func TestSlowRequestsAreCutOff(t *testing.T) {
	// Write and idle timeouts are long, so only the read timeouts can end
	// these connections.
	cfg := ServerConfig{ReadHeaderTimeout: 100 * time.Millisecond, ReadTimeout: 200 * time.Millisecond,
		WriteTimeout: time.Minute, IdleTimeout: time.Minute}
	addr := serve(t, cfg)
	for _, tc := range []struct{ name, request string }{
		// The server answers a GET only after discarding the unread body:
		// without ReadTimeout it waits for the 100 kB for ever.
		{"a request announcing a body and sending none", "GET /healthz HTTP/1.1\r\nHost: test\r\nContent-Length: 100000\r\n\r\n"},
		{"a POST announcing a body and sending part", "POST /v1/stats HTTP/1.1\r\nHost: test\r\nContent-Length: 100000\r\n\r\nsome"},
		{"headers never finished", "GET /healthz HTTP/1.1\r\nHost: test\r\n"},
		{"nothing sent", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := dial(t, addr)
			if _, err := io.WriteString(c, tc.request); err != nil {
				t.Fatal(err)
			}
			if !c.ended(t) {
				t.Errorf("connection still open after %v (ReadTimeout 200ms), want it closed by the server", patience)
			}
		})
	}
	// A normal request on the same server is unaffected.
	if status, _ := dial(t, addr).get(t, "/v1/stats"); status != 200 {
		t.Errorf("/v1/stats: %d, want 200", status)
	}
}

func TestMaxHeaderBytes(t *testing.T) {
	addr := serve(t, ServerConfig{MaxHeaderBytes: 1 << 10})
	status, _ := dial(t, addr).get(t, "/healthz", "X-Pad: "+strings.Repeat("a", 16<<10))
	if status != http.StatusRequestHeaderFieldsTooLarge {
		t.Errorf("16 KiB header with MaxHeaderBytes 1 KiB: %d, want 431", status)
	}
}

const testToken = "0123456789abcdef0123456789abcdef"

func TestRequireToken(t *testing.T) {
	h := RequireToken(Handler(testSource()), testToken)
	for _, tc := range []struct {
		path, auth string
		wantStatus int
		wantBody   string
	}{
		// The probes and Prometheus need no token.
		{"/healthz", "", 200, `"ok"`},
		{"/readyz", "", 200, `"ready"`},
		{"/metrics", "", 200, "lifecycle_events_applied_total 10"},
		{"/metrics", "Bearer wrong-token-wrong-token", 200, "lifecycle_ready 1"},
		// Everything else does.
		{"/v1/users/u-1", "", 401, "missing bearer token"},
		{"/v1/users/nobody", "", 401, "missing bearer token"},
		{"/v1/stats", "", 401, "missing bearer token"},
		{"/v1/nothing", "", 401, "missing bearer token"},
		{"/elsewhere", "", 401, "missing bearer token"},
		{"/v1/stats", "Basic " + testToken, 401, "missing bearer token"},
		{"/v1/stats", "Bearer", 401, "missing bearer token"},
		{"/v1/stats", "Bearer ", 401, "missing bearer token"},
		{"/v1/users/u-1", "Bearer wrong-token-wrong-token", 401, "invalid bearer token"},
		{"/v1/stats", "Bearer " + testToken[:len(testToken)-1], 401, "invalid bearer token"},
		{"/v1/stats", "Bearer " + testToken + "0", 401, "invalid bearer token"},
		// With the token, the answers of today.
		{"/v1/users/u-1", "Bearer " + testToken, 200, `"spend":"19.99"`},
		{"/v1/users/nobody", "Bearer " + testToken, 404, "no such user"},
		{"/v1/stats", "Bearer " + testToken, 200, `"users_per_stage"`},
		{"/v1/stats", "bearer " + testToken, 200, `"users_per_stage"`},
		{"/v1/nothing", "Bearer " + testToken, 404, ""},
	} {
		req := httptest.NewRequest(http.MethodGet, tc.path, nil)
		if tc.auth != "" {
			req.Header.Set("Authorization", tc.auth)
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		body := rec.Body.String()
		if rec.Code != tc.wantStatus || !strings.Contains(body, tc.wantBody) {
			t.Errorf("GET %s (Authorization %q) = %d %q, want %d containing %q", tc.path, tc.auth, rec.Code, body, tc.wantStatus, tc.wantBody)
		}
		challenge := rec.Header().Get("WWW-Authenticate")
		if tc.wantStatus == 401 && !strings.HasPrefix(challenge, "Bearer") {
			t.Errorf("GET %s (Authorization %q): WWW-Authenticate %q, want a Bearer challenge", tc.path, tc.auth, challenge)
		}
		if tc.wantStatus != 401 && challenge != "" {
			t.Errorf("GET %s (Authorization %q): WWW-Authenticate %q on a %d, want none", tc.path, tc.auth, challenge, rec.Code)
		}
	}
}

func TestListenToken(t *testing.T) {
	// Without a token: as before, /v1/ is open.
	open := serve(t, ServerConfig{})
	if status, _ := dial(t, open).get(t, "/v1/stats"); status != 200 {
		t.Errorf("no token configured: /v1/stats %d, want 200", status)
	}
	// With one, Listen puts RequireToken in front of the handler.
	addr := serve(t, ServerConfig{Token: testToken})
	c := dial(t, addr)
	for _, tc := range []struct {
		path   string
		header []string
		want   int
	}{
		{"/v1/stats", nil, 401},
		{"/v1/users/u-1", nil, 401},
		{"/v1/users/u-1", []string{"Authorization: Bearer nope-nope-nope-nope"}, 401},
		{"/v1/users/u-1", []string{"Authorization: Bearer " + testToken}, 200},
		{"/v1/stats", []string{"Authorization: Bearer " + testToken}, 200},
		{"/healthz", nil, 200},
		{"/readyz", nil, 200},
		{"/metrics", nil, 200},
	} {
		if status, body := c.get(t, tc.path, tc.header...); status != tc.want {
			t.Errorf("GET %s %v: %d %q, want %d", tc.path, tc.header, status, body, tc.want)
		}
	}
	// A token that cannot work is refused at start.
	if _, err := Listen("127.0.0.1:0", Handler(testSource()), ServerConfig{Token: "short"}); err == nil {
		t.Error("Listen with a 5-character token: no error, want one")
	}
}

func TestReadTokenFile(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	good := write("good", "  "+testToken+"\n")
	if tok, err := ReadTokenFile(good); err != nil || tok != testToken {
		t.Errorf("ReadTokenFile(token with white space around) = %q, %v; want %q", tok, err, testToken)
	}
	for _, tc := range []struct {
		name, path, want string
	}{
		{"missing", filepath.Join(dir, "missing"), "no such file"},
		{"a directory", dir, "is a directory"},
		{"empty", write("empty", ""), "empty"},
		{"only white space", write("blank", " \n\t\n"), "empty"},
		{"a placeholder", write("short", "CHANGE-ME\n"), fmt.Sprintf("at least %d", MinTokenLen)},
		{"two lines", write("lines", testToken+"\n"+testToken+"\n"), "space, control"},
		{"non-ASCII", write("utf8", testToken+"é"), "non-ASCII"},
		{"too long", write("long", strings.Repeat("a", MaxTokenLen+1)), "longer than"},
	} {
		tok, err := ReadTokenFile(tc.path)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("ReadTokenFile(%s) = %q, %v; want an error containing %q", tc.name, tok, err, tc.want)
			continue
		}
		// Every error says how to make a token.
		if !strings.Contains(err.Error(), "openssl rand") {
			t.Errorf("ReadTokenFile(%s) error %q: want it to say how to make a token", tc.name, err)
		}
	}
}

func TestLimitListenerCloseWakesAccept(t *testing.T) {
	inner, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ln := LimitListener(inner, 2)
	var open []net.Conn
	for range 2 {
		dial(t, ln.Addr().String())
		c, err := ln.Accept()
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		open = append(open, c)
	}
	// net/http may close a connection more than once: that frees one slot,
	// not the slot of another connection too.
	open[0].Close()
	open[0].Close()
	if n := len(ln.(*limitListener).sem); n != 1 {
		t.Errorf("slots taken after closing one of two connections twice: %d, want 1", n)
	}
	dial(t, ln.Addr().String())
	c, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	// Both slots are taken: Accept waits, and Close must end the wait
	// (else Shutdown would hang with the cap reached).
	done := make(chan error, 1)
	go func() {
		c, err := ln.Accept()
		if c != nil {
			c.Close()
		}
		done <- err
	}()
	ln.Close()
	select {
	case err := <-done:
		if err == nil {
			t.Error("Accept after Close returned a connection")
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Accept still waits for a slot after Close")
	}
}
