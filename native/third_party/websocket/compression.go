// Copyright 2017 The Gorilla WebSocket Authors. All rights reserved.
// Use of this source code is governed by a BSD-style
// license that can be found in the LICENSE file.

package websocket

import (
	"compress/flate"
	"errors"
	"io"
	"strconv"
	"strings"
	"sync"
)

const (
	minCompressionLevel     = -2 // flate.HuffmanOnly not defined in Go < 1.6
	maxCompressionLevel     = flate.BestCompression
	defaultCompressionLevel = 1
)

var (
	flateWriterPools [maxCompressionLevel - minCompressionLevel + 1]sync.Pool
	flateReaderPool  = sync.Pool{New: func() interface{} {
		return flate.NewReader(nil)
	}}
)

func decompressNoContextTakeover(r io.Reader) io.ReadCloser {
	const tail =
	// Add four bytes as specified in RFC
	"\x00\x00\xff\xff" +
		// Add final block to squelch unexpected EOF error from flate reader.
		"\x01\x00\x00\xff\xff"

	fr, _ := flateReaderPool.Get().(io.ReadCloser)
	mr := io.MultiReader(r, strings.NewReader(tail))
	if err := fr.(flate.Resetter).Reset(mr, nil); err != nil {
		// Reset never fails, but handle error in case that changes.
		fr = flate.NewReader(mr)
	}
	return &flateReadWrapper{fr}
}

// deflateTail ends a message's compressed bytes for the flate reader: the
// four bytes RFC 7692 7.2.2 has the receiver append, then a final empty
// stored block, so that the reader ends at the message's end.
const deflateTail = "\x00\x00\xff\xff" + "\x01\x00\x00\xff\xff"

// maxWindow is the largest LZ77 window of permessage-deflate (RFC 7692
// 7.1.2: max_window_bits 15).
const maxWindow = 1 << 15

// deflateResponse is a server's permessage-deflate answer (RFC 7692 7.1).
type deflateResponse struct {
	serverNoContextTakeover bool
	clientMaxWindowBits     int // 15 unless the server limits it
}

// parseDeflateResponse reads the parameters of a server's
// permessage-deflate answer; false for a parameter RFC 7692 does not
// define or a window size out of 8..15, for which the client must fail
// the connection (RFC 7692 7.1: "MUST _Fail the WebSocket Connection_").
func parseDeflateResponse(ext map[string]string) (deflateResponse, bool) {
	out := deflateResponse{clientMaxWindowBits: 15}
	for name, value := range ext {
		switch name {
		case "":
		case "server_no_context_takeover":
			out.serverNoContextTakeover = true
		case "client_no_context_takeover":
		case "server_max_window_bits", "client_max_window_bits":
			// The reader's 32 KiB window reads any smaller one.
			bits, err := strconv.Atoi(value)
			if err != nil || bits < 8 || bits > 15 {
				return out, false
			}
			if name == "client_max_window_bits" {
				out.clientMaxWindowBits = bits
			}
		default:
			return out, false
		}
	}
	return out, true
}

// slidingWindow keeps the last 32 KiB a peer's messages decompressed to:
// with context takeover the peer's next message may refer back into them
// (RFC 7692 7.2.3.2), so it is the next message's preset dictionary.
type slidingWindow struct {
	buf []byte
}

func (w *slidingWindow) write(p []byte) {
	if len(p) >= maxWindow {
		w.buf = append(w.buf[:0], p[len(p)-maxWindow:]...)
		return
	}
	if keep := maxWindow - len(p); len(w.buf) > keep {
		w.buf = append(w.buf[:0], w.buf[len(w.buf)-keep:]...)
	}
	w.buf = append(w.buf, p...)
}

// decompressContextTakeover returns a connection's decompressor for a peer
// that keeps its compression context across messages. A message's blocks
// end with it (the sender's sync flush, RFC 7692 7.2.1), so each message
// is read by a fresh flate reader whose dictionary is the window of the
// messages before it.
func decompressContextTakeover(window *slidingWindow) func(io.Reader) io.ReadCloser {
	return func(r io.Reader) io.ReadCloser {
		fr, _ := flateReaderPool.Get().(io.ReadCloser)
		mr := io.MultiReader(r, strings.NewReader(deflateTail))
		// Reset copies the dictionary into the reader's own window.
		if err := fr.(flate.Resetter).Reset(mr, window.buf); err != nil {
			fr = flate.NewReaderDict(mr, window.buf)
		}
		return &windowReadWrapper{fr: fr, window: window}
	}
}

// windowReadWrapper passes a message's decompressed bytes on and into the
// window. Closed early (NextReader discards a message not read to its
// end), it reads the rest into the window first: the next message may
// refer to it.
type windowReadWrapper struct {
	fr     io.ReadCloser
	window *slidingWindow
}

func (r *windowReadWrapper) Read(p []byte) (int, error) {
	if r.fr == nil {
		return 0, io.ErrClosedPipe
	}
	n, err := r.fr.Read(p)
	r.window.write(p[:n])
	if err != nil {
		r.release()
	}
	return n, err
}

func (r *windowReadWrapper) Close() error {
	if r.fr == nil {
		return io.ErrClosedPipe
	}
	var buf [4096]byte
	for r.fr != nil {
		if _, err := r.Read(buf[:]); err != nil {
			break
		}
	}
	return nil
}

func (r *windowReadWrapper) release() {
	_ = r.fr.Close()
	flateReaderPool.Put(r.fr)
	r.fr = nil
}

func isValidCompressionLevel(level int) bool {
	return minCompressionLevel <= level && level <= maxCompressionLevel
}

func compressNoContextTakeover(w io.WriteCloser, level int) io.WriteCloser {
	p := &flateWriterPools[level-minCompressionLevel]
	tw := &truncWriter{w: w}
	fw, _ := p.Get().(*flate.Writer)
	if fw == nil {
		fw, _ = flate.NewWriter(tw, level)
	} else {
		fw.Reset(tw)
	}
	return &flateWriteWrapper{fw: fw, tw: tw, p: p}
}

// truncWriter is an io.Writer that writes all but the last four bytes of the
// stream to another io.Writer.
type truncWriter struct {
	w io.WriteCloser
	n int
	p [4]byte
}

func (w *truncWriter) Write(p []byte) (int, error) {
	n := 0

	// fill buffer first for simplicity.
	if w.n < len(w.p) {
		n = copy(w.p[w.n:], p)
		p = p[n:]
		w.n += n
		if len(p) == 0 {
			return n, nil
		}
	}

	m := len(p)
	if m > len(w.p) {
		m = len(w.p)
	}

	if nn, err := w.w.Write(w.p[:m]); err != nil {
		return n + nn, err
	}

	copy(w.p[:], w.p[m:])
	copy(w.p[len(w.p)-m:], p[len(p)-m:])
	nn, err := w.w.Write(p[:len(p)-m])
	return n + nn, err
}

type flateWriteWrapper struct {
	fw *flate.Writer
	tw *truncWriter
	p  *sync.Pool
}

func (w *flateWriteWrapper) Write(p []byte) (int, error) {
	if w.fw == nil {
		return 0, errWriteClosed
	}
	return w.fw.Write(p)
}

func (w *flateWriteWrapper) Close() error {
	if w.fw == nil {
		return errWriteClosed
	}
	err1 := w.fw.Flush()
	w.p.Put(w.fw)
	w.fw = nil
	if w.tw.p != [4]byte{0, 0, 0xff, 0xff} {
		return errors.New("websocket: internal error, unexpected bytes at end of flate stream")
	}
	err2 := w.tw.w.Close()
	if err1 != nil {
		return err1
	}
	return err2
}

type flateReadWrapper struct {
	fr io.ReadCloser
}

func (r *flateReadWrapper) Read(p []byte) (int, error) {
	if r.fr == nil {
		return 0, io.ErrClosedPipe
	}
	n, err := r.fr.Read(p)
	if err == io.EOF {
		// Preemptively place the reader back in the pool. This helps with
		// scenarios where the application does not call NextReader() soon after
		// this final read.
		r.Close()
	}
	return n, err
}

func (r *flateReadWrapper) Close() error {
	if r.fr == nil {
		return io.ErrClosedPipe
	}
	err := r.fr.Close()
	flateReaderPool.Put(r.fr)
	r.fr = nil
	return err
}
