// Copyright The otelcol-lambda Authors
// SPDX-License-Identifier: Apache-2.0

package acklog

import (
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

type testLog struct {
	mu     sync.Mutex
	acks   map[uint64][]string
	closed int
}

func newTestLog() *testLog { return &testLog{acks: map[uint64][]string{}} }

func (l *testLog) Acknowledge(acks map[uint64][]string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for id, keys := range acks {
		l.acks[id] = append(l.acks[id], keys...)
	}
}

func (l *testLog) Close() { l.mu.Lock(); l.closed++; l.mu.Unlock() }

func TestTokens(t *testing.T) {
	tests := []struct {
		token string
		log   string
		batch uint64
		key   string
		ok    bool
	}{
		{token: Token("lambda_telemetry", 42, Key(7, "report")), log: "lambda_telemetry", batch: 42, key: "7 report", ok: true},
		{token: Token("lambda_telemetry/b", 1, Key(0, "invocation")), log: "lambda_telemetry/b", batch: 1, key: "0 invocation", ok: true},
		{token: "lambda_telemetry"},
		{token: "lambda_telemetry x 0 invocation"},
		{token: "lambda_telemetry -1 0 invocation"},
		{token: ""},
	}
	for _, tt := range tests {
		log, batch, key, ok := ParseToken(tt.token)
		assert.Equal(t, tt.ok, ok, tt.token)
		assert.Equal(t, tt.log, log, tt.token)
		assert.Equal(t, tt.batch, batch, tt.token)
		assert.Equal(t, tt.key, key, tt.token)
	}
}

func TestAcknowledgeGroupsByLogAndBatch(t *testing.T) {
	a, b := newTestLog(), newTestLog()
	Register("a", a)
	Register("b", b)
	defer Retire("a")
	defer Retire("b")
	Acknowledge([]string{Token("a", 1, Key(0, "invocation")), Token("a", 1, Key(2, "report")),
		Token("b", 9, Key(1, "init")), Token("elsewhere", 1, Key(0, "invocation")), "not a token"})
	assert.Equal(t, map[uint64][]string{1: {"0 invocation", "2 report"}}, a.acks)
	assert.Equal(t, map[uint64][]string{9: {"1 init"}}, b.acks)
}

func TestEarlyAcknowledgementsWaitForTheirLog(t *testing.T) {
	AcknowledgeEarly([]string{Token("later", 3, Key(0, "invocation"))})
	log := newTestLog()
	early := Register("later", log)
	defer Retire("later")
	assert.Equal(t, map[uint64][]string{3: {"0 invocation"}}, early)
	assert.Empty(t, log.acks, "the log learns them from Register, before it replays")
	assert.Nil(t, Register("later", log), "given once")
}

func TestRetiredLogStaysOpenWhileHeld(t *testing.T) {
	log := newTestLog()
	Register("held", log)
	release := Hold()
	Retire("held")
	Acknowledge([]string{Token("held", 1, Key(0, "invocation"))})
	assert.Equal(t, 0, log.closed, "a holder may still acknowledge")
	assert.Len(t, log.acks[1], 1)
	release()
	release() // once only
	assert.Equal(t, 1, log.closed)
	Acknowledge([]string{Token("held", 2, Key(0, "invocation"))})
	assert.Empty(t, log.acks[2], "closed logs take nothing")

	// Not held: closed at once.
	other := newTestLog()
	Register("unheld", other)
	Retire("unheld")
	assert.Equal(t, 1, other.closed)
}

func TestRegisterReplacesARetiredLog(t *testing.T) {
	old, next := newTestLog(), newTestLog()
	Register("restarted", old)
	release := Hold()
	defer release()
	Retire("restarted")
	Register("restarted", next) // a new receiver of the same id in the same process
	require.Equal(t, 1, old.closed, "the retired one is closed, not leaked")
	Acknowledge([]string{Token("restarted", 5, Key(0, "init"))})
	assert.Len(t, next.acks[5], 1)
	assert.Empty(t, old.acks)
	Retire("restarted")
}
