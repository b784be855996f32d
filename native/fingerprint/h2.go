package fingerprint

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/net/http2/hpack"
)

// An HTTP/2 client is told apart by what it sends before its first request:
// its SETTINGS, its connection WINDOW_UPDATE, any PRIORITY frames, and the
// order of the pseudo headers of the first HEADERS. Akamai's fingerprint
// (Shuster and Segal, "Passive Fingerprinting of HTTP/2 Clients", Black Hat
// EU 2017) writes them as
//
//	SETTINGS|WINDOW_UPDATE|PRIORITY|PSEUDO_HEADER_ORDER
//
// H2Capture gets a copy of the plaintext the server reads and parses the
// frames (RFC 9113 4.1) up to the end of the first header block.

const (
	h2ClientPreface  = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
	h2FrameHeaderLen = 9
	// maxH2Capture bounds the bytes parsed before giving up on a client
	// whose first header block does not come.
	maxH2Capture = 1 << 20

	h2FrameHeaders      = 0x1
	h2FramePriority     = 0x2
	h2FrameSettings     = 0x4
	h2FrameWindowUpdate = 0x8
	h2FrameContinuation = 0x9
	// RFC 9218 7.1: the extensible priority scheme's signal, sent by
	// browsers that no longer send PRIORITY frames.
	h2FramePriorityUpdate = 0x10

	h2FlagAck        = 0x1 // SETTINGS
	h2FlagEndHeaders = 0x4
	h2FlagPadded     = 0x8
	h2FlagPriority   = 0x20
)

// H2Priority is a stream dependency, from a PRIORITY frame or the priority
// fields of a HEADERS frame (RFC 7540 5.3, deprecated by RFC 9113 but still
// sent by browsers).
type H2Priority struct {
	StreamID  uint32 `json:"stream_id"`
	Exclusive bool   `json:"exclusive"`
	DependsOn uint32 `json:"depends_on"`
	Weight    int    `json:"weight"` // 1 to 256: the wire value plus one
}

type H2Setting struct {
	ID    uint16
	Value uint32
}

// H2Preamble is what the client sent up to the end of its first header
// block.
type H2Preamble struct {
	Settings        []H2Setting  // of the first SETTINGS frame
	WindowUpdate    uint32       // increment of the first connection WINDOW_UPDATE
	HasWindowUpdate bool         //
	Priorities      []H2Priority // PRIORITY frames, in order
	HeadersPriority *H2Priority  // priority fields of the first HEADERS frame
	Headers         [][2]string  // decoded first header block, pseudo headers included
}

// H2Capture parses a copy of the client's byte stream as it arrives.
type H2Capture struct {
	mu          sync.Mutex
	pending     []byte // bytes of an incomplete preface or frame
	total       int    // bytes fed so far
	sawPreface  bool
	sawSettings bool
	block       []byte // header block fragments gathered so far
	blockStream uint32 // stream of the header block under way, 0 if none
	done        bool
	err         error
	pre         H2Preamble

	// all keeps decoding after the first header block, for captures of
	// every request a browser sends on the connection.
	all           bool
	dec           *hpack.Decoder // one per connection: HPACK state spans blocks
	blockPriority *H2Priority    // priority fields of the block under way
	blockAt       time.Time
	streams       []H2Stream
	later         []H2Priority       // PRIORITY frames after the first header block
	updates       []H2PriorityUpdate // PRIORITY_UPDATE frames
}

// NewH2Capture returns an empty capture; with allStreams it keeps decoding
// every later header block too (see Captured), else it stops at the first.
func NewH2Capture(allStreams bool) *H2Capture {
	return &H2Capture{all: allStreams}
}

// H2Stream is one request header block seen on a connection (all mode).
type H2Stream struct {
	StreamID        uint32      `json:"stream_id"`
	Headers         [][2]string `json:"headers"`
	HeadersPriority *H2Priority `json:"headers_priority"`
	At              time.Time   `json:"-"`
}

// H2PriorityUpdate is a PRIORITY_UPDATE frame (RFC 9218 7.1).
type H2PriorityUpdate struct {
	StreamID uint32 `json:"stream_id"`
	Value    string `json:"value"`
}

// feed parses b, the next bytes the client sent. It is a no-op once the
// first header block is complete or the capture failed.
func (c *H2Capture) Feed(b []byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.finished() {
		return
	}
	c.total += len(b)
	if !c.all && c.total > maxH2Capture {
		c.fail(fmt.Errorf("no complete header block in the first %d bytes", maxH2Capture))
		return
	}
	c.pending = append(c.pending, b...)
	rest := c.parse(c.pending)
	if c.finished() {
		c.pending = nil
		return
	}
	// Copy so that consumed frames are released.
	c.pending = append([]byte(nil), rest...)
}

// finished reports whether later bytes no longer matter.
func (c *H2Capture) finished() bool {
	return c.err != nil || (c.done && !c.all)
}

func (c *H2Capture) fail(err error) {
	c.err = err
	c.pending, c.block = nil, nil
}

// parse consumes the complete frames at the start of b and returns the rest.
func (c *H2Capture) parse(b []byte) []byte {
	if !c.sawPreface {
		if len(b) < len(h2ClientPreface) {
			return b
		}
		if string(b[:len(h2ClientPreface)]) != h2ClientPreface {
			c.fail(errors.New("no HTTP/2 client preface"))
			return nil
		}
		c.sawPreface = true
		b = b[len(h2ClientPreface):]
	}
	for len(b) >= h2FrameHeaderLen && !c.finished() {
		length := int(b[0])<<16 | int(b[1])<<8 | int(b[2])
		if len(b) < h2FrameHeaderLen+length {
			break
		}
		typ, flags := b[3], b[4]
		stream := be32(b[5:9]) & 0x7fffffff
		c.frame(typ, flags, stream, b[h2FrameHeaderLen:h2FrameHeaderLen+length])
		b = b[h2FrameHeaderLen+length:]
	}
	return b
}

// frame records one frame of interest.
func (c *H2Capture) frame(typ, flags byte, stream uint32, payload []byte) {
	if c.blockStream != 0 {
		// RFC 9113 6.10: nothing may come between a header block's frames.
		if typ != h2FrameContinuation || stream != c.blockStream {
			c.fail(errors.New("header block interrupted"))
			return
		}
		c.addFragment(flags, payload)
		return
	}
	switch typ {
	case h2FrameSettings:
		if flags&h2FlagAck != 0 || c.sawSettings {
			return
		}
		if len(payload)%6 != 0 {
			c.fail(errors.New("SETTINGS frame of bad length"))
			return
		}
		c.sawSettings = true
		c.pre.Settings = []H2Setting{}
		for p := payload; len(p) > 0; p = p[6:] {
			c.pre.Settings = append(c.pre.Settings, H2Setting{uint16(p[0])<<8 | uint16(p[1]), be32(p[2:6])})
		}
	case h2FrameWindowUpdate:
		if stream == 0 && !c.pre.HasWindowUpdate && len(payload) == 4 {
			c.pre.WindowUpdate = be32(payload) & 0x7fffffff
			c.pre.HasWindowUpdate = true
		}
	case h2FramePriority:
		if len(payload) != 5 {
			c.fail(errors.New("PRIORITY frame of bad length"))
			return
		}
		if c.done {
			c.later = append(c.later, parsePriority(stream, payload))
			return
		}
		c.pre.Priorities = append(c.pre.Priorities, parsePriority(stream, payload))
	case h2FramePriorityUpdate:
		if len(payload) >= 4 {
			c.updates = append(c.updates, H2PriorityUpdate{be32(payload[:4]) & 0x7fffffff, string(payload[4:])})
		}
	case h2FrameHeaders:
		c.headers(flags, stream, payload)
	}
}

// headers starts the first header block from a HEADERS frame, stripping its
// padding and priority fields (RFC 9113 6.2).
func (c *H2Capture) headers(flags byte, stream uint32, payload []byte) {
	padding := 0
	if flags&h2FlagPadded != 0 {
		if len(payload) < 1 {
			c.fail(errors.New("HEADERS frame too short"))
			return
		}
		padding = int(payload[0])
		payload = payload[1:]
	}
	if flags&h2FlagPriority != 0 {
		if len(payload) < 5 {
			c.fail(errors.New("HEADERS frame too short"))
			return
		}
		p := parsePriority(stream, payload[:5])
		c.blockPriority = &p
		payload = payload[5:]
	}
	if !c.done {
		c.pre.HeadersPriority = c.blockPriority
	}
	c.blockAt = time.Now()
	if padding > len(payload) || stream == 0 {
		c.fail(errors.New("malformed HEADERS frame"))
		return
	}
	c.blockStream = stream
	c.addFragment(flags, payload[:len(payload)-padding])
}

func (c *H2Capture) addFragment(flags byte, fragment []byte) {
	c.block = append(c.block, fragment...)
	if flags&h2FlagEndHeaders == 0 {
		return
	}
	if c.dec == nil {
		// The allowed limit only has to admit the client's table size
		// updates, which cannot exceed what the server allows; the table
		// starts at the RFC 7541 default the client's encoder assumes, so
		// that evictions match across later blocks.
		c.dec = hpack.NewDecoder(64<<10, nil)
		c.dec.SetMaxDynamicTableSize(4096)
	}
	fields, err := c.dec.DecodeFull(c.block)
	if err != nil {
		c.fail(fmt.Errorf("HPACK: %w", err))
		return
	}
	headers := make([][2]string, len(fields))
	for i, f := range fields {
		headers[i] = [2]string{f.Name, f.Value}
	}
	if !c.done {
		c.pre.Headers = headers
	}
	if c.all {
		c.streams = append(c.streams, H2Stream{c.blockStream, headers, c.blockPriority, c.blockAt})
	}
	c.block, c.blockStream, c.blockPriority, c.done = nil, 0, nil, true
}

// captured returns every header block, later PRIORITY frames and
// PRIORITY_UPDATE frames read so far (all mode).
func (c *H2Capture) Captured() ([]H2Stream, []H2Priority, []H2PriorityUpdate) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.streams), slices.Clone(c.later), slices.Clone(c.updates)
}

var ErrNoHeaderBlock = errors.New("first header block not read yet")

// preamble returns what the client sent before its first request, once
// the first header block has been read.
func (c *H2Capture) Preamble() (H2Preamble, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	switch {
	case c.err != nil:
		return H2Preamble{}, c.err
	case !c.done:
		return H2Preamble{}, ErrNoHeaderBlock
	}
	return c.pre, nil
}

func parsePriority(stream uint32, p []byte) H2Priority {
	dep := be32(p[:4])
	return H2Priority{
		StreamID:  stream,
		Exclusive: dep&0x80000000 != 0,
		DependsOn: dep & 0x7fffffff,
		Weight:    int(p[4]) + 1,
	}
}

func be32(b []byte) uint32 {
	return uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
}

// akamai is the Akamai fingerprint of p: settings as id:value joined by
// ";", the window increment or "00", PRIORITY frames as
// stream:exclusive:dependency:weight joined by "," or "0", and the pseudo
// headers as letters.
func (p H2Preamble) Akamai() string {
	settings := make([]string, len(p.Settings))
	for i, s := range p.Settings {
		settings[i] = fmt.Sprintf("%d:%d", s.ID, s.Value)
	}
	window := "00"
	if p.HasWindowUpdate {
		window = strconv.FormatUint(uint64(p.WindowUpdate), 10)
	}
	priorities := "0"
	if len(p.Priorities) > 0 {
		parts := make([]string, len(p.Priorities))
		for i, pr := range p.Priorities {
			exclusive := 0
			if pr.Exclusive {
				exclusive = 1
			}
			parts[i] = fmt.Sprintf("%d:%d:%d:%d", pr.StreamID, exclusive, pr.DependsOn, pr.Weight)
		}
		priorities = strings.Join(parts, ",")
	}
	var pseudo []string
	for _, f := range p.Headers {
		if letter, ok := pseudoHeaderLetters[f[0]]; ok {
			pseudo = append(pseudo, letter)
		}
	}
	return strings.Join([]string{
		strings.Join(settings, ";"), window, priorities, strings.Join(pseudo, ","),
	}, "|")
}

// pseudoHeaderLetters are the pseudo headers of requests that the Akamai
// fingerprint names; others (such as :protocol) are left out of it.
var pseudoHeaderLetters = map[string]string{
	":method": "m", ":authority": "a", ":scheme": "s", ":path": "p",
}
