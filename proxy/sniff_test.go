package proxy

import (
	"bytes"
	"crypto/tls"
	"net"
	"testing"
	"time"
)

// clientHello is the first flight of a real TLS client asking for name
// ("" sends no SNI).
func clientHello(t *testing.T, name string) []byte {
	t.Helper()
	a, b := net.Pipe()
	defer b.Close()
	go func() {
		c := tls.Client(a, &tls.Config{ServerName: name, InsecureSkipVerify: name == ""})
		_ = c.SetDeadline(time.Now().Add(5 * time.Second))
		_ = c.Handshake() // fails once b closes
		a.Close()
	}()
	_ = b.SetReadDeadline(time.Now().Add(5 * time.Second))
	hdr := make([]byte, 5)
	if _, err := readFull(b, hdr); err != nil {
		t.Fatal(err)
	}
	body := make([]byte, int(hdr[3])<<8|int(hdr[4]))
	if _, err := readFull(b, body); err != nil {
		t.Fatal(err)
	}
	return append(hdr, body...)
}

func readFull(c net.Conn, p []byte) (int, error) {
	n := 0
	for n < len(p) {
		m, err := c.Read(p[n:])
		n += m
		if err != nil {
			return n, err
		}
	}
	return n, nil
}

// splitRecords re-frames a one-record ClientHello as two records, as a
// client with a large hello does.
func splitRecords(rec []byte, at int) []byte {
	msg := rec[5:]
	r1 := append([]byte{rec[0], rec[1], rec[2], byte(at >> 8), byte(at)}, msg[:at]...)
	rest := len(msg) - at
	return append(r1, append([]byte{rec[0], rec[1], rec[2], byte(rest >> 8), byte(rest)}, msg[at:]...)...)
}

// The sniffer finds the name however the bytes arrive, once, and gives up
// on anything that is not a ClientHello without keeping more than
// sniffMax bytes.
func TestSNISniffer(t *testing.T) {
	hello := clientHello(t, "site.example")
	tests := []struct {
		name   string
		stream []byte
		chunk  int
		want   string
	}{
		{"whole", hello, len(hello), "site.example"},
		{"byte by byte", hello, 1, "site.example"},
		{"two records", splitRecords(hello, 40), 7, "site.example"},
		{"followed by more", append(append([]byte{}, hello...), bytes.Repeat([]byte{0x17}, 100)...), 1000, "site.example"},
		{"no server name", clientHello(t, ""), 3, ""},
		{"not TLS", []byte("GET / HTTP/1.1\r\n\r\n"), 4, ""},
		{"a record that is not a hello", []byte{0x16, 3, 1, 0, 4, 2, 0, 0, 0}, 9, ""},
		{"endless", append([]byte{0x16, 3, 1, 0xff, 0xff, 1, 0xff, 0xff, 0xff}, bytes.Repeat([]byte{0}, 2*sniffMax)...), 4096, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []string
			s := &sniSniffer{found: func(n string) { got = append(got, n) }}
			for b := tt.stream; len(b) > 0; {
				n := min(tt.chunk, len(b))
				s.saw(b[:n])
				b = b[n:]
				if len(s.buf) > sniffMax {
					t.Fatalf("kept %d bytes", len(s.buf))
				}
			}
			if tt.want == "" && len(got) != 0 || tt.want != "" && (len(got) != 1 || got[0] != tt.want) {
				t.Errorf("found %q, want %q once", got, tt.want)
			}
			if !s.done && tt.name != "no server name" {
				t.Errorf("still sniffing after %d bytes", len(tt.stream))
			}
		})
	}
}
