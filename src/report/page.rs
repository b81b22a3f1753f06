//! The page frame shared by both reports: escaping, the inline stylesheet, the optional table
//! sorter and filter (progressive enhancement: the page reads the same without JavaScript), the
//! data banner and small builders for tables and cells.

use std::fmt::Write;

use super::data_info::DataInfo;

/// Escapes text for HTML element content and quoted attribute values.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
    out
}

const CSS: &str = r#"
:root{--fg:#1d2330;--muted:#667085;--bg:#fff;--panel:#f6f7f9;--line:#e3e6eb;--up:#127a3a;--down:#b42318}
*{box-sizing:border-box}
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI","Noto Sans TC",sans-serif;color:var(--fg);background:var(--bg);margin:0 auto;max-width:1100px;padding:24px}
h1{font-size:22px;margin:0 0 4px;overflow-wrap:anywhere}h2{font-size:17px;margin:28px 0 8px;border-bottom:1px solid var(--line);padding-bottom:4px}
h3{font-size:15px;margin:18px 0 6px}
.muted,.tick,.legend{color:var(--muted);fill:var(--muted)}.tick{font-size:11px}.legend{font-size:12px;fill:var(--fg)}
.muted{overflow-wrap:anywhere}
nav.toc{margin:8px 0 4px;font-size:13px;line-height:1.9}nav.toc a{margin-right:12px;color:#1f6feb;text-decoration:none;white-space:nowrap}
.banner{padding:8px 12px;border-radius:6px;background:var(--panel);margin:10px 0;border-left:4px solid #98a2b3}
.banner.synthetic{background:#fff7e0;border-left-color:#e3a008}
.banner.real{background:#e9f7ef;border-left-color:#127a3a}
.banner .kind{font-weight:700}
.callout{padding:10px 14px;border-radius:8px;background:#eef6ff;border-left:4px solid #1f6feb;margin:10px 0}
.cards{display:flex;flex-wrap:wrap;gap:10px;margin:14px 0}
.card{background:var(--panel);border-radius:8px;padding:8px 14px;min-width:120px}
.card .v{font-size:20px;font-weight:600}.card .k{font-size:12px;color:var(--muted)}.card .b{font-size:12px;color:var(--muted)}
.pos{color:var(--up)}.neg{color:var(--down)}
table{border-collapse:collapse;font-variant-numeric:tabular-nums;margin:6px 0}
th,td{padding:3px 9px;border-bottom:1px solid var(--line);text-align:right;white-space:nowrap}
th{background:var(--panel);font-weight:600;position:sticky;top:0}
td.l,th.l{text-align:left}td.wrap{white-space:normal;max-width:300px;min-width:160px}td.note{white-space:normal;color:var(--muted);text-align:left}
tr.best td{background:#eef6ff}
tr.total td{font-weight:600;border-top:2px solid var(--line)}
.act{font-weight:600}.act.buy{color:var(--up)}.act.sell{color:var(--down)}.act.resize{color:#1c3d9b}.act.keep{color:var(--muted)}
.scroll{max-height:520px;overflow:auto;border:1px solid var(--line);border-radius:6px}
.grid2{display:grid;grid-template-columns:repeat(auto-fit,minmax(300px,1fr));gap:16px}
svg.chart{width:100%;height:auto;display:block}
svg .grid{stroke:var(--line);stroke-width:1}svg .zero{stroke:#98a2b3;stroke-width:1}
.scale-toggle input{margin-left:12px}
#scale-log:checked~.charts .lin,#scale-lin:checked~.charts .log{display:none}
.heat td{min-width:54px;color:#111}
pre.src{background:#0f1720;color:#e6edf3;padding:12px 14px;border-radius:8px;overflow:auto;font:13px/1.5 ui-monospace,Menlo,Consolas,monospace}
.src .kw{color:#ff7b72}.src .str{color:#a5d6ff}.src .num{color:#79c0ff}.src .com{color:#8b949e;font-style:italic}.src .fn{color:#d2a8ff}.src .op{color:#ffa657}
details summary{cursor:pointer;color:var(--muted)}
dl.glossary dt{font-weight:600;margin-top:8px}dl.glossary dd{margin:2px 0 0 18px;color:#344054}
.flag{display:inline-block;background:#fde8e8;color:#9b1c1c;border-radius:10px;padding:0 8px;margin:1px 2px;font-size:12px}
.flag.info{background:#e8eefd;color:#1c3d9b}
.verdict{padding:8px 12px;border-radius:6px;margin:8px 0;font-weight:600}
.verdict.fails{background:#fde8e8;color:#9b1c1c}.verdict.passes{background:#e9f7ef;color:#127a3a}
input.filter{font:inherit;padding:4px 8px;border:1px solid var(--line);border-radius:6px;width:min(420px,100%);margin:4px 0}
footer{margin-top:32px;color:var(--muted);font-size:12px}
th.sortable{cursor:pointer}
"#;

/// Optional script: click a header of a `table.sortable` to sort by that column (cells that read
/// as numbers, percentages included, numerically; the rest by text), and type in an
/// `input.filter` to show only the rows of its `data-table` that contain the text (the box stays
/// hidden without JavaScript). Without JavaScript the tables are complete, in their natural order.
const SCRIPT: &str = r#"
document.querySelectorAll('table.sortable').forEach(function(t){
  var ths=t.querySelectorAll('thead th');
  ths.forEach(function(th,i){
    th.classList.add('sortable');
    th.addEventListener('click',function(){
      var body=t.tBodies[0]; if(!body) return;
      var dir=th.getAttribute('data-dir')==='asc'?'desc':'asc';
      ths.forEach(function(h){h.removeAttribute('data-dir');});
      th.setAttribute('data-dir',dir);
      var rows=Array.prototype.slice.call(body.rows);
      var key=function(r){var c=r.cells[i]; if(!c) return ''; var v=c.textContent.trim();
        return /^[-+]?[0-9.,]+[%×]?$/.test(v)?parseFloat(v.replace(/,/g,'')):v;};
      rows.sort(function(a,b){var x=key(a),y=key(b);
        var r=(typeof x==='number'&&typeof y==='number')?x-y:String(x).localeCompare(String(y));
        return dir==='asc'?r:-r;});
      rows.forEach(function(r){body.appendChild(r);});
    });
  });
});
document.querySelectorAll('input.filter').forEach(function(box){
  var t=document.getElementById(box.getAttribute('data-table'));
  if(!t||!t.tBodies[0]) return;
  box.hidden=false;
  box.addEventListener('input',function(){
    var q=box.value.trim().toLowerCase();
    Array.prototype.forEach.call(t.tBodies[0].rows,function(r){
      r.hidden=q!==''&&r.textContent.toLowerCase().indexOf(q)<0;
    });
  });
});
"#;

/// Wraps `body` in a complete HTML document titled `title`.
pub(crate) fn document(title: &str, body: &str) -> String {
    let mut s = String::with_capacity(body.len() + CSS.len() + SCRIPT.len() + 512);
    let _ = write!(
        s,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <meta name=\"generator\" content=\"dsl-engine {}\">\n<title>{}</title>\n<style>{CSS}</style>\n</head>\n<body>\n{body}\n\
         <footer>Generated by dsl-engine {}. Self-contained: no network access needed; \
         JavaScript only adds sorting and filtering to tables.</footer>\n<script>{SCRIPT}</script>\n</body>\n</html>\n",
        env!("CARGO_PKG_VERSION"),
        escape(title),
        env!("CARGO_PKG_VERSION"),
    );
    s
}

/// The data banner: what kind of data (synthetic, real, imported), the data set and the market's
/// size.
pub(crate) fn banner(data: &DataInfo) -> String {
    let size = data
        .size()
        .map(|s| format!("<br>Market: {}.", escape(&s)))
        .unwrap_or_default();
    format!(
        r#"<div class="banner {}" id="data-banner"><span class="kind">{}</span><br>{}{size}</div>"#,
        data.kind.class(),
        escape(data.kind.headline()),
        escape(&data.banner),
    )
}

/// `pos`/`neg` for a signed value.
pub(crate) fn sign_class(x: f64) -> &'static str {
    if x > 0.0 {
        "pos"
    } else if x < 0.0 {
        "neg"
    } else {
        ""
    }
}

/// A heat-map background for a return: green up, red down, saturating at ±`scale`.
pub(crate) fn heat(x: f64, scale: f64) -> String {
    if !x.is_finite() {
        return String::new();
    }
    let t = (x.abs() / scale).min(1.0);
    let (r, g, b) = if x >= 0.0 {
        (46.0, 160.0, 67.0)
    } else {
        (214.0, 48.0, 49.0)
    };
    let mix = |c: f64| (255.0 + (c - 255.0) * t).round() as u8;
    format!("background:#{:02x}{:02x}{:02x}", mix(r), mix(g), mix(b))
}

/// A numeric table cell (the sorter reads its text), coloured by sign when `signed`.
pub(crate) fn num_cell(v: f64, text: &str, signed: bool) -> String {
    match if signed { sign_class(v) } else { "" } {
        "" => format!("<td>{}</td>", escape(text)),
        class => format!(r#"<td class="{class}">{}</td>"#, escape(text)),
    }
}

/// A left-aligned text cell.
pub(crate) fn text_cell(text: &str) -> String {
    format!(r#"<td class="l">{}</td>"#, escape(text))
}

/// A `<thead>` row; headers starting with `<` are left-aligned (the marker is dropped).
pub(crate) fn head(cols: &[&str]) -> String {
    let mut s = String::from("<thead><tr>");
    for c in cols {
        match c.strip_prefix('<') {
            Some(l) => {
                let _ = write!(s, r#"<th class="l">{}</th>"#, escape(l));
            }
            None => {
                let _ = write!(s, "<th>{}</th>", escape(c));
            }
        }
    }
    s.push_str("</tr></thead>");
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escape_covers_markup_and_quotes() {
        assert_eq!(
            escape(r#"<script>alert('x' & "y")</script>"#),
            "&lt;script&gt;alert(&#39;x&#39; &amp; &quot;y&quot;)&lt;/script&gt;"
        );
        assert_eq!(escape("收盤價"), "收盤價");
    }

    #[test]
    fn heat_saturates() {
        assert_eq!(heat(0.0, 0.1), "background:#ffffff");
        assert_eq!(heat(1.0, 0.1), heat(0.1, 0.1));
        assert_eq!(heat(f64::NAN, 0.1), "");
    }
}
