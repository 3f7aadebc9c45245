//! A deliberately tiny template renderer: `{{name}}` inserts a value HTML-escaped, `{{{name}}}`
//! inserts already-rendered HTML. Templates live in `frontend-static/pages/` and are embedded in
//! the binary; a name missing from the values is a bug, reported as an internal error rather than
//! silently rendered empty.

use clinicgate_core::Error;

/// Escapes text for HTML element content and double-quoted attribute values.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            other => out.push(other),
        }
    }
    out
}

/// Renders `template` with `values` (name, value) — text values are escaped unless the
/// placeholder has three braces.
pub fn render(template: &str, values: &[(&str, &str)]) -> Result<String, Error> {
    let mut out = String::with_capacity(template.len() + 256);
    let mut rest = template;
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let after = &rest[start..];
        let (raw, open, close) = if after.starts_with("{{{") {
            (true, 3, "}}}")
        } else {
            (false, 2, "}}")
        };
        let end = after[open..]
            .find(close)
            .ok_or_else(|| Error::internal("unterminated template placeholder"))?;
        let name = after[open..open + end].trim();
        let value = values
            .iter()
            .find(|(key, _)| *key == name)
            .map(|(_, value)| *value)
            .ok_or_else(|| Error::internal(format!("template value {name:?} missing")))?;
        if raw {
            out.push_str(value);
        } else {
            out.push_str(&escape(value));
        }
        rest = &after[open + end + close.len()..];
    }
    out.push_str(rest);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_escaped_and_html_is_inserted_as_is() {
        let page = render(
            "<h1>{{ title }}</h1>{{{body}}}<a title=\"{{title}}\">",
            &[("title", "<A&B \"x\" 'y'>"), ("body", "<p>ok</p>")],
        )
        .unwrap();
        assert_eq!(
            page,
            "<h1>&lt;A&amp;B &quot;x&quot; &#39;y&#39;&gt;</h1><p>ok</p><a title=\"&lt;A&amp;B &quot;x&quot; &#39;y&#39;&gt;\">"
        );
    }

    #[test]
    fn a_missing_value_or_a_broken_placeholder_is_an_error() {
        assert!(render("{{nope}}", &[]).is_err());
        assert!(render("{{open", &[("open", "")]).is_err());
        assert_eq!(render("no placeholders", &[]).unwrap(), "no placeholders");
    }
}
