// Copyright The otelcol-lambda Authors
// SPDX-License-Identifier: Apache-2.0

package cloudwatchmetricstreamreceiver

import (
	"testing"

	"go.opentelemetry.io/collector/pdata/pmetric"

	"github.com/otelcol-lambda/otelcol-lambda/internal/cloudwatch/cloudwatchtest"
)

// FuzzFirehoseRequest feeds arbitrary bodies to the delivery request decoder: it must
// never panic, and it must account for every record, decoded or skipped.
func FuzzFirehoseRequest(f *testing.F) {
	good := cloudwatchtest.Record(lambdaStatistics("Throttles", "checkout", "orders"))
	f.Add(deliveryBody("req-1", good))
	f.Add(deliveryBody("req-1", good, []byte{0x05, 0x01}, good))
	f.Add(deliveryBody("req-1", []byte{0x80}))
	f.Add([]byte(`{"requestId":"r","timestamp":1,"records":[{"data":"not base64!"}]}`))
	f.Add([]byte(`{"requestId":"r","timestamp":1,"records":[]}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		messages := 0
		decoded, err := decodeRequest(body, func(record []pmetric.Metrics) {
			if len(record) == 0 {
				t.Fatal("a record without messages was used")
			}
			for _, m := range record {
				_ = m.DataPointCount()
			}
			messages += len(record)
		})
		if err != nil {
			return
		}
		if decoded.goodRecords+decoded.malformedRecords() != decoded.records {
			t.Fatalf("%d good and %d malformed records of %d", decoded.goodRecords, decoded.malformedRecords(), decoded.records)
		}
		if (decoded.malformedRecords() > 0) != (decoded.firstBad != nil) {
			t.Fatalf("%d malformed records, first error %v", decoded.malformedRecords(), decoded.firstBad)
		}
		if messages < decoded.goodRecords {
			t.Fatalf("%d good records gave %d messages", decoded.goodRecords, messages)
		}
	})
}
