package multidrop

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/multidrop/multidrop/account"
	"github.com/multidrop/multidrop/deliver"
	"github.com/multidrop/multidrop/pop"
	"github.com/multidrop/multidrop/resolve"
)

// notifyOversize tells the account's postmaster, once per message, that a
// message above the size limit was left on the server.
func (c *check) notifyOversize(ctx context.Context, m pop.MessageInfo) error {
	pm := c.a.Policy.Postmaster
	if pm == "" {
		return errors.New("oversize notice: no postmaster address")
	}
	done, err := c.recipientsOf(ctx, m.UID)
	if err != nil {
		return fmt.Errorf("journal: %w", err)
	}
	if done.Notified(account.NoticeOversize) {
		return nil
	}
	body := fmt.Sprintf("A message in the remote POP account %q (%s) is larger than the\r\n"+
		"account's limit of %d octets and was left on the server.\r\n\r\n"+
		"  message number: %d\r\n  UID:            %s\r\n  size:           %d octets\r\n\r\n"+
		"Raise the limit or remove the message from the mailbox.\r\n",
		c.a.ID, c.a.Host, c.a.Retrieval.MaxMessageSize, m.Number, sanitizeLine(m.UID), m.Size)
	if err := c.notify(ctx, pm, fmt.Sprintf("Oversize message left on %s (account %s)", c.a.Host, c.a.ID), body); err != nil {
		return err
	}
	return c.recordNotice(ctx, m.UID, account.NoticeOversize)
}

// reportForeign tells the postmaster, once per message, which recipients of
// the message were outside the account's domains (the "report" foreign
// policy): they did not get it from us, and the sender may believe they did.
func (c *check) reportForeign(ctx context.Context, mr *MessageReport) error {
	var foreign []string
	for _, r := range mr.Resolution.Rejected {
		if r.Reason == resolve.ReasonForeign && !slices.Contains(foreign, r.Candidate.Address) {
			foreign = append(foreign, r.Candidate.Address)
		}
	}
	if len(foreign) == 0 {
		return nil
	}
	pm := c.a.Policy.Postmaster
	if pm == "" {
		return fmt.Errorf("foreign-recipient notice: no postmaster address")
	}
	done, err := c.recipientsOf(ctx, mr.Key)
	if err != nil {
		return err
	}
	if done.Notified(account.NoticeForeign) {
		return nil
	}
	var b strings.Builder
	fmt.Fprintf(&b, "A message collected from the remote POP account %q (%s) also named\r\n"+
		"recipients outside the account's domains. multidrop delivers only to\r\nlocal users; these did not get it:\r\n\r\n", c.a.ID, c.a.Host)
	for _, f := range foreign {
		fmt.Fprintf(&b, "  %s\r\n", sanitizeLine(f))
	}
	fmt.Fprintf(&b, "\r\n  Message-ID: %s\r\n  UID:        %s\r\n", sanitizeLine(mr.MessageID), sanitizeLine(mr.UID))
	if err := c.notify(ctx, pm, fmt.Sprintf("Foreign recipients in a message on %s (account %s)", c.a.Host, c.a.ID), b.String()); err != nil {
		return err
	}
	return c.recordNotice(ctx, mr.Key, account.NoticeForeign)
}

// sanitizeLine makes header-derived text safe for a notice body: no control
// characters, bounded length.
func sanitizeLine(s string) string {
	var b strings.Builder
	for _, r := range s {
		if b.Len() >= 200 {
			b.WriteString("...")
			break
		}
		if r < 0x20 || r == 0x7f {
			r = '?'
		}
		b.WriteRune(r)
	}
	return b.String()
}

// notify delivers a short, well-formed notice to rcpt through the
// Deliverer, from the null sender.
func (c *check) notify(ctx context.Context, rcpt, subject, body string) error {
	msg := noticeMessage(c.p.opt.LocalHost, rcpt, subject, body, c.p.opt.Now())
	env := deliver.Envelope{To: []string{rcpt}, Trace: deliver.Trace{Host: c.p.opt.LocalHost, Account: c.a.ID}}
	res, err := c.p.opt.Deliverer.Deliver(ctx, env, bytes.NewReader(msg))
	if len(res) == 1 && res[0].Status == deliver.Delivered {
		return nil
	}
	if err == nil && len(res) == 1 {
		err = res[0].Err
	}
	return fmt.Errorf("notice to %s: %w", rcpt, err)
}

// noticeMessage builds an RFC 5322 notice message.
func noticeMessage(host, rcpt, subject, body string, now time.Time) []byte {
	var id [12]byte
	_, _ = rand.Read(id[:])
	var b bytes.Buffer
	fmt.Fprintf(&b, "From: multidrop <MAILER-DAEMON@%s>\r\n", host)
	fmt.Fprintf(&b, "To: <%s>\r\n", rcpt)
	fmt.Fprintf(&b, "Subject: %s\r\n", subject)
	fmt.Fprintf(&b, "Date: %s\r\n", now.Format(time.RFC1123Z))
	fmt.Fprintf(&b, "Message-ID: <%s@%s>\r\n", hex.EncodeToString(id[:]), host)
	b.WriteString("Auto-Submitted: auto-generated\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n")
	b.WriteString(body)
	return b.Bytes()
}
