package delivertest_test

import (
	"context"
	"fmt"
	"strings"

	"github.com/multidrop/multidrop/deliver"
	"github.com/multidrop/multidrop/deliver/delivertest"
)

// A recording deliverer that refuses one recipient for good and makes
// another wait for one retry.
func ExampleDeliverer() {
	d := &delivertest.Deliverer{}
	d.Fail("gone@example.com", delivertest.Fault{Status: deliver.Permanent})
	d.Fail("busy@example.com", delivertest.Fault{Times: 1}) // temporary, once

	env := deliver.Envelope{To: []string{"alice@example.com", "gone@example.com", "busy@example.com"}}
	for range 2 {
		res, _ := d.Deliver(context.Background(), env, strings.NewReader("Subject: hi\r\n\r\nhello\r\n"))
		for _, r := range res {
			fmt.Printf("%s: %v\n", r.Recipient, map[deliver.Status]string{
				deliver.Delivered: "delivered", deliver.Temporary: "temporary", deliver.Permanent: "permanent",
			}[r.Status])
		}
	}
	fmt.Println(len(d.Delivered("alice@example.com")), "messages for alice")
	// Output:
	// alice@example.com: delivered
	// gone@example.com: permanent
	// busy@example.com: temporary
	// alice@example.com: delivered
	// gone@example.com: permanent
	// busy@example.com: delivered
	// 2 messages for alice
}

// A reproducible corpus for benchmarks: 2,000 messages of 2 KiB to 1 MiB,
// about 100 MB in all, generated one at a time into a reused buffer.
func ExampleCorpus() {
	c := delivertest.NewCorpus(2000, 2<<10, 1<<20, 100<<20, 1)
	var buf []byte
	var total int64
	for i := range c.Len() {
		buf = c.Append(buf[:0], i) // deliver bytes.NewReader(buf) here
		total += int64(len(buf))
	}
	fmt.Println(c.Len(), "messages,", total/1e6, "MB")
	// Output: 2000 messages, 104 MB
}
