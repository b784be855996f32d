// Package fingerprint computes the fingerprints bot protection tells
// clients apart by, from what a client sends: JA3, JA3N and JA4 (FoxIO
// specification) from the raw TLS ClientHello, and Akamai's HTTP/2
// fingerprint from the connection preface up to the first header block.
//
// It only parses bytes; the test suite's fingerprint server
// (native/testserver) and the library's measureProfile export
// (native/bridge) both read a connection with it, so that what the tests
// check and what a user measures are computed the same way.
package fingerprint
