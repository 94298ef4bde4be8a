use super::*;

fn p(name: &str, time: i64, value: f64) -> Point {
    Point {
        dest: std::rc::Rc::new(Dest::Service("s".into())),
        name: name.into(),
        time,
        value,
    }
}

#[test]
fn a_refusal_means_what_its_status_and_body_say() {
    let refused = |status| Failure::Refused(status, Error::runtime("no"));
    let body = |host, points, recheck, splits| Body {
        host,
        points,
        recheck,
        splits,
    };
    let point = |for_what_it_holds| Refusal::Point { for_what_it_holds };
    for (failure, body, means) in [
        (refused(413), body(false, 2, true, true), Refusal::TooLarge),
        (refused(413), body(false, 1, true, true), Refusal::Stop),
        (refused(401), body(false, 2, true, true), Refusal::Stop),
        (refused(503), body(true, 1, true, true), Refusal::Stop),
        (
            Failure::Unanswered(Error::runtime("timeout")),
            body(false, 1, true, true),
            Refusal::Stop,
        ),
        (refused(404), body(true, 5, true, true), Refusal::HostGone),
        (refused(400), body(true, 1, true, true), Refusal::HostGone),
        (refused(404), body(true, 5, false, true), Refusal::Search),
        (refused(404), body(false, 5, true, true), Refusal::NoService),
        (refused(400), body(false, 1, true, false), point(true)),
        (refused(422), body(true, 1, false, false), point(true)),
        (refused(409), body(false, 1, true, true), point(false)),
        (refused(400), body(false, 7, true, true), Refusal::Search),
        (refused(400), body(false, 7, true, false), Refusal::Lost),
    ] {
        let (status, host, points) = (failure.status(), body.host, body.points);
        assert_eq!(
            classify(&failure, &body),
            means,
            "{status:?} for {points} point(s), host: {host}"
        );
    }
}

#[test]
fn backlog_merges_fresh_over_kept_and_drops_the_oldest() {
    let now = 1_800_000_000;
    let mut b = Backlog::default();
    b.keep(vec![
        p("a", now - 120, 1.0),
        p("a", now - 60, 1.0),
        p("a", now - 90_000, 1.0),
    ]);
    let merged = b.merge(vec![p("a", now - 60, 2.0), p("b", now - 60, 3.0)], now);
    assert_eq!(
        merged,
        vec![
            p("a", now - 120, 1.0),
            p("a", now - 60, 2.0),
            p("b", now - 60, 3.0)
        ]
    );
    assert_eq!(
        (b.len(), b.take_dropped()),
        (0, 1),
        "older than 24h is dropped"
    );

    // Inside Mackerel's 24 hours when read, but not by a margin: it would be past them
    // by the time it is posted, and Mackerel would drop it with a 200.
    let day = crate::mackerel::MAX_AGE.as_secs() as i64;
    let merged = b.merge(
        vec![p("a", now - day + 60, 1.0), p("a", now - day + 600, 1.0)],
        now,
    );
    assert_eq!(merged, vec![p("a", now - day + 600, 1.0)]);
    assert_eq!((b.take_dropped(), b.take_dropped()), (1, 0), "counted once");

    b.keep(
        (0..Backlog::CAP as i64 + 5)
            .map(|t| p("c", now - 1_000_000 + t, 0.0))
            .collect(),
    );
    assert_eq!((b.len(), b.take_dropped()), (Backlog::CAP, 5));
    assert_eq!(
        b.points[0].time,
        now - 1_000_000 + 5,
        "the oldest went first"
    );
}
