//! The syntax tree built from the pest parse. It records shape and spans only; the checker
//! decides what is allowed.

use super::visit::{walk_expr, Visitor};

/// A byte range in the source.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Span {
    pub start: u32,
    pub end: u32,
}

impl Span {
    /// A span from byte offsets.
    pub fn new(start: usize, end: usize) -> Span {
        Span {
            start: start as u32,
            end: end as u32,
        }
    }

    /// The smallest span covering both.
    pub fn to(self, other: Span) -> Span {
        Span {
            start: self.start.min(other.start),
            end: self.end.max(other.end),
        }
    }
}

/// A whole `.strat` file.
#[derive(Clone, Debug, PartialEq)]
pub struct Program {
    pub stmts: Vec<Stmt>,
}

/// One statement with its span.
#[derive(Clone, Debug, PartialEq)]
pub struct Stmt {
    pub kind: StmtKind,
    pub span: Span,
}

/// A name in an import statement (`a.b as c`).
#[derive(Clone, Debug, PartialEq)]
pub struct ImportItem {
    pub name: String,
    pub alias: Option<String>,
    pub span: Span,
}

/// Statement shapes, including the ones the checker refuses.
#[derive(Clone, Debug, PartialEq)]
pub enum StmtKind {
    /// `import a.b as c, d`
    Import(Vec<ImportItem>),
    /// `from module import a as b` (`star` for `import *`)
    FromImport {
        module: String,
        names: Vec<ImportItem>,
        star: bool,
    },
    /// A statement starting with a keyword the DSL does not allow (`def`, `for`, `while`, ...).
    Keyword { keyword: String, keyword_span: Span },
    /// `target = value`
    Assign { target: Expr, value: Expr },
    /// `target += value` and friends.
    AugAssign {
        target: Expr,
        op: String,
        value: Expr,
    },
    /// A bare expression (usually the `sim(...)` call).
    Expr(Expr),
}

/// An expression with its span; `parens` records whether it was written in parentheses.
#[derive(Clone, Debug, PartialEq)]
pub struct Expr {
    pub kind: ExprKind,
    pub span: Span,
    pub parens: bool,
}

/// Unary operators.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UnaryOp {
    Neg,
    Pos,
    Invert,
    Not,
}

/// Binary operators as Python spells them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BinaryOp {
    Add,
    Sub,
    Mul,
    Div,
    FloorDiv,
    Mod,
    Pow,
    MatMul,
    LShift,
    RShift,
    BitAnd,
    BitOr,
    BitXor,
    Lt,
    Le,
    Gt,
    Ge,
    Eq,
    Ne,
    In,
    NotIn,
    Is,
    IsNot,
    And,
    Or,
}

impl BinaryOp {
    /// The Python spelling.
    pub fn symbol(self) -> &'static str {
        use BinaryOp::*;
        match self {
            Add => "+",
            Sub => "-",
            Mul => "*",
            Div => "/",
            FloorDiv => "//",
            Mod => "%",
            Pow => "**",
            MatMul => "@",
            LShift => "<<",
            RShift => ">>",
            BitAnd => "&",
            BitOr => "|",
            BitXor => "^",
            Lt => "<",
            Le => "<=",
            Gt => ">",
            Ge => ">=",
            Eq => "==",
            Ne => "!=",
            In => "in",
            NotIn => "not in",
            Is => "is",
            IsNot => "is not",
            And => "and",
            Or => "or",
        }
    }

    /// The six value comparisons.
    pub fn is_comparison(self) -> bool {
        use BinaryOp::*;
        matches!(self, Lt | Le | Gt | Ge | Eq | Ne)
    }
}

/// A call argument: positional, `name=value`, or `*args`/`**kwargs` (`star`).
#[derive(Clone, Debug, PartialEq)]
pub struct Arg {
    pub name: Option<(String, Span)>,
    pub value: Expr,
    pub star: bool,
    pub span: Span,
}

/// Expression shapes.
#[derive(Clone, Debug, PartialEq)]
pub enum ExprKind {
    Number(f64),
    /// A string literal; `prefix` is e.g. `f` or `b` (refused by the checker) or empty.
    Str {
        value: String,
        prefix: String,
    },
    Bool(bool),
    None,
    Name(String),
    Unary {
        op: UnaryOp,
        operand: Box<Expr>,
    },
    Binary {
        op: BinaryOp,
        op_span: Span,
        lhs: Box<Expr>,
        rhs: Box<Expr>,
    },
    Call {
        func: Box<Expr>,
        args: Vec<Arg>,
    },
    Attr {
        value: Box<Expr>,
        name: String,
        name_span: Span,
    },
    /// `value[...]`: the items of a subscript, or (with an empty `index`) a `lo:hi:step` slice.
    Index {
        value: Box<Expr>,
        index: Vec<Expr>,
        slice: Option<Slice>,
    },
    List(Vec<Expr>),
    Tuple(Vec<Expr>),
    Dict,
    Lambda,
    Comprehension,
}

/// The bounds of a `lo:hi` or `lo:hi:step` subscript, each possibly left out.
#[derive(Clone, Debug, PartialEq)]
pub struct Slice {
    pub lo: Option<Box<Expr>>,
    pub hi: Option<Box<Expr>>,
    /// `Some` when a second `:` was written, holding the step if one follows it.
    pub step: Option<Option<Box<Expr>>>,
}

impl Slice {
    /// The bounds that were written, in source order.
    pub fn parts(&self) -> impl Iterator<Item = &Expr> {
        let step = self.step.as_ref().and_then(|s| s.as_deref());
        self.lo
            .as_deref()
            .into_iter()
            .chain(self.hi.as_deref())
            .chain(step)
    }
}

impl Expr {
    /// Number of nodes in this expression tree.
    pub fn size(&self) -> usize {
        struct Count(usize);
        impl Visitor<'_> for Count {
            fn visit_expr(&mut self, e: &Expr) {
                self.0 += 1;
                walk_expr(self, e);
            }
        }
        let mut count = Count(0);
        count.visit_expr(self);
        count.0
    }

    /// The arguments of a `sim(...)` call, when this expression is one.
    pub fn sim_call_args(&self) -> Option<&[Arg]> {
        match &self.kind {
            ExprKind::Call { func, args } => match &func.kind {
                ExprKind::Name(n) if n == "sim" => Some(args),
                _ => None,
            },
            _ => None,
        }
    }
}
