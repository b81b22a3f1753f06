//! The sections of the run report, one function each, in page order.

use std::fmt::Write;

use super::super::fixed;
use super::super::highlight::highlight;
use super::super::page::{banner, document, escape, head, num_cell, text_cell};
use super::super::svg::{self, Chart, Kind, Series, XAxis};
use super::model::RunView;

/// The whole page.
pub(super) fn page(v: &RunView) -> String {
    let parts = [
        header(v),
        settings(v),
        split(v),
        promoted(v),
        statistics(v),
        progress(v),
        trials(v),
        source(v),
    ];
    document(&v.title, &parts.concat())
}

fn fmt2(v: f64) -> String {
    fixed(v, 2)
}

fn header(v: &RunView) -> String {
    let mut s = format!("<h1>{}</h1>", escape(&v.title));
    s.push_str(&banner(&v.data));
    if !v.finished {
        s.push_str(r#"<div class="banner">No summary.json: the run is still going or was interrupted; the trials so far are shown.</div>"#);
    }
    s
}

fn settings(v: &RunView) -> String {
    let mut s = String::from(r#"<h2 id="settings">Run</h2><table id="run-meta"><tbody>"#);
    for (k, val) in &v.settings {
        let _ = write!(s, "<tr>{}{}</tr>", text_cell(k), text_cell(val));
    }
    s.push_str("</tbody></table>");
    s
}

fn split(v: &RunView) -> String {
    if v.split.is_empty() {
        return String::new();
    }
    let mut s = String::from(r#"<h2 id="split">Data split</h2><table id="split-table">"#);
    s.push_str(&head(&["<window", "<from", "<to"]));
    s.push_str("<tbody>");
    for (name, a, b) in &v.split {
        let _ = write!(
            s,
            "<tr>{}{}{}</tr>",
            text_cell(name),
            text_cell(a),
            text_cell(b)
        );
    }
    s.push_str("</tbody></table>");
    s
}

fn promoted(v: &RunView) -> String {
    let Some(p) = &v.promoted else {
        return r#"<h2 id="best">Best trial</h2><p class="muted">No trial ran to a result.</p>"#
            .into();
    };
    let mut s = format!(
        r#"<h2 id="best">Best trial: #{} ({})</h2><p>{}</p>"#,
        escape(&p.iteration),
        escape(&p.how),
        escape(&p.note)
    );
    if let Some((passes, text)) = &p.verdict {
        let class = if *passes { "passes" } else { "fails" };
        let _ = write!(
            s,
            r#"<div class="verdict {class}" id="verdict">{}</div>"#,
            escape(text)
        );
    }
    for flag in &p.flags {
        let _ = write!(s, r#"<span class="flag">{}</span>"#, escape(flag));
    }
    s.push_str(r#"<table id="periods"><thead><tr><th class="l">metric</th>"#);
    for name in &p.periods {
        let _ = write!(s, "<th>{}</th>", escape(name));
    }
    s.push_str("</tr></thead><tbody><tr>");
    s.push_str(&text_cell("dates"));
    for (a, b) in &p.dates {
        s.push_str(&text_cell(&format!("{a} → {b}")));
    }
    s.push_str("</tr>");
    for row in &p.rows {
        let label = if row.objective {
            format!("{} (objective)", row.label)
        } else {
            row.label.to_string()
        };
        let class = if row.objective {
            r#" class="best""#
        } else {
            ""
        };
        let _ = write!(s, "<tr{class}>{}", text_cell(&label));
        for (val, text) in &row.cells {
            s.push_str(&num_cell(*val, text, row.signed));
        }
        s.push_str("</tr>");
    }
    s.push_str("</tbody></table>");
    if p.has_holdout {
        s.push_str(r#"<p class="muted">The best of many trials looks better where it was chosen than it is: judge it by the sealed holdout, which no step of the search saw.</p>"#);
    }
    s
}

fn statistics(v: &RunView) -> String {
    if v.statistics.is_empty() && v.other.is_empty() {
        return String::new();
    }
    let mut s = String::from(r#"<h2 id="stats">Run statistics</h2><table id="run-stats">"#);
    s.push_str(&head(&["<figure", "value", "<what it means"]));
    s.push_str("<tbody>");
    for fig in &v.statistics {
        let _ = write!(
            s,
            r#"<tr>{}<td>{}</td><td class="note">{}</td></tr>"#,
            text_cell(&fig.label),
            escape(&fig.value),
            escape(&fig.meaning)
        );
    }
    for (k, val) in &v.other {
        let _ = write!(
            s,
            r#"<tr>{}<td>{}</td><td class="note"></td></tr>"#,
            text_cell(k),
            escape(val)
        );
    }
    s.push_str("</tbody></table>");
    s
}

fn progress(v: &RunView) -> String {
    let p = &v.progress;
    let o = &v.objective.label;
    let mut dots = Series::new(
        &format!("trial in-sample {o}"),
        "#98a2b3",
        Kind::Dots,
        Vec::new(),
    );
    dots.points = p.dots.iter().map(|d| (d.0, d.1)).collect();
    dots.labels = p.dots.iter().map(|d| d.2.clone()).collect();
    let mut series = vec![dots];
    let mut caption = vec![format!(
        "grey dots: each trial with a result, its in-sample {o} (hover for its note)"
    )];
    if !p.best.is_empty() {
        series.push(Series::new(
            &format!("best in-sample {o} so far"),
            "#1f6feb",
            Kind::Step,
            p.best.clone(),
        ));
        caption.push(format!("blue: the best in-sample {o} up to that trial"));
    }
    if p.best_validation.iter().any(|q| q.1.is_finite()) {
        series.push(Series::new(
            &format!("its validation {o}"),
            "#e3a008",
            Kind::Step,
            p.best_validation.clone(),
        ));
        caption.push(format!("amber: that best trial's validation {o}"));
    }
    if let Some(pt) = p.promoted {
        series.push(Series::new("promoted", "#127a3a", Kind::Dots, vec![pt]));
        caption.push("green: the promoted trial".into());
    }
    let mut s = String::from(r#"<h2 id="progress">Best so far</h2>"#);
    s.push_str(&svg::render(&Chart {
        class: "progress",
        x: XAxis::Index,
        log: false,
        y_fmt: fmt2,
        series,
    }));
    let _ = write!(
        s,
        r#"<p class="muted" id="progress-caption">x: trial 1 to {}, every trial of the run. {}. Trials without a result (failed, duplicate) have no dot.</p>"#,
        p.trials,
        escape(&caption.join("; "))
    );
    s
}

fn trials(v: &RunView) -> String {
    let mut s = format!(
        r#"<h2 id="trials">Trials ({})</h2><p class="muted">IS in-sample, VA validation, HO sealed holdout (scored once, for the promoted trial only). Click a header to sort; open a note for the code.</p><div class="scroll"><table class="sortable" id="trials-table">"#,
        v.trials.len()
    );
    let mut cols: Vec<&str> = vec!["#", "<status"];
    if v.mixed_proposers {
        cols.push("<proposer");
    }
    cols.extend(v.trial_columns.iter().map(String::as_str));
    cols.extend(["<flags", "<note"]);
    s.push_str(&head(&cols));
    s.push_str("<tbody>");
    for t in &v.trials {
        let _ = write!(s, "<tr{}>", if t.best { r#" class="best""# } else { "" });
        s.push_str(&num_cell(t.iteration, &fixed(t.iteration, 0), false));
        s.push_str(&text_cell(&t.status));
        if v.mixed_proposers {
            s.push_str(&text_cell(&t.proposer));
        }
        for (val, text, signed) in &t.cells {
            s.push_str(&num_cell(*val, text, *signed));
        }
        s.push_str(r#"<td class="l">"#);
        for flag in &t.flags {
            let _ = write!(s, r#"<span class="flag">{}</span>"#, escape(flag));
        }
        let _ = write!(
            s,
            r#"</td><td class="l wrap"><details><summary>{}</summary><pre class="src">{}</pre></details></td></tr>"#,
            escape(if t.note.is_empty() { "code" } else { &t.note }),
            highlight(&t.code)
        );
    }
    s.push_str("</tbody></table></div>");
    s
}

fn source(v: &RunView) -> String {
    match &v.best_source {
        Some(src) => format!(
            r#"<h2 id="source">Best strategy</h2><pre class="src">{}</pre>"#,
            highlight(src)
        ),
        None => String::new(),
    }
}
