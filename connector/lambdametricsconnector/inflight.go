// Copyright The otelcol-lambda Authors
// SPDX-License-Identifier: Apache-2.0

package lambdametricsconnector // import "github.com/otelcol-lambda/otelcol-lambda/connector/lambdametricsconnector"

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/consumer/consumererror"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.uber.org/zap"

	"github.com/otelcol-lambda/otelcol-lambda/internal/acklog"
	"github.com/otelcol-lambda/otelcol-lambda/internal/storageclient"
)

// inflightKey is the storage key of the flush being written.
const inflightKey = "inflight"

// inflightVersion is the first byte of the stored record.
const inflightVersion = 1

// The in-flight flush closes the one gap of lambda_telemetry's write-ahead log. Its spans
// are acknowledged after Prometheus took the flush; a kill -9 between the two would replay
// them, and count them twice. So the flush and its tokens are stored before it is sent and
// deleted after the acknowledgement. At start, a stored flush is written again first
// (Prometheus ignores a sample it has, and takes one it missed) and its tokens are
// acknowledged before the log replays, so each span is counted once.

// startInflight opens the storage and takes up a flush that a kill interrupted.
func (c *lambdaMetrics) startInflight(ctx context.Context, host component.Host) error {
	if c.cfg.Storage == nil {
		return nil
	}
	client, err := storageclient.Open(ctx, host, *c.cfg.Storage, component.KindConnector, c.id, "")
	if err != nil {
		return err
	}
	c.store = client
	value, err := client.Get(ctx, inflightKey)
	if err != nil {
		return errors.Join(fmt.Errorf("storage: reading the flush in flight: %w", err), client.Close(ctx))
	}
	if value == nil {
		return nil
	}
	tokens, md, err := decodeInflight(value)
	if err != nil {
		// Written by another version: its spans are replayed and may count twice.
		c.logger.Warn("Ignoring a stored flush that cannot be read", zap.Error(err))
		return nil
	}
	c.resend = &md
	acklog.AcknowledgeEarly(tokens)
	c.logger.Info("A flush was being written when the gateway stopped; it is written again first",
		zap.Int("data_points", md.DataPointCount()), zap.Int("spans", len(tokens)))
	return nil
}

// sendStored writes again the flush a kill interrupted, before any newer one. A
// Prometheus that refuses it for good (4xx) is not asked again: its spans were
// acknowledged at start already.
func (c *lambdaMetrics) sendStored(ctx context.Context) error {
	if c.resend == nil {
		return nil
	}
	err := c.next.ConsumeMetrics(ctx, *c.resend)
	if err != nil && !consumererror.IsPermanent(err) {
		return err
	}
	if err != nil {
		// Prometheus answers 400 "out of order sample" for the older samples of a flush it
		// has taken already (a new series' zero point), and still takes the rest.
		c.logger.Info("The backend refused part of the flush written again after a kill, as it does when it had taken that flush before",
			zap.Error(err))
	}
	c.resend = nil
	c.deleteInflight(ctx)
	return nil
}

// storeInflight stores the flush about to be sent with the tokens it acknowledges.
func (c *lambdaMetrics) storeInflight(ctx context.Context, tokens []string, md pmetric.Metrics) error {
	if c.store == nil || len(tokens) == 0 {
		return nil
	}
	value, err := encodeInflight(tokens, md)
	if err == nil {
		err = c.store.Set(ctx, inflightKey, value)
	}
	if err != nil {
		return fmt.Errorf("storing the flush before it is sent: %w", err)
	}
	return nil
}

func (c *lambdaMetrics) deleteInflight(ctx context.Context) {
	if c.store == nil {
		return
	}
	if err := c.store.Delete(ctx, inflightKey); err != nil {
		c.logger.Warn("Could not delete the stored flush; it will be written again at the next start", zap.Error(err))
	}
}

// encodeInflight writes: version, the number of tokens, each token (length-prefixed),
// then the flush as OTLP protobuf.
func encodeInflight(tokens []string, md pmetric.Metrics) ([]byte, error) {
	var m pmetric.ProtoMarshaler
	size := m.MetricsSize(md)
	b := make([]byte, 0, 1+binary.MaxVarintLen64*(1+len(tokens))+size+64*len(tokens))
	b = append(b, inflightVersion)
	b = binary.AppendUvarint(b, uint64(len(tokens)))
	for _, t := range tokens {
		b = binary.AppendUvarint(b, uint64(len(t)))
		b = append(b, t...)
	}
	payload, err := m.MarshalMetrics(md)
	if err != nil {
		return nil, err
	}
	return append(b, payload...), nil
}

var errCorruptInflight = errors.New("corrupt stored flush")

func decodeInflight(b []byte) ([]string, pmetric.Metrics, error) {
	if len(b) == 0 || b[0] != inflightVersion {
		return nil, pmetric.Metrics{}, errCorruptInflight
	}
	b = b[1:]
	n, k := binary.Uvarint(b)
	if k <= 0 || n > uint64(len(b)) {
		return nil, pmetric.Metrics{}, errCorruptInflight
	}
	b = b[k:]
	tokens := make([]string, 0, n)
	for range n {
		l, k := binary.Uvarint(b)
		if k <= 0 || l > uint64(len(b)-k) {
			return nil, pmetric.Metrics{}, errCorruptInflight
		}
		tokens = append(tokens, string(b[k:k+int(l)]))
		b = b[k+int(l):]
	}
	var u pmetric.ProtoUnmarshaler
	md, err := u.UnmarshalMetrics(b)
	if err != nil {
		return nil, pmetric.Metrics{}, fmt.Errorf("%w: %w", errCorruptInflight, err)
	}
	return tokens, md, nil
}
