package deliver_test

import (
	"context"
	"fmt"
	"log"
	"os"

	"github.com/emersion/go-sasl"

	"github.com/multidrop/multidrop/deliver"
)

// Relay through a provider's submission server: STARTTLS (required off
// loopback by default), the certificate verified, AUTH PLAIN.
func ExampleSMTP() {
	relay := deliver.NewSMTP("smtp.provider.net:587", &deliver.SMTPOptions{
		TraceOptions: deliver.TraceOptions{LocalHost: "gw.example.com"},
		Auth: func() sasl.Client {
			return sasl.NewPlainClient("", "gw@example.com", os.Getenv("RELAY_PASSWORD"))
		},
	})
	msg, err := os.Open("message.eml")
	if err != nil {
		log.Fatal(err)
	}
	defer msg.Close() // an *os.File can rewind if the relay takes only some recipients at a time
	res, err := relay.Deliver(context.Background(), deliver.Envelope{
		From: "sender@example.org",
		To:   []string{"alice@example.com"},
	}, msg)
	if err != nil {
		log.Print(err)
	}
	for _, r := range res {
		fmt.Println(r.Recipient, r.Status == deliver.Delivered, r.Err)
	}
}
