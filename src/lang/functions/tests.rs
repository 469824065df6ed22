use std::borrow::Cow;
use std::collections::BTreeMap;
use std::path::Path;

use tenancy_sdk::Value;

use crate::lang::eval::Context;

fn call(text: &str) -> Value {
    let expr = hcl_edit::parser::parse_expr(text).unwrap_or_else(|error| panic!("{text}: {error}"));
    let vars = Value::map(BTreeMap::from([("secret".into(), Value::sensitive(Value::string("pw")))]));
    let mut context = Context::new(0, Path::new(env!("CARGO_MANIFEST_DIR")));
    context.bind("var", Cow::Borrowed(&vars));
    context.eval(&expr).unwrap_or_else(|diagnostic| panic!("{text}: {diagnostic:?}"))
}

fn fails(text: &str) -> String {
    let expr = hcl_edit::parser::parse_expr(text).unwrap();
    let vars = Value::map(BTreeMap::from([("secret".into(), Value::sensitive(Value::string("pw")))]));
    let mut context = Context::new(0, Path::new(env!("CARGO_MANIFEST_DIR")));
    context.bind("var", Cow::Borrowed(&vars));
    let diagnostic = context.eval(&expr).expect_err(text);
    diagnostic.labels[0].text.clone()
}

fn list(items: &[&str]) -> Value {
    Value::List(items.iter().map(|item| Value::string(*item)).collect())
}

fn n(number: f64) -> Value {
    Value::Number(number)
}

#[test]
fn string_functions() {
    let cases: &[(&str, Value)] = &[
        ("lower(\"AbC\")", "abc".into()),
        ("upper(\"abc\")", "ABC".into()),
        ("title(\"hello big world\")", "Hello Big World".into()),
        ("trimspace(\"  x \\n\")", "x".into()),
        ("trim(\"--x--\", \"-\")", "x".into()),
        ("trimprefix(\"tenant-a\", \"tenant-\")", "a".into()),
        ("trimsuffix(\"a.hcl\", \".hcl\")", "a".into()),
        ("replace(\"a-b-c\", \"-\", \"_\")", "a_b_c".into()),
        ("replace(\"a1b22\", \"/[0-9]+/\", \"#\")", "a#b#".into()),
        ("replace(\"john smith\", \"/(\\\\w+) (\\\\w+)/\", \"$2 $1\")", "smith john".into()),
        ("join(\",\", [\"a\", \"b\", 1])", "a,b,1".into()),
        ("format(\"%s-%03d-%.2f-%t-%q\", \"x\", 7, 1.5, true, \"y\")", "x-007-1.50-true-\"y\"".into()),
        ("format(\"%-4s|%4s|%x|%%\", \"a\", \"b\", 255)", "a   |   b|ff|%".into()),
        ("format(\"%v %v\", [1], 2)", "[1] 2".into()),
        ("substr(\"héllo\", 1, 3)", "éll".into()),
        ("substr(\"hello\", -3, -1)", "llo".into()),
        ("chomp(\"line\\r\\n\\n\")", "line".into()),
        ("indent(2, \"a\\nb\")", "a\n  b".into()),
        ("startswith(\"tenant\", \"ten\")", Value::Bool(true)),
        ("endswith(\"tenant\", \"ten\")", Value::Bool(false)),
        ("regex(\"[a-z]+\", \"123abc456\")", "abc".into()),
        ("regex(\"(\\\\d+)-(\\\\d+)\", \"10-20\")", list(&["10", "20"])),
        ("regex(\"(?P<user>\\\\w+)@\", \"ops@x\").user", "ops".into()),
        ("regexall(\"[0-9]\", \"a1b2\")", list(&["1", "2"])),
        ("split(\",\", \"a,b\")", list(&["a", "b"])),
        ("formatlist(\"%s-%s\", [\"a\", \"b\"], \"x\")", list(&["a-x", "b-x"])),
    ];
    for (text, expected) in cases {
        assert_eq!(&call(text), expected, "{text}");
    }
}

#[test]
fn collection_functions() {
    let cases: &[(&str, Value)] = &[
        ("length(\"héllo\")", n(5.0)),
        ("length({ a = 1 })", n(1.0)),
        ("concat([1], [2, 3])", Value::list(vec![n(1.0), n(2.0), n(3.0)])),
        ("contains([\"a\"], \"a\")", Value::Bool(true)),
        ("keys({ b = 1, a = 2 })", list(&["a", "b"])),
        ("values({ b = 1, a = 2 })", Value::list(vec![n(2.0), n(1.0)])),
        ("lookup({ a = 1 }, \"b\", 7)", n(7.0)),
        ("merge({ a = 1 }, null, { a = 2, b = 3 }).a", n(2.0)),
        ("flatten([[1, [2]], 3])", Value::list(vec![n(1.0), n(2.0), n(3.0)])),
        ("distinct([\"a\", \"b\", \"a\"])", list(&["a", "b"])),
        ("sort([\"b\", \"a\"])", list(&["a", "b"])),
        ("reverse([\"a\", \"b\"])", list(&["b", "a"])),
        ("slice([\"a\", \"b\", \"c\"], 1, 3)", list(&["b", "c"])),
        ("element([\"a\", \"b\"], 3)", "b".into()),
        ("index([\"a\", \"b\"], \"b\")", n(1.0)),
        ("range(3)", Value::list(vec![n(0.0), n(1.0), n(2.0)])),
        ("range(1, 0, -0.5)", Value::list(vec![n(1.0), n(0.5)])),
        ("zipmap([\"a\"], [1]).a", n(1.0)),
        ("toset([\"b\", \"a\", \"b\"])", list(&["a", "b"])),
        ("tolist([\"a\"])", list(&["a"])),
        ("tomap({ a = \"x\" }).a", "x".into()),
        ("coalesce(null, \"\", \"x\")", "x".into()),
        ("coalescelist([], [\"a\"])", list(&["a"])),
        ("compact([\"a\", \"\", null])", list(&["a"])),
        ("one([])", Value::Null),
        ("one([\"a\"])", "a".into()),
        ("setunion([\"a\"], [\"b\", \"a\"])", list(&["a", "b"])),
        ("setintersection([\"a\", \"b\"], [\"b\"])", list(&["b"])),
        ("setsubtract([\"a\", \"b\"], [\"b\"])", list(&["a"])),
    ];
    for (text, expected) in cases {
        assert_eq!(&call(text), expected, "{text}");
    }
}

#[test]
fn numeric_functions() {
    let cases: &[(&str, Value)] = &[
        ("min(3, 1, 2)", n(1.0)),
        ("max(3, 1, 2)", n(3.0)),
        ("abs(-2)", n(2.0)),
        ("ceil(1.2)", n(2.0)),
        ("floor(1.8)", n(1.0)),
        ("parseint(\"ff\", 16)", n(255.0)),
        ("pow(2, 10)", n(1024.0)),
        ("signum(-4)", n(-1.0)),
    ];
    for (text, expected) in cases {
        assert_eq!(&call(text), expected, "{text}");
    }
}

#[test]
fn encoding_and_conversion_functions() {
    let cases: &[(&str, Value)] = &[
        ("jsonencode({ a = [1, true, null] })", "{\"a\":[1,true,null]}".into()),
        ("jsondecode(\"{\\\"a\\\": [1]}\").a[0]", n(1.0)),
        ("base64encode(\"tenancy\")", "dGVuYW5jeQ==".into()),
        ("base64decode(\"dGVuYW5jeQ==\")", "tenancy".into()),
        ("urlencode(\"a b&c\")", "a+b%26c".into()),
        ("sha256(\"abc\")", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad".into()),
        ("base64sha256(\"abc\")", "ungWv48Bz+pBQUDeXa4iI7ADYaOWF3qctBD/YfIAFa0=".into()),
        ("tostring(12)", "12".into()),
        ("tonumber(\"1.5\")", n(1.5)),
        ("tobool(\"true\")", Value::Bool(true)),
        ("tostring(null)", Value::Null),
    ];
    for (text, expected) in cases {
        assert_eq!(&call(text), expected, "{text}");
    }
}

#[test]
fn function_errors_name_the_problem() {
    assert!(fails("tonumber(\"many\")").contains("cannot convert the string \"many\" to a number"));
    assert!(fails("element([], 0)").contains("empty list"));
    assert!(fails("range(100000)").contains("at most 1024"));
    assert!(fails("format(\"%d\", 1.5)").contains("whole number"));
    assert!(fails("format(\"%99999999d\", 1)").contains("at most"));
    assert!(fails("regex(\"(\", \"x\")").contains("invalid regular expression"));
    assert!(fails("pow(10, 400)").contains("too large"));
    assert!(fails("lower()").contains("exactly 1 argument"));
    assert!(fails("file(\"missing.txt\")").contains("`missing.txt` does not exist"));
}

#[test]
fn file_reads_relative_to_directory() {
    assert!(call("file(\"Cargo.toml\")").as_str().unwrap().contains("[package]"));
}

fn file_error_in(dir: &Path, argument: &str) -> String {
    let text = format!("file({})", serde_json::Value::String(argument.to_owned()));
    let expr = hcl_edit::parser::parse_expr(&text).unwrap();
    let context = Context::new(0, dir);
    let diagnostic = context.eval(&expr).expect_err(&text);
    diagnostic.labels[0].text.clone()
}

#[test]
fn file_stays_inside_directory() {
    let root = tempfile::tempdir().unwrap();
    let config = root.path().join("config");
    std::fs::create_dir(&config).unwrap();
    std::fs::write(root.path().join("secret.txt"), "s3cret").unwrap();
    std::os::unix::fs::symlink(root.path().join("secret.txt"), config.join("link.txt")).unwrap();
    std::os::unix::fs::symlink("/proc/self/environ", config.join("environ")).unwrap();

    for argument in ["../secret.txt", "/proc/self/environ", "link.txt", "environ", ""] {
        let message = file_error_in(&config, argument);

        assert!(message.contains("outside the configuration directory"), "{argument}: {message}");
    }
}

#[test]
fn file_skips_hidden_names() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join(".tenancy")).unwrap();
    std::fs::write(dir.path().join(".tenancy/state.json"), "{}").unwrap();
    std::fs::write(dir.path().join(".env"), "TOKEN=1").unwrap();
    std::os::unix::fs::symlink(dir.path().join(".tenancy/state.json"), dir.path().join("notes.txt")).unwrap();

    for argument in [".tenancy/state.json", ".env", "notes.txt", "./.env"] {
        let message = file_error_in(dir.path(), argument);

        assert!(message.contains("hidden"), "{argument}: {message}");
    }
}

#[test]
fn file_rejects_unreadable_kinds() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("files")).unwrap();
    let large = std::fs::File::create(dir.path().join("large.txt")).unwrap();
    large.set_len(super::encoding::MAX_FILE_BYTES + 1).unwrap();
    std::fs::write(dir.path().join("binary.bin"), [0xff, 0xfe, 0x00]).unwrap();
    std::fs::write(dir.path().join("files/banner.txt"), "hello").unwrap();

    assert!(file_error_in(dir.path(), "files").contains("is not a regular file"));
    assert!(file_error_in(dir.path(), "large.txt").contains("more than the 4194304 bytes"));
    assert!(file_error_in(dir.path(), "binary.bin").contains("is not valid UTF-8"));
    assert!(file_error_in(dir.path(), "missing.txt").contains("does not exist"));

    let expr = hcl_edit::parser::parse_expr("file(\"files/banner.txt\")").unwrap();
    let banner = Context::new(0, dir.path()).eval(&expr).unwrap();
    assert_eq!(banner, Value::string("hello"));
}

#[test]
fn sensitive_argument_makes_result_sensitive() {
    assert!(call("length(var.secret)").is_sensitive());
    assert!(call("sha256(var.secret)").is_sensitive());
    assert!(call("merge({ a = var.secret }, { b = 1 })").is_sensitive());
}

#[test]
fn every_function_is_documented() {
    let docs = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/language.md")).unwrap();
    for name in super::names() {
        assert!(docs.contains(&format!("`{name}(")), "docs/language.md does not document `{name}`");
    }
}

#[test]
fn errors_hide_sensitive_arguments() {
    for text in ["tonumber(var.secret)", "tobool(var.secret)", "parseint(var.secret, 10)", "regex(var.secret, \"x\")"] {
        let message = fails(text);

        assert!(!message.contains("pw"), "{text}: {message}");
        assert!(message.contains("sensitive argument"), "{text}: {message}");
    }
    assert!(fails("tonumber(\"pw\")").contains("\"pw\""));
}
