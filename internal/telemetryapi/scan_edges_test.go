// Copyright The otelcol-lambda Authors
// SPDX-License-Identifier: Apache-2.0

package telemetryapi

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestScanDecodedCutAnywhere: a real batch cut at every byte, bare or closed with "}],
// scans and decodes as the old path and encoding/json do, and never panics.
func TestScanDecodedCutAnywhere(t *testing.T) {
	files, _ := filepath.Glob(filepath.Join("testdata", "*.json"))
	for _, name := range files {
		b, _ := os.ReadFile(name)
		for i := 0; i <= len(b); i++ {
			checkScan(t, b[:i:i])
			checkScan(t, append(append([]byte(nil), b[:i]...), "\"}]"...))
		}
	}
}

// TestScanDecodedStringEdges: a quote, an escape, a control, invalid UTF-8 or a surrogate
// at every alignment of the 8-byte string scan, in values, keys and at the body's end.
func TestScanDecodedStringEdges(t *testing.T) {
	specials := []string{`"`, `\"`, `\\`, `\n`, `\u00e9`, `\ud83d\ude00`, `\ud83d`, `\udc00x`, `\u0000`, "\x01", "\x1f", "\x7f", "\x80", "\xff", "é", "\xe2\x82", `\/`, `\b`}
	types := []string{"function", "platform.start", "platform.runtimeDone"}
	for n := 0; n < 20; n++ {
		for _, sp := range specials {
			for m := 0; m < 10; m++ {
				s := strings.Repeat("a", n) + sp + strings.Repeat("b", m)
				for _, typ := range types {
					var rec string
					switch typ {
					case "function":
						rec = `"` + s + `"`
					default:
						rec = `{"requestId":"` + s + `","tracing":{"type":"X-Amzn-Trace-Id","value":"` + s + `","spanId":"` + s + `"}}`
					}
					ev := `{"time":"2022-10-12T00:00:15.064Z","type":"` + typ + `","record":` + rec + `}`
					body := `[` + ev + `,` + ev + `]`
					checkScan(t, []byte(body))
					checkScan(t, []byte(body)[:len(body)-1-m])
					// As a JSON log's key and values.
					checkScan(t, []byte(`[{"time":"2022-10-12T00:00:15.064Z","type":"function","record":{"`+s+`":"`+s+`","message":"`+s+`"}}]`))
				}
			}
		}
	}
}

// TestScanDecodedTimes: every shape Lambda's times take, and the near misses, as event
// times (either key order, spaced out), span starts and JSON log timestamps.
func TestScanDecodedTimes(t *testing.T) {
	times := []string{
		"2022-10-12T00:00:15.064Z", "2022-10-12T00:00:15Z", "2022-10-12T00:00:15.0Z", "2022-10-12T00:00:15.06Z",
		"2022-10-12T00:00:15.0640Z", "2022-10-12T00:00:15.06400Z", "2022-10-12T00:00:15.064000Z", "2022-10-12T00:00:15.0640000Z",
		"2022-10-12T00:00:15.06400000Z", "2022-10-12T00:00:15.064000000Z", "2022-10-12T00:00:15.0640000000Z",
		"2022-10-12T00:00:15.064", "2022-10-12T00:00:15.064+00:00", "2022-10-12T00:00:15.064+02:00", "2022-10-12T00:00:15.064-00:00",
		"2022-10-12T00:00:15.064z", "2022-10-12t00:00:15.064Z", "2022-10-12 00:00:15.064Z", "2022-10-12T23:59:60.000Z",
		"2016-12-31T23:59:60.000Z", "0000-01-01T00:00:00.000Z", "0001-01-01T00:00:00.000Z", "9999-12-31T23:59:59.999Z",
		"2022-02-29T00:00:00.000Z", "2024-02-29T00:00:00.000Z", "2100-02-29T00:00:00.000Z", "2000-02-29T00:00:00.000Z",
		"2022-13-01T00:00:00.000Z", "2022-00-01T00:00:00.000Z", "2022-01-00T00:00:00.000Z", "2022-01-32T00:00:00.000Z",
		"2022-04-31T00:00:00.000Z", "2022-10-12T24:00:00.000Z", "2022-10-12T00:60:00.000Z", "2022-10-12T00:00:15.-64Z",
		"2022-10-12T00:00:15.+64Z", "+022-10-12T00:00:15.064Z", "-022-10-12T00:00:15.064Z", "2022-1-12T00:00:15.064Z",
		"2022-10-12T00:00:15,064Z", "2022-10-12T0:00:15.064ZZ", "2022-10-12T00:00:15.064Z ", " 2022-10-12T00:00:15.064Z",
		"2022-10-12T00:00:15.064\u005a", "2022-10-12T00:00:15.06\u0034Z", "2199-12-31T23:59:59.999Z", "2200-01-01T00:00:00.000Z",
		"2014-11-12T23:59:59.999Z", "2014-11-13T00:00:00.000Z", "2022-10-12T00:00:15.a64Z", "2022-10-12T00:00:15.064Y",
		"2022-10-12T00:00:15.999999999Z", "2022-10-12T00:00:15.1234567891Z", "2022-10-12T00:00:15.Z", "2022-10-12T00:00:1Z",
	}
	for _, tm := range times {
		for _, typ := range []string{"function", "platform.report"} {
			rec := `"x"`
			if typ != "function" {
				rec = `{"requestId":"r","spans":[{"name":"a","start":"` + tm + `","durationMs":1}],"metrics":{"durationMs":1,"billedDurationMs":1,"memorySizeMB":128,"maxMemoryUsedMB":1}}`
			}
			checkScan(t, []byte(`[{"time":"`+tm+`","type":"`+typ+`","record":`+rec+`}]`))
			checkScan(t, []byte(`[{"type":"`+typ+`","time":"`+tm+`","record":`+rec+`}]`))
			checkScan(t, []byte(`[ { "type" : "`+typ+`" , "time" : "`+tm+`" , "record" : `+rec+` } ]`))
			// As JSON log timestamp too.
			checkScan(t, []byte(`[{"time":"2022-10-12T00:00:15.064Z","type":"function","record":{"timestamp":"`+tm+`","message":"m"}}]`))
		}
	}
}

// TestScanDecodedNumbers: exponents, -0, huge, leading zeros, 1e400 and what JSON forbids,
// in every number field the fast decoder reads.
func TestScanDecodedNumbers(t *testing.T) {
	nums := []string{"0", "-0", "-0.0", "1e400", "-1e400", "1e-400", "00", "01", "1.", ".1", "1e", "1e+", "1E5", "1e-5", "123456789012345678901234567890",
		"0.1e1", "-", "+1", "1.5e308", "4.9e-324", "2.4e-324", "NaN", "Infinity", "1_0", "0x10", "1.0e+01", "9007199254740993"}
	for _, n := range nums {
		checkScan(t, []byte(`[{"time":"2022-10-12T00:00:15.064Z","type":"platform.report","record":{"requestId":"r","metrics":{"durationMs":`+n+`,"billedDurationMs":`+n+`,"memorySizeMB":128,"maxMemoryUsedMB":1,"initDurationMs":`+n+`}}}]`))
		checkScan(t, []byte(`[{"time":"2022-10-12T00:00:15.064Z","type":"platform.runtimeDone","record":{"requestId":"r","metrics":{"durationMs":`+n+`,"producedBytes":`+n+`},"spans":[{"durationMs":`+n+`}]}}]`))
		checkScan(t, []byte(`[{"time":"2022-10-12T00:00:15.064Z","type":"function","record":{"level":`+n+`,"x":`+n+`}}]`))
	}
}

// TestScanDecodedWhitespaceAndKeys: whitespace (and what is not JSON whitespace) at every
// byte of a batch; duplicate keys, keys differing in case or escaped, nulls and nested
// records, with the type before the record (decoded in the walk) and after it.
func TestScanDecodedWhitespaceAndKeys(t *testing.T) {
	b, _ := os.ReadFile(filepath.Join("testdata", "invoke.json"))
	for i := 0; i <= len(b); i++ {
		for _, ws := range []string{" ", "\t\n\r ", "\v", "\u00a0"} {
			checkScan(t, []byte(string(b[:i])+ws+string(b[i:])))
		}
	}
	recs := []string{
		`{"requestId":"a","requestId":"b"}`, `{"requestId":"a","RequestId":"b"}`, `{"requestID":"a"}`, `{"REQUESTID":"a"}`,
		`{"requestId":"a","tracing":null}`, `{"requestId":"a","metrics":null,"spans":null}`, `{"requestId":null}`,
		`{"requestId":"a","tracing":{"type":"X","value":"v","spanId":"s","Type":"Y"}}`, `{"requestId":"a","tracing":{"value":"v"},"tracing":{"spanId":"s"}}`,
		`{"requestId":"a","x":{"requestId":"b","tracing":{"value":"z"}}}`, `{"requestId":"a","spans":[{"name":"a","Name":"b"}]}`,
		`{"requestId":"a","metrics":{"durationMs":1,"DurationMs":2}}`, `{"requestId":"a","metrics":{"producedBytes":null}}`,
		`{"requestId":"a","status":"success","status":"failure"}`, `{"\u0072equestId":"a"}`, `{"requestId":"a","version":"$LATEST","Version":"1"}`,
		`{"requestId":"a","spans":[]}`, `{"requestId":"a","spans":{}}`, `{"requestId":1}`, `{"requestId":"a","tracing":"x"}`,
		`{"message":"m","message":"n"}`, `{"message":"m","Message":"n"}`, `{"message":null,"level":{"a":1},"timestamp":[1]}`,
		`{"requestId":"a","tracing":{"type":"X-Amzn-Trace-Id","value":"Root=1"}}`,
	}
	for _, r := range recs {
		for _, typ := range []string{"platform.start", "platform.runtimeDone", "platform.report", "function", "extension", "platform.initRuntimeDone"} {
			ev := `{"time":"2022-10-12T00:00:15.064Z","type":"` + typ + `","record":` + r + `}`
			checkScan(t, []byte(`[`+ev+`,`+ev+`,`+ev+`]`))
			// The record before the type: decoded after the walk.
			checkScan(t, []byte(`[{"time":"2022-10-12T00:00:15.064Z","record":`+r+`,"type":"`+typ+`"}]`))
		}
	}
}
