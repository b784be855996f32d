package testserver

import (
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
)

// registerRanges adds the endpoints of resumable downloads:
//
//	/ranges?key=K&n=1048576&cuts=0&seed=0&ranges=bytes&validator=etag
//	       &change_after=0&bad=&rate=0
//	/ranges/log?key=K              what was sent for K, see [RangesLog]
//
// /ranges serves a file of n bytes whose byte i is (i + 101*version) % 256,
// with http.ServeContent: Range, If-Range (strong ETag or Last-Modified),
// 206 with Content-Range, 416 past the end, as a static file server does.
// Requests are grouped by key; per key:
//
//   - cuts=C: the first C responses that send a body are cut at a random point
//     of the bytes they would send (drawn from seed and the key): the
//     connection is dropped on HTTP/1.1, the stream reset on HTTP/2.
//   - ranges=bytes announces Accept-Ranges: bytes; ranges=silent answers
//     ranges without announcing it; ranges=none ignores Range (200, whole).
//   - validator=etag sends a strong ETag "vVERSION" and a Last-Modified;
//     weak sends W/"vVERSION" and no Last-Modified; lastmod only a
//     Last-Modified; none neither.
//   - change_after=A: the file changes (version 1, new validators and
//     bytes) once A requests have been answered; 0 never.
//   - bad=416|wrong_range|other_range: every request with a Range header is
//     answered 416, or 206 with a Content-Range that does not match its body,
//     or 206 for a range starting elsewhere than asked; the bytes are the
//     current version's.
//   - rate=R: at most R bytes per second (0: as fast as possible).
//   - encoding=gzip serves the file gzip-coded (Content-Encoding: gzip,
//     ranges of the coded bytes); encoding=gzip_ranges codes only the
//     answers to Range requests. Up to 64 MiB.
//
// The counts live in the process, shared by all servers.
func registerRanges(mux *http.ServeMux) {
	mux.HandleFunc("GET /ranges", handleRanges)
	mux.HandleFunc("GET /ranges/log", handleRangesLog)
}

// RangesLog is what /ranges sent for one key (the JSON body of /ranges/log).
type RangesLog struct {
	// Sent counts the body bytes of every response, cut or not.
	Sent     int64           `json:"sent"`
	Requests []RangesRequest `json:"requests"`
}

// RangesRequest is one request to /ranges and what it was answered.
type RangesRequest struct {
	Proto          string `json:"proto"`
	Range          string `json:"range"`
	IfRange        string `json:"if_range"`
	AcceptEncoding string `json:"accept_encoding"`
	Status         int    `json:"status"`
	ContentRange   string `json:"content_range"`
	Sent           int64  `json:"sent"`
	Cut            bool   `json:"cut"`
}

type rangesState struct {
	log     RangesLog
	answers int // requests answered so far, for change_after
	cuts    int // responses cut so far
	random  *rand.Rand
}

var (
	rangesMu   sync.Mutex
	rangesKeys = map[string]*rangesState{}
)

// maxRangesKeys bounds the state kept; the oldest keys are not told apart,
// a full map is simply cleared.
const maxRangesKeys = 10000

func handleRanges(w http.ResponseWriter, r *http.Request) {
	q := query(r)
	key := r.URL.Query().Get("key")
	n := q.int("n", 1<<20, maxBytes)
	cuts := q.int("cuts", 0, 1000)
	seed := q.int("seed", 0, 1<<62)
	changeAfter := q.int("change_after", 0, 1000)
	rate := q.int("rate", 0, maxBytes)
	ranges := r.URL.Query().Get("ranges")
	validator := r.URL.Query().Get("validator")
	bad := r.URL.Query().Get("bad")
	encoding := r.URL.Query().Get("encoding")
	if key == "" {
		q.fail(errors.New("key: required"))
	}
	if ranges == "" {
		ranges = "bytes"
	}
	if validator == "" {
		validator = "etag"
	}
	if ranges != "bytes" && ranges != "silent" && ranges != "none" {
		q.fail(fmt.Errorf("ranges=%q: want bytes, silent or none", ranges))
	}
	if validator != "etag" && validator != "weak" && validator != "lastmod" && validator != "none" {
		q.fail(fmt.Errorf("validator=%q: want etag, weak, lastmod or none", validator))
	}
	if bad != "" && bad != "416" && bad != "wrong_range" && bad != "other_range" {
		q.fail(fmt.Errorf("bad=%q: want 416, wrong_range or other_range", bad))
	}
	if encoding != "" && encoding != "gzip" && encoding != "gzip_ranges" {
		q.fail(fmt.Errorf("encoding=%q: want gzip or gzip_ranges", encoding))
	}
	if encoding != "" && n > maxServed {
		q.fail(fmt.Errorf("encoding=%s: n=%d exceeds the limit %d of coded bodies", encoding, n, maxServed))
	}
	if q.failed(w) {
		return
	}

	rangesMu.Lock()
	state := rangesKeys[key]
	if state == nil {
		if len(rangesKeys) >= maxRangesKeys {
			clear(rangesKeys)
		}
		h := fnv.New64a()
		_, _ = h.Write([]byte(key))
		state = &rangesState{random: rand.New(rand.NewPCG(uint64(seed), h.Sum64()))}
		rangesKeys[key] = state
	}
	version := 0
	if changeAfter > 0 && state.answers >= int(changeAfter) {
		version = 1
	}
	state.answers++
	cutThis := int64(state.cuts) < cuts
	if cutThis {
		state.cuts++
	}
	// Drawn now, under the lock, so a seed gives the same points whatever
	// the other keys do: a fraction of the bytes this response sends.
	cutFraction := state.random.Float64()
	entry := len(state.log.Requests)
	state.log.Requests = append(state.log.Requests, RangesRequest{
		Proto:          r.Proto,
		Range:          r.Header.Get("Range"),
		IfRange:        r.Header.Get("If-Range"),
		AcceptEncoding: r.Header.Get("Accept-Encoding"),
	})
	rangesMu.Unlock()

	cw := &countingWriter{ResponseWriter: w, state: state, entry: entry, rate: rate, started: time.Now()}
	defer cw.record()
	if cutThis {
		cw.cutAfter = -1 // set once the status and length are known
		cw.cutFraction = cutFraction
	}
	header := w.Header()
	header.Set("Content-Type", "application/octet-stream")
	modified := time.Date(2026, 1, 1, version, 0, 0, 0, time.UTC)
	switch validator {
	case "etag":
		header.Set("ETag", fmt.Sprintf(`"v%d"`, version))
	case "weak":
		header.Set("ETag", fmt.Sprintf(`W/"v%d"`, version))
		modified = time.Time{}
	case "none":
		modified = time.Time{}
	}
	if validator == "weak" || validator == "none" {
		// ServeContent answers If-Range only against a validator it sent.
		r.Header.Del("If-Range")
	}
	content := &versionedContent{size: n, shift: int64(101*version) % 256}
	rangeHeader := r.Header.Get("Range")
	// What ServeContent serves: the file, or its gzip coding (ranges are
	// then ranges of the coded bytes, as with nginx's gzip_static).
	var served io.ReadSeeker = content
	if encoding == "gzip" || (encoding == "gzip_ranges" && rangeHeader != "") {
		var coded bytes.Buffer
		// Stored blocks: the coded body is as long as the file, so the
		// ranges a client asks for exist in it.
		zw, _ := gzip.NewWriterLevel(&coded, gzip.NoCompression)
		_, _ = io.Copy(zw, content)
		_ = zw.Close()
		served = bytes.NewReader(coded.Bytes())
		header.Set("Content-Encoding", "gzip")
		// ServeContent sends a coded body without Content-Length.
		cw.length = int64(coded.Len())
	}
	switch {
	case ranges == "none" || rangeHeader == "":
		if ranges != "bytes" {
			header.Del("Accept-Ranges")
			cw.dropAcceptRanges = true
		}
		if ranges == "none" {
			r.Header.Del("Range")
		}
		http.ServeContent(cw, r, "", modified, served)
	case bad == "416":
		header.Set("Content-Range", fmt.Sprintf("bytes */%d", n))
		http.Error(cw, "range not satisfiable", http.StatusRequestedRangeNotSatisfiable)
	case bad == "wrong_range" || bad == "other_range":
		asked, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimPrefix(rangeHeader, "bytes="), "-"), 10, 64)
		start, total := min(max(asked, 0), n-1), n
		if bad == "wrong_range" {
			// The asked range's bytes, labelled with another total.
			total = n + 1
		} else {
			// Another range than asked, labelled correctly.
			start = start / 2
		}
		length := n - start
		header.Set("Content-Range", fmt.Sprintf("bytes %d-%d/%d", start, n-1, total))
		header.Set("Content-Length", strconv.FormatInt(length, 10))
		cw.WriteHeader(http.StatusPartialContent)
		if _, err := content.Seek(start, io.SeekStart); err == nil {
			_, _ = io.CopyN(cw, content, length)
		}
	default:
		if ranges == "silent" {
			cw.dropAcceptRanges = true
		}
		http.ServeContent(cw, r, "", modified, served)
	}
}

func handleRangesLog(w http.ResponseWriter, r *http.Request) {
	rangesMu.Lock()
	defer rangesMu.Unlock()
	state := rangesKeys[r.URL.Query().Get("key")]
	if state == nil {
		writeJSON(w, RangesLog{Requests: []RangesRequest{}})
		return
	}
	writeJSON(w, state.log)
}

// versionedContent is an io.ReadSeeker over size bytes, byte i being
// (i + shift) % 256, for http.ServeContent.
type versionedContent struct {
	size, shift, offset int64
}

func (c *versionedContent) Read(p []byte) (int, error) {
	if c.offset >= c.size {
		return 0, io.EOF
	}
	p = p[:min(int64(len(p)), c.size-c.offset)]
	// The content is periodic (256 bytes): copy it from pattern, which
	// starts at byte 0 of a period and is longer than any read's piece.
	for done := 0; done < len(p); {
		start := (c.offset + c.shift + int64(done)) % 256
		done += copy(p[done:], pattern[start:])
	}
	c.offset += int64(len(p))
	return len(p), nil
}

func (c *versionedContent) Seek(offset int64, whence int) (int64, error) {
	switch whence {
	case io.SeekStart:
	case io.SeekCurrent:
		offset += c.offset
	case io.SeekEnd:
		offset += c.size
	}
	if offset < 0 {
		return 0, errors.New("versionedContent: negative offset")
	}
	c.offset = offset
	return offset, nil
}

// countingWriter counts the body bytes sent, paces them to rate, and cuts
// the response (http.ErrAbortHandler) after cutAfter bytes.
type countingWriter struct {
	http.ResponseWriter
	state            *rangesState
	entry            int
	rate             int64
	started          time.Time
	status           int
	sent             int64
	cutAfter         int64 // 0: never; -1: to be drawn at WriteHeader
	cutFraction      float64
	length           int64 // the body's length when no Content-Length says it
	cut              bool
	dropAcceptRanges bool
}

func (c *countingWriter) WriteHeader(status int) {
	if c.status != 0 {
		return
	}
	c.status = status
	if c.dropAcceptRanges {
		c.Header().Del("Accept-Ranges")
	}
	if c.cutAfter < 0 {
		c.cutAfter = 0
		length, err := strconv.ParseInt(c.Header().Get("Content-Length"), 10, 64)
		if err != nil {
			length = c.length
		}
		if length > 1 {
			// At least one byte sent and one not.
			c.cutAfter = 1 + int64(c.cutFraction*float64(length-1))
			c.cutAfter = min(c.cutAfter, length-1)
		}
	}
	c.ResponseWriter.WriteHeader(status)
}

func (c *countingWriter) Write(p []byte) (int, error) {
	if c.status == 0 {
		c.WriteHeader(http.StatusOK)
	}
	if c.cutAfter > 0 && c.sent+int64(len(p)) >= c.cutAfter {
		p = p[:c.cutAfter-c.sent]
		n, _ := c.ResponseWriter.Write(p)
		c.sent += int64(n)
		_ = http.NewResponseController(c.ResponseWriter).Flush()
		c.cut = true
		c.record()
		panic(http.ErrAbortHandler)
	}
	if c.rate > 0 {
		// Pace: the bytes sent so far may not run ahead of rate.
		due := c.started.Add(time.Duration(float64(c.sent) / float64(c.rate) * float64(time.Second)))
		if wait := time.Until(due); wait > 0 {
			time.Sleep(wait)
		}
	}
	n, err := c.ResponseWriter.Write(p)
	c.sent += int64(n)
	return n, err
}

func (c *countingWriter) Flush() {
	_ = http.NewResponseController(c.ResponseWriter).Flush()
}

func (c *countingWriter) Unwrap() http.ResponseWriter { return c.ResponseWriter }

// record adds what this response sent to the key's log, once.
func (c *countingWriter) record() {
	rangesMu.Lock()
	defer rangesMu.Unlock()
	entry := &c.state.log.Requests[c.entry]
	if entry.Status != 0 {
		return
	}
	entry.Status = c.status
	entry.ContentRange = c.Header().Get("Content-Range")
	entry.Sent = c.sent
	entry.Cut = c.cut
	c.state.log.Sent += c.sent
}
