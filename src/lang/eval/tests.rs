use std::borrow::Cow;
use std::collections::BTreeMap;
use std::path::Path;

use tenancy_sdk::Value;

use super::Context;
use crate::lang::diagnostic::Diagnostic;

fn roots() -> Value {
    let studios = Value::list(vec![
        Value::map(BTreeMap::from([("name".into(), "berlin".into()), ("seats".into(), Value::Number(3.0))])),
        Value::map(BTreeMap::from([("name".into(), "paris".into()), ("seats".into(), Value::Number(5.0))])),
    ]);
    Value::map(BTreeMap::from([
        ("name".into(), Value::string("acme")),
        ("secret".into(), Value::sensitive(Value::string("s3cr3t"))),
        ("secret_index".into(), Value::sensitive(Value::Number(7.0))),
        (
            "secret_list".into(),
            Value::sensitive(Value::list(vec![Value::string("a"), Value::string("b"), Value::string("c")])),
        ),
        (
            "secret_map".into(),
            Value::sensitive(Value::map(BTreeMap::from([
                ("hidden_a".into(), "dup".into()),
                ("hidden_b".into(), "dup".into()),
            ]))),
        ),
        ("later".into(), Value::Unknown),
        ("flag".into(), Value::Bool(true)),
        ("studios".into(), studios),
        ("labels".into(), Value::map(BTreeMap::from([("team".into(), "core".into())]))),
    ]))
}

fn eval(text: &str) -> Result<Value, Box<Diagnostic>> {
    let expr = hcl_edit::parser::parse_expr(text).unwrap_or_else(|error| panic!("{text}: {error}"));
    let vars = roots();
    let mut context = Context::new(0, Path::new("."));
    context.bind("var", Cow::Borrowed(&vars));
    context.eval(&expr)
}

fn value(text: &str) -> Value {
    eval(text).unwrap_or_else(|diagnostic| panic!("{text}: {diagnostic:?}"))
}

/// Returns every label and the help of the error, to check what it shows.
fn error_text(text: &str) -> String {
    let diagnostic = eval(text).expect_err(text);
    let mut parts: Vec<String> = diagnostic.labels.iter().map(|label| label.text.clone()).collect();
    parts.extend(diagnostic.help.clone());
    parts.join(" | ")
}

fn error_label(text: &str) -> String {
    let diagnostic = eval(text).expect_err(text);
    diagnostic.labels.iter().map(|label| label.text.clone()).collect::<Vec<_>>().join(" | ")
}

#[test]
fn literals_and_collections() {
    assert_eq!(value("null"), Value::Null);
    assert_eq!(value("1.5"), Value::Number(1.5));
    assert_eq!(value("[1, \"a\", true]"), Value::list(vec![Value::Number(1.0), "a".into(), Value::Bool(true)]));
    assert_eq!(value("{ a = 1, \"b\" = 2 }").as_map().unwrap().len(), 2);
    assert_eq!(value("{ (var.name) = 1 }").as_map().unwrap()["acme"], Value::Number(1.0));
}

#[test]
fn operators_follow_precedence() {
    assert_eq!(value("1 + 2 * 3"), Value::Number(7.0));
    assert_eq!(value("(1 + 2) * 3"), Value::Number(9.0));
    assert_eq!(value("7 % 4"), Value::Number(3.0));
    assert_eq!(value("!true || 2 >= 2"), Value::Bool(true));
    assert_eq!(value("-var.studios[0].seats"), Value::Number(-3.0));
    assert_eq!(value("[1, 2] == [1, 2]"), Value::Bool(true));
}

#[test]
fn operator_errors_point_at_operands() {
    assert!(error_label("1 + true").contains("`+` needs two numbers"));
    assert!(error_label("\"a\" && true").contains("needs two bools"));
}

#[test]
fn conditional_chooses_branch() {
    assert_eq!(value("var.flag ? \"yes\" : \"no\""), Value::string("yes"));
    assert!(error_label("1 ? 2 : 3").contains("must be a bool"));
}

#[test]
fn templates_interpolate_and_strip() {
    assert_eq!(value("\"hello ${var.name}!\""), Value::string("hello acme!"));
    assert_eq!(value("\"n=${1 + 1}\""), Value::string("n=2"));
    assert_eq!(value("\"a ${~ \"b\" ~} c\""), Value::string("abc"));
    assert_eq!(value("\"%{ if var.flag }on%{ else }off%{ endif }\""), Value::string("on"));
    assert_eq!(value("\"%{ for s in var.studios }${s.name},%{ endfor }\""), Value::string("berlin,paris,"));
    assert_eq!(value("\"$${literal}\""), Value::string("${literal}"));
    assert!(error_label("\"x ${var.studios}\"").contains("not a list"));
}

#[test]
fn single_interpolation_keeps_type() {
    assert_eq!(value("\"${var.studios[1].seats}\""), Value::Number(5.0));
}

#[test]
fn heredoc_with_directives_is_dedented() {
    let text = "<<-EOT\n  names:\n  %{ for s in var.studios ~}\n  - ${s.name}\n  %{ endfor ~}\nEOT";
    assert_eq!(value(text), Value::string("names:\n- berlin\n- paris\n"));
}

#[test]
fn for_expressions_build_lists_and_objects() {
    assert_eq!(value("[for s in var.studios : s.seats if s.seats > 3]"), Value::list(vec![Value::Number(5.0)]));
    assert_eq!(value("[for i, s in var.studios : i]"), Value::list(vec![Value::Number(0.0), Value::Number(1.0)]));
    let object = value("{ for s in var.studios : s.name => s.seats }");
    assert_eq!(object.as_map().unwrap()["paris"], Value::Number(5.0));
    let grouped = value("{ for s in var.studios : \"all\" => s.name... }");
    assert_eq!(grouped.as_map().unwrap()["all"], Value::list(vec!["berlin".into(), "paris".into()]));
    assert!(error_label("{ for s in var.studios : \"same\" => s }").contains("produced twice"));
}

#[test]
fn splats_project_attributes() {
    assert_eq!(value("var.studios[*].name"), Value::list(vec!["berlin".into(), "paris".into()]));
    assert_eq!(value("var.studios.*.seats"), Value::list(vec![Value::Number(3.0), Value::Number(5.0)]));
    assert_eq!(value("null[*]"), Value::list(vec![]));
    assert_eq!(value("var.name[*]"), Value::list(vec!["acme".into()]));
}

#[test]
fn index_and_attribute_errors() {
    assert!(error_label("var.studios[5]").contains("out of range"));
    assert!(error_label("var.labels[\"nope\"]").contains("does not exist"));
    assert!(error_label("var.name.length").contains("has no attribute"));
    assert!(error_label("var.nope").contains("no variable named `nope`"));
    assert!(error_label("nope").contains("`nope` is not declared"));
}

#[test]
fn sensitive_marks_propagate() {
    assert!(value("var.secret").is_sensitive());
    assert!(value("\"x-${var.secret}\"").is_sensitive());
    assert!(value("upper(var.secret)").is_sensitive());
    assert!(value("var.secret == \"s3cr3t\"").is_sensitive());
    assert!(value("var.flag ? var.secret : \"x\"").is_sensitive());
    assert!(value("[for c in [var.secret] : c][0]").is_sensitive());
    assert!(value("{ a = var.secret }.a").is_sensitive());
    assert!(value("jsonencode({ a = var.secret })").is_sensitive());
    assert!(!value("length([var.secret])").is_sensitive());
}

#[test]
fn sensitive_object_key_is_error() {
    for text in [
        "{ (var.secret) = 1 }",
        "{ (\"x-${var.secret}\") = 1 }",
        "jsonencode({ (var.secret) = 1 })",
        "{ for s in var.studios : var.secret => s }",
        "{ for k, v in { a = var.secret } : v => k }",
    ] {
        let diagnostic = eval(text).expect_err(text);
        assert_eq!(diagnostic.code, "tenancy::expr::sensitive_key", "{text}");
        assert!(!error_text(text).contains("s3cr3t"), "{text}");
    }
}

#[test]
fn for_over_sensitive_collection_keeps_mark() {
    let object = value("{ for k, v in var.secret_map : k => v }");
    assert!(object.is_sensitive());
    assert!(value("[for k, v in var.secret_map : k][0]").is_sensitive());
    assert!(value("[for v in [var.secret_map] : v][0]").is_sensitive());
}

#[test]
fn functions_building_maps_mark_result() {
    assert!(value("zipmap([var.secret], [1])").is_sensitive());
    assert!(value("merge({ a = 1 }, var.secret_map)").is_sensitive());
    assert!(value("tomap(var.secret_map)").is_sensitive());
}

#[test]
fn duplicate_sensitive_key_is_not_shown() {
    let text = error_text("{ for k, v in var.secret_map : v => k }");
    assert!(text.contains("a sensitive key is produced twice"), "{text}");
    assert!(!text.contains("dup"), "{text}");
}

#[test]
fn index_errors_hide_sensitive_keys() {
    let missing = error_text("var.labels[var.secret]");
    assert!(missing.contains("the sensitive key does not exist"), "{missing}");
    assert!(!missing.contains("s3cr3t"), "{missing}");

    let out_of_range = error_text("[1, 2][var.secret_index]");
    assert!(out_of_range.contains("the sensitive index is out of range"), "{out_of_range}");
    assert!(!out_of_range.contains('7'), "{out_of_range}");

    let beyond = error_text("var.secret_list[5]");
    assert!(beyond.contains("out of range for the sensitive list"), "{beyond}");
    assert!(!beyond.contains('3'), "{beyond}");

    let negative = error_text("[1, 2][-1 * var.secret_index]");
    assert!(!negative.contains('7'), "{negative}");
}

#[test]
fn attribute_errors_hide_sensitive_keys() {
    let text = error_text("var.secret_map.hidden_c");
    assert!(text.contains("has no attribute `hidden_c`"), "{text}");
    assert!(!text.contains("hidden_a"), "{text}");
}

#[test]
fn unknown_marks_propagate() {
    assert_eq!(value("var.later + 1"), Value::Unknown);
    assert_eq!(value("\"x-${var.later}\""), Value::Unknown);
    assert_eq!(value("var.later ? 1 : 2"), Value::Unknown);
    assert_eq!(value("var.later.anything"), Value::Unknown);
    assert_eq!(value("upper(var.later)"), Value::Unknown);
    assert_eq!(value("length([var.later, 1])"), Value::Number(2.0));
    assert_eq!(value("[for x in var.later : x]"), Value::Unknown);
}

#[test]
fn try_and_can_catch_errors() {
    assert_eq!(value("try(var.nope, \"fallback\")"), Value::string("fallback"));
    assert_eq!(value("can(var.labels.team)"), Value::Bool(true));
    assert_eq!(value("can(var.labels.missing)"), Value::Bool(false));
}

#[test]
fn env_is_rejected_without_environment() {
    let diagnostic = eval("env(\"HOME\")").unwrap_err();
    assert_eq!(diagnostic.code, "tenancy::expr::env_not_allowed");
}

#[test]
fn env_reads_given_environment() {
    let expr = hcl_edit::parser::parse_expr("env(\"TEAM\")").unwrap();
    let environment = vec![("TEAM".to_owned(), "core".to_owned())];
    let mut context = Context::new(0, Path::new("."));
    context.env = Some(&environment);
    assert_eq!(context.eval(&expr).unwrap(), Value::string("core"));
}

#[test]
fn unknown_function_suggests_name() {
    let diagnostic = eval("lowercase(\"A\")").unwrap_err();
    assert_eq!(diagnostic.help.as_deref(), Some("Did you mean `lower`?"));
}

#[test]
fn expand_final_argument() {
    assert_eq!(value("max([1, 9, 3]...)"), Value::Number(9.0));
}

#[test]
fn deep_nesting_is_an_error() {
    let text = format!("{}1{}", "[".repeat(60), "]".repeat(60));
    assert!(eval(&text).is_ok());
    let chain = format!("1{}", " + 1".repeat(120));
    assert_eq!(value(&chain), Value::Number(121.0));
}
