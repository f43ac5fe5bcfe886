package deliver_test

import (
	"context"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"strings"

	"github.com/multidrop/multidrop/deliver"
	"github.com/multidrop/multidrop/deliver/delivertest"
)

// Deliver into per-user Maildirs under a root, creating them as needed.
func ExampleMaildir() {
	root, err := os.MkdirTemp("", "mail")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(root)

	md, err := deliver.NewMaildir(&deliver.MaildirOptions{
		Template:     "{root}/{domain}/{user}/Maildir",
		Root:         root,
		Create:       true,
		TraceOptions: deliver.TraceOptions{DeliveredTo: true},
	})
	if err != nil {
		log.Fatal(err)
	}
	env := deliver.Envelope{
		From:  "sender@example.org",
		To:    []string{"alice@example.com", "bob@example.com"},
		Trace: deliver.Trace{Host: "pop.provider.example", Key: "UID42"},
	}
	res, err := md.Deliver(context.Background(), env, strings.NewReader("Subject: hi\r\n\r\nhello\r\n"))
	if err != nil {
		log.Fatal(err)
	}
	for _, r := range res {
		fmt.Println(r.Recipient, r.Status == deliver.Delivered)
	}
	// One file, hard-linked into each Maildir.
	n, _ := filepath.Glob(filepath.Join(root, "example.com", "*", "Maildir", "new", "*"))
	fmt.Println(len(n), "files")
	// Output:
	// alice@example.com true
	// bob@example.com true
	// 2 files
}

// Route the users of one domain to a deliverer (here a recorder standing in
// for LMTP) and everyone else to another.
func ExampleRoute() {
	lmtp, local := &delivertest.Deliverer{}, &delivertest.Deliverer{}
	r := deliver.NewRoute(&deliver.RouteOptions{
		Domains: map[string]deliver.Deliverer{"example.com": lmtp},
		Default: local,
	})
	env := deliver.Envelope{To: []string{"alice@example.com", "carol@example.net", "bob@example.com"}}
	res, err := r.Deliver(context.Background(), env, strings.NewReader("Subject: hi\r\n\r\nhello\r\n"))
	if err != nil {
		log.Fatal(err)
	}
	for _, r := range res {
		fmt.Println(r.Recipient, r.Status == deliver.Delivered)
	}
	fmt.Println("lmtp:", lmtp.Deliveries()[0].Envelope.To)
	fmt.Println("local:", local.Deliveries()[0].Envelope.To)
	// Output:
	// alice@example.com true
	// carol@example.net true
	// bob@example.com true
	// lmtp: [alice@example.com bob@example.com]
	// local: [carol@example.net]
}
