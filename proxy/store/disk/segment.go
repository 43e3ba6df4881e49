package disk

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"unsafe"
)

// segFile is what the segments need of a file; tests substitute one that
// fails (a full disk) or stalls.
type segFile interface {
	io.WriterAt
	Sync() error
	Close() error
}

// createSegment makes a new segment file; it never opens an existing one
// (O_EXCL), so a segment is never written twice.
func createSegment(path string) (segFile, error) {
	return os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
}

const segSuffix = ".seg"

func segName(id int64) string { return fmt.Sprintf("%010d%s", id, segSuffix) }

// segID parses a segment file name; ok is false for any other file.
func segID(name string) (int64, bool) {
	base, ok := strings.CutSuffix(name, segSuffix)
	if !ok || len(base) != 10 {
		return 0, false
	}
	id, err := strconv.ParseInt(base, 10, 64)
	return id, err == nil && id > 0
}

// segPath is where segment id lives in dir.
func segPath(dir string, id int64) string { return filepath.Join(dir, segName(id)) }

// segments appends large bodies to append-only files of about size bytes
// each. Only the writer goroutine calls its methods; the counters are
// atomic for Stats. Bytes are written at explicit offsets, so a failed
// write leaves no doubt about where the next one goes (it overwrites the
// failed one's remains, which nothing refers to).
type segments struct {
	dir    string
	size   int64
	create func(path string) (segFile, error)

	cur   segFile
	curID int64 // 0: none open
	// direct is cur opened a second time for direct I/O (nil: none, or
	// the file system refuses it), and noDirect stops trying.
	direct   *os.File
	noDirect bool
	off      int64 // bytes in cur
	next     int64 // id of the next segment
	sizes    map[int64]int64

	files, bytes atomic.Int64
}

// openSegments reads dir (creating it) for the segments an earlier run
// left, so that new ones get higher ids.
func openSegments(dir string, size int64, create func(string) (segFile, error)) (*segments, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("segment directory %s: %w", dir, err)
	}
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("segment directory %s: %w", dir, err)
	}
	s := &segments{dir: dir, size: size, create: create, next: 1, sizes: map[int64]int64{}}
	for _, e := range ents {
		id, ok := segID(e.Name())
		if !ok || !e.Type().IsRegular() {
			continue
		}
		info, err := e.Info()
		if err != nil {
			continue
		}
		s.sizes[id] = info.Size()
		s.files.Add(1)
		s.bytes.Add(info.Size())
		s.next = max(s.next, id+1)
	}
	return s, nil
}

// ids returns the segment files on disk.
func (s *segments) ids() []int64 {
	out := make([]int64, 0, len(s.sizes))
	for id := range s.sizes {
		out = append(out, id)
	}
	return out
}

// append writes p and returns where it went. A write that does not fit in
// the current segment starts a new one (unless the current one is empty).
func (s *segments) append(p []byte) (id, off int64, err error) {
	n := int64(len(p))
	if s.cur == nil || (s.off > 0 && s.off+n > s.size) {
		if err := s.roll(); err != nil {
			return 0, 0, err
		}
	}
	if _, err := s.cur.WriteAt(p, s.off); err != nil {
		return 0, 0, fmt.Errorf("write segment %s: %w", segName(s.curID), err)
	}
	id, off = s.curID, s.off
	s.off += n
	s.sizes[id] = s.off
	s.bytes.Add(n)
	return id, off, nil
}

// extent is a run of bytes in one segment.
type extent struct{ seg, off, n int64 }

// appendAll writes chunks back to back, as append would one by one, but
// with one vectored write per segment they land in rather than one write
// per chunk: the kernel copies a large write into the page cache for much
// less CPU per byte than many small ones. It returns the extents written
// (one per segment) and, on error, how many chunks were written whole.
func (s *segments) appendAll(chunks [][]byte) (exts []extent, done int, err error) {
	for done < len(chunks) {
		if n := int64(len(chunks[done])); s.cur == nil || (s.off > 0 && s.off+n > s.size) {
			if err := s.roll(); err != nil {
				return exts, done, err
			}
		}
		if s.directOK(chunks[done]) {
			if n, ok := s.appendDirect(chunks[done:]); ok {
				exts = append(exts, n.ext)
				done += n.chunks
				continue
			}
		}
		// The run of chunks that fits in the current segment (at least one).
		end, n := done, int64(0)
		for end < len(chunks) && end-done < maxIOV {
			c := int64(len(chunks[end]))
			if end > done && s.off+n+c > s.size {
				break
			}
			n += c
			end++
		}
		if err := writeAllAt(s.cur, chunks[done:end], s.off); err != nil {
			return exts, done, fmt.Errorf("write segment %s: %w", segName(s.curID), err)
		}
		exts = append(exts, extent{s.curID, s.off, n})
		s.off += n
		s.sizes[s.curID] = s.off
		s.bytes.Add(n)
		done = end
	}
	return exts, done, nil
}

// dioBlock is the alignment direct I/O asks of offsets, lengths and
// buffers (the largest logical block size in common use).
const dioBlock = 4096

// directOK reports whether c can be written with direct I/O: the file
// system takes it, and c's buffer is aligned with room to pad its length
// to a whole block (body buffers from bufPool are).
func (s *segments) directOK(c []byte) bool {
	if s.noDirect || len(c) == 0 || cap(c) < alignUp(len(c)) {
		return false
	}
	return uintptr(unsafe.Pointer(unsafe.SliceData(c)))%dioBlock == 0
}

func alignUp(n int) int { return (n + dioBlock - 1) &^ (dioBlock - 1) }

// directRun is what appendDirect wrote.
type directRun struct {
	ext    extent
	chunks int
}

// appendDirect writes the longest run of chunks it can with direct I/O,
// bypassing the page cache: the kernel then copies nothing (a buffered
// write into the page cache costs several times the recorder's own copy).
// The run starts at the next block boundary and ends at the first chunk
// whose length is not whole blocks; that chunk's last block is padded with
// zeros (its buffer has room) and the padding belongs to no body. ok is
// false when direct I/O is not to be had; the caller writes the chunks
// through the page cache instead.
func (s *segments) appendDirect(chunks [][]byte) (run directRun, ok bool) {
	if s.direct == nil {
		f, ok := s.cur.(*os.File)
		if !ok {
			s.noDirect = true
			return run, false
		}
		d, err := openDirect(f.Name())
		if err != nil {
			s.noDirect = true
			return run, false
		}
		s.direct = d
	}
	off := int64(alignUp(int(s.off)))
	var bufs [][]byte
	var n, padded int64
	for _, c := range chunks {
		if len(bufs) == maxIOV || !s.directOK(c) {
			break
		}
		p := int64(alignUp(len(c)))
		if len(bufs) > 0 && off+padded+p > s.size {
			break
		}
		b := c[:p]
		clear(b[len(c):])
		bufs = append(bufs, b)
		n += int64(len(c))
		padded += p
		if p != int64(len(c)) {
			break
		}
	}
	if err := pwritev(s.direct, bufs, off); err != nil {
		// The file system took the open but not the write (or the disk
		// failed): the page cache path tries again, and says which.
		s.direct.Close()
		s.direct, s.noDirect = nil, true
		return run, false
	}
	s.bytes.Add(off + padded - s.off)
	s.off = off + padded
	s.sizes[s.curID] = s.off
	return directRun{ext: extent{s.curID, off, n}, chunks: len(bufs)}, true
}

// maxIOV bounds the buffers of one vectored write (Linux takes 1,024).
const maxIOV = 1024

// writeAllAt writes bufs back to back at off: one pwritev on a plain file
// (the loop covers short writes), one WriteAt per buffer on anything else.
func writeAllAt(f segFile, bufs [][]byte, off int64) error {
	if of, ok := f.(*os.File); ok && len(bufs) > 1 {
		return pwritev(of, bufs, off)
	}
	for _, b := range bufs {
		if _, err := f.WriteAt(b, off); err != nil {
			return err
		}
		off += int64(len(b))
	}
	return nil
}

// roll closes the current segment (synced: its bytes are referenced by
// commits that a checkpoint makes durable) and starts the next.
func (s *segments) roll() error {
	if err := s.closeCurrent(); err != nil {
		return err
	}
	id := s.next
	f, err := s.create(segPath(s.dir, id))
	if err != nil {
		return fmt.Errorf("create segment %s: %w", segName(id), err)
	}
	s.next++
	s.cur, s.curID, s.off = f, id, 0
	s.sizes[id] = 0
	s.files.Add(1)
	return nil
}

// closeCurrent syncs and closes the current segment; the next append starts
// a new one.
func (s *segments) closeCurrent() error {
	if s.cur == nil {
		return nil
	}
	f := s.cur
	s.cur, s.curID, s.off = nil, 0, 0
	if s.direct != nil {
		s.direct.Close()
		s.direct = nil
	}
	err := f.Sync()
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("close segment: %w", err)
	}
	return nil
}

// remove deletes a segment file that no flow refers to any more. The
// current segment is closed first when it is the one.
func (s *segments) remove(id int64) error {
	if id == s.curID {
		if err := s.closeCurrent(); err != nil {
			return err
		}
	}
	err := os.Remove(segPath(s.dir, id))
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("remove segment %s: %w", segName(id), err)
	}
	if n, ok := s.sizes[id]; ok {
		delete(s.sizes, id)
		s.files.Add(-1)
		s.bytes.Add(-n)
	}
	return nil
}
