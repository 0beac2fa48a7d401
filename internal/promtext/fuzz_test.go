// Copyright The otelcol-lambda Authors
// SPDX-License-Identifier: Apache-2.0

package promtext

import (
	"testing"
)

// FuzzParse checks that no input panics and that what parses is consistent: every family
// has samples, and labels are sorted without duplicates.
func FuzzParse(f *testing.F) {
	for _, seed := range []string{
		"# HELP a_total x\n# TYPE a_total counter\na_total{b=\"c\"} 1 123\n",
		"# TYPE h histogram\nh_bucket{le=\"1\"} 1\nh_bucket{le=\"+Inf\"} 2\nh_sum 3\nh_count 2\n",
		"# TYPE s summary\ns{quantile=\"0.5\"} 1\ns_sum 1\ns_count 1\n",
		"x{a=\"\\\\\\n\\\"\"} NaN\n",
		"x{a=\"1\",} -Inf\r\n",
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		families, err := Parse(data)
		if err != nil {
			return
		}
		for _, fam := range families {
			if len(fam.Metrics) == 0 {
				t.Fatalf("family %q without samples", fam.Name)
			}
			for _, m := range fam.Metrics {
				for i := 1; i < len(m.Labels); i++ {
					if m.Labels[i-1].Name >= m.Labels[i].Name {
						t.Fatalf("labels not sorted and unique: %v", m.Labels)
					}
				}
			}
		}
	})
}
