//! An account of its own (a moto of its own), first empty, then with 1,000 distributions: every
//! ListDistributions page is read, 6,000 queries go out in exactly ceil(6000/500) = 12
//! GetMetricData calls, and the datapoints reach Mackerel in bodies filled toward 100 KB.
// A test's unwrap is its assertion: the lints that deny them in src/ do not apply here.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;
use common::*;

#[test]
fn an_empty_account_then_a_thousand_distributions() {
    let moto = Moto::shared();
    let mackerel = Fake::mackerel();
    let ran = run(against(moto, "reader", &mackerel).arg("run"));
    assert_eq!(ran.code, 0, "{}", ran.stderr);
    let s = ran.summary();
    assert_eq!(s["distributions"], 0);
    assert_eq!(s["calls"], serde_json::json!({"cloudfront": 1}));
    assert!(mackerel.requests().is_empty());

    let dists = moto.distributions("scale", 1000, &[]);
    let busy: Vec<&str> = dists.iter().take(50).map(id_of).collect();
    let start = moto.traffic(&busy, 15);

    // moto takes a minute or more for 6,000 queries: more than the default cycle deadline.
    let ran = run(against(moto, "reader", &mackerel)
        .env("CW2MACKEREL_CYCLE_TIMEOUT", "10m")
        .arg("run"));
    assert_eq!(ran.code, 0, "{}", ran.stderr);
    let s = ran.summary();
    assert_eq!(s["distributions"], 1000);
    assert_eq!(s["queries"], 6000);
    assert_eq!(s["calls"]["cloudfront"], 10, "ten pages of 100");
    assert_eq!(s["calls"]["cloudwatch"], 12, "ceil(6000 / 500)");

    // Bodies of at most 100 KB, each filled as far as the next point allows: as few posts as
    // the bytes need.
    let sizes = batch_sizes(&mackerel);
    let bytes = body_bytes(&mackerel);
    assert!(bytes.iter().all(|b| *b <= 102_400), "{bytes:?}");
    let total: usize = sizes.iter().sum();
    assert_eq!(total as u64, s["datapoints"].as_u64().unwrap());
    let all: usize = bytes.iter().sum();
    // A point is at most about 100 bytes: `{"name":"cloudfront.<ID>.error_rate.…",…}`.
    let largest_point = 120;
    assert!(
        bytes[..bytes.len() - 1]
            .iter()
            .all(|b| b + largest_point > 102_400),
        "not filled: {bytes:?}"
    );
    assert!(
        (all.div_ceil(102_400)..=all.div_ceil(102_400 - largest_point)).contains(&sizes.len()),
        "{bytes:?}"
    );
    assert_eq!(
        s["calls"]["mackerel"].as_u64().unwrap() as usize,
        sizes.len()
    );

    // 50 busy distributions × 6 series + 950 idle × 3 zero-filled sums, ten minutes each.
    assert_eq!(total, (50 * 6 + 950 * 3) * 10);
    let points = service_points(&mackerel, "cdn");
    for id in &busy {
        let series = points[&format!("cloudfront.{id}.requests.request")]
            .as_object()
            .unwrap();
        assert_eq!(series.len(), 10);
        for (t, v) in series {
            let minute = (t.parse::<i64>().unwrap() - start) / 60;
            assert_eq!(v.as_f64().unwrap(), 10.0 + minute as f64);
        }
    }
}
