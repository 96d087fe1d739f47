//! `#[taskloop::test]`: the attribute behind taskloop's `test` re-export.
//!
//! Use it through `taskloop::test` (the default `macros` feature of
//! taskloop); its documentation is there. This crate is a hand-written token
//! rewrite over std's `proc_macro` alone:
//!
//! ```text
//! #[taskloop::test(seeds = 20)]
//! async fn name() -> R { body }
//! ```
//!
//! becomes
//!
//! ```text
//! #[test]
//! fn name() -> R {
//!     async fn name() -> R { body }
//!     ::taskloop::__private::run_test(options, name)
//! }
//! ```
//!
//! so the body keeps its spans (errors point at the user's code) and its
//! return type drives the inference of `?` as in any async fn.
#![warn(missing_docs)]

use proc_macro::{Delimiter, Group, Ident, Literal, Punct, Spacing, Span, TokenStream, TokenTree};

/// Runs an `async fn` test on a fresh taskloop runtime, on a virtual clock
/// by default: `#[taskloop::test]`, `#[taskloop::test(real_time)]`,
/// `#[taskloop::test(seeds = 20, timeout_secs = 10)]`. Documented, with
/// examples, at its re-export `taskloop::test`.
#[proc_macro_attribute]
pub fn test(attr: TokenStream, item: TokenStream) -> TokenStream {
    match expand(attr, item) {
        Ok(tokens) => tokens,
        Err((span, msg)) => compile_error(span, &msg),
    }
}

/// The options of one attribute, as written.
struct Options {
    /// `real_time`: run on the real clock.
    real_time: bool,
    /// `seeds = N`: run once per seed `0..N`.
    seeds: Option<Literal>,
    /// `timeout_secs = N`: the real-time limit.
    timeout_secs: Option<Literal>,
}

/// An error at a span.
type Error = (Span, String);

fn parse_options(attr: TokenStream) -> Result<Options, Error> {
    let mut options = Options {
        real_time: false,
        seeds: None,
        timeout_secs: None,
    };
    let mut tokens = attr.into_iter().peekable();
    while let Some(token) = tokens.next() {
        let TokenTree::Ident(key) = token else {
            return Err((
                token.span(),
                "expected an option of #[taskloop::test]".into(),
            ));
        };
        let name = key.to_string();
        match name.as_str() {
            "real_time" => options.real_time = true,
            "seeds" | "timeout_secs" => {
                match tokens.next() {
                    Some(TokenTree::Punct(p)) if p.as_char() == '=' => {}
                    _ => return Err((key.span(), format!("expected `{name} = <integer>`"))),
                }
                let value = match tokens.next() {
                    Some(TokenTree::Literal(lit)) if is_integer(&lit) => lit,
                    Some(other) => {
                        return Err((other.span(), format!("`{name}` takes an integer")));
                    }
                    None => return Err((key.span(), format!("`{name}` takes an integer"))),
                };
                if name == "seeds" {
                    options.seeds = Some(value);
                } else {
                    options.timeout_secs = Some(value);
                }
            }
            _ => {
                return Err((
                    key.span(),
                    format!(
                        "unknown option `{name}` of #[taskloop::test] \
                         (expected real_time, seeds = N, timeout_secs = N)"
                    ),
                ));
            }
        }
        match tokens.next() {
            None => break,
            Some(TokenTree::Punct(p)) if p.as_char() == ',' => {}
            Some(other) => return Err((other.span(), "expected `,` between options".into())),
        }
    }
    Ok(options)
}

/// Whether a literal is a plain unsigned integer (`20`, `20u64`, `1_000`).
fn is_integer(lit: &Literal) -> bool {
    let text = lit.to_string();
    text.starts_with(|c: char| c.is_ascii_digit())
        && text
            .trim_end_matches(|c: char| c.is_ascii_alphabetic() && c != '_')
            .chars()
            .all(|c| c.is_ascii_digit() || c == '_')
}

fn expand(attr: TokenStream, item: TokenStream) -> Result<TokenStream, Error> {
    let options = parse_options(attr)?;
    let tokens: Vec<TokenTree> = item.into_iter().collect();
    // Outer attributes (`#[...]`, doc comments) stay on the test function.
    let mut i = 0;
    let mut attributes = Vec::new();
    while let Some(TokenTree::Punct(p)) = tokens.get(i) {
        if p.as_char() != '#' {
            break;
        }
        match tokens.get(i + 1) {
            Some(group @ TokenTree::Group(g)) if g.delimiter() == Delimiter::Bracket => {
                attributes.push(tokens[i].clone());
                attributes.push(group.clone());
                i += 2;
            }
            _ => break,
        }
    }
    let rest = &tokens[i..];
    let position = |word: &str| {
        rest.iter()
            .position(|t| matches!(t, TokenTree::Ident(id) if id.to_string() == word))
    };
    let Some(fn_at) = position("fn") else {
        return Err((
            Span::call_site(),
            "#[taskloop::test] goes on an `async fn`".into(),
        ));
    };
    match position("async") {
        Some(at) if at < fn_at => {}
        _ => {
            return Err((
                rest[fn_at].span(),
                "#[taskloop::test] needs an `async fn` (a plain test needs no runtime)".into(),
            ));
        }
    }
    let Some(TokenTree::Ident(name)) = rest.get(fn_at + 1) else {
        return Err((rest[fn_at].span(), "expected the test's name".into()));
    };
    match rest.get(fn_at + 2) {
        Some(TokenTree::Group(g)) if g.delimiter() == Delimiter::Parenthesis => {
            if !g.stream().is_empty() {
                return Err((g.span(), "a test function takes no arguments".into()));
            }
        }
        _ => return Err((name.span(), "expected `()` after the test's name".into())),
    }
    let Some(TokenTree::Group(body)) = rest.last() else {
        return Err((name.span(), "expected the test's body".into()));
    };
    if body.delimiter() != Delimiter::Brace {
        return Err((body.span(), "expected the test's body".into()));
    }
    // `-> R` (and anything else) between the arguments and the body.
    let signature_tail: TokenStream = rest[fn_at + 3..rest.len() - 1].iter().cloned().collect();

    // The inner `async fn name() -> R { body }`, exactly as written from
    // `async` on (qualifiers before `fn` other than `async` are rejected by
    // the compiler as they would be anywhere).
    let mut inner = TokenStream::new();
    inner.extend([
        TokenTree::Ident(Ident::new("async", name.span())),
        TokenTree::Ident(Ident::new("fn", name.span())),
        TokenTree::Ident(name.clone()),
        TokenTree::Group(Group::new(Delimiter::Parenthesis, TokenStream::new())),
    ]);
    inner.extend(signature_tail.clone());
    inner.extend([TokenTree::Group(body.clone())]);

    let seeds = options.seeds.map_or_else(
        || "::core::option::Option::None".to_owned(),
        |n| format!("::core::option::Option::Some({n})"),
    );
    let timeout = options
        .timeout_secs
        .map_or_else(|| "60".to_owned(), |n| n.to_string());
    let call: TokenStream = format!(
        "::taskloop::__private::run_test(\
             ::taskloop::__private::TestOptions {{\
                 name: ::core::concat!(::core::module_path!(), \"::\", \"{name}\"),\
                 real_time: {real_time},\
                 seeds: {seeds},\
                 timeout_secs: {timeout},\
             }},\
             {name},\
         )",
        real_time = options.real_time,
    )
    .parse()
    .map_err(|e| {
        (
            name.span(),
            format!("#[taskloop::test] generated bad tokens: {e}"),
        )
    })?;

    let mut block = inner;
    block.extend(call);

    let mut out = TokenStream::new();
    out.extend(attributes);
    out.extend(
        "#[::core::prelude::v1::test]"
            .parse::<TokenStream>()
            .expect("valid tokens"),
    );
    out.extend([
        TokenTree::Ident(Ident::new("fn", name.span())),
        TokenTree::Ident(name.clone()),
        TokenTree::Group(Group::new(Delimiter::Parenthesis, TokenStream::new())),
    ]);
    out.extend(signature_tail);
    let mut outer_body = Group::new(Delimiter::Brace, block);
    outer_body.set_span(body.span());
    out.extend([TokenTree::Group(outer_body)]);
    Ok(out)
}

/// `compile_error!("msg")` at `span`.
fn compile_error(span: Span, msg: &str) -> TokenStream {
    let mut lit = Literal::string(msg);
    lit.set_span(span);
    let mut args = Group::new(Delimiter::Parenthesis, TokenTree::Literal(lit).into());
    args.set_span(span);
    let mut bang = Punct::new('!', Spacing::Alone);
    bang.set_span(span);
    [
        TokenTree::Ident(Ident::new("compile_error", span)),
        TokenTree::Punct(bang),
        TokenTree::Group(args),
        TokenTree::Punct(Punct::new(';', Spacing::Alone)),
    ]
    .into_iter()
    .collect()
}
