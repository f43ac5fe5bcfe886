package poptest

import (
	"bytes"
	"fmt"
	"io"
	"testing"
)

// BenchmarkRetr measures how fast the server serves RETR (stuffing and
// writing) to a raw client that discards the bytes.
func BenchmarkRetr(b *testing.B) {
	for _, size := range []int{4 << 10, 1 << 20} {
		b.Run(fmt.Sprintf("%dKiB", size>>10), func(b *testing.B) {
			line := []byte("A line of a message body, about as long as real ones are.....\r\n")
			data := bytes.Repeat(line, size/len(line))
			s := &Server{}
			s.AddUser("u", "p", Message{UID: "1", Data: data})
			s.Start(b)
			c := dial(b, s)
			c.line()
			c.login("u", "p")
			end := []byte("\r\n.\r\n")
			b.SetBytes(int64(len(data)))
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				c.send("RETR 1")
				c.line()
				n := 0
				for {
					chunk, err := c.r.ReadSlice('\n')
					if err != nil && err != io.EOF {
						b.Fatal(err)
					}
					n += len(chunk)
					if n >= len(data) && bytes.Equal(chunk, end[2:]) {
						break
					}
				}
			}
		})
	}
}
