use super::format_source;

fn format(text: &str) -> String {
    let formatted = format_source(text).unwrap();
    assert_eq!(format_source(&formatted).unwrap(), formatted, "not idempotent");
    formatted
}

#[test]
fn aligns_equals_in_runs() {
    let text = "tier \"pro\" {\nprice=49\n  currency =   \"EUR\"\n\n  trial_days = 14\n}\n";
    assert_eq!(format(text), "tier \"pro\" {\n  price    = 49\n  currency = \"EUR\"\n\n  trial_days = 14\n}\n");
}

#[test]
fn multi_line_attribute_ends_run() {
    let text = "locals {\n  a = 1\n  labels = {\n  team = \"x\"\n  cost_center = \"y\"\n  }\n  bb = 2\n}\n";
    let expected = "locals {\n  a = 1\n  labels = {\n    team        = \"x\"\n    cost_center = \"y\"\n  }\n  bb = 2\n}\n";
    assert_eq!(format(text), expected);
}

#[test]
fn keeps_comments_and_collapses_blank_lines() {
    let text = "\n\n# Tiers.\ntier \"pro\"{ # trailing\n\n\n\n  // price\n  price = 1 /* inline */\n}\n\n\n";
    let expected = "# Tiers.\ntier \"pro\" { # trailing\n\n  // price\n  price = 1 /* inline */\n}\n";
    assert_eq!(format(text), expected);
}

#[test]
fn keeps_heredoc_bodies() {
    let text = "locals {\n    text = <<EOT\n  keep   this  \n\n\n   as is\nEOT\n}\n";
    let expected = "locals {\n  text = <<EOT\n  keep   this  \n\n\n   as is\nEOT\n}\n";
    assert_eq!(format(text), expected);
}

#[test]
fn indents_one_level_per_line_of_brackets() {
    let text = "locals {\nx = merge({\na = 1\n}, {\nb = [\n1,\n2,\n]\n})\n}\n";
    let expected = "locals {\n  x = merge({\n    a = 1\n    }, {\n    b = [\n      1,\n      2,\n    ]\n  })\n}\n";
    assert_eq!(format(text), expected);
}

#[test]
fn converts_crlf_and_adds_final_newline() {
    assert_eq!(format("a = 1\r\nbb = 2"), "a  = 1\nbb = 2\n");
}

#[test]
fn aligns_by_characters_not_bytes() {
    assert_eq!(format("locals {\n  größe = 1\n  ab = 2\n}\n"), "locals {\n  größe = 1\n  ab    = 2\n}\n");
}

#[test]
fn leaves_equality_and_arrows_alone() {
    let text = "locals {\n  m = { for k, v in local.x : k => v }\n  b = local.a == 1\n}\n";
    assert_eq!(format(text), text);
}

#[test]
fn block_comment_interior_is_kept() {
    let text = "/*\n   keep\n      me\n*/\nlocals {\n  a = 1\n}\n";
    assert_eq!(format(text), text);
}

#[test]
fn syntax_error_is_reported() {
    let diagnostics = format_source("tier \"pro\" {\n").unwrap_err();
    assert!(diagnostics.has_errors());
}
