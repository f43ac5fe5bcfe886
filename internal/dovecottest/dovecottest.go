// Package dovecottest gives tests access to the private Dovecot that
// scripts/dovecot.sh starts (POP3, POP3S and LMTP on loopback). Each test makes
// its own users, so packages can run in parallel against one server.
//
// When MULTIDROP_DOVECOT_DIR is unset the tests that need Dovecot skip with one
// line saying why; when CI=true they fail instead.
package dovecottest

import (
	"bufio"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Password is the password of every user this package creates.
const Password = "dovecot-test-secret"

// Server describes the running private Dovecot.
type Server struct {
	Dir        string // state directory
	POP3       string // host:port, plaintext with STLS
	POP3S      string // host:port, implicit TLS
	LMTP       string // host:port
	LMTPSocket string // unix socket path
	CAFile     string // PEM of the test CA that signed the server certificate
	users      string
	mail       string
	uid, gid   int
}

var mu sync.Mutex // serialises appends to the users file within one process

// Get returns the running server, or skips (fails under CI=true) the test when
// none was started.
func Get(t testing.TB) *Server {
	t.Helper()
	dir := os.Getenv("MULTIDROP_DOVECOT_DIR")
	if dir == "" {
		msg := "no private Dovecot (run the tests with scripts/test, which starts one)"
		if os.Getenv("CI") == "true" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	uid, _ := strconv.Atoi(os.Getenv("MULTIDROP_DOVECOT_UID"))
	gid, _ := strconv.Atoi(os.Getenv("MULTIDROP_DOVECOT_GID"))
	return &Server{
		Dir:        dir,
		POP3:       os.Getenv("MULTIDROP_DOVECOT_POP3"),
		POP3S:      os.Getenv("MULTIDROP_DOVECOT_POP3S"),
		LMTP:       os.Getenv("MULTIDROP_DOVECOT_LMTP"),
		LMTPSocket: os.Getenv("MULTIDROP_DOVECOT_LMTP_SOCKET"),
		CAFile:     os.Getenv("MULTIDROP_DOVECOT_CA"),
		users:      os.Getenv("MULTIDROP_DOVECOT_USERS"),
		mail:       os.Getenv("MULTIDROP_DOVECOT_MAIL"),
		uid:        uid,
		gid:        gid,
	}
}

// CAPEM returns the test CA certificate in PEM.
func (s *Server) CAPEM(t testing.TB) string {
	t.Helper()
	b, err := os.ReadFile(s.CAFile)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TLSConfig returns a client TLS config that trusts the test CA, for server
// name "localhost".
func (s *Server) TLSConfig(t testing.TB) *tls.Config {
	t.Helper()
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM([]byte(s.CAPEM(t))) {
		t.Fatal("dovecottest: bad CA file")
	}
	return &tls.Config{RootCAs: pool, ServerName: "localhost", MinVersion: tls.VersionTLS12}
}

// UserOption changes a user made by NewUser.
type UserOption func(*userSpec)

type userSpec struct{ extra string }

// QuotaBytes gives the user a storage quota, so deliveries over it get a
// temporary failure from LMTP.
func QuotaBytes(n int64) UserOption {
	return func(u *userSpec) { u.extra = "userdb_quota_rule=*:storage=" + strconv.FormatInt(n, 10) + "B" }
}

// NewUser creates a new user with a unique name starting with prefix and an
// empty Maildir, and returns the name. The password is Password.
func (s *Server) NewUser(t testing.TB, prefix string, opts ...UserOption) string {
	t.Helper()
	var spec userSpec
	for _, o := range opts {
		o(&spec)
	}
	var b [6]byte
	_, _ = rand.Read(b[:])
	name := prefix + hex.EncodeToString(b[:])
	md := s.Maildir(name)
	for _, sub := range []string{"", "new", "cur", "tmp"} {
		p := filepath.Join(md, sub)
		if err := os.MkdirAll(p, 0o700); err != nil {
			t.Fatal(err)
		}
	}
	for _, p := range []string{filepath.Join(s.mail, name), md, filepath.Join(md, "new"), filepath.Join(md, "cur"), filepath.Join(md, "tmp")} {
		if err := os.Chown(p, s.uid, s.gid); err != nil {
			t.Fatal(err)
		}
	}
	line := fmt.Sprintf("%s:{PLAIN}%s::::::%s\n", name, Password, spec.extra)
	s.appendUser(t, line)
	s.waitUser(t, name)
	return name
}

// waitUser returns once Dovecot knows user. Dovecot looks at a changed
// passwd-file at most once a second, so a user appended in the second of an
// earlier lookup stays unknown (logins fail, LMTP refuses it) until then:
// ask its LMTP service, which reads the same file, until it accepts the
// user as a recipient.
func (s *Server) waitUser(t testing.TB, user string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		ok, err := s.lmtpKnows(user)
		if err != nil {
			t.Fatalf("dovecottest: asking LMTP about %s: %v", user, err)
		}
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("dovecottest: Dovecot still does not know %s after 10s", user)
		}
		time.Sleep(50 * time.Millisecond) // an external process re-reading a file
	}
}

// lmtpKnows reports whether LMTP accepts RCPT TO:<user>.
func (s *Server) lmtpKnows(user string) (bool, error) {
	conn, err := net.DialTimeout("tcp", s.LMTP, 5*time.Second)
	if err != nil {
		return false, err
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
	r := bufio.NewReader(conn)
	reply := func() (string, error) { // the last line of a (multi-line) reply
		for {
			l, err := r.ReadString('\n')
			if err != nil {
				return "", err
			}
			if len(l) < 4 || l[3] != '-' {
				return l, nil
			}
		}
	}
	if _, err := reply(); err != nil { // greeting
		return false, err
	}
	var last string
	for _, cmd := range []string{"LHLO localhost", "MAIL FROM:<>", "RCPT TO:<" + user + ">"} {
		if _, err := fmt.Fprintf(conn, "%s\r\n", cmd); err != nil {
			return false, err
		}
		if last, err = reply(); err != nil {
			return false, err
		}
		if !strings.HasPrefix(last, "250") {
			break
		}
	}
	fmt.Fprintf(conn, "QUIT\r\n")
	switch {
	case strings.HasPrefix(last, "250"):
		return true, nil
	case strings.HasPrefix(last, "550"):
		return false, nil // unknown user: not yet
	}
	return false, fmt.Errorf("unexpected reply %q", strings.TrimSpace(last))
}

func (s *Server) appendUser(t testing.TB, line string) {
	t.Helper()
	mu.Lock()
	defer mu.Unlock()
	f, err := os.OpenFile(s.users, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	// Other test processes append too: lock the file across processes.
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		t.Fatal(err)
	}
	defer syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
	if _, err := f.WriteString(line); err != nil {
		t.Fatal(err)
	}
}

// Maildir returns the path of user's Maildir.
func (s *Server) Maildir(user string) string {
	return filepath.Join(s.mail, user, "Maildir")
}

var seq struct {
	sync.Mutex
	n int
}

// Load stores messages verbatim in user's Maildir new/, in order, so that the
// POP3 server lists them as messages 1..n. Dovecot serves them with every
// bare LF turned into CRLF and a CRLF added at the end when missing; see
// Served.
func (s *Server) Load(t testing.TB, user string, msgs ...[]byte) {
	t.Helper()
	dir := filepath.Join(s.Maildir(user), "new")
	for _, m := range msgs {
		seq.Lock()
		seq.n++
		n := seq.n
		seq.Unlock()
		// Dovecot orders new/ by file name: keep names sortable.
		name := fmt.Sprintf("%010d.M%dP%d.multidrop-test", 1_000_000+n, n, os.Getpid())
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, m, 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Chown(p, s.uid, s.gid); err != nil {
			t.Fatal(err)
		}
	}
}

// Served returns the bytes Dovecot's POP3 server sends (after dot-unstuffing)
// for a message stored with Load: bare LF becomes CRLF, and a final CRLF is
// added when the message does not end with one.
func Served(m []byte) []byte {
	out := make([]byte, 0, len(m)+len(m)/32+2)
	for i, c := range m {
		if c == '\n' && (i == 0 || m[i-1] != '\r') {
			out = append(out, '\r')
		}
		out = append(out, c)
	}
	if len(out) > 0 && (len(out) < 2 || out[len(out)-2] != '\r' || out[len(out)-1] != '\n') {
		out = append(out, '\r', '\n')
	}
	return out
}
