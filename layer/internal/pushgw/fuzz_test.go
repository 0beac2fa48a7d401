// Copyright The otelcol-lambda Authors
// SPDX-License-Identifier: Apache-2.0

package pushgw

import (
	"encoding/json"
	"testing"
	"time"
)

// FuzzPush checks that no grouping key or body panics, and that whatever is accepted
// encodes to valid OTLP/JSON.
func FuzzPush(f *testing.F) {
	f.Add("job/a", []byte("# TYPE c counter\nc{x=\"1\"} 2\n"))
	f.Add("job@base64/YQ/l@base64/=", []byte("# TYPE h histogram\nh_bucket{le=\"1\"} 1\nh_bucket{le=\"+Inf\"} 2\nh_sum 0.5\nh_count 2\n"))
	f.Add("job/a/b/c", []byte("# TYPE s summary\ns{quantile=\"0.5\"} -Inf\ns_count 1\n"))
	f.Fuzz(func(t *testing.T, path string, body []byte) {
		job, labels, err := ParseGroupingKey(path)
		if err != nil {
			return
		}
		s := NewStore(1000, time.Now)
		if err := s.Push(job, labels, body); err != nil {
			return
		}
		// The same totals again owe nothing more but are sent (touched).
		_ = s.Push(job, labels, body)
		out := s.Collect([]KeyValue{StringAttr("faas.name", "fn")})
		if out == nil {
			return
		}
		if !json.Valid(out) {
			t.Fatalf("invalid JSON: %s", out)
		}
	})
}
