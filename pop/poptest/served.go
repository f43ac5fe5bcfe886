package poptest

import "bytes"

// Served returns the message bytes a correct client must hand to its caller
// after RETR of a message whose Data is data (and Raw is false): data
// unchanged, with CRLF appended when data is not empty and does not end with
// CRLF. It is also the size LIST and STAT report for the message.
func Served(data []byte) []byte {
	if len(data) == 0 || bytes.HasSuffix(data, []byte("\r\n")) {
		return bytes.Clone(data)
	}
	out := make([]byte, 0, len(data)+2)
	return append(append(out, data...), '\r', '\n')
}

func servedSize(m Message) int64 {
	if m.Raw {
		return int64(len(m.Data))
	}
	n := int64(len(m.Data))
	if n > 0 && !bytes.HasSuffix(m.Data, []byte("\r\n")) {
		n += 2
	}
	return n
}

// ServedTop returns what TOP with the given line count serves for data
// (after unstuffing): the header, the empty line that ends it and the first
// lines of the body, each line ending where data has LF, with CRLF appended
// when the result does not end with CRLF. When data has no empty line the
// whole of data is the header.
func ServedTop(data []byte, lines int) []byte {
	return Served(topOf(data, lines))
}

// topOf cuts data after its header and the first n body lines. Lines end
// at LF; the header ends at the first line that is empty ("\r\n" or "\n").
func topOf(data []byte, n int) []byte {
	i := 0
	inHeader := true
	for i < len(data) {
		j := bytes.IndexByte(data[i:], '\n')
		if j < 0 {
			return data
		}
		line := data[i : i+j+1]
		i += j + 1
		if inHeader {
			if len(line) == 1 || (len(line) == 2 && line[0] == '\r') {
				inHeader = false
				if n == 0 {
					return data[:i]
				}
			}
			continue
		}
		n--
		if n == 0 {
			return data[:i]
		}
	}
	return data
}
