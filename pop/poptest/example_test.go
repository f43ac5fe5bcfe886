package poptest_test

import (
	"bufio"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"strings"

	"github.com/multidrop/multidrop/pop/poptest"
)

// A test starts a server with one mailbox, talks to it (here with a bare
// connection; a real test would use pop.Client) and then checks what the
// client sent and what QUIT committed.
func Example() {
	s := &poptest.Server{
		Faults: []poptest.Fault{
			poptest.ErrReply("RETR", "SYS/TEMP", "Try again later"),
		},
	}
	s.AddUser("alice", "secret", poptest.Message{UID: "a1", Data: []byte("Subject: hi\r\n\r\nHello\r\n")})
	// In a test function: s.Start(t), which registers s.Close with t.Cleanup.
	if err := s.Listen(); err != nil {
		panic(err)
	}
	defer s.Close()

	conn, err := net.Dial("tcp", s.Addr())
	if err != nil {
		panic(err)
	}
	defer conn.Close()
	r := bufio.NewReader(conn)
	read := func() string { l, _ := r.ReadString('\n'); return strings.TrimSpace(l) }
	read() // greeting
	for _, cmd := range []string{"USER alice", "PASS secret", "RETR 1", "DELE 1", "QUIT"} {
		fmt.Fprintf(conn, "%s\r\n", cmd)
		fmt.Println(cmd, "->", read())
	}
	for _, c := range s.Transcript() {
		fmt.Printf("session %d: %s\n", c.Session, c.Line)
	}
	fmt.Println("left:", len(s.Mailbox("alice")))
	// Output:
	// USER alice -> +OK
	// PASS secret -> +OK Logged in.
	// RETR 1 -> -ERR [SYS/TEMP] Try again later
	// DELE 1 -> +OK Marked to be deleted.
	// QUIT -> +OK Logging out, messages deleted.
	// session 1: USER alice
	// session 1: PASS <redacted>
	// session 1: RETR 1
	// session 1: DELE 1
	// session 1: QUIT
	// left: 0
}

// Faults compose: here UIDL answers a listing with a duplicated message
// number and the server then hangs up, as a broken server might.
func ExampleFault() {
	s := &poptest.Server{Faults: []poptest.Fault{
		{Kind: poptest.Reply, Command: "UIDL", Text: "+OK\r\n1 a\r\n1 b\r\n.\r\n"},
		{Kind: poptest.DropAfter, Command: "UIDL"},
	}}
	s.AddUser("alice", "secret", poptest.Message{UID: "a"}, poptest.Message{UID: "b"})
	if err := s.Listen(); err != nil {
		panic(err)
	}
	defer s.Close()

	conn, err := net.Dial("tcp", s.Addr())
	if err != nil {
		panic(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "USER alice\r\nPASS secret\r\nUIDL\r\n")
	all, _ := io.ReadAll(conn)
	lines := strings.Split(strings.TrimSuffix(string(all), "\r\n"), "\r\n")
	fmt.Println(strings.Join(lines[1:], " | ")) // skip the greeting
	// Output: +OK | +OK Logged in. | +OK | 1 a | 1 b | .
}

// With ImplicitTLS the server speaks TLS from the first byte; the client
// verifies it against the CA made at start.
func ExampleServer_ClientTLSConfig() {
	s := &poptest.Server{ImplicitTLS: true, NoAPOP: true}
	if err := s.Listen(); err != nil {
		panic(err)
	}
	defer s.Close()

	conn, err := tls.Dial("tcp", s.Addr(), s.ClientTLSConfig())
	if err != nil {
		panic(err)
	}
	defer conn.Close()
	greeting, _ := bufio.NewReader(conn).ReadString('\n')
	fmt.Print(greeting)
	// Output: +OK poptest ready.
}
