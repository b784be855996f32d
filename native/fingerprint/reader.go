package fingerprint

// Reader reads big-endian TLS fields off a byte string; after the first
// short read every later read returns zero values and OK reports false.
// cmd/capture reads the extensions it describes with it too.
type Reader struct {
	b   []byte
	bad bool
}

func (r *Reader) OK() bool    { return !r.bad }
func (r *Reader) Empty() bool { return len(r.b) == 0 }

func (r *Reader) Bytes(n int) []byte {
	if r.bad || n > len(r.b) {
		r.bad = true
		return nil
	}
	b := r.b[:n:n]
	r.b = r.b[n:]
	return b
}

func (r *Reader) U8() uint8 {
	b := r.Bytes(1)
	if b == nil {
		return 0
	}
	return b[0]
}

func (r *Reader) U16() uint16 {
	b := r.Bytes(2)
	if b == nil {
		return 0
	}
	return uint16(b[0])<<8 | uint16(b[1])
}

func (r *Reader) U24() int {
	b := r.Bytes(3)
	if b == nil {
		return 0
	}
	return int(b[0])<<16 | int(b[1])<<8 | int(b[2])
}

// vec8 and vec16 read a vector with a 1- or 2-byte length prefix as a
// reader of its own; a short vector makes r fail too.
func (r *Reader) Vec8() *Reader  { return r.sub(int(r.U8())) }
func (r *Reader) Vec16() *Reader { return r.sub(int(r.U16())) }

func (r *Reader) sub(n int) *Reader {
	b := r.Bytes(n)
	return &Reader{b: b, bad: r.bad}
}

// list16 reads a vector of 16-bit values whose byte length has a prefix of
// lenBytes (1 or 2) bytes.
func (r *Reader) List16(lenBytes int) []uint16 {
	v := r.Vec16
	if lenBytes == 1 {
		v = r.Vec8
	}
	data := v()
	if len(data.b)%2 != 0 {
		r.bad = true
	}
	if r.bad {
		return nil
	}
	out := make([]uint16, 0, len(data.b)/2)
	for !data.Empty() {
		out = append(out, data.U16())
	}
	return out
}

// NewReader reads b.
func NewReader(b []byte) *Reader { return &Reader{b: b} }

// Rest is what is left to read.
func (r *Reader) Rest() []byte { return r.b }
