//! The rule of one name per series: which shapes meet, and which series keep a name.

use super::*;

fn names(template: &str) -> Shape {
    let t = Template::parse(template).unwrap();
    let job = MetricsJob {
        name: "j".into(),
        regions: vec!["us-east-1".into()],
        namespace: "N".into(),
        period: 60,
        dimensions: vec![
            ("Any".into(), super::super::template::Pattern::new("*")),
            (
                "Web".into(),
                super::super::template::Pattern::new("web-*.x?"),
            ),
            ("Lit".into(), super::super::template::Pattern::new("a.b")),
        ],
        tags: vec![],
        metrics: vec![],
        target: Target::Service("s".into()),
        name_template: t.clone(),
        role: None,
    };
    let m = MetricSpec {
        name: "Orders".into(),
        stat: "Sum".into(),
        nil_to_zero: false,
    };
    shape(&job, &t, "us-east-1", &m, true)
}

#[test]
fn shapes_meet_where_names_can_agree() {
    let meets = |a: &str, b: &str| meet(&names(a), &names(b));
    assert_eq!(
        meets("o.{Any}.{metric}", "o.{Any}.Orders").as_deref(),
        Some("o.*.Orders")
    );
    assert_eq!(
        meets("o.{region}", "o.us-east-1").as_deref(),
        Some("o.us-east-1")
    );
    assert_eq!(meets("o.{stat}", "o.sum").as_deref(), Some("o.sum"));
    assert_eq!(meets("o.{Lit}", "o.a_b").as_deref(), Some("o.a_b"));
    assert_eq!(meets("{Web}", "web-1_x9").as_deref(), Some("web-1_x9"));
    assert_eq!(meets("x{Any}", "{Any}y").as_deref(), Some("xy"));
    assert_eq!(meets("x.{Any}", "{Any}.y").as_deref(), Some("x.y"));
    assert_eq!(meets("o.{Any}{Any}", "o.{Any}").as_deref(), Some("o.*"));
    for (a, b) in [
        ("o.{Any}", "o.a.b"),
        ("x{Any}", "x"),
        ("api.{Any}", "web.{Any}"),
        ("{Web}", "api-{Any}"),
        ("o.{region}", "o.eu-west-1"),
        ("{Any}.{metric}", "{Any}.{stat}"),
        ("{Any}.{metric}.{Any}", "{Any}.sum.{Any}"),
    ] {
        assert_eq!(meets(a, b), None, "{a} {b}");
    }
    let custom = host_names(names("custom.{Any}"));
    assert_eq!(custom.len(), 1);
    assert_eq!(host_names(names("{Any}.x")).len(), 2);
    assert_eq!(host_names(names("o.x")).len(), 1);
}

#[test]
fn the_first_keeps_a_name_and_the_same_series_is_no_collision() {
    let s = |name: &str, dim: &str| Series {
        region: "us-east-1".into(),
        namespace: "N".into(),
        metric: "M".into(),
        dimensions: Rc::from([(Rc::from("D"), Rc::from(dim))]),
        stat: "Sum".into(),
        period: 60,
        name: name.into(),
        dest: Rc::new(Dest::Service("s".into())),
        role: None,
        fill_zero: true,
    };
    let (kept, collided) = unique(vec![s("a", "1"), s("a", "2"), s("b", "3"), s("a", "1")]);
    let kept: Vec<(&str, &str)> = kept
        .iter()
        .map(|s| (&*s.name, &*s.dimensions[0].1))
        .collect();
    assert_eq!(kept, [("a", "1"), ("b", "3")]);
    assert_eq!(collided, ["a (service s)"]);
}
