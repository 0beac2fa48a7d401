// Copyright The otelcol-lambda Authors
// SPDX-License-Identifier: Apache-2.0

package cloudwatchmetricstreamreceiver

import (
	"encoding/base64"
	"encoding/binary"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/pdata/pmetric/pmetricotlp"
)

// A record whose first message is 123 bytes long starts with '{', the length prefix: it is
// decoded as OTLP, not refused as the JSON output format.
func TestFirstMessageOf123BytesIsNotTakenForJSON(t *testing.T) {
	var message []byte
	for padding := 0; len(message) < '{'; padding++ {
		md := pmetric.NewMetrics()
		md.ResourceMetrics().AppendEmpty().Resource().Attributes().PutStr("padding", strings.Repeat("x", padding))
		var err error
		message, err = pmetricotlp.NewExportRequestFromMetrics(md).MarshalProto()
		require.NoError(t, err)
	}
	require.Len(t, message, '{')
	record := append(binary.AppendUvarint(nil, uint64(len(message))), message...)
	require.Equal(t, byte('{'), record[0])

	messages, err := decodeRecord(base64.StdEncoding.EncodeToString(record))
	require.NoError(t, err)
	require.Len(t, messages, 1)
	padding, _ := messages[0].ResourceMetrics().At(0).Resource().Attributes().Get("padding")
	assert.NotEmpty(t, padding.Str())

	_, err = decodeRecord(base64.StdEncoding.EncodeToString([]byte(`{"metric_stream_name":"s"}`)))
	assert.ErrorIs(t, err, errJSONOutputFormat, "a record that does not decode and reads as JSON is still named as such")
}
