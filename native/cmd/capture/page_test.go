package main

import (
	"net/http"
	"net/http/httptest"
	"testing"
)

// Every path of the page answers 200 (the browser must get each resource
// to go on to the next step) and the done signal ends the run.
func TestPageServesEveryKind(t *testing.T) {
	p := newPageHandler()
	for path, kind := range kinds {
		if kind == "favicon" || kind == "websocket" {
			continue
		}
		w := httptest.NewRecorder()
		p.ServeHTTP(w, httptest.NewRequest(http.MethodGet, path, nil))
		if w.Code != http.StatusOK || w.Header().Get("Cache-Control") != "no-store" {
			t.Errorf("%s: status %d, headers %v", path, w.Code, w.Header())
		}
	}
	select {
	case <-p.done:
	default:
		t.Error("/done did not end the run")
	}
	w := httptest.NewRecorder()
	p.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/download-attachment", nil))
	if w.Header().Get("Content-Disposition") == "" {
		t.Error("the attachment has no Content-Disposition")
	}
	if kindOf("/fetch-json?x=1") != "fetch-json" || kindOf("/nope") != "other" {
		t.Error("kindOf")
	}
}
