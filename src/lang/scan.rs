//! A scan that finds where each top-level `tenant` block of a file starts
//! and ends without building a syntax tree.
//!
//! The loader scans large files so that their tenant blocks can be parsed
//! a group at a time later, instead of as one tree of the whole file. The
//! scan follows quoted strings, template interpolations, heredocs and
//! comments. Anything else ends the scan with `None`, and the file is then
//! parsed whole. That includes an attribute at the top level, a non-ASCII
//! identifier, an unterminated string, a block that does not end its line
//! and nesting deeper than [`MAX_DEPTH`].

use std::ops::Range;

/// The deepest nesting of braces, interpolations and strings the scan
/// follows. The scan recurses once per level, and the parser rejects
/// expressions nested much less deeply.
const MAX_DEPTH: usize = 256;

/// Returns the byte range of every top-level `tenant` block of `text`, from
/// the block's type to its closing brace, or `None` when the scan cannot
/// follow the text.
pub(crate) fn tenant_blocks(text: &str) -> Option<Vec<Range<usize>>> {
    let mut scanner = Scanner {
        bytes: text.as_bytes(),
        position: 0,
        depth: 0,
    };
    let mut ranges = Vec::new();
    loop {
        scanner.skip_blank(true)?;
        if scanner.position == scanner.bytes.len() {
            return Some(ranges);
        }
        let start = scanner.position;
        let is_tenant = scanner.identifier()? == b"tenant";
        loop {
            scanner.skip_blank(false)?;
            match scanner.peek()? {
                b'{' => break,
                b'"' => scanner.quoted(false)?,
                _ => {
                    scanner.identifier()?;
                }
            }
        }
        scanner.position += 1;
        scanner.nested()?;
        if is_tenant {
            ranges.push(start..scanner.position);
        }
        scanner.end_of_line()?;
    }
}

struct Scanner<'t> {
    bytes: &'t [u8],
    position: usize,
    /// The number of `nested` calls under way.
    depth: usize,
}

impl<'t> Scanner<'t> {
    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.position).copied()
    }

    fn peek_at(&self, offset: usize) -> Option<u8> {
        self.bytes.get(self.position + offset).copied()
    }

    /// Skips spaces, tabs, comments and, when `newlines` is set, line
    /// breaks. Fails on an unterminated `/*` comment.
    fn skip_blank(&mut self, newlines: bool) -> Option<()> {
        while let Some(byte) = self.peek() {
            match byte {
                b' ' | b'\t' | b'\r' => self.position += 1,
                b'\n' if newlines => self.position += 1,
                b'#' => self.skip_line(),
                b'/' if self.peek_at(1) == Some(b'/') => self.skip_line(),
                b'/' if self.peek_at(1) == Some(b'*') => self.skip_block_comment()?,
                _ => break,
            }
        }
        Some(())
    }

    /// Skips what may follow a block on its line: spaces, tabs and
    /// comments up to a line break or the end of the text. Fails on
    /// anything else, such as a second block or a lone carriage return,
    /// because a block must end its line.
    fn end_of_line(&mut self) -> Option<()> {
        loop {
            match self.peek() {
                None | Some(b'\n') => return Some(()),
                Some(b'\r') if self.peek_at(1) == Some(b'\n') => return Some(()),
                Some(b' ' | b'\t') => self.position += 1,
                Some(b'#') => self.skip_line(),
                Some(b'/') if self.peek_at(1) == Some(b'/') => self.skip_line(),
                Some(b'/') if self.peek_at(1) == Some(b'*') => self.skip_block_comment()?,
                Some(_) => return None,
            }
        }
    }

    /// Skips to the line break that ends a line comment, or to the end.
    fn skip_line(&mut self) {
        let rest = &self.bytes[self.position..];
        self.position += rest.iter().position(|&byte| byte == b'\n').unwrap_or(rest.len());
    }

    fn skip_block_comment(&mut self) -> Option<()> {
        let rest = &self.bytes[self.position + 2..];
        let end = rest.windows(2).position(|pair| pair == b"*/")?;
        self.position += 2 + end + 2;
        Some(())
    }

    /// Reads an ASCII identifier.
    fn identifier(&mut self) -> Option<&'t [u8]> {
        let start = self.position;
        let first = self.peek()?;
        if !(first.is_ascii_alphabetic() || first == b'_') {
            return None;
        }
        while self
            .peek()
            .is_some_and(|byte| byte.is_ascii_alphanumeric() || byte == b'_' || byte == b'-')
        {
            self.position += 1;
        }
        Some(&self.bytes[start..self.position])
    }

    /// Skips a quoted string. A template string may have interpolations,
    /// which the scan follows. A block label may not, so one fails the scan.
    fn quoted(&mut self, template: bool) -> Option<()> {
        self.position += 1;
        loop {
            match self.peek()? {
                b'"' => {
                    self.position += 1;
                    return Some(());
                }
                b'\\' => self.position += 2,
                b'\n' => return None,
                _ if template => self.template_part()?,
                b'$' | b'%' if self.peek_at(1) == Some(b'{') => return None,
                _ => self.position += 1,
            }
        }
    }

    /// Skips one character of template text, an escape, or a whole
    /// interpolation.
    fn template_part(&mut self) -> Option<()> {
        match (self.peek()?, self.peek_at(1)) {
            // `$${` and `%%{` are escapes for a literal `${` and `%{`.
            (b'$', Some(b'$')) | (b'%', Some(b'%')) => self.position += 2,
            (b'$' | b'%', Some(b'{')) => {
                self.position += 2;
                self.nested()?;
            }
            _ => self.position += 1,
        }
        Some(())
    }

    /// Skips to just after the `}` that closes a `{`, `${` or `%{` already
    /// read, following the strings, heredocs and comments inside.
    fn nested(&mut self) -> Option<()> {
        if self.depth == MAX_DEPTH {
            return None;
        }
        self.depth += 1;
        let closed = self.nested_inner();
        self.depth -= 1;
        closed
    }

    fn nested_inner(&mut self) -> Option<()> {
        let mut open_braces = 1usize;
        loop {
            match self.peek()? {
                b'{' if open_braces == MAX_DEPTH => return None,
                b'{' => {
                    open_braces += 1;
                    self.position += 1;
                }
                b'}' => {
                    self.position += 1;
                    open_braces -= 1;
                    if open_braces == 0 {
                        return Some(());
                    }
                }
                b'"' => self.quoted(true)?,
                b'#' => self.skip_line(),
                b'/' if self.peek_at(1) == Some(b'/') => self.skip_line(),
                b'/' if self.peek_at(1) == Some(b'*') => self.skip_block_comment()?,
                b'<' if self.peek_at(1) == Some(b'<') => self.heredoc()?,
                _ => self.position += 1,
            }
        }
    }

    /// Skips a heredoc, `<<MARKER` or `<<-MARKER`, to the line that has
    /// only the marker. Interpolations in the heredoc may span lines, and a
    /// marker inside one does not end the heredoc. Any other `<<` fails the
    /// scan, because it is not valid HCL outside a heredoc.
    fn heredoc(&mut self) -> Option<()> {
        self.position += 2;
        if self.peek() == Some(b'-') {
            self.position += 1;
        }
        let marker = self.identifier()?;
        if self.peek() == Some(b'\r') {
            self.position += 1;
        }
        if self.peek()? != b'\n' {
            return None;
        }
        self.position += 1;
        loop {
            // At the start of a line.
            let rest = &self.bytes[self.position..];
            let line_end = rest.iter().position(|&byte| byte == b'\n').unwrap_or(rest.len());
            let line = &rest[..line_end];
            if line.trim_ascii() == marker {
                self.position += line.trim_ascii_end().len();
                return Some(());
            }
            self.heredoc_line()?;
        }
    }

    /// Skips the rest of a heredoc line and its line break, following the
    /// interpolations in it to their ends, which may be on later lines.
    fn heredoc_line(&mut self) -> Option<()> {
        while self.peek()? != b'\n' {
            self.template_part()?;
        }
        self.position += 1;
        Some(())
    }
}

#[cfg(test)]
mod tests {
    use hcl_edit::Span as _;

    use super::*;

    /// Returns the ranges of the tenant blocks that the parser finds.
    fn parsed_ranges(text: &str) -> Vec<Range<usize>> {
        let body = hcl_edit::parser::parse_body(text).expect("the text parses");
        body.iter()
            .filter_map(|structure| structure.as_block())
            .filter(|block| block.ident.as_str() == "tenant")
            .filter_map(|block| block.span())
            .collect()
    }

    #[test]
    fn scan_matches_parser_on_tricky_blocks() {
        let text = r#"# a comment with { and "
tier "pro" { price = 1 }

/* a block comment
   tenant "fake" { } */
tenant "a" {
  name   = "braces } { and \" quotes"
  region = "${var.region}-${lower("X}")}"
  escaped = "$${not} %%{not} }"
  labels = { team = "a", "b c" = "d" } // a comment with }
  note = <<EOT
  a heredoc with } and "
  EOT
  other = <<-EOT
    ${ "}" } text
    EOT
  monitoring {
    alert_email = "ops@example.com"
  }
}
tenant "b" { name = "B" }
locals {
  x = { y = "}" }
}
tenant "c" "extra" {}
"#;

        let scanned = tenant_blocks(text).expect("the scan follows the text");

        assert_eq!(scanned, parsed_ranges(text));
        assert_eq!(scanned.len(), 3);
    }

    #[test]
    fn scan_gives_up_on_what_it_cannot_follow() {
        let cases = [
            "answer = 42\n",
            "tenant \"a\" {\n  name = \"unterminated\n}\n",
            "tenant \"a\" {\n",
            "/* unterminated\n",
            "tenänt \"a\" {}\n",
            "tenant \"${x}\" {}\n",
            "tenant \"a\" {\n  note = <<EOT\n  never closed\n}\n",
            "tenant \"a\" {} tier \"b\" {}\n",
            "locals {}tenant \"a\" {}\n",
            "tenant \"a\" {}\r\r\n",
            "tenant \"a\" {}\r",
        ];
        for text in cases {
            assert_eq!(tenant_blocks(text), None, "{text:?}");
        }
    }

    #[test]
    fn scan_follows_interpolations_across_heredoc_lines() {
        let text = "tenant \"a\" {\n  name = join(\"\", [<<EOT\n${\nEOT\n}\ntenant \"fake\" {}\nEOT\n  ])\n}\n\
                    tenant \"b\" {}\n";

        let scanned = tenant_blocks(text).expect("the scan follows the text");

        assert_eq!(scanned, parsed_ranges(text));
        assert_eq!(scanned.len(), 2);
    }

    #[test]
    fn scan_gives_up_on_deep_nesting() {
        let deep = format!("tenant \"a\" {{\n  x = \"{}\"\n}}\n", "${\"".repeat(100_000));
        let braces = format!("tenant \"a\" {{\n  x = {}\n}}\n", "{".repeat(100_000));

        assert_eq!(tenant_blocks(&deep), None);
        assert_eq!(tenant_blocks(&braces), None);
    }

    #[test]
    fn scan_accepts_comments_after_a_block() {
        let text = "tenant \"a\" {} # note\ntenant \"b\" {} /* note */ // more\r\ntenant \"c\" {}";

        assert_eq!(tenant_blocks(text).map(|ranges| ranges.len()), Some(3));
    }

    #[test]
    fn scan_of_empty_text_finds_nothing() {
        assert_eq!(tenant_blocks(""), Some(Vec::new()));
        assert_eq!(tenant_blocks("\n# only a comment\n"), Some(Vec::new()));
    }
}
