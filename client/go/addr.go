package jqclient

// Addresses and tokens, found as jq-client finds them (PROTOCOL.md 1, 13
// item 6, 14): "unix:PATH", a path containing '/', "HOST[:PORT]",
// "[V6]:PORT", "tls:HOST[:PORT]", and comma-separated lists of those (one
// tls: element makes the whole list TLS).  Without an address: JQ_ADDR,
// else the user's own jqd socket if it exists, else /run/jqd/jqd.sock.

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"
)

const (
	defaultPort    = "7411"
	systemSocket   = "/run/jqd/jqd.sock"
	listDialBudget = 2 * time.Second // per element of a list (PROTOCOL.md 1)
)

// endpoint is one parsed address.
type endpoint struct {
	network string // "unix" or "tcp"
	addr    string // path, or host:port
	host    string // for TLS verification and SNI
}

// addrList is a parsed address list.
type addrList struct {
	eps []endpoint
	tls bool
}

// parseAddrs parses an address list; "" means JQ_ADDR, else the default
// socket.
func parseAddrs(s string) (addrList, error) {
	if s == "" {
		s = os.Getenv("JQ_ADDR")
	}
	if s == "" {
		return addrList{eps: []endpoint{{network: "unix", addr: defaultSocket()}}}, nil
	}
	var l addrList
	for _, a := range strings.Split(s, ",") {
		a = strings.TrimSpace(a)
		if a == "" {
			return l, fmt.Errorf("jqclient: empty element in address list %q", s)
		}
		ep, isTLS, err := parseAddr(a)
		if err != nil {
			return l, err
		}
		l.tls = l.tls || isTLS
		l.eps = append(l.eps, ep)
	}
	if l.tls {
		for _, ep := range l.eps {
			if ep.network == "unix" {
				return l, fmt.Errorf("jqclient: %q: a tls: list cannot hold a Unix socket", s)
			}
		}
	}
	return l, nil
}

func parseAddr(a string) (endpoint, bool, error) {
	switch {
	case strings.HasPrefix(a, "unix:"):
		if len(a) == len("unix:") {
			return endpoint{}, false, fmt.Errorf("jqclient: %q: no socket path", a)
		}
		return endpoint{network: "unix", addr: a[len("unix:"):]}, false, nil
	case strings.HasPrefix(a, "tls:"):
		ep, _, err := parseHostPort(a[len("tls:"):])
		return ep, true, err
	case strings.Contains(a, "/"):
		return endpoint{network: "unix", addr: a}, false, nil
	}
	ep, _, err := parseHostPort(a)
	return ep, false, err
}

func parseHostPort(a string) (endpoint, bool, error) {
	host, port := a, defaultPort
	if h, p, err := net.SplitHostPort(a); err == nil {
		host, port = h, p
	} else if strings.HasPrefix(a, "[") && strings.HasSuffix(a, "]") {
		host = a[1 : len(a)-1]
	} else if strings.Count(a, ":") > 0 {
		return endpoint{}, false, fmt.Errorf("jqclient: bad address %q (HOST[:PORT], [V6]:PORT, tls:HOST[:PORT], unix:PATH)", a)
	}
	if host == "" {
		return endpoint{}, false, fmt.Errorf("jqclient: %q: no host", a)
	}
	return endpoint{network: "tcp", addr: net.JoinHostPort(host, port), host: host}, false, nil
}

// defaultSocket is the user's own jqd socket if it exists, else the
// system one (root's own is the system one).
func defaultSocket() string {
	if os.Geteuid() == 0 {
		return systemSocket
	}
	var p string
	if d := os.Getenv("XDG_RUNTIME_DIR"); d != "" {
		p = filepath.Join(d, "jqd", "jqd.sock")
	} else {
		p = fmt.Sprintf("/tmp/jqd-%d/jqd.sock", os.Geteuid())
	}
	if _, err := os.Stat(p); err == nil {
		return p
	}
	return systemSocket
}

// findToken: the explicit token, else JQ_TOKEN (set but empty: none),
// else JQ_TOKEN_FILE, else for TCP the token file a jqd of this user
// makes.  Surrounding whitespace is trimmed.
func findToken(o *options, l addrList) (string, error) {
	if o.tokenSet {
		return strings.TrimSpace(o.token), nil
	}
	if o.tokenFile != "" {
		return readToken(o.tokenFile)
	}
	if t, ok := os.LookupEnv("JQ_TOKEN"); ok {
		return strings.TrimSpace(t), nil
	}
	if f := os.Getenv("JQ_TOKEN_FILE"); f != "" {
		return readToken(f)
	}
	if l.eps[0].network != "tcp" {
		return "", nil
	}
	dir := os.Getenv("XDG_CONFIG_HOME")
	if dir == "" {
		home, err := os.UserHomeDir()
		if err != nil {
			return "", nil
		}
		dir = filepath.Join(home, ".config")
	}
	t, err := readToken(filepath.Join(dir, "jqd", "token"))
	if errors.Is(err, os.ErrNotExist) {
		return "", nil
	}
	return t, err
}

func readToken(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", err
	}
	return strings.TrimSpace(string(b)), nil
}

// tlsConfig builds the client's TLS configuration: the private CA if
// given (else the system's store), a client certificate if given, TLS 1.2
// at least.  Environment: JQ_TLS_CA, JQ_TLS_CERT, JQ_TLS_KEY.
func tlsConfig(o *options) (*tls.Config, error) {
	if o.tlsConfig != nil {
		return o.tlsConfig.Clone(), nil
	}
	cfg := &tls.Config{MinVersion: tls.VersionTLS12}
	if ca := os.Getenv("JQ_TLS_CA"); ca != "" {
		pem, err := os.ReadFile(ca)
		if err != nil {
			return nil, err
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("jqclient: %s: no certificate", ca)
		}
		cfg.RootCAs = pool
	}
	cert, key := os.Getenv("JQ_TLS_CERT"), os.Getenv("JQ_TLS_KEY")
	if cert != "" || key != "" {
		kp, err := tls.LoadX509KeyPair(cert, key)
		if err != nil {
			return nil, err
		}
		cfg.Certificates = []tls.Certificate{kp}
	}
	return cfg, nil
}

// dialList tries the endpoints in order, starting with the one that
// served last (*start), and returns the first connection.  A list gives
// each element listDialBudget for connect and handshake together.
func dialList(ctx context.Context, l addrList, tcfg *tls.Config, start *int) (net.Conn, error) {
	var last error
	n := len(l.eps)
	for i := 0; i < n; i++ {
		k := (*start + i) % n
		ep := l.eps[k]
		dctx := ctx
		if n > 1 {
			var cancel context.CancelFunc
			dctx, cancel = context.WithTimeout(ctx, listDialBudget)
			defer cancel()
		}
		nc, err := dialOne(dctx, ep, l.tls, tcfg)
		if err == nil {
			*start = k
			return nc, nil
		}
		last = err
		if ctx.Err() != nil {
			break
		}
	}
	return nil, last
}

func dialOne(ctx context.Context, ep endpoint, useTLS bool, tcfg *tls.Config) (net.Conn, error) {
	var d net.Dialer
	nc, err := d.DialContext(ctx, ep.network, ep.addr)
	if err != nil || !useTLS {
		return nc, err
	}
	cfg := tcfg.Clone()
	if cfg.ServerName == "" {
		cfg.ServerName = ep.host // SNI for names; Go sends none for addresses
	}
	tc := tls.Client(nc, cfg)
	if err := tc.HandshakeContext(ctx); err != nil {
		nc.Close()
		return nil, err
	}
	return tc, nil
}
