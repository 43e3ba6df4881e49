package proxy

import (
	"net"
	"testing"
)

// chunkConn returns its bytes in the given chunks, one per Read.
type chunkConn struct {
	net.Conn
	chunks [][]byte
}

func (c *chunkConn) Read(p []byte) (int, error) {
	if len(c.chunks) == 0 {
		return 0, net.ErrClosed
	}
	n := copy(p, c.chunks[0])
	c.chunks = c.chunks[1:]
	return n, nil
}

// The plain-text alert that ended a handshake is found however the reads
// split it.
func TestHandshakeConnPlainAlert(t *testing.T) {
	alert := []byte{0x15, 0x03, 0x03, 0x00, 0x02, 0x02, 48}
	tests := []struct {
		name   string
		chunks [][]byte
		want   uint8
		ok     bool
	}{
		{"one read", [][]byte{append([]byte("hello record"), alert...)}, 48, true},
		{"split", [][]byte{[]byte("xx"), alert[:3], alert[3:5], alert[5:]}, 48, true},
		{"byte by byte", [][]byte{{alert[0]}, {alert[1]}, {alert[2]}, {alert[3]}, {alert[4]}, {alert[5]}, {alert[6]}}, 48, true},
		{"no alert", [][]byte{[]byte("GET / HTTP/1.1\r\n")}, 0, false},
		{"alert then more", [][]byte{alert, []byte("x")}, 0, false},
		{"short", [][]byte{alert[:6]}, 0, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			hc := &handshakeConn{Conn: &chunkConn{chunks: tc.chunks}}
			buf := make([]byte, 64)
			for range tc.chunks {
				if _, err := hc.Read(buf); err != nil {
					t.Fatal(err)
				}
			}
			got, ok := hc.plainAlert()
			if got != tc.want || ok != tc.ok {
				t.Errorf("plainAlert = %d, %v; want %d, %v", got, ok, tc.want, tc.ok)
			}
		})
	}
}
