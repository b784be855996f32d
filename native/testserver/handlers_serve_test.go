package testserver

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
)

func TestServeSendsTheBodyBackWithItsEncoding(t *testing.T) {
	srv := httptest.NewServer(Handler())
	defer srv.Close()
	body := []byte{0x1f, 0x8b, 0, 1, 2, 3}
	// Go's client would decode a gzip body itself: not here.
	client := &http.Client{Transport: &http.Transport{DisableCompression: true}}
	resp, err := client.Post(srv.URL+"/serve?encoding=gzip", "application/octet-stream", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	got, _ := io.ReadAll(resp.Body)
	if !bytes.Equal(got, body) || resp.Header.Get("Content-Encoding") != "gzip" {
		t.Fatalf("got %x with Content-Encoding %q", got, resp.Header.Get("Content-Encoding"))
	}
}
