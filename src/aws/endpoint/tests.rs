use super::*;
use std::collections::HashMap;

fn endpoints(vars: &[(&str, &str)]) -> Result<Endpoints> {
    let map: HashMap<String, String> = vars
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    Endpoints::from_env(&move |k| map.get(k).cloned())
}

/// botocore 1.44.8, `cloudfront/2020-05-31/endpoint-rule-set-1.json` and
/// `sts/2011-06-15/endpoint-rule-set-1.json`, evaluated for these regions.
#[test]
fn endpoints_and_signing_regions_per_partition() {
    let e = Endpoints::default();
    for (region, url, signing) in [
        ("us-east-1", "https://cloudfront.amazonaws.com", "us-east-1"),
        (
            "cn-northwest-1",
            "https://cloudfront.cn-northwest-1.amazonaws.com.cn",
            "cn-northwest-1",
        ),
        (
            "us-gov-west-1",
            "https://cloudfront.amazonaws.com",
            "us-gov-west-1",
        ),
    ] {
        assert_eq!(e.url(Service::CloudFront, region).unwrap(), url);
        assert_eq!(Service::CloudFront.signing_region(region), signing);
    }
    assert_eq!(
        Partition::of_region("cn-north-1").global_region(),
        "cn-northwest-1"
    );
    assert_eq!(
        e.url(Service::Sts, "cn-northwest-1").unwrap(),
        "https://sts.cn-northwest-1.amazonaws.com.cn"
    );
    assert_eq!(
        e.url(Service::Sts, "us-gov-west-1").unwrap(),
        "https://sts.us-gov-west-1.amazonaws.com"
    );
    assert_eq!(
        Partition::of_arn("arn:aws-cn:iam::1:role/r"),
        Partition::China
    );
    assert_eq!(Partition::of_arn("arn:aws:iam::1:role/r"), Partition::Aws);
}

#[test]
fn endpoints_follow_the_sdk_variables() {
    let e = endpoints(&[
        ("AWS_ENDPOINT_URL", "http://127.0.0.1:5000/"),
        ("AWS_ENDPOINT_URL_CLOUDWATCH", "http://127.0.0.1:6000"),
    ])
    .unwrap();
    assert_eq!(
        e.url(Service::CloudWatch, "us-east-1").unwrap(),
        "http://127.0.0.1:6000"
    );
    assert_eq!(
        e.url(Service::Ssm, "us-east-1").unwrap(),
        "http://127.0.0.1:5000"
    );
    let e = endpoints(&[]).unwrap();
    assert_eq!(
        e.url(Service::CloudWatch, "us-east-1").unwrap(),
        "https://monitoring.us-east-1.amazonaws.com"
    );
    assert_eq!(
        e.url(Service::Sts, "cn-north-1").unwrap(),
        "https://sts.cn-north-1.amazonaws.com.cn"
    );
    assert_eq!(
        e.url(Service::CloudFront, "us-east-1").unwrap(),
        "https://cloudfront.amazonaws.com"
    );
    let e = endpoints(&[
        ("AWS_ENDPOINT_URL", "http://x:1"),
        ("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS", "true"),
    ])
    .unwrap();
    assert_eq!(
        e.url(Service::Ssm, "us-east-1").unwrap(),
        "https://ssm.us-east-1.amazonaws.com"
    );
    let err = endpoints(&[("AWS_ENDPOINT_URL_SSM", "localhost:5000")]).unwrap_err();
    assert!(
        matches!(err, Error::Config(ref m) if m.starts_with("AWS_ENDPOINT_URL_SSM")),
        "{err}"
    );
}

/// botocore's `ConfiguredEndpointProvider`: the variables, then the profile's
/// `[services]` entry, then its `endpoint_url`; all ignored on request.
#[test]
fn endpoints_from_the_shared_config_file() {
    let shared = crate::aws::profile::Shared::parse(
        "[default]\nendpoint_url = http://127.0.0.1:1\nservices = local\n\
         [services local]\nsts =\n  endpoint_url = http://127.0.0.1:2\n\
         resource_groups_tagging_api =\n  region = x\n",
        "",
    )
    .unwrap();
    let p = Selected::new("default", &shared.profiles["default"], &shared);
    let with = |vars: &[(&str, &str)]| {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Endpoints::resolve(&move |k| map.get(k).cloned(), Some(&p)).unwrap()
    };
    let e = with(&[]);
    assert_eq!(
        e.url(Service::Sts, "us-east-1").unwrap(),
        "http://127.0.0.1:2"
    );
    assert_eq!(
        e.url(Service::Tagging, "us-east-1").unwrap(),
        "http://127.0.0.1:1"
    );
    let e = with(&[("AWS_ENDPOINT_URL", "http://127.0.0.1:3")]);
    assert_eq!(
        e.url(Service::Sts, "us-east-1").unwrap(),
        "http://127.0.0.1:3"
    );
    let e = with(&[("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS", "TRUE")]);
    assert_eq!(
        e.url(Service::Sts, "us-east-1").unwrap(),
        "https://sts.us-east-1.amazonaws.com"
    );
    let mut q = Selected::new("default", &shared.profiles["default"], &shared);
    q.services = Some(("gone".into(), None));
    let err = Endpoints::resolve(&|_| None, Some(&q)).unwrap_err();
    assert!(
        err.to_string().contains("no [services gone] section"),
        "{err}"
    );
}
