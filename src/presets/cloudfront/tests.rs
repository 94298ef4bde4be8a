use super::*;
use crate::jobs::cloudfront::{Group, METRICS};

fn dist(id: &str, aliases: &[&str], comment: &str, tags: &[(&str, &str)]) -> Distribution {
    Distribution {
        id: id.into(),
        aliases: aliases.iter().map(|s| s.to_string()).collect(),
        comment: comment.into(),
        tags: tags
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        ..Distribution::default()
    }
}

#[test]
fn labels_sanitize_fall_back_and_never_clash() {
    let dists = [
        dist("E1", &["www.example.com"], "web site", &[("name", "front")]),
        dist("E2", &[], "日本語", &[]),
        dist(
            "E3",
            &["static.example.com"],
            "web site",
            &[("name", "front")],
        ),
    ];
    assert_eq!(labels(&dists, &Label::Id), ["E1", "E2", "E3"]);
    assert_eq!(
        labels(&dists, &Label::Alias),
        ["www_example_com", "E2", "static_example_com"]
    );
    assert_eq!(
        labels(&dists, &Label::Comment),
        ["web_site_E1", "E2", "web_site_E3"]
    );
    assert_eq!(
        labels(&dists, &Label::Tag("name".into())),
        ["front_E1", "E2", "front_E3"]
    );
    // A suffix that makes another distribution's label: that one keeps its own text.
    let dists = [
        dist("E1", &[], "site", &[]),
        dist("E2", &[], "site", &[]),
        dist("E3", &[], "site_E1", &[]),
    ];
    assert_eq!(
        labels(&dists, &Label::Comment),
        ["site_E1_E1", "site_E2", "site_E1"]
    );
}

fn job(target: Target, names: Naming, prefix: &str, groups: &[Group]) -> CloudFrontJob {
    CloudFrontJob {
        name: "cloudfront".into(),
        distributions: vec![],
        tags: vec![],
        groups: groups.to_vec(),
        label: Label::Id,
        names,
        prefix: Template::parse(prefix).unwrap(),
        target,
        role: None,
    }
}

fn names(job: &CloudFrontJob, d: &[Distribution]) -> Vec<String> {
    let s = series(job, d, &labels(d, &job.label), "us-east-1");
    s.iter().map(|s| s.name.to_string()).collect()
}

#[test]
fn default_series_follow_the_integration_groups() {
    let d = [dist("E1", &[], "", &[])];
    let service = Target::Service("cdn".into());
    let j = job(
        service.clone(),
        Naming::Cw2mackerel,
        "cloudfront",
        &Group::DEFAULT,
    );
    let s = series(&j, &d, &labels(&d, &Label::Id), "us-east-1");
    assert_eq!(
        names(&j, &d),
        [
            "cloudfront.E1.requests.request",
            "cloudfront.E1.transfer.download",
            "cloudfront.E1.transfer.upload",
            "cloudfront.E1.error_rate.total_error_rate",
            "cloudfront.E1.error_rate.4xx_error_rate",
            "cloudfront.E1.error_rate.5xx_error_rate",
        ]
    );
    assert!(s[0].fill_zero && !s[3].fill_zero);
    assert_eq!(
        (&*s[0].dimensions[1].0, &*s[0].dimensions[1].1),
        ("Region", "Global")
    );
    let all = job(service, Naming::Cw2mackerel, "cloudfront", &Group::ALL);
    assert_eq!(names(&all, &d).len(), METRICS.len());
    assert!(
        graph_defs(&all, &d, &["E1".into()]).is_empty(),
        "no graphs for a service"
    );
}

#[test]
fn plugin_names_and_prefixes() {
    let d = [
        dist("E1", &["a.example.com"], "", &[]),
        dist("E2", &[], "", &[]),
    ];
    let service = Target::Service("cdn".into());
    let mut j = job(service, Naming::Plugin, "cf-{id}", &Group::DEFAULT);
    let n = names(&j, &d);
    assert_eq!(
        n[..5],
        [
            "cf-E1.Requests.Requests",
            "cf-E1.Transfer.BytesDownloaded",
            "cf-E1.Transfer.BytesUploaded",
            "cf-E1.ErrorRate.4xxErrorRate",
            "cf-E1.ErrorRate.5xxErrorRate",
        ]
    );
    assert_eq!(n.len(), 10);
    j.label = Label::Alias;
    j.prefix = Template::parse("{label}").unwrap();
    assert_eq!(names(&j, &d)[5], "E2.Requests.Requests");
    assert_eq!(names(&j, &d)[0], "a_example_com.Requests.Requests");

    let existing = HostTarget {
        custom_identifier: None,
        name: None,
        display_name: None,
        roles: vec![],
        retire_gone: false,
        host_id: Some("2eQGEaLxibb".into()),
    };
    let j = job(
        Target::Host(existing.clone()),
        Naming::Plugin,
        "{id}",
        &Group::DEFAULT,
    );
    let s = series(&j, &d, &labels(&d, &Label::Id), "us-east-1");
    assert_eq!(&*s[9].name, "custom.E2.ErrorRate.5xxErrorRate");
    assert!(
        s.iter()
            .all(|s| *s.dest == Dest::Host("2eQGEaLxibb".into()))
    );
    assert!(host_specs(&d, &Label::Id, &existing, "cloudfront").is_empty());
    let defs = graph_defs(&j, &d, &["E1".into(), "E2".into()]);
    let body = serde_json::to_string(&defs[..3]).unwrap();
    assert_eq!(
        body,
        concat!(
            r#"[{"name":"custom.E1.Requests","displayName":"E1 Requests","unit":"integer","metrics":[{"name":"custom.E1.Requests.Requests","displayName":"Requests","isStacked":false}]},"#,
            r#"{"name":"custom.E1.Transfer","displayName":"E1 Transfer","unit":"bytes","metrics":[{"name":"custom.E1.Transfer.BytesDownloaded","displayName":"Download","isStacked":true},{"name":"custom.E1.Transfer.BytesUploaded","displayName":"Upload","isStacked":true}]},"#,
            r#"{"name":"custom.E1.ErrorRate","displayName":"E1 ErrorRate","unit":"percentage","metrics":[{"name":"custom.E1.ErrorRate.4xxErrorRate","displayName":"4xx","isStacked":true},{"name":"custom.E1.ErrorRate.5xxErrorRate","displayName":"5xx","isStacked":true}]}]"#
        )
    );
    assert_eq!(defs.len(), 6, "one set per prefix");
    let one = job(
        Target::Host(existing),
        Naming::Plugin,
        "cloudfront",
        &Group::DEFAULT,
    );
    let defs = graph_defs(&one, &d[..1], &["E1".into()]);
    assert_eq!(defs[0].display_name, "CloudFront Requests");
}

#[test]
fn host_mode_names_hosts_and_graphs() {
    let mut d = dist("E1", &["www.example.com"], "", &[]);
    d.arn = "arn:aws:cloudfront::1:distribution/E1".into();
    d.domain = "d1.cloudfront.net".into();
    let d = [d];
    let host = HostTarget {
        custom_identifier: None,
        name: None,
        display_name: None,
        roles: vec!["cdn:edge".into()],
        retire_gone: false,
        host_id: None,
    };
    let target = Target::Host(host.clone());
    let j = job(
        target.clone(),
        Naming::Cw2mackerel,
        "cloudfront",
        &Group::DEFAULT,
    );
    let s = series(&j, &d, &labels(&d, &Label::Alias), "us-east-1");
    assert_eq!(&*s[0].name, "custom.cloudfront.requests.request");
    assert_eq!(
        *s[0].dest,
        Dest::Host("arn:aws:cloudfront::1:distribution/E1".into())
    );
    let spec = &host_specs(&d, &Label::Alias, &host, "cloudfront")[0];
    assert_eq!(
        (spec.name.as_str(), spec.display_name.as_str()),
        ("d1.cloudfront.net", "www.example.com")
    );
    assert_eq!(spec.meta["cloudfront"]["aliases"][0], "www.example.com");
    assert_eq!(spec.meta["cw2mackerel"]["owner"], "cloudfront");
    assert_eq!(spec.role_fullnames, ["cdn:edge"]);
    assert_eq!(
        host_specs(&d, &Label::Comment, &host, "cloudfront")[0].display_name,
        "E1"
    );
    let named = HostTarget {
        name: Some(Template::parse("cdn-{DistributionId}").unwrap()),
        ..host
    };
    assert_eq!(
        host_specs(&d, &Label::Id, &named, "cloudfront")[0].name,
        "cdn-E1"
    );

    let groups = [
        Group::Requests,
        Group::StatusErrorRate,
        Group::OriginLatency,
    ];
    let j = job(target.clone(), Naming::Cw2mackerel, "cloudfront", &groups);
    let defs = graph_defs(&j, &d, &["E1".into()]);
    let names: Vec<&str> = defs.iter().map(|g| g.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "custom.cloudfront.requests",
            "custom.cloudfront.error_rate",
            "custom.cloudfront.origin_latency"
        ]
    );
    assert_eq!(defs[0].unit, "integer");
    assert_eq!(defs[1].metrics.len(), 6);
    assert_eq!(defs[2].unit, "milliseconds");
    let j = job(target, Naming::Cw2mackerel, "cloudfront", &Group::ALL);
    let all = graph_defs(&j, &d, &["E1".into()]);
    assert_eq!(all[2].metrics.len(), 9);
    assert_eq!(all[1].unit, "bytes");
    assert_eq!(all[3].display_name, "CloudFront Cache Hit Rate");
    assert_eq!(all[2].display_name, "CloudFront Error Rate");
}
