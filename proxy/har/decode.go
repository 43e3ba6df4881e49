package har

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"

	"golang.org/x/text/encoding/unicode"
	"golang.org/x/text/transform"

	"loupe/proxy/flow"
)

// Decoder reads a HAR document one entry at a time, so that an import holds
// one entry in memory, never the whole file. It accepts what Import accepts
// and refuses what Import refuses, with the same errors; the document's
// end is checked too, so Next returns io.EOF only for a whole, well-formed
// document (a caller that commits on io.EOF never keeps a cut file).
type Decoder struct {
	dec   *json.Decoder
	state decodeState
	index int
	err   error
}

type decodeState int

const (
	beforeEntries decodeState = iota // walking towards log.entries
	inEntries                        // between entries
	afterEntries                     // entries done: the rest of the document is checked
	finished
)

// NewDecoder reads a HAR document from r (UTF-8, with or without a byte
// order mark, or UTF-16 with one).
func NewDecoder(r io.Reader) *Decoder {
	br := bufio.NewReaderSize(r, 64<<10)
	var src io.Reader = br
	switch bom, _ := br.Peek(3); {
	case bytes.HasPrefix(bom, []byte{0xef, 0xbb, 0xbf}):
		br.Discard(3)
	case bytes.HasPrefix(bom, []byte{0xff, 0xfe}), bytes.HasPrefix(bom, []byte{0xfe, 0xff}):
		src = transform.NewReader(br, unicode.UTF16(unicode.BigEndian, unicode.ExpectBOM).NewDecoder())
	}
	return &Decoder{dec: json.NewDecoder(src)}
}

// Index is the number of entries Next returned so far.
func (d *Decoder) Index() int { return d.index }

// Next returns the next entry as a flow with its bodies. After the last
// entry it checks the rest of the document and returns io.EOF; any other
// error ends the document (and names the entry, 0-based, and the field).
func (d *Decoder) Next() (flow.Recorded, error) {
	if d.err != nil {
		return flow.Recorded{}, d.err
	}
	rec, err := d.next()
	if err != nil {
		d.err = err
		d.state = finished
	}
	return rec, err
}

func (d *Decoder) next() (flow.Recorded, error) {
	for {
		switch d.state {
		case beforeEntries:
			found, err := d.findEntries()
			if err != nil {
				return flow.Recorded{}, err
			}
			if found {
				d.state = inEntries
			} else {
				d.state = finished
				return flow.Recorded{}, io.EOF
			}
		case inEntries:
			if !d.dec.More() {
				if _, err := d.dec.Token(); err != nil { // ]
					return flow.Recorded{}, jsonError(err)
				}
				d.state = afterEntries
				continue
			}
			var raw json.RawMessage
			if err := d.dec.Decode(&raw); err != nil {
				return flow.Recorded{}, jsonError(err)
			}
			rec, err := importEntry(raw)
			if err != nil {
				return flow.Recorded{}, fmt.Errorf("entry %d: %w", d.index, err)
			}
			d.index++
			return rec, nil
		case afterEntries:
			// The rest of log, then of the document, then nothing.
			for range 2 {
				if err := d.skipMembers(); err != nil {
					return flow.Recorded{}, err
				}
			}
			if err := d.end(); err != nil {
				return flow.Recorded{}, err
			}
			d.state = finished
			return flow.Recorded{}, io.EOF
		default:
			return flow.Recorded{}, io.EOF
		}
	}
}

// findEntries walks the document to the start of log.entries. It reports
// false for a document whose log has no entries (or an empty or null
// list), having checked the document to its end.
func (d *Decoder) findEntries() (bool, error) {
	if err := d.expectObject("(document)"); err != nil {
		if errors.Is(err, errNull) {
			return false, errors.New("log: missing")
		}
		return false, err
	}
	sawLog := false
	for d.dec.More() {
		key, err := d.key()
		if err != nil {
			return false, err
		}
		if !strings.EqualFold(key, "log") {
			if err := d.skip(); err != nil {
				return false, err
			}
			continue
		}
		if err := d.expectObject("log"); err != nil {
			if errors.Is(err, errNull) {
				continue
			}
			return false, err
		}
		sawLog = true
		for d.dec.More() {
			key, err := d.key()
			if err != nil {
				return false, err
			}
			if !strings.EqualFold(key, "entries") {
				if err := d.skip(); err != nil {
					return false, err
				}
				continue
			}
			tok, err := d.dec.Token()
			if err != nil {
				return false, jsonError(err)
			}
			if tok == nil {
				continue // null: no entries
			}
			if tok != json.Delim('[') {
				return false, fmt.Errorf("log.entries: unexpected %s", kind(tok))
			}
			return true, nil
		}
		if _, err := d.dec.Token(); err != nil { // } of log
			return false, jsonError(err)
		}
	}
	if _, err := d.dec.Token(); err != nil { // } of the document
		return false, jsonError(err)
	}
	if !sawLog {
		return false, errors.New("log: missing")
	}
	return false, d.end()
}

// errNull is expectObject's answer for a JSON null.
var errNull = errors.New("null")

// expectObject reads the start of an object; field names the value in the
// error for anything else.
func (d *Decoder) expectObject(field string) error {
	tok, err := d.dec.Token()
	if err != nil {
		return jsonError(err)
	}
	switch tok {
	case json.Delim('{'):
		return nil
	case nil:
		return errNull
	}
	return fmt.Errorf("%s: unexpected %s", field, kind(tok))
}

// key reads an object key.
func (d *Decoder) key() (string, error) {
	tok, err := d.dec.Token()
	if err != nil {
		return "", jsonError(err)
	}
	s, ok := tok.(string)
	if !ok {
		return "", fmt.Errorf("invalid JSON: object key %v", tok)
	}
	return s, nil
}

// skip reads one value whole, without keeping it.
func (d *Decoder) skip() error {
	depth := 0
	for {
		tok, err := d.dec.Token()
		if err != nil {
			return jsonError(err)
		}
		switch tok {
		case json.Delim('{'), json.Delim('['):
			depth++
		case json.Delim('}'), json.Delim(']'):
			depth--
		}
		if depth == 0 {
			return nil
		}
	}
}

// skipMembers reads the rest of the current object and its closing brace.
func (d *Decoder) skipMembers() error {
	for d.dec.More() {
		if _, err := d.key(); err != nil {
			return err
		}
		if err := d.skip(); err != nil {
			return err
		}
	}
	if _, err := d.dec.Token(); err != nil {
		return jsonError(err)
	}
	return nil
}

// end checks that nothing but space follows the document.
func (d *Decoder) end() error {
	if _, err := d.dec.Token(); err != io.EOF {
		if err == nil {
			return errors.New("invalid JSON: data after the document")
		}
		return jsonError(err)
	}
	return nil
}

// jsonError describes a syntax error as Import does.
func jsonError(err error) error {
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return errors.New("invalid JSON: the document ends early")
	}
	var se *json.SyntaxError
	if errors.As(err, &se) {
		return fmt.Errorf("invalid JSON at byte %d: %v", se.Offset, se)
	}
	return fmt.Errorf("read: %w", err)
}

// kind names a token's JSON type.
func kind(tok json.Token) string {
	switch tok.(type) {
	case json.Delim:
		if tok == json.Delim('[') {
			return "array"
		}
		return "object"
	case string:
		return "string"
	case float64, json.Number:
		return "number"
	case bool:
		return "bool"
	}
	return "null"
}
