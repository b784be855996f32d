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
	"sync"
	"unsafe"

	"github.com/scrapy-tlsclient/native/bridge"
)

var (
	core = bridge.New()

	// returned holds every string handed to C until freeMemory(id).
	returnedMu sync.Mutex
	returned   = map[string]*C.char{}
)

func hand(id string, payload []byte) *C.char {
	out := C.CString(string(payload))
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
	}
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

//export submit
func submit(params *C.char) { core.Submit(input(params)) }

//export pollCompletions
func pollCompletions(params *C.char) *C.char { return hand(core.PollCompletions(input(params))) }

//export getInfo
func getInfo() *C.char { return hand(core.GetInfo()) }

//export getStats
func getStats() *C.char { return hand(core.GetStats()) }

//export outstandingBuffers
func outstandingBuffers() C.longlong {
	returnedMu.Lock()
	defer returnedMu.Unlock()
	return C.longlong(len(returned))
}

func main() {}
