// Copyright The otelcol-lambda Authors
// SPDX-License-Identifier: Apache-2.0

package cloudwatchmetricstreamreceiver // import "github.com/otelcol-lambda/otelcol-lambda/receiver/cloudwatchmetricstreamreceiver"

import (
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math"

	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/pdata/pmetric/pmetricotlp"
)

// The Firehose HTTP endpoint delivery protocol, version 1.0, as AWS documents it
// ("HTTP endpoint delivery request and response specifications").
const (
	headerRequestID       = "X-Amz-Firehose-Request-Id"
	headerAccessKey       = "X-Amz-Firehose-Access-Key"
	headerProtocolVersion = "X-Amz-Firehose-Protocol-Version"
	jsonContentType       = "application/json"
)

// firehoseRequest is the body of a delivery request.
type firehoseRequest struct {
	RequestID string `json:"requestId"`
	// Timestamp is when Firehose sent the request, in milliseconds since the epoch.
	Timestamp int64            `json:"timestamp"`
	Records   []firehoseRecord `json:"records"`
}

// firehoseRecord is one record as the metric stream wrote it, base64-encoded.
type firehoseRecord struct {
	Data string `json:"data"`
}

// firehoseResponse is the body of every answer. Firehose takes a 200 as delivered and
// retries anything else; it logs errorMessage to the stream's CloudWatch Logs.
type firehoseResponse struct {
	RequestID    string `json:"requestId"`
	Timestamp    int64  `json:"timestamp"`
	ErrorMessage string `json:"errorMessage,omitempty"`
}

// maxMessagesPerRecord bounds the OTLP messages of one record. A Firehose record is at
// most 1,000 KiB and a metric stream's message, which holds at least one data point with
// its namespace, metric name and timestamps, takes over 100 bytes: a record of more
// messages was not written by a metric stream, and decoding it would only cost memory.
const maxMessagesPerRecord = 10_000

var (
	errNoMessages       = errors.New("the record holds no OTLP message")
	errEmptyMessage     = errors.New("a zero-length OTLP message, which a metric stream never writes")
	errTooManyMessages  = fmt.Errorf("more than %d OTLP messages in one record", maxMessagesPerRecord)
	errJSONOutputFormat = errors.New("the record is in the metric stream's JSON output format, which this receiver does not read: set the stream's output format to OpenTelemetry 1.0.0")
	errBadLengthPrefix  = errors.New("bad length prefix (not an unsigned 32-bit varint)")
	errTruncatedMessage = errors.New("the length prefix says more bytes than the record holds")
)

// decodedRequest is what a delivery request's body holds.
type decodedRequest struct {
	requestID string
	// records is how many records the request had.
	records int
	// goodRecords is how many records decoded whole; a record is delivered all or nothing.
	goodRecords int
	// firstBad is the first malformed record's error, with its index; nil if none.
	firstBad error
}

// malformedRecords is how many records were skipped.
func (d *decodedRequest) malformedRecords() int { return d.records - d.goodRecords }

// decodeRequest reads a delivery request body and hands the OTLP messages of each record
// that decoded whole to use, one record at a time, so that only one record's messages are
// held at once. An error means the body as a whole is not a delivery request; a record
// that does not decode is only counted in the result.
func decodeRequest(body []byte, use func(record []pmetric.Metrics)) (decodedRequest, error) {
	var req firehoseRequest
	if err := json.Unmarshal(body, &req); err != nil {
		return decodedRequest{}, fmt.Errorf("the body is not a Firehose delivery request: %w", err)
	}
	d := decodedRequest{requestID: req.RequestID, records: len(req.Records)}
	for i, record := range req.Records {
		messages, err := decodeRecord(record.Data)
		if err != nil {
			if d.firstBad == nil {
				d.firstBad = fmt.Errorf("record %d: %w", i, err)
			}
			continue
		}
		d.goodRecords++
		use(messages)
	}
	return d, nil
}

// decodeRecord decodes one record's data: base64, then the metric stream's OpenTelemetry
// 1.0.0 output, a sequence of ExportMetricsServiceRequest messages each preceded by its
// length as an unsigned varint.
func decodeRecord(data string) ([]pmetric.Metrics, error) {
	raw, err := base64.StdEncoding.DecodeString(data)
	if err != nil {
		return nil, fmt.Errorf("not base64: %w", err)
	}
	messages, err := decodeMessages(raw)
	// Only a record that does not decode is looked at as JSON: '{' is also the length
	// prefix of a 123-byte message.
	if trimmed := bytes.TrimLeft(raw, " \t\r\n"); err != nil && len(trimmed) > 0 && trimmed[0] == '{' {
		return nil, errJSONOutputFormat
	}
	return messages, err
}

// decodeMessages decodes a sequence of length-delimited OTLP metric requests.
func decodeMessages(raw []byte) ([]pmetric.Metrics, error) {
	var messages []pmetric.Metrics
	for len(raw) > 0 {
		size, n := binary.Uvarint(raw)
		if n <= 0 || size > math.MaxUint32 {
			return nil, errBadLengthPrefix
		}
		raw = raw[n:]
		switch {
		case size == 0:
			return nil, fmt.Errorf("message %d: %w", len(messages), errEmptyMessage)
		case len(messages) == maxMessagesPerRecord:
			return nil, errTooManyMessages
		}
		if size > uint64(len(raw)) {
			return nil, errTruncatedMessage
		}
		req := pmetricotlp.NewExportRequest()
		if err := req.UnmarshalProto(raw[:size]); err != nil {
			return nil, fmt.Errorf("message %d is not an OTLP ExportMetricsServiceRequest: %w", len(messages), err)
		}
		messages = append(messages, req.Metrics())
		raw = raw[size:]
	}
	if len(messages) == 0 {
		return nil, errNoMessages
	}
	return messages, nil
}
