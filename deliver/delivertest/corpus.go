package delivertest

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
)

// Corpus is a reproducible set of test messages: RFC 5322 messages with CRLF
// line endings whose sizes spread between a minimum and a maximum so that
// they add up to about a chosen total, as real mail does (many small
// messages, a few large ones). Messages are generated on demand, so a large
// corpus costs no memory.
type Corpus struct {
	sizes []int
	text  []byte // printable filler the bodies are cut from
	seed  uint64
}

// NewCorpus returns n messages of min to max bytes adding up to about total
// bytes (within a few per cent when that is reachable), the same for the same
// arguments.
func NewCorpus(n int, minSize, maxSize int, total int64, seed uint64) *Corpus {
	if minSize < 512 {
		minSize = 512
	}
	maxSize = max(maxSize, minSize)
	r := rand.New(rand.NewPCG(seed, 0x6d756c746964726f))
	us := make([]float64, n)
	for i := range us {
		us[i] = r.Float64()
	}
	ratio := float64(maxSize) / float64(minSize)
	sizesFor := func(k float64) ([]int, int64) {
		s := make([]int, n)
		var sum int64
		for i, u := range us {
			s[i] = int(float64(minSize) * math.Pow(ratio, math.Pow(u, k)))
			sum += int64(s[i])
		}
		return s, sum
	}
	// Larger k makes small messages more frequent; bisect for the total.
	lo, hi := 0.01, 100.0
	var sizes []int
	for range 60 {
		k := math.Sqrt(lo * hi)
		var sum int64
		sizes, sum = sizesFor(k)
		if sum > total {
			lo = k
		} else {
			hi = k
		}
	}
	c := &Corpus{sizes: sizes, seed: seed, text: make([]byte, 64<<10)}
	const alphabet = "abcdefghijklmnopqrstuvwxyz ABCDEFGHIJKLMNOPQRSTUVWXYZ 0123456789 .,;-"
	for i := range c.text {
		c.text[i] = alphabet[r.IntN(len(alphabet))]
	}
	// Lines of 76 characters and CRLF.
	for i := 76; i+1 < len(c.text); i += 78 {
		c.text[i], c.text[i+1] = '\r', '\n'
	}
	return c
}

// Len returns the number of messages.
func (c *Corpus) Len() int { return len(c.sizes) }

// Size returns the size of message i in bytes.
func (c *Corpus) Size(i int) int { return c.sizes[i] }

// Sizes returns every message size.
func (c *Corpus) Sizes() []int { return slices.Clone(c.sizes) }

// Total returns the sum of the message sizes.
func (c *Corpus) Total() int64 {
	var t int64
	for _, s := range c.sizes {
		t += int64(s)
	}
	return t
}

// Append appends message i to dst and returns the extended slice; pass a
// reused buffer to generate the corpus without allocating.
func (c *Corpus) Append(dst []byte, i int) []byte {
	size := c.sizes[i]
	start := len(dst)
	dst = fmt.Appendf(dst, "From: Sender %d <sender%d@example.org>\r\n"+
		"To: undisclosed-recipients:;\r\n"+
		"Subject: corpus message %d of %d\r\n"+
		"Date: Mon, 02 Jan 2006 15:04:05 +0000\r\n"+
		"Message-ID: <corpus-%d-%d@example.org>\r\n"+
		"MIME-Version: 1.0\r\n"+
		"Content-Type: text/plain; charset=us-ascii\r\n"+
		"\r\n", i%97, i%97, i, len(c.sizes), c.seed, i)
	off := (i * 7919) % 78 * 13 % len(c.text)
	for len(dst)-start < size-2 {
		n := min(size-2-(len(dst)-start), len(c.text)-off)
		dst = append(dst, c.text[off:off+n]...)
		off = 0
	}
	if dst[len(dst)-1] == '\r' { // never leave a bare CR before the final CRLF
		dst[len(dst)-1] = '.'
	}
	return append(dst, "\r\n"...)
}

// Message returns message i as a new slice.
func (c *Corpus) Message(i int) []byte {
	return c.Append(make([]byte, 0, c.sizes[i]), i)
}
