//! The formatter's cases: spacing, comments, wrapping, the hash, refused shapes.

use super::*;

fn fmt(src: &str) -> String {
    format_source(src).unwrap()
}

#[test]
fn spacing_quotes_and_parentheses() {
    assert_eq!(
        fmt("x=((a>b))&(c>d)\ny = (a+b)*c-(d*e)\nz=f( a,b = 1 )['k']\n"),
        "x = (a > b) & (c > d)\ny = (a + b) * c - d * e\nz = f(a, b=1)[\"k\"]\n"
    );
    assert_eq!(
        fmt("x = -(a ** b) + (-a) ** b + a ** -b\n"),
        "x = -a ** b + (-a) ** b + a ** -b\n"
    );
    assert_eq!(
        fmt("x = a - (b - c) - (d - e)\n"),
        "x = a - (b - c) - (d - e)\n"
    );
    assert_eq!(
        fmt("(a,b) = f()\na , b = f()\n"),
        "a, b = f()\na, b = f()\n"
    );
    let long = "cond = (aaaaaaaaaaaaaaaaaaaa > 1) & (bbbbbbbbbbbbbbbbbbbbbbbbb > 2) & (cccccccccccccccccccccccccc > 3) & dd\n";
    assert_eq!(
        fmt(long),
        "cond = (\n    (aaaaaaaaaaaaaaaaaaaa > 1)\n    & (bbbbbbbbbbbbbbbbbbbbbbbbb > 2)\n    & (cccccccccccccccccccccccccc > 3)\n    & dd\n)\n"
    );
    assert_eq!(
        fmt("x = (a < b) < c\ny = a < b < c\n"),
        "x = (a < b) < c\ny = a < b < c\n"
    );
    assert_eq!(fmt("s = 'a\\'b\"c'\n"), "s = \"a'b\\\"c\"\n");
    assert_eq!(
        fmt("x = 1.425/1000 + 1_000 + 2.\n"),
        "x = 1.425 / 1000 + 1_000 + 2.\n"
    );
    assert_eq!(
        fmt("x = ~(a & b)\ny = not (a and b)\n"),
        "x = ~(a & b)\ny = not (a and b)\n"
    );
}

#[test]
fn comments_and_blank_lines() {
    let src = "# header\n# two\n\n\n\nfrom finlab import data  # the data\nx = (data.get('k')  # inner\n     .average(5))\n\n# tail\n";
    assert_eq!(
        fmt(src),
        "# header\n# two\n\nfrom finlab import data  # the data\n# inner\nx = data.get(\"k\").average(5)\n\n# tail\n"
    );
}

#[test]
fn long_calls_wrap_one_argument_per_line() {
    let src = "sim(position, resample=\"W-FRI\", position_limit=0.1, stop_loss=0.08, take_profit=0.25, trail_stop=0.1, name=\"x\")  # go\n";
    let out = fmt(src);
    assert!(
        out.starts_with("sim(\n    position,\n    resample=\"W-FRI\",\n"),
        "{out}"
    );
    assert!(out.ends_with("    name=\"x\",\n)  # go\n"), "{out}");
    assert_eq!(fmt(&out), out);
}

#[test]
fn hash_ignores_layout_and_comments() {
    let a = "x = (close > 1)  # c\nsim(x)\n";
    let b = "\n# header\nx=close>1\n\nsim( x )\n";
    let h = |s: &str| canonical_hash(&parse(s).unwrap(), s);
    assert_eq!(h(a), h(b));
    assert_eq!(h(a).len(), 16);
    assert_ne!(h(a), h("x = close > 2\nsim(x)\n"));
}

#[test]
fn unterminated_strings_in_refused_lines_are_closed() {
    // Found by fuzzing: the joined line break used to let the string run on.
    let out = fmt("def+.average(\"\n\"x\t\0");
    assert_eq!(out, "def+.average(\"\" \"x\t\0\")\n");
    assert_eq!(fmt("def \"x \\\n"), "def \"x \"\n");
    assert_eq!(fmt(&out), out);
    // A trailing `\\` would join the next line.
    assert_eq!(fmt("if[\\"), "if[]\n");
    assert_eq!(fmt("def \\\\\n"), "def\n");
    assert_eq!(fmt("if(\"x\r\ny"), "if(\"x\")\ny\n");
}

#[test]
fn refused_shapes_print_from_source() {
    let src = "def f(x):  # no\n    return x\ny = [i for i in  # c\n  z]\nw = (lambda q: q)(1)\n";
    let out = fmt(src);
    assert_eq!(
        out,
        "def f(x):  # no\nreturn x\n# c\ny = [i for i in z]\nw = (lambda q: q)(1)\n"
    );
    assert_eq!(fmt(&out), out);
}
