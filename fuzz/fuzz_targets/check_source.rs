//! Fuzz target that loads, evaluates, renders and formats arbitrary text.
//! The fuzzer reports any panic, and the assertion fails when formatting is
//! not idempotent.

#![no_main]

use libfuzzer_sys::fuzz_target;
use tenancy::lang::{RenderOptions, SourceMap, check_source, format_source};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let diagnostics = check_source(text);
    let mut sources = SourceMap::default();
    sources.add("main.hcl".into(), text);
    let _ = diagnostics.render(&sources, RenderOptions { color: false, width: 100 });
    if let Ok(formatted) = format_source(text) {
        assert_eq!(format_source(&formatted).ok().as_deref(), Some(formatted.as_str()));
    }
});
