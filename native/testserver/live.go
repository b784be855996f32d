package testserver

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Limits of the /live endpoints, so that a typo in a test cannot make the
// server stream or wait for practically ever. A count of 0 means no end; such
// a stream still ends when the client goes away or the server closes.
const (
	maxLiveCount    = 10_000_000
	maxLiveInterval = 60 * time.Second
	maxLiveNumber   = 1<<53 - 1 // event numbers stay exact in JSON doubles
	maxRetry        = time.Hour
	maxRawBytes     = 1 << 20
	maxRawParts     = 100_000
	maxLiveBytes    = 8 << 30
	maxLiveChunk    = 1 << 20
	liveFlushEvery  = 1 << 20 // /live/bytes flushes after this many bytes
	maxLiveRecords  = 10_000
)

// States of a stream, as reported in LiveStats.Ended.
const (
	liveRunning         = "running"
	liveComplete        = "complete"
	liveClientGone      = "client_gone"
	liveFailedOnPurpose = "failed_on_purpose"
)

// errFailedOnPurpose ends a stream that fail_after broke.
var errFailedOnPurpose = errors.New("stream broken on purpose")

// registerLive adds the endpoints for live streaming responses:
//
//	/live/sse?id=X&events=3&interval_ms=0&fail_after=K&retry_ms=R&start=0
//	/live/ndjson?id=X&lines=3&interval_ms=0&fail_after=K
//	                  (interval_us=U instead of interval_ms, for /live/sse too)
//	/live/raw?id=X&parts=P1,P2&interval_ms=0&content_type=application/octet-stream
//	/live/bytes?id=X&n=1024&chunk=65536
//	/live/stats?id=X   the LiveStats of the latest stream named X, or 404
//	/live/open         {"open": N}, the number of /live streams running
//
// The values shown are the defaults; events=0 and lines=0 stream until the
// client leaves. All streams send their headers at once, without a
// Content-Length (chunked on HTTP/1.1), and flush every event, line and part.
//
// SSE events are "id: n\nevent: tick\ndata: {"n": n, "sent_ns": t}\n\n",
// where t is the server's clock in Unix nanoseconds when it wrote the event;
// NDJSON lines are the same JSON object. Numbering starts at start, or after
// the number in a Last-Event-ID header. retry_ms sends a "retry: R" block
// before the first event. events and lines count the events of the response,
// whatever their numbers.
//
// fail_after=K breaks the response where event K+1 would have been (after
// the same interval), provided K <= events: the connection is dropped on
// HTTP/1.1 without the last chunk, the stream reset on HTTP/2. Without it,
// or with K > events, the stream ends cleanly.
//
// Each raw part is base64url without padding; every part is written and
// flushed on its own, so that on HTTP/1.1 each non-empty part is one chunk.
//
// /live/bytes sends n bytes, byte i = i%256, in writes of chunk bytes, and
// flushes about every MiB.
//
// Stream records live in the process, shared by all servers, and the 10000
// most recent are kept.
func registerLive(mux *http.ServeMux) {
	mux.HandleFunc("GET /live/sse", handleLiveSSE)
	mux.HandleFunc("GET /live/ndjson", handleLiveNDJSON)
	mux.HandleFunc("GET /live/raw", handleLiveRaw)
	mux.HandleFunc("GET /live/bytes", handleLiveBytes)
	mux.HandleFunc("GET /live/stats", handleLiveStats)
	mux.HandleFunc("GET /live/open", handleLiveOpen)
	mux.HandleFunc("GET /live/flaky", handleLiveFlaky)
}

// LiveStats is what the server recorded about one /live stream, the JSON
// body of /live/stats. Times are Unix nanoseconds, 0 if not yet reached.
type LiveStats struct {
	ID            string `json:"id"`
	Path          string `json:"path"`
	Proto         string `json:"proto"`
	StartedNs     int64  `json:"started_ns"`
	WrittenEvents int64  `json:"written_events"` // events, lines, parts, or writes of /live/bytes
	WrittenBytes  int64  `json:"written_bytes"`
	LastWriteNs   int64  `json:"last_write_ns"` // when the last write and flush returned
	// BlockedNs is the total time spent in writes and flushes: a client
	// that reads slowly makes it grow.
	BlockedNs      int64 `json:"blocked_ns"`
	Disconnected   bool  `json:"disconnected"`
	DisconnectedNs int64 `json:"disconnected_ns"`
	// Ended is running, complete, client_gone (also when the server
	// closed) or failed_on_purpose.
	Ended       string `json:"ended"`
	LastEventID string `json:"last_event_id"`
}

// liveStream is the record of one stream, updated by its handler and read
// by /live/stats.
type liveStream struct {
	mu    sync.Mutex
	stats LiveStats
}

func (s *liveStream) snapshot() LiveStats {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.stats
}

// wrote accounts for a write (and flush) that ran from begin to end.
func (s *liveStream) wrote(bytes, events int64, begin, end time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.stats.WrittenBytes += bytes
	s.stats.WrittenEvents += events
	s.stats.BlockedNs += int64(end.Sub(begin))
	s.stats.LastWriteNs = end.UnixNano()
}

// end records how the stream ended. The first call wins, so that the
// moment the client was first seen gone is kept.
func (s *liveStream) end(state string) {
	now := time.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stats.Ended != liveRunning {
		return
	}
	s.stats.Ended = state
	if state == liveClientGone {
		s.stats.Disconnected = true
		s.stats.DisconnectedNs = now.UnixNano()
	}
}

// liveRegistry holds the records of the most recent streams.
type liveRegistry struct {
	mu    sync.Mutex
	byID  map[string]*liveStream
	order []*liveStream // oldest first
	open  atomic.Int64
}

var liveStreams = &liveRegistry{byID: map[string]*liveStream{}}

// begin records a new stream of r and counts it as open.
func (g *liveRegistry) begin(r *http.Request) *liveStream {
	s := &liveStream{stats: LiveStats{
		ID:          r.URL.Query().Get("id"),
		Path:        r.URL.Path,
		Proto:       r.Proto,
		StartedNs:   time.Now().UnixNano(),
		Ended:       liveRunning,
		LastEventID: r.Header.Get("Last-Event-ID"),
	}}
	g.open.Add(1)
	g.mu.Lock()
	defer g.mu.Unlock()
	g.byID[s.stats.ID] = s
	g.order = append(g.order, s)
	if len(g.order) > maxLiveRecords {
		g.forget(g.order[0])
		g.order[0] = nil // let the collector have it once append copies
		g.order = g.order[1:]
	}
	return s
}

// forget drops old from the index unless a newer stream took its id.
func (g *liveRegistry) forget(old *liveStream) {
	if id := old.stats.ID; g.byID[id] == old {
		delete(g.byID, id)
	}
}

func (g *liveRegistry) lookup(id string) (*liveStream, bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	s, ok := g.byID[id]
	return s, ok
}

func handleLiveStats(w http.ResponseWriter, r *http.Request) {
	id := r.URL.Query().Get("id")
	s, ok := liveStreams.lookup(id)
	if !ok {
		writeJSONStatus(w, http.StatusNotFound, map[string]string{"error": fmt.Sprintf("no stream with id %q", id)})
		return
	}
	writeJSON(w, s.snapshot())
}

func handleLiveOpen(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, map[string]int64{"open": liveStreams.open.Load()})
}

// writeJSONStatus is writeJSON with a status other than 200.
func writeJSONStatus(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

// liveWriter writes the body of a stream and keeps its record up to date.
type liveWriter struct {
	ctx context.Context
	w   http.ResponseWriter
	rc  *http.ResponseController
	r   *http.Request
	rec *liveStream
}

// serveLive sends the headers already set on w and then the body that
// stream writes, recording the stream from start to end.
func serveLive(w http.ResponseWriter, r *http.Request, stream func(*liveWriter) error) {
	rec := liveStreams.begin(r)
	// The request context ends when the client leaves, even while the
	// handler sleeps or is blocked writing; it also ends once the handler
	// returns, which stop rules out.
	stop := context.AfterFunc(r.Context(), func() { rec.end(liveClientGone) })
	defer func() {
		stop()
		liveStreams.open.Add(-1)
	}()
	lw := &liveWriter{ctx: r.Context(), w: w, rc: http.NewResponseController(w), r: r, rec: rec}
	err := lw.startBody()
	if err == nil && r.Method != http.MethodHead {
		err = stream(lw)
	}
	rec.end(outcome(err))
}

func outcome(err error) string {
	switch {
	case err == nil:
		return liveComplete
	case errors.Is(err, errFailedOnPurpose):
		return liveFailedOnPurpose
	default: // the request context ended or a write failed
		return liveClientGone
	}
}

// startBody sends the headers now: clients of live streams expect them
// before the first event, and on HTTP/1.1 it makes the body chunked.
func (lw *liveWriter) startBody() error {
	lw.w.WriteHeader(http.StatusOK)
	return lw.send(nil, 0, true)
}

// send writes p, flushes it if asked to, and accounts for it as events.
func (lw *liveWriter) send(p []byte, events int64, flush bool) error {
	begin := time.Now()
	n, err := lw.w.Write(p)
	if err == nil && flush {
		err = lw.rc.Flush()
	}
	if err != nil {
		events = 0
	}
	lw.rec.wrote(int64(n), events, begin, time.Now())
	return err
}

// ticks sends events 0, 1, ... count-1 (no end if count is 0) with write,
// interval apart, and breaks the response instead of event failAfter
// (if not negative).
func (lw *liveWriter) ticks(count, failAfter int64, interval time.Duration, write func(i int64) error) error {
	start := time.Now()
	for i := int64(0); ; i++ {
		failNow := i == failAfter
		if !failNow && count != 0 && i >= count {
			return nil
		}
		// Event i is due at start + i*interval, so that the rate holds
		// however long the writes take (sleeping interval after each
		// would fall behind at thousands of events per second).
		if i > 0 && !sleep(lw.ctx, time.Until(start.Add(time.Duration(i)*interval))) {
			return lw.ctx.Err()
		}
		if failNow {
			return lw.abort()
		}
		if err := write(i); err != nil {
			return err
		}
	}
}

// abort breaks the response so that the client sees an error rather than
// an end. On HTTP/1.1 it drops the TCP connection, without the last chunk
// or a TLS close_notify, as a crashing server would. HTTP/2 streams cannot
// be hijacked; the panic makes net/http reset the stream.
func (lw *liveWriter) abort() error {
	lw.rec.end(liveFailedOnPurpose)
	if lw.r.ProtoMajor == 1 {
		if conn, _, err := lw.rc.Hijack(); err == nil {
			_ = rawConn(conn).Close()
			return errFailedOnPurpose
		}
	}
	sleep(lw.ctx, faultResetDelay) // see handleTruncate
	panic(http.ErrAbortHandler)
}

// tickParams are the parameters shared by /live/sse and /live/ndjson.
type tickParams struct {
	count     int64
	interval  time.Duration
	failAfter int64 // -1: never
}

func readTickParams(q *params, countName string) tickParams {
	tp := tickParams{
		count:     q.int(countName, 3, maxLiveCount),
		interval:  time.Duration(q.int("interval_ms", 0, maxLiveInterval.Milliseconds())) * time.Millisecond,
		failAfter: q.int("fail_after", -1, maxLiveCount),
	}
	// interval_us, for rates above 1,000 events/s (the benchmarks'
	// 20,000 lines/s), replaces interval_ms.
	if us := q.int("interval_us", 0, maxLiveInterval.Microseconds()); us > 0 {
		tp.interval = time.Duration(us) * time.Microsecond
	}
	return tp
}

// tickJSON is the data of SSE events and the NDJSON lines.
func tickJSON(n int64) string {
	return fmt.Sprintf(`{"n": %d, "sent_ns": %d}`, n, time.Now().UnixNano())
}

func handleLiveSSE(w http.ResponseWriter, r *http.Request) {
	q := query(r)
	tp := readTickParams(q, "events")
	first := q.int("start", 0, maxLiveNumber)
	retry := q.int("retry_ms", -1, maxRetry.Milliseconds())
	if last, ok := lastEventID(r, q); ok {
		first = last + 1
	}
	if q.failed(w) {
		return
	}
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-cache")
	serveLive(w, r, func(lw *liveWriter) error {
		if retry >= 0 {
			if err := lw.send(fmt.Appendf(nil, "retry: %d\n\n", retry), 0, true); err != nil {
				return err
			}
		}
		return lw.ticks(tp.count, tp.failAfter, tp.interval, func(i int64) error {
			n := first + i
			event := fmt.Sprintf("id: %d\nevent: tick\ndata: %s\n\n", n, tickJSON(n))
			return lw.send([]byte(event), 1, true)
		})
	})
}

// lastEventID returns the number in the Last-Event-ID header, if any.
func lastEventID(r *http.Request, q *params) (int64, bool) {
	s := r.Header.Get("Last-Event-ID")
	if s == "" {
		return 0, false
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 0 || n >= maxLiveNumber {
		q.fail(fmt.Errorf("Last-Event-ID %q: want an event number below %d", s, maxLiveNumber))
		return 0, false
	}
	return n, true
}

func handleLiveNDJSON(w http.ResponseWriter, r *http.Request) {
	q := query(r)
	tp := readTickParams(q, "lines")
	if q.failed(w) {
		return
	}
	w.Header().Set("Content-Type", "application/x-ndjson")
	serveLive(w, r, func(lw *liveWriter) error {
		return lw.ticks(tp.count, tp.failAfter, tp.interval, func(i int64) error {
			return lw.send([]byte(tickJSON(i)+"\n"), 1, true)
		})
	})
}

func handleLiveRaw(w http.ResponseWriter, r *http.Request) {
	q := query(r)
	interval := time.Duration(q.int("interval_ms", 0, maxLiveInterval.Milliseconds())) * time.Millisecond
	parts, err := decodeParts(r.URL.Query().Get("parts"))
	if err != nil {
		q.fail(err)
	}
	if q.failed(w) {
		return
	}
	contentType := r.URL.Query().Get("content_type")
	if contentType == "" {
		contentType = "application/octet-stream"
	}
	w.Header().Set("Content-Type", contentType)
	serveLive(w, r, func(lw *liveWriter) error {
		if len(parts) == 0 {
			return nil // for ticks, a count of 0 would mean no end
		}
		return lw.ticks(int64(len(parts)), -1, interval, func(i int64) error {
			return lw.send(parts[i], 1, true)
		})
	})
}

// decodeParts decodes the comma-separated base64url parts of /live/raw.
// An empty list has no parts; an empty item is an empty part.
func decodeParts(list string) ([][]byte, error) {
	if list == "" {
		return nil, nil
	}
	items := strings.Split(list, ",")
	if len(items) > maxRawParts {
		return nil, fmt.Errorf("%d parts exceed the limit %d", len(items), maxRawParts)
	}
	parts := make([][]byte, len(items))
	total := 0
	for i, item := range items {
		b, err := base64.RawURLEncoding.DecodeString(item)
		if err != nil {
			return nil, fmt.Errorf("part %d: want unpadded base64url: %v", i, err)
		}
		total += len(b)
		if total > maxRawBytes {
			return nil, fmt.Errorf("parts exceed the limit of %d bytes", maxRawBytes)
		}
		parts[i] = b
	}
	return parts, nil
}

func handleLiveBytes(w http.ResponseWriter, r *http.Request) {
	q := query(r)
	n := q.int("n", 1024, maxLiveBytes)
	chunk := q.int("chunk", 64<<10, maxLiveChunk)
	if chunk == 0 {
		q.fail(errors.New("chunk=0: want at least 1"))
	}
	if q.failed(w) {
		return
	}
	w.Header().Set("Content-Type", "application/octet-stream")
	serveLive(w, r, func(lw *liveWriter) error {
		return lw.sendPattern(n, chunk)
	})
}

// sendPattern writes the first n bytes of the /bytes payload in writes of
// chunk bytes. The buffer holds chunk bytes from every offset modulo 256.
func (lw *liveWriter) sendPattern(n, chunk int64) error {
	buf := make([]byte, chunk+255)
	for i := range buf {
		buf[i] = byte(i)
	}
	var sent, unflushed int64
	for sent < n {
		if err := lw.ctx.Err(); err != nil {
			return err
		}
		k := min(chunk, n-sent)
		start := sent % 256
		unflushed += k
		flush := unflushed >= liveFlushEvery
		if err := lw.send(buf[start:start+k], 1, flush); err != nil {
			return err
		}
		sent += k
		if flush {
			unflushed = 0
		}
	}
	return nil
}

// flakyAttempts counts /live/flaky requests per id, so that the first ones
// can fail and a retry can succeed (bounded like the stats store).
var flakyAttempts = struct {
	sync.Mutex
	byID map[string]int64
}{byID: map[string]int64{}}

// handleLiveFlaky serves n bytes of the /bytes pattern with a
// Content-Length; the first fail_first requests of an id stop halfway (the
// client sees the body cut short), later ones send it whole.
func handleLiveFlaky(w http.ResponseWriter, r *http.Request) {
	q := query(r)
	n := q.int("n", 1024, maxLiveBytes)
	failFirst := q.int("fail_first", 1, 1000)
	if q.failed(w) {
		return
	}
	id := r.URL.Query().Get("id")
	flakyAttempts.Lock()
	if len(flakyAttempts.byID) >= maxLiveRecords {
		flakyAttempts.byID = map[string]int64{}
	}
	flakyAttempts.byID[id]++
	attempt := flakyAttempts.byID[id]
	flakyAttempts.Unlock()
	send := n
	if attempt <= failFirst {
		send = n / 2
	}
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Header().Set("Content-Length", strconv.FormatInt(n, 10))
	w.Header().Set("X-Attempt", strconv.FormatInt(attempt, 10))
	w.WriteHeader(http.StatusOK)
	// Returning with fewer bytes than announced makes net/http cut the
	// connection (HTTP/1.1) or reset the stream (HTTP/2).
	_ = writeRepeated(r.Context(), w, pattern, send, nil)
	_ = http.NewResponseController(w).Flush()
	if send < n && r.ProtoMajor == 2 {
		sleep(r.Context(), faultResetDelay) // see handleTruncate
	}
}
