package websocket

import (
	"bytes"
	"compress/flate"
	"crypto/sha256"
	"io"
	"testing"
)

// A server's permessage-deflate answer as RFC 7692 7.1 defines it.
func TestParseDeflateResponse(t *testing.T) {
	for _, c := range []struct {
		ext     map[string]string
		ok      bool
		snct    bool
		clientW int
	}{
		{map[string]string{"": "permessage-deflate"}, true, false, 15},
		{map[string]string{"": "permessage-deflate", "server_no_context_takeover": "", "client_no_context_takeover": ""}, true, true, 15},
		{map[string]string{"": "permessage-deflate", "server_max_window_bits": "12", "client_max_window_bits": "12"}, true, false, 12},
		{map[string]string{"": "permessage-deflate", "client_max_window_bits": ""}, false, false, 15},
		{map[string]string{"": "permessage-deflate", "server_max_window_bits": "16"}, false, false, 15},
		{map[string]string{"": "permessage-deflate", "x_unknown": ""}, false, false, 15},
	} {
		got, ok := parseDeflateResponse(c.ext)
		if ok != c.ok || (ok && (got.serverNoContextTakeover != c.snct || got.clientMaxWindowBits != c.clientW)) {
			t.Errorf("%v: %+v %v", c.ext, got, ok)
		}
	}
}

// Messages compressed by one flate stream (a server with context
// takeover) read back whole, each referring into the ones before, also
// past one 32 KiB window and after a message discarded half read.
func TestDecompressContextTakeover(t *testing.T) {
	var wire bytes.Buffer
	fw, _ := flate.NewWriter(&wire, flate.BestSpeed)
	random := sha256.Sum256([]byte("x"))
	block := bytes.Repeat(random[:], 64) // 2 KiB
	messages := [][]byte{block, block, bytes.Repeat([]byte("abc"), 20000), block, []byte("tail"), block}
	var frames [][]byte
	for _, m := range messages {
		wire.Reset()
		_, _ = fw.Write(m)
		_ = fw.Flush()
		frames = append(frames, bytes.Clone(bytes.TrimSuffix(wire.Bytes(), []byte{0, 0, 0xff, 0xff})))
	}
	if len(frames[1]) >= len(block)/4 {
		t.Fatalf("the repeated message is %d bytes compressed: no reference back", len(frames[1]))
	}
	read := decompressContextTakeover(&slidingWindow{})
	for i, frame := range frames {
		r := read(bytes.NewReader(frame))
		if i == 3 {
			// Half read, then discarded: the rest still goes into the window.
			half := make([]byte, len(block)/2)
			if _, err := io.ReadFull(r, half); err != nil {
				t.Fatal(err)
			}
			_ = r.Close()
			continue
		}
		got, err := io.ReadAll(r)
		if err != nil || !bytes.Equal(got, messages[i]) {
			t.Fatalf("message %d: %d bytes, err %v", i, len(got), err)
		}
	}
	// Without the window the same frames do not read.
	if _, err := io.ReadAll(decompressNoContextTakeover(bytes.NewReader(frames[1]))); err == nil {
		t.Error("the second message read without the first")
	}
}
