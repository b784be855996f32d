package bridge

import "sync"

// Body bytes can leave the library by handle instead of as base64 inside
// the JSON envelope (docs/abi.rst, "Binary bodies"): encoding a large
// chunk to base64, escaping it into JSON and decoding both again on the
// other side cost ten times the wire's time. With `binary` (readStream)
// or `binaryBody` (RequestInput) the envelope names a buffer held here,
// and the caller takes it (takeBuffer) or releases it (freeMemory).

// bufferRegistry holds the body buffers not taken yet. A buffer is kept
// as the pieces it was read in (stream blocks): joining them here would
// cost a copy that takeBuffer makes anyway.
type bufferRegistry struct {
	mu    sync.Mutex
	items map[string][][]byte
	bytes int64
}

func newBufferRegistry() *bufferRegistry {
	return &bufferRegistry{items: map[string][][]byte{}}
}

func (r *bufferRegistry) put(id string, pieces [][]byte) {
	r.mu.Lock()
	r.items[id] = pieces
	r.bytes += int64(totalLen(pieces))
	r.mu.Unlock()
}

// take removes a buffer and hands it to the caller; false if unknown (never
// made, taken already, or discarded).
func (r *bufferRegistry) take(id string) ([][]byte, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	pieces, ok := r.items[id]
	if ok {
		delete(r.items, id)
		r.bytes -= int64(totalLen(pieces))
	}
	return pieces, ok
}

// has tells whether a buffer is held (not taken or discarded yet).
func (r *bufferRegistry) has(id string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	_, ok := r.items[id]
	return ok
}

// size is a held buffer's length in bytes.
func (r *bufferRegistry) size(id string) (int, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	pieces, ok := r.items[id]
	return totalLen(pieces), ok
}

// discard forgets buffers nobody will take; unknown ids are ignored.
func (r *bufferRegistry) discard(ids ...string) {
	for _, id := range ids {
		r.take(id)
	}
}

func (r *bufferRegistry) discardAll() {
	r.mu.Lock()
	clear(r.items)
	r.bytes = 0
	r.mu.Unlock()
}

func (r *bufferRegistry) stats() (count int, bytes int64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.items), r.bytes
}

// newBuffer registers pieces of a body and returns their handle, an id
// from the same space as envelope ids so that the C layer can track both
// in one table. The pieces must not be written to afterwards.
func (b *Bridge) newBuffer(pieces ...[]byte) string {
	id := b.newID()
	b.buffers.put(id, pieces)
	return id
}

// TakeBuffer hands a body buffer over: it copies the bytes into
// alloc(size), memory the caller provides (C memory, for the C ABI), and
// forgets the buffer. False if the id is unknown: never made, taken
// already, or released (DiscardBuffer, DestroyAll, a dropped completion
// queue).
func (b *Bridge) TakeBuffer(id string, alloc func(size int) []byte) bool {
	pieces, ok := b.buffers.take(id)
	if !ok {
		return false
	}
	dst := alloc(totalLen(pieces))
	for _, p := range pieces {
		dst = dst[copy(dst, p):]
	}
	return true
}

// DiscardBuffer releases a body buffer without taking it; false if unknown.
func (b *Bridge) DiscardBuffer(id string) bool {
	_, ok := b.buffers.take(id)
	return ok
}

// UntakenBuffers counts body buffers neither taken nor released.
func (b *Bridge) UntakenBuffers() int {
	n, _ := b.buffers.stats()
	return n
}

// answer is what an export returns: the envelope and the body buffer it
// names, if any, so that a completion queue that is dropped can release
// the buffers of results nobody will read.
type answer struct {
	id     string
	json   []byte
	buffer string
}

func (a answer) parts() (string, []byte) { return a.id, a.json }

func plainAnswer(id string, payload []byte) answer { return answer{id: id, json: payload} }

func responseAnswer(out Response) answer {
	return answer{id: out.ID, json: marshal(out), buffer: out.BodyBuffer}
}

func chunkAnswer(out StreamChunk) answer {
	return answer{id: out.ID, json: marshal(out), buffer: out.ChunkBuffer}
}
