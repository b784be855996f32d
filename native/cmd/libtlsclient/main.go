// Command libtlsclient is the c-shared library: the upstream tls-client cffi
// ABI plus the streaming ABI of upstream PR #247 and this project's
// extensions. Each export is a thin wrapper over package bridge; this file
// only moves strings across the C boundary and tracks them for freeMemory.
//
// Build: go build -buildmode=c-shared -o libtlsclient.so ./cmd/libtlsclient
package main

/*
#include <stdlib.h>
#include <string.h>
*/
import "C"

import (
	"encoding/binary"
	"sync"
	"unsafe"

	"github.com/scrapy-tlsclient/native/bridge"
)

var (
	core = bridge.New()

	// returned holds every string and taken buffer handed to C until
	// freeMemory(id).
	returnedMu sync.Mutex
	returned   = map[string]*C.char{}
)

// hand copies an envelope into C memory, NUL-terminated (one copy: C.CString
// of string(payload) would make two, which shows for large bodies).
func hand(id string, payload []byte) *C.char {
	ptr := C.malloc(C.size_t(len(payload) + 1))
	out := unsafe.Slice((*byte)(ptr), len(payload)+1)
	copy(out, payload)
	out[len(payload)] = 0
	return track(id, (*C.char)(ptr))
}

// track records memory handed to C until freeMemory(id).
func track(id string, out *C.char) *C.char {
	returnedMu.Lock()
	if old, ok := returned[id]; ok {
		// Ids are unique per process; should one ever repeat, free the
		// older string rather than leak it.
		C.free(unsafe.Pointer(old))
	}
	returned[id] = out
	returnedMu.Unlock()
	return out
}

func input(params *C.char) []byte {
	if params == nil {
		return nil
	}
	return C.GoBytes(unsafe.Pointer(params), C.int(C.strlen(params)))
}

//export freeMemory
func freeMemory(id *C.char) {
	if id == nil {
		return
	}
	key := C.GoString(id)
	returnedMu.Lock()
	ptr, ok := returned[key]
	delete(returned, key)
	returnedMu.Unlock()
	if ok {
		C.free(unsafe.Pointer(ptr))
		return
	}
	// A body buffer the caller chose not to take.
	core.DiscardBuffer(key)
}

// takeBufferPrefix is the little-endian length in front of a taken buffer:
// the bytes may contain NULs, so C's strlen cannot size them.
const takeBufferPrefix = 8

// takeBuffer hands out the body buffer an envelope named (chunkBuffer,
// bodyBuffer) as its length and raw bytes, to be freed with
// freeMemory(id); NULL if the id is unknown (taken already, or released
// by freeMemory, destroyAll or a dropped completion queue).
//
//export takeBuffer
func takeBuffer(id *C.char) *C.char {
	if id == nil {
		return nil
	}
	key := C.GoString(id)
	var ptr unsafe.Pointer
	ok := core.TakeBuffer(key, func(n int) []byte {
		ptr = C.malloc(C.size_t(takeBufferPrefix + n))
		out := unsafe.Slice((*byte)(ptr), takeBufferPrefix+n)
		binary.LittleEndian.PutUint64(out, uint64(n))
		return out[takeBufferPrefix:]
	})
	if !ok {
		return nil
	}
	return track(key, (*C.char)(ptr))
}

//export request
func request(params *C.char) *C.char { return hand(core.Request(input(params))) }

//export requestStream
func requestStream(params *C.char) *C.char { return hand(core.RequestStream(input(params))) }

//export readStream
func readStream(params *C.char) *C.char { return hand(core.ReadStream(input(params))) }

//export readStreamAll
func readStreamAll(params *C.char) *C.char { return hand(core.ReadStreamAll(input(params))) }

//export cancelStream
func cancelStream(params *C.char) *C.char { return hand(core.CancelStream(input(params))) }

//export destroySession
func destroySession(params *C.char) *C.char { return hand(core.DestroySession(input(params))) }

//export destroyAll
func destroyAll() *C.char { return hand(core.DestroyAll()) }

//export getCookiesFromSession
func getCookiesFromSession(params *C.char) *C.char {
	return hand(core.GetCookiesFromSession(input(params)))
}

//export addCookiesToSession
func addCookiesToSession(params *C.char) *C.char {
	return hand(core.AddCookiesToSession(input(params)))
}

//export attachCompletionSocket
func attachCompletionSocket(params *C.char) *C.char {
	return hand(core.AttachCompletionSocket(input(params)))
}

//export dropCompletionQueue
func dropCompletionQueue(params *C.char) *C.char {
	return hand(core.DropCompletionQueue(input(params)))
}

//export registerProfiles
func registerProfiles(params *C.char) *C.char { return hand(core.RegisterProfiles(input(params))) }

//export measureProfile
func measureProfile(params *C.char) *C.char { return hand(core.MeasureProfile(input(params))) }

//export getInfo
func getInfo() *C.char { return hand(core.GetInfo()) }

//export getStats
func getStats() *C.char { return hand(core.GetStats()) }

// outstandingBuffers counts what the caller still has to free: strings and
// taken buffers not passed to freeMemory, and body buffers not taken.
//
//export outstandingBuffers
func outstandingBuffers() C.longlong {
	returnedMu.Lock()
	n := len(returned)
	returnedMu.Unlock()
	return C.longlong(n + core.UntakenBuffers())
}

func main() {}
