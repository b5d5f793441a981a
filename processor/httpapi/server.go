package httpapi

import (
	"context"
	"errors"
	"log"
	"net"
	"net/http"
	"sync"
	"time"
)

// Defaults of ServerConfig. The read side answers small GET requests from
// memory or the local store, so every request fits well inside these.
const (
	DefaultMaxConns          = 256
	DefaultReadHeaderTimeout = 5 * time.Second
	DefaultReadTimeout       = 10 * time.Second
	DefaultWriteTimeout      = 30 * time.Second
	DefaultIdleTimeout       = 60 * time.Second
	DefaultMaxHeaderBytes    = 16 << 10
)

// ServerConfig bounds what clients can hold of the HTTP server: time,
// connections and header bytes. A zero field means its default.
type ServerConfig struct {
	// MaxConns is the most connections open at once, idle keep-alive ones
	// included. Accept waits while MaxConns are open: further clients wait
	// in the kernel's accept queue until a connection closes.
	MaxConns int
	// ReadHeaderTimeout bounds reading a request's headers (a client that
	// connects and sends nothing is dropped after it); at most ReadTimeout.
	ReadHeaderTimeout time.Duration
	// ReadTimeout bounds reading a whole request, body included: a request
	// that announces a body and does not send it ends after it.
	ReadTimeout time.Duration
	// WriteTimeout bounds the time from the end of a request's headers to
	// the end of its response (the handler and the write).
	WriteTimeout time.Duration
	// IdleTimeout is how long a keep-alive connection may wait for its next
	// request before the server closes it.
	IdleTimeout time.Duration
	// MaxHeaderBytes bounds a request's header block (larger: 431).
	MaxHeaderBytes int
	// Token, when not empty, is required as "Authorization: Bearer <Token>"
	// on every path except /healthz, /readyz, /metrics and the page's static
	// files (RequireToken).
	Token string
	// ErrorLog receives the server's own errors (accept errors, broken
	// connections); nil means the log package's standard logger.
	ErrorLog *log.Logger
}

// DefaultServerConfig returns the defaults, without a token.
func DefaultServerConfig() ServerConfig { return ServerConfig{}.withDefaults() }

func (c ServerConfig) withDefaults() ServerConfig {
	if c.MaxConns <= 0 {
		c.MaxConns = DefaultMaxConns
	}
	if c.ReadTimeout <= 0 {
		c.ReadTimeout = DefaultReadTimeout
	}
	if c.ReadHeaderTimeout <= 0 {
		c.ReadHeaderTimeout = DefaultReadHeaderTimeout
	}
	c.ReadHeaderTimeout = min(c.ReadHeaderTimeout, c.ReadTimeout)
	if c.WriteTimeout <= 0 {
		c.WriteTimeout = DefaultWriteTimeout
	}
	if c.IdleTimeout <= 0 {
		c.IdleTimeout = DefaultIdleTimeout
	}
	if c.MaxHeaderBytes <= 0 {
		c.MaxHeaderBytes = DefaultMaxHeaderBytes
	}
	return c
}

// Server is the read side's http.Server on its listener, with the limits
// of a ServerConfig.
type Server struct {
	srv *http.Server
	ln  net.Listener
}

// Listen listens on addr at once (so a busy port fails the start, not
// later) and returns the server, to be run with Serve. h is wrapped with
// RequireToken when cfg.Token is set.
func Listen(addr string, h http.Handler, cfg ServerConfig) (*Server, error) {
	cfg = cfg.withDefaults()
	if cfg.Token != "" {
		if err := CheckToken(cfg.Token); err != nil {
			return nil, err
		}
		h = RequireToken(h, cfg.Token)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	return &Server{
		ln: LimitListener(ln, cfg.MaxConns),
		srv: &http.Server{
			Handler:           h,
			ReadHeaderTimeout: cfg.ReadHeaderTimeout,
			ReadTimeout:       cfg.ReadTimeout,
			WriteTimeout:      cfg.WriteTimeout,
			IdleTimeout:       cfg.IdleTimeout,
			MaxHeaderBytes:    cfg.MaxHeaderBytes,
			ErrorLog:          cfg.ErrorLog,
		},
	}, nil
}

// Addr is the address the server listens on (with the port chosen for ":0").
func (s *Server) Addr() net.Addr { return s.ln.Addr() }

// Serve serves until Shutdown; it returns nil after Shutdown, else the
// error that stopped it.
func (s *Server) Serve() error {
	if err := s.srv.Serve(s.ln); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// Shutdown stops accepting, closes idle connections and waits for active
// requests until ctx ends (then closes the rest).
func (s *Server) Shutdown(ctx context.Context) error {
	err := s.srv.Shutdown(ctx)
	if err != nil {
		s.srv.Close()
	}
	return err
}

// LimitListener returns a listener that has at most n accepted connections
// open at once: Accept waits until one of them is closed. It is
// golang.org/x/net/netutil.LimitListener's behaviour, written here because
// netutil's connections hide CloseWrite: net/http then cannot half-close,
// and a client whose request it refuses (431, 408) gets a reset instead of
// the answer.
func LimitListener(l net.Listener, n int) net.Listener {
	return &limitListener{Listener: l, sem: make(chan struct{}, n), done: make(chan struct{})}
}

type limitListener struct {
	net.Listener
	sem       chan struct{} // one element per open connection
	done      chan struct{} // closed by Close
	closeOnce sync.Once
}

func (l *limitListener) Accept() (net.Conn, error) {
	select {
	case l.sem <- struct{}{}:
	case <-l.done:
		return nil, net.ErrClosed
	}
	c, err := l.Listener.Accept()
	if err != nil {
		<-l.sem
		return nil, err
	}
	return &limitConn{Conn: c, release: func() { <-l.sem }}, nil
}

// Close closes the listener and wakes an Accept waiting for a free slot.
func (l *limitListener) Close() error {
	err := l.Listener.Close()
	l.closeOnce.Do(func() { close(l.done) })
	return err
}

type limitConn struct {
	net.Conn
	once    sync.Once
	release func()
}

// Close frees the connection's slot once, however often net/http closes it.
func (c *limitConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(c.release)
	return err
}

// CloseWrite keeps the TCP half-close that net/http uses to end a
// connection gracefully (send FIN, then wait briefly before closing).
func (c *limitConn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return nil
}
