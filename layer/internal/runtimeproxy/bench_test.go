// Copyright The otelcol-lambda Authors
// SPDX-License-Identifier: Apache-2.0

package runtimeproxy

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// BenchmarkProxyOverhead times one invocation's round trip as a runtime makes it
// (invocation/next with a 10 KB event, then its response) straight to a Runtime API and
// through the proxy, alternately in each iteration so that both see the same machine,
// and reports the added latency: mean, and the difference of the p50s and of the p99s.
func BenchmarkProxyOverhead(b *testing.B) {
	event := bytes.Repeat([]byte("x"), 10<<10)
	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		if r.URL.Path == PathNext {
			h := w.Header()
			for k, v := range stubEventHeaders {
				h.Set(k, v)
			}
			h.Set("Content-Length", strconv.Itoa(len(event)))
			_, _ = w.Write(event)
			return
		}
		w.WriteHeader(http.StatusAccepted)
		_, _ = io.WriteString(w, `{"status":"OK"}`)
	}))
	defer upstream.Close()
	_, proxyAddr := startProxy(b, Config{
		Upstream:     upstream.Listener.Addr().String(),
		OnInvocation: func(Invocation) {},
		OnOutcome:    func(Outcome) {},
	})

	type runtimeClient struct {
		client *http.Client
		base   string
		buf    bytes.Buffer
	}
	roundTrip := func(c *runtimeClient) time.Duration {
		start := time.Now()
		resp, err := c.client.Get(c.base + PathNext)
		require.NoError(b, err)
		c.buf.Reset()
		_, err = c.buf.ReadFrom(resp.Body)
		require.NoError(b, err)
		_ = resp.Body.Close()
		id := resp.Header.Get(HeaderRequestID)
		resp, err = c.client.Post(c.base+"/2018-06-01/runtime/invocation/"+id+"/response", "application/json", bytes.NewReader([]byte(`{"ok":true}`)))
		require.NoError(b, err)
		_, _ = io.Copy(io.Discard, resp.Body)
		_ = resp.Body.Close()
		require.Equal(b, http.StatusAccepted, resp.StatusCode)
		return time.Since(start)
	}
	direct := &runtimeClient{client: &http.Client{Transport: &http.Transport{}}, base: upstream.URL}
	proxied := &runtimeClient{client: &http.Client{Transport: &http.Transport{}}, base: "http://" + proxyAddr}
	defer direct.client.CloseIdleConnections()
	defer proxied.client.CloseIdleConnections()
	roundTrip(direct)
	roundTrip(proxied)

	directTimes := make([]time.Duration, 0, b.N)
	proxiedTimes := make([]time.Duration, 0, b.N)
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		directTimes = append(directTimes, roundTrip(direct))
		proxiedTimes = append(proxiedTimes, roundTrip(proxied))
	}
	b.StopTimer()

	micros := func(d time.Duration) float64 { return float64(d) / float64(time.Microsecond) }
	mean := func(ds []time.Duration) time.Duration {
		var sum time.Duration
		for _, d := range ds {
			sum += d
		}
		return sum / time.Duration(len(ds))
	}
	quantile := func(ds []time.Duration, q float64) time.Duration {
		s := slices.Clone(ds)
		slices.Sort(s)
		return s[int(q*float64(len(s)-1))]
	}
	b.ReportMetric(micros(mean(directTimes)), "direct-µs")
	b.ReportMetric(micros(mean(proxiedTimes)), "proxied-µs")
	b.ReportMetric(micros(mean(proxiedTimes)-mean(directTimes)), "added-µs")
	b.ReportMetric(micros(quantile(proxiedTimes, 0.5)-quantile(directTimes, 0.5)), "added-p50-µs")
	b.ReportMetric(micros(quantile(proxiedTimes, 0.99)-quantile(directTimes, 0.99)), "added-p99-µs")
}
