// Copyright The otelcol-lambda Authors
// SPDX-License-Identifier: Apache-2.0

package runtimeproxy // import "github.com/otelcol-lambda/otelcol-lambda/layer/internal/runtimeproxy"

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Runtime API 2018-06-01 paths and headers.
const (
	PathNext         = "/2018-06-01/runtime/invocation/next"
	PathInitError    = "/2018-06-01/runtime/init/error"
	invocationPrefix = "/2018-06-01/runtime/invocation/"

	HeaderRequestID      = "Lambda-Runtime-Aws-Request-Id"
	HeaderDeadlineMs     = "Lambda-Runtime-Deadline-Ms"
	HeaderFunctionARN    = "Lambda-Runtime-Invoked-Function-Arn"
	HeaderTraceID        = "Lambda-Runtime-Trace-Id"
	HeaderClientContext  = "Lambda-Runtime-Client-Context"
	HeaderCognitoID      = "Lambda-Runtime-Cognito-Identity"
	HeaderResponseMode   = "Lambda-Runtime-Function-Response-Mode"
	HeaderErrorType      = "Lambda-Runtime-Function-Error-Type"
	HeaderErrorBody      = "Lambda-Runtime-Function-Error-Body"
	ResponseModeStreamed = "streaming"
)

// Defaults.
const (
	DefaultListen         = "127.0.0.1:0"
	DefaultClassifyWindow = 64 << 10
	DefaultQueueSize      = 64
)

// ErrorTypeUpstreamUnavailable is the errorType of the 502 a runtime gets when Lambda's
// Runtime API cannot be reached through the proxy.
const ErrorTypeUpstreamUnavailable = "Runtime.ProxyUpstreamUnavailable"

const (
	copyBufferSize = 32 << 10
	// dialTimeout only bounds connecting to Lambda's API on loopback (which either
	// answers at once or refuses); requests themselves have no timeout, invocation/next
	// being a long poll that lasts as long as the sandbox is idle.
	dialTimeout = 5 * time.Second
	// readHeaderTimeout is generous: a runtime writes its request headers at once, and a
	// shorter bound could only misfire around a freeze of the sandbox.
	readHeaderTimeout = time.Minute
)

// Config configures a Proxy.
type Config struct {
	// Upstream is Lambda's Runtime API, host:port: the AWS_LAMBDA_RUNTIME_API the
	// sandbox gave us. Required.
	Upstream string
	// Listen is where the runtime connects (DefaultListen when empty).
	Listen string
	// ClassifyWindow is how many leading bytes of each event (and of each error body) are
	// kept for OnInvocation (DefaultClassifyWindow when 0).
	ClassifyWindow int
	// QueueSize bounds the callbacks waiting to run; beyond it they are dropped and
	// counted (DefaultQueueSize when 0).
	QueueSize int
	// OnInvocation and OnOutcome, if set, are called from one goroutine of the proxy,
	// never from a request's path: a slow or panicking callback delays no runtime.
	OnInvocation func(Invocation)
	OnOutcome    func(Outcome)
}

// Proxy is a Runtime API proxy for one sandbox: the runtime talks to it as to Lambda.
type Proxy struct {
	cfg            Config
	transport      *http.Transport
	dispatcher     *dispatcher
	buffers        sync.Pool // *[]byte of copyBufferSize
	upstreamErrors atomic.Uint64

	mu        sync.Mutex
	started   bool
	closed    bool
	server    *http.Server
	serveDone chan struct{}
	handlers  sync.WaitGroup
}

var _ http.Handler = (*Proxy)(nil)

// New checks cfg and returns a proxy that is not listening yet.
func New(cfg Config) (*Proxy, error) {
	if _, _, err := net.SplitHostPort(cfg.Upstream); err != nil {
		return nil, errors.New("runtimeproxy: invalid upstream " + strconv.Quote(cfg.Upstream) + ": want host:port")
	}
	if cfg.ClassifyWindow < 0 || cfg.QueueSize < 0 {
		return nil, errors.New("runtimeproxy: classify window and queue size must not be negative")
	}
	if cfg.Listen == "" {
		cfg.Listen = DefaultListen
	}
	if cfg.ClassifyWindow == 0 {
		cfg.ClassifyWindow = DefaultClassifyWindow
	}
	if cfg.QueueSize == 0 {
		cfg.QueueSize = DefaultQueueSize
	}
	p := &Proxy{
		cfg: cfg,
		transport: &http.Transport{
			Proxy: nil, // HTTP_PROXY of the function must not divert the sandbox-local API
			// No TCP keep-alive probes: they mean nothing across freezes of the sandbox.
			DialContext:         (&net.Dialer{Timeout: dialTimeout, KeepAlive: -1}).DialContext,
			MaxIdleConns:        8,
			MaxIdleConnsPerHost: 8,
			// The runtime's own Accept-Encoding (if any) goes through; none is added.
			DisableCompression: true,
		},
		dispatcher: newDispatcher(cfg.QueueSize, cfg.OnInvocation, cfg.OnOutcome),
	}
	p.buffers.New = func() any {
		b := make([]byte, copyBufferSize)
		return &b
	}
	return p, nil
}

// Start listens on Config.Listen and returns the address (host:port) the runtime must be
// given as AWS_LAMBDA_RUNTIME_API. An error means the runtime must talk to Lambda directly.
func (p *Proxy) Start(ctx context.Context) (string, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.started || p.closed {
		return "", errors.New("runtimeproxy: Start called twice or after Close")
	}
	ln, err := (&net.ListenConfig{}).Listen(ctx, "tcp", p.cfg.Listen)
	if err != nil {
		return "", errors.New("runtimeproxy: listen: " + err.Error())
	}
	p.started = true
	p.server = &http.Server{
		Handler:           p,
		ReadHeaderTimeout: readHeaderTimeout,
		// The extension's output is the function's log stream: the proxy writes nothing there.
		ErrorLog: log.New(io.Discard, "", 0),
	}
	p.serveDone = make(chan struct{})
	go func() {
		defer close(p.serveDone)
		_ = p.server.Serve(ln)
	}()
	go p.dispatcher.run()
	return ln.Addr().String(), nil
}

// Close stops listening, cuts the runtime's open requests and waits for their handlers.
// Callbacks already queued still run on the proxy's goroutine, which ends after them;
// Close does not wait for them, so that a stuck callback cannot hold up a shutdown.
// Close is safe before Start and more than once.
func (p *Proxy) Close() {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return
	}
	p.closed = true
	started := p.started
	p.mu.Unlock()
	if !started {
		return
	}
	_ = p.server.Close()
	<-p.serveDone
	p.handlers.Wait()
	p.transport.CloseIdleConnections()
	close(p.dispatcher.quit)
}

// Stats returns the proxy's counters.
func (p *Proxy) Stats() Stats {
	return Stats{
		DroppedEvents:  p.dispatcher.dropped.Load(),
		CallbackPanics: p.dispatcher.panics.Load(),
		UpstreamErrors: p.upstreamErrors.Load(),
	}
}

// route is what the proxy does with one Runtime API call.
type route struct {
	next      bool        // invocation/next: tee the event
	kind      OutcomeKind // 0: a plain pass-through
	requestID string
}

func parseRoute(r *http.Request) route {
	path := r.URL.Path
	switch r.Method {
	case http.MethodGet:
		if path == PathNext {
			return route{next: true}
		}
	case http.MethodPost:
		if path == PathInitError {
			return route{kind: OutcomeInitError}
		}
		rest, ok := strings.CutPrefix(path, invocationPrefix)
		if !ok {
			break
		}
		id, action, ok := strings.Cut(rest, "/")
		if !ok || id == "" {
			break
		}
		switch action {
		case "response":
			return route{kind: OutcomeResponse, requestID: id}
		case "error":
			return route{kind: OutcomeError, requestID: id}
		}
	}
	return route{}
}

func (p *Proxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		writeRuntimeError(w, http.StatusServiceUnavailable, ErrorTypeUpstreamUnavailable, "the runtime API proxy is closing")
		return
	}
	p.handlers.Add(1)
	p.mu.Unlock()
	defer p.handlers.Done()

	received := time.Now()
	rt := parseRoute(r)

	body := &requestBody{src: r.Body, req: r}
	if rt.kind == OutcomeError || rt.kind == OutcomeInitError {
		body.prefix = newPrefix(p.cfg.ClassifyWindow, r.ContentLength)
	}
	out, err := p.outboundRequest(r, body)
	if err != nil {
		writeRuntimeError(w, http.StatusBadRequest, "InvalidRequest", err.Error())
		return
	}
	resp, err := p.transport.RoundTrip(out)
	if err != nil {
		if r.Context().Err() != nil || body.failed() {
			return // the runtime went away: nobody to answer
		}
		p.upstreamErrors.Add(1)
		writeRuntimeError(w, http.StatusBadGateway, ErrorTypeUpstreamUnavailable,
			"the runtime API proxy cannot reach Lambda's Runtime API at "+p.cfg.Upstream+": "+err.Error())
		if rt.kind != 0 {
			p.dispatcher.outcome(body.outcome(rt, r, received, 0))
		}
		return
	}
	defer resp.Body.Close()
	answered := time.Now()

	copyHeader(w.Header(), resp.Header)
	w.WriteHeader(resp.StatusCode)
	var event *prefix
	var handedOut func(size int64)
	if rt.next && resp.StatusCode == http.StatusOK {
		event = newPrefix(p.cfg.ClassifyWindow, resp.ContentLength)
		handedOut = func(size int64) {
			deadline, _ := strconv.ParseInt(resp.Header.Get(HeaderDeadlineMs), 10, 64)
			p.dispatcher.invocation(Invocation{
				RequestID:   resp.Header.Get(HeaderRequestID),
				TraceID:     resp.Header.Get(HeaderTraceID),
				FunctionARN: resp.Header.Get(HeaderFunctionARN),
				DeadlineMs:  deadline,
				Received:    answered,
				Prefix:      event.buf,
				Truncated:   event.truncated,
				Size:        size,
			})
		}
	}
	// The event is one body the runtime reads whole: the server's buffer flushes it. Other
	// bodies of unknown length may be streams, and go on as they come.
	flushEach := !rt.next && resp.ContentLength < 0
	readErr := p.copyBody(w, resp.Body, event, flushEach, resp.ContentLength, handedOut)
	for k, v := range resp.Trailer {
		w.Header()[http.TrailerPrefix+k] = v
	}
	if readErr != nil {
		// Cut the runtime's connection, so that it cannot take a partial body for a
		// whole one.
		p.upstreamErrors.Add(1)
		panic(http.ErrAbortHandler)
	}
	if rt.kind != 0 {
		o := body.outcome(rt, r, received, resp.StatusCode)
		o.Done = answered
		p.dispatcher.outcome(o)
	}
}

// outboundRequest is r addressed to Lambda, with body as its body.
func (p *Proxy) outboundRequest(r *http.Request, body *requestBody) (*http.Request, error) {
	out, err := http.NewRequestWithContext(r.Context(), r.Method, "http://"+p.cfg.Upstream+r.URL.RequestURI(), nil)
	if err != nil {
		return nil, err
	}
	out.Header = make(http.Header, len(r.Header)+1)
	copyHeader(out.Header, r.Header)
	if _, ok := out.Header["User-Agent"]; !ok {
		out.Header["User-Agent"] = []string{""} // not Go's default: the runtime sent none
	}
	if r.ContentLength == 0 {
		return out, nil
	}
	out.Body = body
	out.ContentLength = r.ContentLength
	if r.ContentLength < 0 {
		// Chunked: trailers may follow the body (a streamed response's error). The keys
		// the runtime declared are declared again; the values are copied at the end of the
		// body, when the server has read them, before the transport writes them.
		out.Trailer = make(http.Header, len(r.Trailer))
		for k := range r.Trailer {
			out.Trailer[k] = nil
		}
		body.outTrailer = out.Trailer
	}
	return out, nil
}

// copyBody copies src to w, keeping its first bytes in keep (if not nil), and returns the
// error reading src, if any; an error writing to w (the runtime went away) just ends the
// copy. complete (if not nil) is called with the body's size once src is read whole, and
// before the runtime can have all of it: before the write that completes contentLength,
// or, without a length, before the end of the chunked body, which is written when the
// handler returns. So an invocation is queued before the runtime can post its outcome.
func (p *Proxy) copyBody(w http.ResponseWriter, src io.Reader, keep *prefix, flushEach bool, contentLength int64, complete func(int64)) error {
	bp := p.buffers.Get().(*[]byte)
	defer p.buffers.Put(bp)
	buf := *bp
	var flusher *http.ResponseController
	if flushEach {
		flusher = http.NewResponseController(w)
	}
	var read int64
	for {
		n, err := src.Read(buf)
		if n > 0 {
			read += int64(n)
			if keep != nil {
				keep.write(buf[:n])
			}
			if complete != nil && contentLength >= 0 && read >= contentLength {
				complete(read)
				complete = nil
			}
			if _, werr := w.Write(buf[:n]); werr != nil {
				return nil
			}
			if flusher != nil {
				_ = flusher.Flush()
			}
		}
		if err == io.EOF {
			if complete != nil {
				complete(read)
			}
			return nil
		}
		if err != nil {
			return err
		}
	}
}

// requestBody is the runtime's request body on its way to Lambda: it counts it, keeps its
// first bytes when asked, and passes its trailers on.
type requestBody struct {
	src        io.ReadCloser
	req        *http.Request // the server fills in its Trailer when src reaches EOF
	outTrailer http.Header   // the outbound request's trailers, nil if not chunked

	// The transport reads the body on its own goroutine, possibly still after it
	// returned the response: what the handler reads of it is under mu.
	mu               sync.Mutex
	n                int64
	prefix           *prefix
	trailerErrorType string
	readErr          error // from the runtime's side, not Lambda's
}

func (b *requestBody) Read(p []byte) (int, error) {
	n, err := b.src.Read(p)
	b.mu.Lock()
	b.n += int64(n)
	if b.prefix != nil && n > 0 {
		b.prefix.write(p[:n])
	}
	if err != nil && err != io.EOF {
		b.readErr = err
	}
	if err == io.EOF && b.req.Trailer != nil {
		for k, v := range b.req.Trailer {
			if b.outTrailer != nil {
				b.outTrailer[k] = v
			}
		}
		b.trailerErrorType = b.req.Trailer.Get(HeaderErrorType)
	}
	b.mu.Unlock()
	return n, err
}

func (b *requestBody) Close() error { return b.src.Close() }

func (b *requestBody) failed() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.readErr != nil
}

// outcome is what the body tells of the runtime's result. status 0: Lambda was not reached.
func (b *requestBody) outcome(rt route, r *http.Request, received time.Time, status int) Outcome {
	b.mu.Lock()
	size, trailerErrorType := b.n, b.trailerErrorType
	var head []byte
	if b.prefix != nil {
		head = b.prefix.buf
	}
	b.mu.Unlock()
	o := Outcome{
		Kind:      rt.kind,
		RequestID: rt.requestID,
		Streaming: strings.EqualFold(r.Header.Get(HeaderResponseMode), ResponseModeStreamed),
		Size:      size,
		Status:    status,
		Received:  received,
		Done:      time.Now(),
	}
	switch rt.kind {
	case OutcomeError, OutcomeInitError:
		o.ErrorType = ErrorType(head)
		if o.ErrorType == "" {
			o.ErrorType = r.Header.Get(HeaderErrorType)
		}
	case OutcomeResponse:
		if trailerErrorType != "" {
			o.Kind, o.ErrorType = OutcomeError, trailerErrorType
		}
	}
	return o
}

// prefix keeps the first limit bytes written to it.
type prefix struct {
	buf       []byte
	limit     int
	truncated bool
}

// newPrefix sizes the buffer from the body's length when known, so that a small event
// costs its own size and a large one (or a chunked one) the window, once.
func newPrefix(limit int, contentLength int64) *prefix {
	size := limit
	if contentLength >= 0 && contentLength < int64(limit) {
		size = int(contentLength)
	}
	return &prefix{buf: make([]byte, 0, size), limit: limit}
}

func (k *prefix) write(b []byte) {
	if room := k.limit - len(k.buf); len(b) > room {
		k.truncated = true
		b = b[:room]
	}
	k.buf = append(k.buf, b...)
}

// hopByHop are the headers of one connection, not of the message (RFC 9110, 7.6.1).
var hopByHop = map[string]bool{
	"Connection":          true,
	"Proxy-Connection":    true,
	"Keep-Alive":          true,
	"Proxy-Authenticate":  true,
	"Proxy-Authorization": true,
	"Te":                  true,
	"Trailer":             true,
	"Transfer-Encoding":   true,
	"Upgrade":             true,
}

// copyHeader copies src into dst without the hop-by-hop headers and those the Connection
// header names. Value slices are shared: neither side changes them.
func copyHeader(dst, src http.Header) {
	var connection []string
	if c := src["Connection"]; len(c) > 0 {
		for _, v := range c {
			for _, name := range strings.Split(v, ",") {
				if name = strings.TrimSpace(name); name != "" {
					connection = append(connection, http.CanonicalHeaderKey(name))
				}
			}
		}
	}
	for k, v := range src {
		if hopByHop[k] {
			continue
		}
		if slices.Contains(connection, k) {
			continue
		}
		dst[k] = v
	}
}

// writeRuntimeError answers as Lambda's Runtime API answers an error: JSON with
// errorType and errorMessage.
func writeRuntimeError(w http.ResponseWriter, status int, errorType, message string) {
	body, _ := json.Marshal(struct {
		ErrorMessage string `json:"errorMessage"`
		ErrorType    string `json:"errorType"`
	}{message, errorType})
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	_, _ = w.Write(body)
}
