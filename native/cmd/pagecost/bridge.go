package main

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"

	"github.com/scrapy-tlsclient/native/bridge"
	"golang.org/x/sys/unix"
)

const queue = "pagecost"

// bridgeMaker sends each page as the handler does: a requestStream
// submission frame on the completion socket, its answer read back from it.
type bridgeMaker struct {
	library *bridge.Bridge
	conn    net.Conn // the caller's end of the socket pair
	reader  *bufio.Reader
	url     []byte // the input's requestUrl as a JSON string, without its closing quote
	fields  []byte // the input's other fields, without their braces
}

func newBridge(document []byte, p *bridge.RequestInput) (*bridgeMaker, error) {
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(document, &fields); err != nil {
		return nil, err
	}
	url, err := json.Marshal(p.RequestURL)
	if err != nil {
		return nil, err
	}
	delete(fields, "requestUrl")
	delete(fields, "streamId")
	others, err := json.Marshal(fields)
	if err != nil {
		return nil, err
	}
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, err
	}
	library := bridge.New()
	attach, _ := json.Marshal(map[string]any{"queue": queue, "socketFd": fds[1]})
	_, answer := library.AttachCompletionSocket(attach)
	unix.Close(fds[1]) // the library holds a duplicate
	var attached struct {
		ErrorCode string `json:"errorCode"`
	}
	if err := json.Unmarshal(answer, &attached); err != nil || attached.ErrorCode != "" {
		unix.Close(fds[0])
		return nil, fmt.Errorf("attachCompletionSocket: %s", answer)
	}
	file := os.NewFile(uintptr(fds[0]), "caller")
	conn, err := net.FileConn(file)
	file.Close()
	if err != nil {
		return nil, err
	}
	return &bridgeMaker{
		library: library, conn: conn, reader: bufio.NewReaderSize(conn, 1<<20),
		url: url[:len(url)-1], fields: others[1 : len(others)-1],
	}, nil
}

// frame is page i's submission frame.
func (m *bridgeMaker) frame(dst []byte, i int) []byte {
	start := len(dst)
	dst = append(dst, make([]byte, 8)...) // lengths, filled in below; no body
	dst = append(dst, `{"queue":"`+queue+`","op":"requestStream","ticket":"`...)
	dst = strconv.AppendInt(dst, int64(i), 10)
	dst = append(dst, `","input":{"requestUrl":`...)
	dst = append(dst, m.url...)
	dst = strconv.AppendInt(dst, int64(i), 10)
	dst = append(dst, `","streamId":"pagecost-`...)
	dst = strconv.AppendInt(dst, int64(i), 10)
	dst = append(dst, '"')
	if len(m.fields) > 0 {
		dst = append(dst, ',')
		dst = append(dst, m.fields...)
	}
	dst = append(dst, "}}"...)
	binary.LittleEndian.PutUint32(dst[start:], uint32(len(dst)-start-8))
	return dst
}

// run sends pages while fewer than concurrency are in flight, as the
// handler does when Scrapy's downloader frees a slot; the answers are read
// as they come.
func (m *bridgeMaker) run(first, n, concurrency int) error {
	slots := make(chan struct{}, concurrency)
	answered := make(chan error, 1)
	go func() {
		for range n {
			if err := m.answer(); err != nil {
				answered <- err
				return
			}
			<-slots
		}
		answered <- nil
	}()
	var frame []byte
	for i := first; i < first+n; i++ {
		select {
		case slots <- struct{}{}:
		case err := <-answered:
			return err // failed before every page was sent
		}
		frame = m.frame(frame[:0], i)
		if _, err := m.conn.Write(frame); err != nil {
			return err
		}
	}
	return <-answered
}

// answer reads one completion frame and checks that it is a whole 200
// response. Only the status is looked for, so that the reading costs the
// measure next to nothing.
func (m *bridgeMaker) answer() error {
	var head [8]byte
	if _, err := io.ReadFull(m.reader, head[:]); err != nil {
		return err
	}
	document := make([]byte, binary.LittleEndian.Uint32(head[:4]))
	if _, err := io.ReadFull(m.reader, document); err != nil {
		return err
	}
	body := binary.LittleEndian.Uint32(head[4:])
	if body == bridge.BodyByHandle || body == bridge.BodyReleased {
		return fmt.Errorf("a body not in its frame (%#x): %s", body, document)
	}
	if _, err := m.reader.Discard(int(body)); err != nil {
		return err
	}
	if !bytes.Contains(document, []byte(`"status":200,`)) || bytes.Contains(document, []byte(`"streamId":"`)) {
		return fmt.Errorf("not a whole 200 response: %s", document)
	}
	return nil
}

func (m *bridgeMaker) close() {
	m.conn.Close()
	m.library.DestroyAll()
}
