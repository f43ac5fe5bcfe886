package deliver

import (
	"bufio"
	"io"
	"net/textproto"
)

// crlfWriter normalises line endings to CRLF on the way to w: a bare LF and a
// bare CR each become CRLF, CRLF stays as it is, every other byte is
// untouched. A CR at the end of one Write is held until the next byte (or
// Close) says whether it is bare.
//
// Its output is what the dot-stuffing writer of SMTP DATA expects (go-smtp's
// DataCommand, which is net/textproto's DotWriter): that writer stuffs a dot
// at the start of every line and turns a bare LF into CRLF, but passes a
// bare CR through, so "\r.\r" would reach the next server unstuffed. With
// every line ending CRLF before it gets there, no line of the message can
// end DATA early at any server, however lenient its idea of a line ending
// (the "SMTP smuggling" family of attacks), and nothing is stuffed twice.
type crlfWriter struct {
	w   io.Writer
	cr  bool   // a CR was the last byte seen, its line ending still undecided
	buf []byte // output being assembled, reused
}

// crlfChunk bounds the output assembled per write to w.
const crlfChunk = 32 << 10

func newCRLFWriter(w io.Writer) *crlfWriter {
	return &crlfWriter{w: w}
}

var crlf = []byte("\r\n")

func (c *crlfWriter) Write(p []byte) (int, error) {
	n := 0
	for len(p) > 0 {
		chunk := p[:min(len(p), crlfChunk)]
		if err := c.write(chunk); err != nil {
			return n, err
		}
		n += len(chunk)
		p = p[len(chunk):]
	}
	return n, nil
}

func (c *crlfWriter) write(p []byte) error {
	out := c.buf[:0]
	if c.cr {
		c.cr = false
		out = append(out, crlf...)
		if p[0] == '\n' {
			p = p[1:]
		}
	}
	for len(p) > 0 {
		i := indexLineEnd(p)
		if i < 0 {
			out = append(out, p...)
			break
		}
		out = append(out, p[:i]...)
		if p[i] == '\n' {
			out = append(out, crlf...)
			p = p[i+1:]
			continue
		}
		// A CR: followed by LF, by something else, or by the end of p.
		if i+1 == len(p) {
			c.cr = true
			break
		}
		out = append(out, crlf...)
		if p[i+1] == '\n' {
			p = p[i+2:]
		} else {
			p = p[i+1:]
		}
	}
	c.buf = out
	if len(out) == 0 {
		return nil
	}
	_, err := c.w.Write(out)
	return err
}

// indexLineEnd returns the index of the first CR or LF in p, or -1.
func indexLineEnd(p []byte) int {
	for i, b := range p {
		if b == '\r' || b == '\n' {
			return i
		}
	}
	return -1
}

// Flush writes out a held CR as CRLF: call it at the end of the message. It
// does not close w.
func (c *crlfWriter) Flush() error {
	if !c.cr {
		return nil
	}
	c.cr = false
	_, err := c.w.Write(crlf)
	return err
}

// frameData writes msg to w as the content of an SMTP or LMTP DATA command
// (RFC 5321 section 4.5.2, RFC 2033 section 4.2): line endings normalised to
// CRLF, leading dots stuffed, the last line terminated by CRLF, and the
// terminating ".\r\n" line. It is the framing the LMTP and SMTP deliverers
// produce through go-smtp, kept as one function for tests, fuzzing and
// benchmarks.
func frameData(w io.Writer, msg io.Reader) (int64, error) {
	bw := bufio.NewWriter(w)
	dw := textproto.NewWriter(bw).DotWriter()
	n, err := copyFramed(dw, msg)
	if err != nil {
		return n, err
	}
	if err := dw.Close(); err != nil { // adds CRLF if missing, ".\r\n", flushes
		return n, err
	}
	return n, nil
}

// copyFramed copies msg through a crlfWriter into dw (a dot-stuffing DATA
// writer) and returns the number of bytes read from msg.
func copyFramed(dw io.Writer, msg io.Reader) (int64, error) {
	cw := newCRLFWriter(dw)
	n, err := io.Copy(cw, msg)
	if err != nil {
		return n, err
	}
	return n, cw.Flush()
}
