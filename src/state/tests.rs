use super::*;

#[test]
fn fuzz() {
    crate::fuzz_tests::fuzz(
        "state files",
        &[br#"{"version":3,"config":"ab","key":"cd","completed":5,"interval_s":60,"ok":true,"pid":1,"posted":[{"dest":"service:cdn","name":"a.b","points":[[60,1.5]]}],"hosts_created":[["cid","id",5]]}"#],
        |b| {
            serde_json::from_slice::<State>(b)
                .map_or(0, |s| s.record().series().map(|(_, _, p)| p.len()).sum())
        },
    );
}
use crate::jobs::Point;

#[test]
fn a_record_survives_the_file_and_only_for_its_configuration() {
    let dir = std::env::temp_dir().join(format!("cw2m-state-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("state");
    let mut record = Record::default();
    let dest = Rc::new(Dest::Host("arn:aws:cloudfront::1:distribution/E1".into()));
    record.remember(&[Point {
        dest: Rc::clone(&dest),
        name: "custom.cloudfront.requests.request".into(),
        time: 60,
        value: 1.5,
    }]);
    let config = fingerprint(&["https://api.mackerelio.com", "jobs"]);
    let key = fingerprint(&["key"]);
    let mut state = State {
        config: config.clone(),
        key: key.clone(),
        completed: 100,
        interval_s: 60,
        ..State::default()
    };
    state.set_record(&record, std::iter::empty());
    save(&path, &mut state).unwrap();

    let back = load(&path, &config, Some(&key)).unwrap();
    assert_eq!(back.completed, 100);
    let p = Point {
        dest,
        name: "custom.cloudfront.requests.request".into(),
        time: 60,
        value: 1.5,
    };
    assert!(back.record().holds(&p.dest, &p.name, p.time, p.value));
    // A dry run knows no key: the configuration alone says whose the file is.
    assert!(load(&path, &config, None).is_ok());

    let why = |r: Result<State, Unread>| match r {
        Err(Unread::Unusable(why)) => why,
        other => panic!("expected an unusable file, got {other:?}"),
    };
    let other = fingerprint(&["https://api.mackerelio.com", "other jobs"]);
    assert!(why(load(&path, &other, Some(&key))).contains("another configuration"));
    let other_key = fingerprint(&["other key"]);
    assert!(why(load(&path, &config, Some(&other_key))).contains("another Mackerel API key"));
    std::fs::write(&path, "{\"version\": 3, \"completed\":").unwrap();
    assert!(why(load(&path, &config, None)).contains("corrupt"));
    std::fs::write(
        &path,
        "{\"version\": 2, \"completed\": 5, \"interval_s\": 60}",
    )
    .unwrap();
    assert!(why(load(&path, &config, None)).contains("another version (2)"));
    assert_eq!(load_any(&path).unwrap().completed, 5);
    std::fs::remove_file(&path).unwrap();
    assert!(matches!(load(&path, &config, None), Err(Unread::Missing)));

    let held = lock(&path, Duration::ZERO).unwrap().unwrap();
    assert!(lock(&path, Duration::from_millis(200)).unwrap().is_none());
    drop(held);
    assert!(lock(&path, Duration::ZERO).unwrap().is_some());
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn the_file_reads_and_writes_the_same_json() {
    let text = r#"{"version":4,"config":"ab","key":"cd","completed":5,"interval_s":60,"ok":true,"pid":1,"posted":[{"dest":"service:cdn","name":"a.b","points":[[60,1.5]]},{"dest":"host:arn:aws:cloudfront::1:distribution/E1","name":"custom.c","points":[[60,2.0]]}],"hosts_created":[["arn:aws:cloudfront::1:distribution/E2","H2",5]],"unposted_since":null,"posted_hosts":[["arn:aws:cloudfront::1:distribution/E1","H1"]]}"#;
    let state: State = serde_json::from_str(text).unwrap();
    assert_eq!(
        serde_json::to_value(&state).unwrap(),
        serde_json::from_str::<serde_json::Value>(text).unwrap(),
        "a user's file survives: the same JSON back"
    );
    assert_eq!(state.hosts_created[0].at, 5);
    assert_eq!(state.record().series().count(), 2);
    // A destination of another form (a later version's) is left out, not a corrupt file.
    let other = text.replace("service:cdn", "queue:cdn");
    let other: State = serde_json::from_str(&other).unwrap();
    assert_eq!(other.record().series().count(), 1);
}

#[test]
fn the_hosts_kept_are_those_the_record_holds_points_of() {
    let mut record = Record::default();
    record.remember(&[Point {
        dest: Rc::new(Dest::Host("A".into())),
        name: "custom.a".into(),
        time: 60,
        value: 1.0,
    }]);
    let mut state = State::default();
    state.set_record(&record, [("A", "H1"), ("B", "H2")].into_iter());
    assert_eq!(state.posted_hosts, [("A".to_string(), "H1".to_string())]);
}

/// A configuration with every field of every job type set, none at its default.
fn every_field() -> Vec<Job> {
    use crate::aws::Role;
    use crate::jobs::cloudfront::{Group, Label, Naming};
    use crate::jobs::template::{Pattern, Template};
    use crate::jobs::{CloudFrontJob, HostTarget, MetricSpec, MetricsJob, Target};
    let t = |s: &str| Template::parse(s).unwrap();
    let role = Some(Role {
        arn: "arn:aws:iam::123456789012:role/reader".into(),
        external_id: Some("x".into()),
    });
    vec![
        Job::CloudFront(CloudFrontJob {
            name: "cdn".into(),
            distributions: vec!["E1".into()],
            tags: vec![("env".into(), "prod".into())],
            groups: vec![Group::Requests, Group::CacheHitRate],
            label: Label::Tag("name".into()),
            names: Naming::Plugin,
            prefix: t("cf.{id}"),
            target: Target::Host(HostTarget {
                custom_identifier: None,
                name: Some(t("{domain}")),
                display_name: Some(t("{label}")),
                roles: vec!["cdn:edge".into()],
                retire_gone: true,
                host_id: None,
            }),
            role: role.clone(),
        }),
        Job::Metrics(MetricsJob {
            name: "alb".into(),
            regions: vec!["us-east-1".into()],
            namespace: "AWS/ApplicationELB".into(),
            period: 300,
            dimensions: vec![("LoadBalancer".into(), Pattern::new("app/*"))],
            tags: vec![("team".into(), "web".into())],
            metrics: vec![MetricSpec {
                name: "RequestCount".into(),
                stat: "Sum".into(),
                nil_to_zero: true,
            }],
            target: Target::Service("web".into()),
            name_template: t("alb.{LoadBalancer}.{metric}"),
            role,
        }),
    ]
}

#[test]
fn the_configuration_fingerprint_is_pinned() {
    let jobs = every_field();
    let print = config_print("https://api.mackerelio.com", &jobs);
    assert_eq!(
        (VERSION, print.as_str()),
        (4, "2c8fb885134c9b86"),
        "the configuration's fingerprint changed: a field of a job type was renamed, added, \
         removed or moved, or its serialized form changed. After an upgrade every user's \
         state file would then be another configuration's, silently. Keep the old form \
         (#[serde(rename = \"old_name\")]; skip_serializing_if for a new field at its \
         default), or, for a deliberate change, bump state::VERSION and pin the new \
         fingerprint here"
    );
    // What it is a fingerprint of: the API base and every job.
    assert_ne!(config_print("https://other.example", &jobs), print);
    assert_ne!(
        config_print("https://api.mackerelio.com", &jobs[..1]),
        print
    );
}
