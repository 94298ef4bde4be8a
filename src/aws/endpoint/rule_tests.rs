//! botocore's own endpoint rule-set tests (`fixtures/endpoint-rules/`, see its SOURCE.md) for
//! the five services cw2mackerel calls, run against [`Endpoints`]. Every case is accounted
//! for: those with the parameters cw2mackerel has (Region, UseFIPS, UseDualStack, Endpoint)
//! must give the same URL (and CloudFront's signing region); the rest are listed with why
//! they do not apply and what cw2mackerel does instead.

use super::*;
use serde_json::Value;
use std::collections::BTreeMap;

/// The service directories, with the service each holds.
const SERVICES: [(&str, Service); 5] = [
    ("cloudwatch", Service::CloudWatch),
    ("cloudfront", Service::CloudFront),
    ("sts", Service::Sts),
    ("ssm", Service::Ssm),
    ("resourcegroupstaggingapi", Service::Tagging),
];

/// What became of a case.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Outcome {
    /// Same URL (and signing region) as the rule set's.
    Same,
    /// An endpoint URL with FIPS or dual-stack: the rule set errs, but botocore's client
    /// clears both flags when an endpoint URL is given (`args.py`,
    /// `compute_endpoint_resolver_builtin_defaults`), and cw2mackerel does the same: the URL.
    UrlWins,
    /// A region of a partition cw2mackerel does not know (ISO, EU sovereign): refused with a
    /// configuration error that says to set the endpoint.
    ForeignRefused,
    /// `aws-global` is no region name cw2mackerel takes (refused before any call).
    PseudoRegionRefused,
    /// `UseGlobalEndpoint` (STS's legacy global endpoint, `AWS_STS_REGIONAL_ENDPOINTS=legacy`)
    /// or no region at all: settings cw2mackerel never has.
    NotApplicable,
}

fn case_outcome(service: Service, case: &Value) -> Outcome {
    let params = &case["params"];
    let flag = |k: &str| params[k].as_bool().unwrap_or(false);
    let region = params["Region"].as_str();
    let endpoint = params["Endpoint"].as_str();
    let expect = &case["expect"];
    if flag("UseGlobalEndpoint") || (region.is_none() && endpoint.is_none()) {
        return Outcome::NotApplicable;
    }
    let region = region.unwrap_or("us-east-1");
    if check_region(region).is_err() {
        assert_eq!(region, "aws-global", "{case}");
        return Outcome::PseudoRegionRefused;
    }
    let on = |set: bool, name: &str| set.then(|| name.to_string());
    let variant = Variant {
        fips: on(flag("UseFIPS"), "AWS_USE_FIPS_ENDPOINT"),
        dual_stack: on(flag("UseDualStack"), "AWS_USE_DUALSTACK_ENDPOINT"),
    };
    let vars: Vec<(String, String)> = endpoint
        .map(|e| {
            (
                format!("AWS_ENDPOINT_URL_{}", service.env_suffix()),
                e.into(),
            )
        })
        .into_iter()
        .collect();
    let e = Endpoints::from_env(&|k| {
        vars.iter()
            .find(|(name, _)| name == k)
            .map(|(_, v)| v.clone())
    })
    .unwrap()
    .with_variant(variant.clone());
    let got = e.url(service, region);
    if let Some(error) = expect["error"].as_str() {
        if let Some(url) = endpoint {
            assert!(error.contains("custom endpoint"), "{case}");
            assert_eq!(got.unwrap(), url, "{case}");
            return Outcome::UrlWins;
        }
        panic!(
            "{service:?} {region} {variant:?}: the rule set has no endpoint ({error}), cw2mackerel gave {got:?}"
        );
    }
    let want = expect["endpoint"]["url"].as_str().unwrap();
    if let Some(partition) = foreign_partition(region) {
        let err = got.unwrap_err().to_string();
        assert!(
            err.contains(partition) && err.contains("AWS_ENDPOINT_URL_") && err.contains(region),
            "{err}"
        );
        return Outcome::ForeignRefused;
    }
    assert_eq!(got.unwrap(), want, "{case}");
    if let Some(signing) =
        expect["endpoint"]["properties"]["authSchemes"][0]["signingRegion"].as_str()
    {
        assert_eq!(service.signing_region(region), signing, "{case}");
    }
    Outcome::Same
}

#[test]
fn botocore_endpoint_rule_set_tests() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/endpoint-rules");
    let mut tally: BTreeMap<(&str, Outcome), usize> = BTreeMap::new();
    for (name, service) in SERVICES {
        let text = std::fs::read_to_string(dir.join(name).join("endpoint-tests-1.json")).unwrap();
        let tests: Value = serde_json::from_str(&text).unwrap();
        for case in tests["testCases"].as_array().unwrap() {
            *tally
                .entry((name, case_outcome(service, case)))
                .or_default() += 1;
        }
    }
    // The counts README gives: a change in the data (or in what cw2mackerel does) shows here.
    let count = |o: Outcome| -> usize {
        tally
            .iter()
            .filter(|((_, x), _)| *x == o)
            .map(|(_, n)| n)
            .sum()
    };
    let all: usize = tally.values().sum();
    assert_eq!(
        (
            all,
            count(Outcome::Same),
            count(Outcome::UrlWins),
            count(Outcome::ForeignRefused),
            count(Outcome::PseudoRegionRefused),
            count(Outcome::NotApplicable)
        ),
        (214, 147, 10, 33, 1, 23),
        "{tally:#?}"
    );
}
