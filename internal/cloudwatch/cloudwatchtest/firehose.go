// Copyright The otelcol-lambda Authors
// SPDX-License-Identifier: Apache-2.0

package cloudwatchtest // import "github.com/otelcol-lambda/otelcol-lambda/internal/cloudwatch/cloudwatchtest"

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"net/http"
	"time"
)

// The headers of a Firehose HTTP endpoint delivery request.
const (
	HeaderRequestID       = "X-Amz-Firehose-Request-Id"
	HeaderAccessKey       = "X-Amz-Firehose-Access-Key"
	HeaderProtocolVersion = "X-Amz-Firehose-Protocol-Version"
	HeaderSourceARN       = "X-Amz-Firehose-Source-Arn"
)

// ExampleDeliveryStreamARN is the ARN Firehose sends as X-Amz-Firehose-Source-Arn.
const ExampleDeliveryStreamARN = "arn:aws:firehose:us-east-1:123456789012:deliverystream/otelcol-lambda"

// Request is one Firehose HTTP endpoint delivery request.
type Request struct {
	// RequestID is both in the body and in X-Amz-Firehose-Request-Id; Firehose keeps it
	// across the retries of a request.
	RequestID string
	// Timestamp is when Firehose sent the request; the body has it in milliseconds.
	Timestamp time.Time
	// Records are the records' data, before base64.
	Records [][]byte
}

type requestBody struct {
	RequestID string       `json:"requestId"`
	Timestamp int64        `json:"timestamp"`
	Records   []recordBody `json:"records"`
}

type recordBody struct {
	Data []byte `json:"data"` // encoding/json writes []byte as standard base64
}

// Body is the request's body as Firehose sends it without content encoding:
// {"requestId": ..., "timestamp": <ms>, "records": [{"data": <base64>}, ...]}.
func (r Request) Body() []byte {
	body := requestBody{RequestID: r.RequestID, Timestamp: r.Timestamp.UnixMilli(), Records: make([]recordBody, len(r.Records))}
	for i, data := range r.Records {
		body.Records[i].Data = data
	}
	b, err := json.Marshal(body)
	if err != nil {
		panic(err) // strings, an int and byte slices always marshal
	}
	return b
}

// Gzip compresses b as Firehose does with the GZIP content encoding.
func Gzip(b []byte) []byte {
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	_, _ = zw.Write(b) // writes to a bytes.Buffer do not fail
	_ = zw.Close()
	return buf.Bytes()
}

// HTTPRequest is the POST Firehose makes to url with r: the protocol version, request id,
// source ARN and, when accessKey is not empty, access key headers, Content-Type
// application/json, and with gzipped the body compressed and Content-Encoding gzip.
func (r Request) HTTPRequest(url, accessKey string, gzipped bool) (*http.Request, error) {
	body := r.Body()
	if gzipped {
		body = Gzip(body)
	}
	req, err := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(HeaderProtocolVersion, "1.0")
	req.Header.Set(HeaderRequestID, r.RequestID)
	req.Header.Set(HeaderSourceARN, ExampleDeliveryStreamARN)
	if accessKey != "" {
		req.Header.Set(HeaderAccessKey, accessKey)
	}
	if gzipped {
		req.Header.Set("Content-Encoding", "gzip")
	}
	return req, nil
}
