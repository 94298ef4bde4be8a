//! One name, one series: no two series of a configuration post under one Mackerel metric
//! name to one place (a service, or a host by its customIdentifier), where the value would
//! flip between them forever. What the configuration shows is refused by [`check`] (so by
//! `check` and every command, before any network call); what only discovery shows (labels,
//! dimension values) is settled by [`unique`]: the first series in configuration order keeps
//! the name, the others are not read.
//!
//! Offline, a job's names are sets of strings ([`Shape`]s): the template's text, each
//! placeholder either known (`{metric}`, `{stat}` and `{region}` for each metric and region of
//! the job, a dimension whose filter is a literal value) or a wildcard over what a value can
//! render to, keeping a glob's literal characters. Values render only `[a-zA-Z0-9_-]` into a
//! name, never a dot, so two shapes meet only where their texts can agree; [`meet`] decides.

use super::cloudfront::{Label, Naming};
use super::template::{Part, Template, name_part};
use super::{Dest, Job, MetricSpec, MetricsJob, Series, Target};
use crate::fault::Invalid;
use crate::log;
use serde_json::json;
use std::collections::hash_map::Entry;
use std::collections::{HashMap, VecDeque};
use std::rc::Rc;

/// What a wildcard's characters may be.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Class {
    /// A value made safe for a metric name: `[a-zA-Z0-9_-]`.
    Name,
    /// Anything: a customIdentifier keeps values as they are.
    Any,
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Tok {
    Char(char),
    /// One character of the class.
    One(Class),
    /// Any number of them, none included.
    Many(Class),
}

/// A set of strings: characters and wildcards in a row.
type Shape = Vec<Tok>;

fn text(s: &str) -> Shape {
    s.chars().map(Tok::Char).collect()
}

/// A string both shapes hold, if there is one, with `*` for wildcard characters: an example
/// for the message.
fn meet(a: &[Tok], b: &[Tok]) -> Option<String> {
    if apart(a, b) {
        return None;
    }
    // Breadth first over (position in a, position in b): each step reads one character both
    // accept, or passes a `Many` by. `came[state]` is the state before and the character read.
    type At = (usize, usize);
    let width = b.len() + 1;
    let mut came: Vec<Option<(At, Option<char>)>> = vec![None; (a.len() + 1) * width];
    let mut queue = VecDeque::from([(0, 0)]);
    while let Some((i, j)) = queue.pop_front() {
        if (i, j) == (a.len(), b.len()) {
            let mut chars = Vec::new();
            let mut at = (i, j);
            while at != (0, 0)
                && let Some((from, c)) = came[at.0 * width + at.1]
            {
                chars.extend(c);
                at = from;
            }
            let mut example = String::new();
            for c in chars.into_iter().rev() {
                if !(c == '*' && example.ends_with('*')) {
                    example.push(c);
                }
            }
            return Some(example);
        }
        let mut next: Vec<(At, Option<char>)> = Vec::new();
        if let Some(Tok::Many(_)) = a.get(i) {
            next.push(((i + 1, j), None));
        }
        if let Some(Tok::Many(_)) = b.get(j) {
            next.push(((i, j + 1), None));
        }
        if let (Some(&x), Some(&y)) = (a.get(i), b.get(j))
            && let Some(c) = both(x, y)
        {
            let after = |t: Tok, k: usize| if matches!(t, Tok::Many(_)) { k } else { k + 1 };
            next.push(((after(x, i), after(y, j)), Some(c)));
        }
        for (to, c) in next {
            let seen = &mut came[to.0 * width + to.1];
            if seen.is_none() && to != (0, 0) {
                *seen = Some(((i, j), c));
                queue.push_back(to);
            }
        }
    }
    None
}

/// Whether two shapes surely hold no common string, by their literal text alone: most names
/// part there, so no search is needed for them (a configuration of thousands of ways is
/// checked at every start). Where no wildcard can make a dot, names meet only part by part
/// between the dots.
fn apart(a: &[Tok], b: &[Tok]) -> bool {
    // The literal characters at one end of each must agree as far as both go.
    let ends_differ = |x: &[Tok], y: &[Tok]| {
        let differ = |x: &mut dyn Iterator<Item = &Tok>, y: &mut dyn Iterator<Item = &Tok>| {
            x.zip(y)
                .map_while(|p| match p {
                    (Tok::Char(p), Tok::Char(q)) => Some(p != q),
                    _ => None,
                })
                .any(|d| d)
        };
        differ(&mut x.iter(), &mut y.iter()) || differ(&mut x.iter().rev(), &mut y.iter().rev())
    };
    let dotless = |s: &[Tok]| {
        s.iter()
            .all(|t| !matches!(t, Tok::One(Class::Any) | Tok::Many(Class::Any)))
    };
    if ends_differ(a, b) {
        return true;
    }
    if !(dotless(a) && dotless(b)) {
        return false;
    }
    let dot = |t: &Tok| *t == Tok::Char('.');
    let (mut pa, mut pb) = (a.split(dot), b.split(dot));
    loop {
        match (pa.next(), pb.next()) {
            (Some(x), Some(y)) if !ends_differ(x, y) => {}
            (None, None) => return false,
            _ => return true,
        }
    }
}

/// A character both tokens accept (`*` for a wildcard's).
fn both(x: Tok, y: Tok) -> Option<char> {
    let has = |k: Class, c: char| match k {
        Class::Name => c.is_ascii_alphanumeric() || c == '_' || c == '-',
        Class::Any => true,
    };
    match (x, y) {
        (Tok::Char(a), Tok::Char(b)) => (a == b).then_some(a),
        (Tok::Char(a), Tok::One(k) | Tok::Many(k)) | (Tok::One(k) | Tok::Many(k), Tok::Char(a)) => {
            has(k, a).then_some(a)
        }
        // Two wildcards share at least the name characters.
        _ => Some('*'),
    }
}

/// Where a way of posting goes.
enum Place {
    Service(String),
    /// Hosts whose customIdentifiers the shape holds.
    Host(Shape),
    /// The existing host with this ID.
    Existing(String),
}

/// One way a job posts: (namespace jobs) one region and metric of it.
struct Way {
    job: usize,
    /// For messages: `us-east-1 Orders Sum`.
    what: String,
    place: Place,
    /// The names it may post under, in alternatives.
    names: Vec<Shape>,
    /// A CloudFront name that carries the distribution ID (label `id`, or its host): two such
    /// names that meet are one distribution's metric, one series, not two.
    by_id: bool,
}

/// Refuses a configuration in which two jobs, or two regions or metrics of one job, can post
/// under one name to one place, naming both.
pub fn check(jobs: &[Job]) -> Result<(), Invalid> {
    let ways: Vec<Way> = jobs
        .iter()
        .enumerate()
        .flat_map(|(i, job)| ways(i, job))
        .collect();
    for (n, b) in ways.iter().enumerate() {
        for a in &ways[..n] {
            let same_job = a.job == b.job;
            if (same_job && (a.what == b.what || matches!(jobs[a.job], Job::CloudFront(_))))
                || (a.by_id && b.by_id)
            {
                continue;
            }
            let place = match (&a.place, &b.place) {
                (Place::Service(x), Place::Service(y)) if x == y => format!("service {x}"),
                (Place::Existing(x), Place::Existing(y)) if x == y => format!("the host {x}"),
                (Place::Host(x), Place::Host(y)) => match meet(x, y) {
                    Some(cid) => format!("the host {cid:?}"),
                    None => continue,
                },
                _ => continue,
            };
            let Some(example) = a
                .names
                .iter()
                .flat_map(|x| b.names.iter().map(move |y| (x, y)))
                .find_map(|(x, y)| meet(x, y))
            else {
                continue;
            };
            let job = |i: usize| format!("jobs[{i}] ({:?})", jobs[i].name());
            let who = match same_job {
                true => format!(
                    "{} can post {example:?} to {place} from both {} and {}",
                    job(a.job),
                    a.what,
                    b.what
                ),
                false => format!(
                    "{} and {} can both post {example:?} to {place}",
                    job(b.job),
                    job(a.job)
                ),
            };
            return Err(Invalid::new(format!(
                "{who}, and the value there would flip between two series: tell them apart in name_template ({{region}}, {{stat}}, {{metric}} or a dimension) or metric_key_prefix ({{id}}), or post them to different targets"
            )));
        }
    }
    Ok(())
}

fn ways(i: usize, job: &Job) -> Vec<Way> {
    let mut out = Vec::new();
    match job {
        Job::CloudFront(j) => {
            let any = || vec![Tok::One(Class::Name), Tok::Many(Class::Name)];
            // One way per explicit ID when the ID is in the name or the host, else any.
            let ids: Vec<Shape> = match j.distributions.is_empty() {
                true => vec![any()],
                false => j.distributions.iter().map(|id| text(id)).collect(),
            };
            let label = |id: &Shape| match j.label {
                Label::Id => id.clone(),
                _ => any(),
            };
            let prefix = |id: &Shape| -> Shape {
                let mut out = Shape::new();
                for p in j.prefix.parts() {
                    out.extend(match p {
                        Part::Text(t) => text(t),
                        Part::Var(v) if v == "label" => label(id),
                        Part::Var(_) => id.clone(),
                    });
                }
                out
            };
            let prefix_by_id = j
                .prefix
                .vars()
                .any(|v| v != "label" || j.label == Label::Id);
            let by_id = match &j.target {
                Target::Service(_) if j.names == Naming::Cw2mackerel => j.label == Label::Id,
                Target::Host(h) if h.host_id.is_none() => true,
                _ => prefix_by_id,
            };
            for m in j
                .names
                .metrics()
                .iter()
                .filter(|m| j.groups.contains(&m.group))
            {
                for id in &ids {
                    let rest = text(&format!(".{}", m.name));
                    let (place, name) = match &j.target {
                        Target::Service(s) => {
                            let first = match j.names {
                                Naming::Cw2mackerel => [text("cloudfront."), label(id)].concat(),
                                Naming::Plugin => prefix(id),
                            };
                            (Place::Service(s.clone()), [first, rest].concat())
                        }
                        Target::Host(h) => {
                            let name = [text("custom."), prefix(id), rest].concat();
                            let place = match &h.host_id {
                                Some(host) => Place::Existing(host.clone()),
                                None => Place::Host(
                                    [
                                        text("arn:"),
                                        vec![Tok::Many(Class::Any)],
                                        text(":distribution/"),
                                        id.clone(),
                                    ]
                                    .concat(),
                                ),
                            };
                            (place, name)
                        }
                    };
                    out.push(Way {
                        job: i,
                        what: String::new(),
                        place,
                        names: vec![name],
                        by_id,
                    });
                }
            }
        }
        Job::Metrics(j) => {
            for region in &j.regions {
                for m in &j.metrics {
                    let name = shape(j, &j.name_template, region, m, true);
                    let (place, names) = match &j.target {
                        Target::Service(s) => (Place::Service(s.clone()), vec![name]),
                        Target::Host(h) => {
                            let Some(cid) = &h.custom_identifier else {
                                continue;
                            };
                            (
                                Place::Host(shape(j, cid, region, m, false)),
                                host_names(name),
                            )
                        }
                    };
                    let what = format!("{region} {} {}", m.name, m.stat);
                    out.push(Way {
                        job: i,
                        what,
                        place,
                        names,
                        by_id: false,
                    });
                }
            }
        }
    }
    out
}

/// A host metric's names: `custom.` goes in front of a name that does not begin with it.
fn host_names(name: Shape) -> Vec<Shape> {
    let custom = text("custom.");
    let begins = [custom.clone(), vec![Tok::Many(Class::Any)]].concat();
    let mut out = Vec::new();
    if !name.starts_with(&custom) {
        out.push([custom, name.clone()].concat());
    }
    if meet(&name, &begins).is_some() {
        out.push(name);
    }
    out
}

/// What `template` can render to for one region and metric of `job`: made safe for a metric
/// name (`safe`), or raw, as a customIdentifier is.
fn shape(job: &MetricsJob, template: &Template, region: &str, m: &MetricSpec, safe: bool) -> Shape {
    let class = if safe { Class::Name } else { Class::Any };
    let char_of = |c: char| match safe {
        true => name_part(&c.to_string()).chars().next().unwrap_or('_'),
        false => c,
    };
    let literal = |v: &str| -> Shape {
        match (safe, v.is_empty()) {
            (true, true) => text("_"),
            _ => v.chars().map(|c| Tok::Char(char_of(c))).collect(),
        }
    };
    let mut out = Shape::new();
    for part in template.parts() {
        match part {
            Part::Text(t) => out.extend(text(t)),
            Part::Var(v) => out.extend(match v.as_str() {
                "metric" => literal(&m.name),
                "stat" => literal(&m.stat.to_ascii_lowercase()),
                "region" => literal(region),
                dim => match job.dimensions.iter().find(|(k, _)| k == dim) {
                    Some((_, p)) if !p.as_str().contains(['*', '?']) => literal(p.as_str()),
                    Some((_, p)) if p.as_str().chars().all(|c| c == '*') => {
                        vec![Tok::One(class), Tok::Many(class)]
                    }
                    Some((_, p)) => p
                        .as_str()
                        .chars()
                        .map(|c| match c {
                            '*' => Tok::Many(class),
                            '?' => Tok::One(class),
                            c => Tok::Char(char_of(c)),
                        })
                        .collect(),
                    // Not one of the job's dimensions (the file check refuses that): anything.
                    None => vec![Tok::Many(class)],
                },
            }),
        }
    }
    out
}

/// Keeps the first series of each name and place, in the order given (configuration order,
/// then discovery's, which is sorted). A later one that reads the very same CloudWatch series
/// is dropped quietly; any other is a collision, named in what is returned.
pub fn unique(series: Vec<Series>) -> (Vec<Series>, Vec<String>) {
    let mut kept: Vec<Series> = Vec::with_capacity(series.len());
    let mut first: HashMap<(Rc<Dest>, Rc<str>), usize> = HashMap::new();
    let mut collided = Vec::new();
    for s in series {
        match first.entry((Rc::clone(&s.dest), Rc::clone(&s.name))) {
            Entry::Vacant(e) => {
                e.insert(kept.len());
                kept.push(s);
            }
            Entry::Occupied(e) => {
                let k = &kept[*e.get()];
                let same = (&k.region, &k.namespace, &k.metric, &k.dimensions, &k.stat)
                    == (&s.region, &s.namespace, &s.metric, &s.dimensions, &s.stat)
                    && (k.period, &k.role) == (s.period, &s.role);
                if !same {
                    collided.push(match &*s.dest {
                        Dest::Service(svc) => format!("{} (service {svc})", s.name),
                        Dest::Host(cid) => format!("{} (host {cid})", s.name),
                    });
                }
            }
        }
    }
    (kept, collided)
}

/// [`unique`], with one warning naming the collisions when discovery was `refreshed` (a
/// daemon reusing its discovery says nothing new each cycle); and how many there were.
pub fn settle(series: Vec<Series>, refreshed: bool) -> (Vec<Series>, usize) {
    let (series, collided) = unique(series);
    if refreshed {
        warn(&collided);
    }
    (series, collided.len())
}

fn warn(collided: &[String]) {
    if collided.is_empty() {
        return;
    }
    let mut names: Vec<&str> = collided.iter().map(String::as_str).collect();
    names.sort_unstable();
    names.dedup();
    log::warn(
        "series share a Mackerel name: the first in configuration order keeps it, the others are not read (make name_template or the labels say more)",
        &[
            ("collisions", json!(collided.len())),
            ("names", json!(names.join(", "))),
        ],
    );
}

#[cfg(test)]
mod tests;
