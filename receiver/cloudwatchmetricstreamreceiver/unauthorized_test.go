// Copyright The otelcol-lambda Authors
// SPDX-License-Identifier: Apache-2.0

package cloudwatchmetricstreamreceiver

import (
	"bufio"
	"fmt"
	"net"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// A request without the key is answered while its body is still being sent: the receiver
// neither waits for it (to decompress it, or to drain it for keep-alive) nor keeps the
// connection. The test sends only the headers and a few bytes of a much longer body, and
// reads the answer before sending more; if the receiver waited for the body, it would
// never answer.
func TestWrongAccessKeyIsAnsweredBeforeTheBodyArrives(t *testing.T) {
	for _, encoding := range []string{"", "gzip"} {
		t.Run("encoding="+encoding, func(t *testing.T) {
			tr := startReceiver(t, nil, nil)
			conn, err := net.Dial("tcp", strings.TrimSuffix(strings.TrimPrefix(tr.url, "http://"), "/"))
			require.NoError(t, err)
			defer conn.Close()
			head := "POST / HTTP/1.1\r\nHost: firehose\r\nContent-Type: application/json\r\n" +
				headerAccessKey + ": wrong\r\n" + headerRequestID + ": req-1\r\nContent-Length: 65536\r\n"
			if encoding != "" {
				head += "Content-Encoding: " + encoding + "\r\n"
			}
			// The first bytes of a gzip stream, and of a JSON body: the rest never comes. The body
			// is below the 256 KiB Go would read after the answer to keep the connection.
			_, err = fmt.Fprint(conn, head+"\r\n\x1f\x8b\x08\x00{")
			require.NoError(t, err)

			resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
			require.NoError(t, err)
			defer resp.Body.Close()
			assert.Equal(t, http.StatusUnauthorized, resp.StatusCode)
			assert.True(t, resp.Close, "the connection is closed rather than drained of the unread body")
			assert.Equal(t, map[string]int64{"unauthorized": 1}, tr.counts(t, "receiver_cloudwatch_metric_stream_requests"))
		})
	}
}
