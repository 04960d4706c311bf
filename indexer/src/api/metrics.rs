//! `/metrics`: the API's own counters in Prometheus' text format.
//!
//! Requests are counted by route template (never by the concrete path, so
//! addresses do not become label values) and status; latency is a histogram
//! per route. The indexed head and the rows of each table are read from the
//! store when the page is scraped. Written by hand: a few counters under one
//! mutex cost less than a metrics framework and need no global registry.

use std::{
    collections::BTreeMap,
    fmt::Write as _,
    sync::{Mutex, PoisonError},
    time::Duration,
};

/// Upper bounds of the latency buckets, in seconds.
const BUCKETS: [f64; 12] = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0];

/// The API's request counters and latency histograms.
#[derive(Debug, Default)]
pub struct Metrics {
    inner: Mutex<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    requests: BTreeMap<(String, u16), u64>,
    latency: BTreeMap<String, Histogram>,
}

#[derive(Debug, Default)]
struct Histogram {
    buckets: [u64; BUCKETS.len()],
    count: u64,
    sum: f64,
}

impl Metrics {
    /// Counts a request to `route` answered with `status` after `elapsed`.
    pub fn record(&self, route: &str, status: u16, elapsed: Duration) {
        let mut inner = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        *inner.requests.entry((route.to_owned(), status)).or_default() += 1;
        let histogram = inner.latency.entry(route.to_owned()).or_default();
        let seconds = elapsed.as_secs_f64();
        for (bucket, bound) in histogram.buckets.iter_mut().zip(BUCKETS) {
            if seconds <= bound {
                *bucket += 1;
            }
        }
        histogram.count += 1;
        histogram.sum += seconds;
    }

    /// The text exposition: the counters, then `head` (the indexed block)
    /// and the rows of each table.
    pub fn render(&self, head: Option<u64>, rows: &[(&str, u64)]) -> String {
        let inner = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        let mut out = String::new();
        // Writing to a String cannot fail.
        let _ = writeln!(
            out,
            "# HELP medvault_indexer_http_requests_total Requests answered, by route and status."
        );
        let _ = writeln!(out, "# TYPE medvault_indexer_http_requests_total counter");
        for ((route, status), count) in &inner.requests {
            let _ = writeln!(
                out,
                "medvault_indexer_http_requests_total{{route=\"{route}\",status=\"{status}\"}} {count}"
            );
        }
        let _ = writeln!(
            out,
            "# HELP medvault_indexer_http_request_duration_seconds Time to the response head, by route."
        );
        let _ = writeln!(out, "# TYPE medvault_indexer_http_request_duration_seconds histogram");
        for (route, histogram) in &inner.latency {
            let name = "medvault_indexer_http_request_duration_seconds";
            for (count, bound) in histogram.buckets.iter().zip(BUCKETS) {
                let _ = writeln!(out, "{name}_bucket{{route=\"{route}\",le=\"{bound}\"}} {count}");
            }
            let _ =
                writeln!(out, "{name}_bucket{{route=\"{route}\",le=\"+Inf\"}} {}", histogram.count);
            let _ = writeln!(out, "{name}_sum{{route=\"{route}\"}} {}", histogram.sum);
            let _ = writeln!(out, "{name}_count{{route=\"{route}\"}} {}", histogram.count);
        }
        let _ = writeln!(
            out,
            "# HELP medvault_indexer_head_block The last block the index has committed."
        );
        let _ = writeln!(out, "# TYPE medvault_indexer_head_block gauge");
        if let Some(head) = head {
            let _ = writeln!(out, "medvault_indexer_head_block {head}");
        }
        let _ = writeln!(out, "# HELP medvault_indexer_rows Rows in each table of the index.");
        let _ = writeln!(out, "# TYPE medvault_indexer_rows gauge");
        for (table, count) in rows {
            let _ = writeln!(out, "medvault_indexer_rows{{table=\"{table}\"}} {count}");
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_are_counted_by_route_and_status_with_cumulative_buckets() {
        let metrics = Metrics::default();
        metrics.record("/v1/head", 200, Duration::from_millis(3));
        metrics.record("/v1/head", 200, Duration::from_millis(30));
        metrics.record("/v1/head", 503, Duration::from_millis(2));
        let text = metrics.render(Some(42), &[("records", 7)]);
        assert!(
            text.contains(
                "medvault_indexer_http_requests_total{route=\"/v1/head\",status=\"200\"} 2\n"
            ),
            "{text}"
        );
        assert!(
            text.contains(
                "medvault_indexer_http_requests_total{route=\"/v1/head\",status=\"503\"} 1\n"
            ),
            "{text}"
        );
        let bucket = |le: &str| {
            format!(
                "medvault_indexer_http_request_duration_seconds_bucket{{route=\"/v1/head\",le=\"{le}\"}} "
            )
        };
        assert!(text.contains(&format!("{}0\n", bucket("0.001"))), "{text}");
        assert!(text.contains(&format!("{}2\n", bucket("0.005"))), "{text}");
        assert!(text.contains(&format!("{}3\n", bucket("0.05"))), "{text}");
        assert!(text.contains(&format!("{}3\n", bucket("+Inf"))), "{text}");
        assert!(text.contains("medvault_indexer_head_block 42\n"), "{text}");
        assert!(text.contains("medvault_indexer_rows{table=\"records\"} 7\n"), "{text}");
    }
}
