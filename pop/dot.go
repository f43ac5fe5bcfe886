package pop

import (
	"bufio"
	"bytes"
	"errors"
	"io"
)

// errStale is returned by a body read after the next command was sent.
var errStale = errors.New("pop: message body read after the next command")

// dotReader decodes one dot-stuffed multi-line reply (RFC 1939 section 3)
// from br as a stream. It removes exactly one leading "." from lines that
// start with one, keeps every other byte (CRLF, bare CR, bare LF, NUL,
// 8-bit) unchanged, and ends only at CRLF "." CRLF, or at "." CRLF when that
// is the first line. Lines of any length pass through whole; memory is
// bounded by br's buffer.
type dotReader struct {
	br        *bufio.Reader
	command   string // for errors
	lineStart bool   // the next byte begins a line
	prevCR    bool   // the last message byte produced was CR
	done      bool   // terminator consumed
	err       error  // sticky error
	n         int64  // message bytes produced
}

var (
	crlf    = []byte("\r\n")
	crlfDot = []byte("\r\n.")
)

func newDotReader(br *bufio.Reader, command string) *dotReader {
	return &dotReader{br: br, command: command, lineStart: true}
}

func (d *dotReader) fail(err error) error {
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		err = &ProtocolError{Command: d.command, Err: ErrNoTerminator}
	} else {
		err = wrapIO(d.command, err)
	}
	d.err = err
	return err
}

// next returns the next run of message bytes, at most max long, from br's
// buffer without consuming it; the caller uses it and then calls
// br.Discard(len(chunk)). It returns (nil, io.EOF) at the terminator, and
// (nil, nil) when !block and nothing is buffered.
func (d *dotReader) next(max int, block bool) ([]byte, error) {
	if d.err != nil {
		return nil, d.err
	}
	if d.done {
		return nil, io.EOF
	}
	if d.lineStart {
		if !block && d.br.Buffered() < 3 {
			return nil, nil
		}
		b, err := d.br.Peek(1)
		if err != nil {
			return nil, d.fail(err)
		}
		if b[0] == '.' {
			// At a line start at least "." CRLF must follow.
			b, err = d.br.Peek(3)
			if err != nil {
				return nil, d.fail(err)
			}
			if b[1] == '\r' && b[2] == '\n' {
				_, _ = d.br.Discard(3)
				d.done = true
				return nil, io.EOF
			}
			_, _ = d.br.Discard(1) // the stuffed dot
		}
		d.lineStart = false
		d.prevCR = false
	}
	if d.br.Buffered() == 0 {
		if !block {
			return nil, nil
		}
		if _, err := d.br.Peek(1); err != nil {
			return nil, d.fail(err)
		}
	}
	buf, _ := d.br.Peek(d.br.Buffered())
	if len(buf) > max {
		buf = buf[:max]
	}
	// Only a line that begins with a dot needs the work above (a stuffed
	// dot, or the terminator): the chunk runs up to the next such line,
	// or to the end of what is buffered, many lines at once. A line
	// begins after CRLF, and when the buffer ends there the next byte is
	// not known yet.
	switch i := bytes.Index(buf, crlfDot); {
	case d.prevCR && buf[0] == '\n': // a CRLF split between two chunks
		buf = buf[:1]
		d.lineStart = true
	case i >= 0:
		buf = buf[:i+2]
		d.lineStart = true
	case bytes.HasSuffix(buf, crlf):
		d.lineStart = true
	}
	d.prevCR = buf[len(buf)-1] == '\r'
	d.n += int64(len(buf))
	return buf, nil
}

// Read implements io.Reader. It fills p with as many lines as are buffered
// and blocks only when it has nothing yet.
func (d *dotReader) Read(p []byte) (int, error) {
	n := 0
	for n < len(p) {
		chunk, err := d.next(len(p)-n, n == 0)
		if err != nil {
			if n > 0 && err != io.EOF {
				return n, nil // the error is sticky; report it next time
			}
			return n, err
		}
		if chunk == nil {
			break
		}
		n += copy(p[n:], chunk)
		_, _ = d.br.Discard(len(chunk))
	}
	return n, nil
}

// WriteTo implements io.WriterTo, writing straight from the read buffer.
func (d *dotReader) WriteTo(w io.Writer) (int64, error) {
	var total int64
	for {
		chunk, err := d.next(d.br.Size(), true)
		if err == io.EOF {
			return total, nil
		}
		if err != nil {
			return total, err
		}
		m, werr := w.Write(chunk)
		total += int64(m)
		_, _ = d.br.Discard(len(chunk))
		if werr != nil {
			return total, werr
		}
		if m != len(chunk) {
			return total, io.ErrShortWrite
		}
	}
}

// drain consumes the rest of the reply and makes later reads fail.
func (d *dotReader) drain() error {
	for {
		chunk, err := d.next(d.br.Size(), true)
		if err == io.EOF {
			break
		}
		if err != nil {
			return err
		}
		_, _ = d.br.Discard(len(chunk))
	}
	d.err = errStale
	return nil
}
