// Copyright The otelcol-lambda Authors
// SPDX-License-Identifier: Apache-2.0

package warnlog

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"
)

func TestWarnOncePerMinutePerMessage(t *testing.T) {
	core, logs := observer.New(zap.WarnLevel)
	l := New(zap.New(core))
	now := time.Unix(1000, 0)
	l.now = func() time.Time { return now }
	l.Warn("bad batch")
	l.Warn("bad batch")
	l.Warn("bad batch")
	l.Warn("other")
	assert.Equal(t, 2, logs.Len(), "the repeats within a minute are held back")
	now = now.Add(time.Minute)
	l.Warn("bad batch")
	all := logs.All()
	assert.Equal(t, 3, len(all))
	assert.Equal(t, int64(2), all[2].ContextMap()["suppressed_since_last"], "and counted in the next line")
}
