package bridge

import (
	"fmt"
	"time"

	"github.com/scrapy-tlsclient/native/fingerprint"
)

// measureTimeout bounds a whole measurement: one request on loopback takes
// milliseconds, so this only ends a client that stalls.
const measureTimeout = 10 * time.Second

type measureInput struct {
	Profile                     string `json:"profile"`
	WithRandomTLSExtensionOrder bool   `json:"withRandomTLSExtensionOrder"`
	ForceHTTP1                  bool   `json:"forceHttp1"`
}

// measureOutput is measureProfile's answer. Akamai is "-" when the
// request went over HTTP/1.1, which has no such fingerprint.
type measureOutput struct {
	ID          string `json:"id"`
	JA3         string `json:"ja3"`
	JA3N        string `json:"ja3n"`
	JA3NHash    string `json:"ja3nHash"`
	JA4         string `json:"ja4"`
	Akamai      string `json:"akamai"`
	HTTPVersion string `json:"httpVersion"`
}

// MeasureProfile makes one request with a profile to a throwaway TLS
// server inside the library and answers with the fingerprints that server
// saw: what this build puts on the wire for the profile, to compare with
// a browser's published values without any outside service.
func (b *Bridge) MeasureProfile(payload []byte) (string, []byte) {
	var in measureInput
	if err := decodeStrict(payload, &in); err != nil {
		return b.refuseInput("measureProfile", err.Error())
	}
	if in.Profile == "" {
		return b.refuseInput("measureProfile", "profile is required")
	}
	out, failed := b.measure(in)
	if failed != nil {
		return failed.ID, marshal(failed)
	}
	return out.ID, marshal(out)
}

// measure runs the request through the normal request path, so the
// client is built exactly as for a crawl's request; failed is the error
// envelope when there is no measurement.
func (b *Bridge) measure(in measureInput) (measureOutput, *Response) {
	fail := func(err error) (measureOutput, *Response) {
		out := b.errorResponse(nil, err)
		return measureOutput{}, &out
	}
	srv, err := startMeasureServer(time.Now().Add(measureTimeout))
	if err != nil {
		return fail(newError(CodeInternal, "measureProfile: "+err.Error()))
	}
	resp := b.request(&RequestInput{
		RequestURL:    fmt.Sprintf("https://localhost:%d/", srv.port()),
		RequestMethod: "GET",
		// No headers: the fingerprints do not depend on them.
		TLSClientIdentifier:         in.Profile,
		WithRandomTLSExtensionOrder: in.WithRandomTLSExtensionOrder,
		ForceHTTP1:                  in.ForceHTTP1,
		// localhost, so that SNI is sent as to any named host; the
		// certificate is the throwaway one.
		InsecureSkipVerify:  true,
		DisableIPV6:         true, // the server listens on 127.0.0.1 only
		DisableHTTP3:        true,
		WithoutCookieJar:    true,
		TimeoutMilliseconds: int(measureTimeout / time.Millisecond),
	})
	seen := srv.stop()
	if resp.Status == 0 {
		return measureOutput{}, &resp
	}
	if seen.hello == nil {
		return fail(newError(CodeInternal, "measureProfile: ClientHello: "+seen.helloErr.Error()))
	}
	ja3, ja3n := fingerprint.JA3String(seen.hello, false), fingerprint.JA3String(seen.hello, true)
	out := measureOutput{
		ID: b.newID(), JA3: ja3, JA3N: ja3n, JA3NHash: fingerprint.MD5Hex(ja3n),
		JA4: fingerprint.JA4Of(seen.hello).JA4, Akamai: "-", HTTPVersion: "http/1.1",
	}
	if seen.h2 != nil {
		pre, err := seen.h2.Preamble()
		if err != nil {
			return fail(newError(CodeInternal, "measureProfile: HTTP/2 preface: "+err.Error()))
		}
		out.Akamai, out.HTTPVersion = pre.Akamai(), "h2"
	}
	return out, nil
}
