package schedule_test

import (
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/multidrop/multidrop/account"
	"github.com/multidrop/multidrop/pop/poptest"
	"github.com/multidrop/multidrop/resolve"
)

const (
	popUser = "drop"
	popPass = "drop-secret"
)

// msg builds a message from header lines and a body.
func msg(body string, header ...string) []byte {
	return []byte(strings.Join(header, "\r\n") + "\r\n\r\n" + body + "\r\n")
}

func splitHostPort(t *testing.T, addr string) (string, int) {
	i := strings.LastIndexByte(addr, ':')
	port, err := strconv.Atoi(addr[i+1:])
	require.NoError(t, err)
	return addr[:i], port
}

// popAccount starts srv (over TLS) and returns a store holding one enabled
// account, "acct1" for example.com, on its mailbox popUser.
func popAccount(t *testing.T, srv *poptest.Server) *account.MemoryStore {
	t.Helper()
	srv.ImplicitTLS = true
	srv.Start(t)
	host, port := splitHostPort(t, srv.Addr())
	store := account.NewMemoryStore()
	_, err := store.Put(t.Context(), account.Account{
		ID: "acct1", Enabled: true, Host: host, Port: port, Domain: "example.com",
		Security: account.SecurityTLS,
		TLS:      account.TLS{RootCAs: string(srv.CAPEM())},
		Auth:     account.Auth{User: popUser, Secret: popPass, Mechanism: account.MechanismUser},
	})
	require.NoError(t, err)
	return store
}

// aliceDirectory has one user, alice@example.com.
func aliceDirectory(t *testing.T) resolve.Directory {
	dir, err := resolve.NewStatic(resolve.Table{Users: []resolve.User{{Address: "alice@example.com"}}})
	require.NoError(t, err)
	return dir
}
