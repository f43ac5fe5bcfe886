package resolve_test

import (
	"bufio"
	"context"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"strings"

	"github.com/multidrop/multidrop/account"
	"github.com/multidrop/multidrop/parse"
	"github.com/multidrop/multidrop/resolve"
)

// Resolving the candidates of one message against a small directory.
func ExampleMapper() {
	dir, err := resolve.NewStatic(resolve.Table{
		Users: []resolve.User{
			{Address: "alice@example.com", Name: "Alice Liddell"},
			{Address: "Bob@example.com"},
		},
		Aliases: map[string][]string{"sales@example.com": {"alice", "bob"}},
	})
	if err != nil {
		log.Fatal(err)
	}
	m := resolve.New(dir, nil)
	a := account.Account{ID: "shop", Domain: "example.com"}
	cands := []parse.Candidate{
		{Address: "alice+orders@example.com", Field: "To", Occurrence: 1, Stage: parse.StageGuess},
		{Address: "BOB@EXAMPLE.COM", Field: "Cc", Occurrence: 1, Stage: parse.StageGuess},
		{Address: "sales@example.com", Field: "Cc", Occurrence: 1, Stage: parse.StageGuess},
		{Address: "someone@example.org", Field: "Cc", Occurrence: 1, Stage: parse.StageGuess},
	}
	res, err := m.Resolve(context.Background(), a, cands)
	if err != nil {
		log.Fatal(err) // the directory failed: keep the message
	}
	for _, r := range res.Recipients {
		fmt.Println("deliver to", r.Address)
	}
	for _, r := range res.Rejected {
		fmt.Printf("%s: %s\n", r.Candidate.Address, r.Reason)
	}
	// Output:
	// deliver to alice@example.com
	// deliver to Bob@example.com
	// sales@example.com: duplicate
	// someone@example.org: foreign domain
}

// The pipeline's call: read the header, find the candidates, resolve
// them, and explain the decision.
func ExampleMessage() {
	const msg = "Delivered-To: carol@example.com\r\n" +
		"Received: from mail.sender.org by mx.provider.net; Mon, 23 Nov 2026 10:00:00 +0000\r\n" +
		"From: sender@sender.org\r\n" +
		"To: Alice <alice@example.com>\r\n" +
		"Subject: hello\r\n" +
		"\r\n" +
		"body\r\n"
	dir, _ := resolve.NewStatic(resolve.Table{Users: []resolve.User{
		{Address: "alice@example.com"}, {Address: "carol@example.com"},
	}})
	m := resolve.New(dir, nil)
	a := account.Account{ID: "shop", Domain: "example.com"}

	h, err := parse.ReadHeader(bufio.NewReader(strings.NewReader(msg)), nil)
	if err != nil {
		log.Fatal(err)
	}
	opts, _ := parse.OptionsFrom(a.Parsing, a.Domain)
	opts.Local = func(domain string) bool { return m.Local(a, domain) }
	pr, err := parse.Candidates(h, opts)
	if err != nil {
		log.Fatal(err)
	}
	res, err := resolve.Message(context.Background(), m, a, pr)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Print(res.Explanation)
	// Output:
	// mode chain, decided by stage envelope: 1 candidates, 1 kept, 0 rejected
	//   Delivered-To#1 (envelope) <carol@example.com>: kept -> carol@example.com via directory
}

// Routing rules, a catch-all, and subaddressing turned off (account.SubaddressOff), set per
// account.
func ExampleMapper_rules() {
	dir, _ := resolve.NewStatic(resolve.Table{Users: []resolve.User{
		{Address: "alice@example.com"}, {Address: "postmaster@example.com"},
	}})
	a := account.Account{
		ID:     "shop",
		Domain: "example.com",
		Resolving: account.Resolving{
			SubaddressSeparator: account.SubaddressOff,
			Rules: []account.Rule{
				{Match: "equals", Pattern: "mailbox@isp.net", Action: account.RuleDeliver, Users: []string{"alice"}},
				{Match: "regexp", Pattern: `^(noreply|bounce)@`, Action: account.RuleDeny},
			},
			CatchAll: "postmaster",
		},
	}
	cands := []parse.Candidate{
		{Address: "mailbox@isp.net", Field: "To", Occurrence: 1},
		{Address: "noreply@example.com", Field: "Cc", Occurrence: 1},
		{Address: "alice+x@example.com", Field: "Cc", Occurrence: 1},
	}
	res, _ := resolve.New(dir, nil).Resolve(context.Background(), a, cands)
	for _, s := range res.Explanation.Steps {
		fmt.Println(s)
	}
	// Output:
	// To#1 <mailbox@isp.net>: kept -> alice@example.com via rule (rule 1 (equals "mailbox@isp.net"))
	// Cc#1 <noreply@example.com>: rejected: denied by rule (rule 2 (regexp "^(noreply|bounce)@"))
	// Cc#1 <alice+x@example.com>: kept -> postmaster@example.com via catch-all (catch-all "postmaster")
}

// A directory file, reloaded when it changes.
func ExampleOpenFile() {
	tmp, err := os.MkdirTemp("", "multidrop-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(tmp)
	path := filepath.Join(tmp, "users")
	os.WriteFile(path, []byte(`# users of example.com
alice@example.com   Alice Liddell
bob@example.com
sales@example.com:  alice, bob
`), 0o644)
	dir, err := resolve.OpenFile(path, nil)
	if err != nil {
		log.Fatal(err)
	}
	users, _ := dir.Lookup(context.Background(), "example.com", "Sales")
	fmt.Println(users)
	// Output:
	// [alice@example.com bob@example.com]
}

// A directory backed by the embedder's own user database.
func ExampleDirectoryFunc() {
	db := map[string]string{"alice": "Alice@example.com"}
	dir := resolve.DirectoryFunc(func(ctx context.Context, domain, local string) ([]string, error) {
		if domain != "example.com" {
			return nil, nil
		}
		if canonical, ok := db[strings.ToLower(local)]; ok {
			return []string{canonical}, nil
		}
		return nil, nil
	})
	res, _ := resolve.New(dir, nil).Resolve(context.Background(),
		account.Account{ID: "x", Domain: "example.com"},
		[]parse.Candidate{{Address: "ALICE@example.com", Field: "To", Occurrence: 1}})
	fmt.Println(res.Recipients[0].Address)
	// Output:
	// Alice@example.com
}
