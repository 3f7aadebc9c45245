//! Where to send a browser after logging in: the `next` it asked for, only if that is a path on
//! this same host. Anything that could leave the host (`//evil`, `/\evil`, `https://evil`, their
//! percent-encoded forms, control characters) falls back to `/`.

use url::Url;

/// The longest `next` honoured.
const MAX_LEN: usize = 2048;
/// How many rounds of percent-decoding are inspected (double-encoding is the usual trick).
const DECODE_ROUNDS: usize = 3;

/// `next` if it is a safe same-host path, else `/`.
pub fn safe_next(next: Option<&str>) -> String {
    match next {
        Some(next) if is_same_host_path(next) => next.to_owned(),
        _ => "/".to_owned(),
    }
}

fn is_same_host_path(next: &str) -> bool {
    if next.is_empty() || next.len() > MAX_LEN {
        return false;
    }
    if next.contains(char::is_whitespace) {
        return false;
    }
    let mut form = next.to_owned();
    for _ in 0..DECODE_ROUNDS {
        if !looks_like_a_local_path(&form) {
            return false;
        }
        match percent_decode(&form) {
            Some(decoded) if decoded != form => form = decoded,
            Some(_) => break,
            None => return false,
        }
    }
    // Last line of defence: resolved against a base, the path must stay on the base's host.
    let Ok(base) = Url::parse("http://same-host.invalid/") else {
        return false;
    };
    base.join(next)
        .is_ok_and(|url| url.host_str() == Some("same-host.invalid") && url.scheme() == "http")
}

/// `/x…` but not `//x`, and no backslash or control character anywhere (browsers treat `\` as
/// `/` and drop tabs and newlines, which turns `/\t/evil` into `//evil`). Checked on the raw
/// value and on each decoded form, where an encoded space (`%20`) is harmless.
fn looks_like_a_local_path(path: &str) -> bool {
    path.starts_with('/')
        && !path.starts_with("//")
        && !path.contains('\\')
        && !path.chars().any(char::is_control)
}

/// One round of percent-decoding; `None` if the result is not UTF-8.
fn percent_decode(input: &str) -> Option<String> {
    let bytes = input.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| char::from(b).to_digit(16);
        match (
            bytes[i],
            bytes.get(i + 1).copied().and_then(hex),
            bytes.get(i + 2).copied().and_then(hex),
        ) {
            (b'%', Some(high), Some(low)) => {
                out.push(u8::try_from(high * 16 + low).ok()?);
                i += 3;
            }
            (byte, _, _) => {
                out.push(byte);
                i += 1;
            }
        }
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_host_paths_are_kept() {
        for next in [
            "/",
            "/settings/users",
            "/patients?patient_id=836447129235883061",
            "/patients%3Fpatient_id%3D1",
            "/search?q=a%20b",
        ] {
            assert_eq!(safe_next(Some(next)), next, "{next}");
        }
    }

    #[test]
    fn anything_that_could_leave_the_host_becomes_the_home_page() {
        for next in [
            "",
            "//evil.example",
            "//evil.example/path",
            "/\\evil.example",
            "\\\\evil.example",
            "https://evil.example",
            "http:evil.example",
            "javascript:alert(1)",
            "evil.example",
            "/%2F%2Fevil.example",
            "/%2fevil.example",
            "%2F%2Fevil.example",
            "/%5Cevil.example",
            "/%252F%252Fevil.example",
            "/\t/evil.example",
            "/%09/evil.example",
            "/\n/evil.example",
            "/%E0%A4%A",
        ] {
            assert_eq!(safe_next(Some(next)), "/", "{next:?}");
        }
        assert_eq!(safe_next(None), "/");
        assert_eq!(safe_next(Some(&format!("/{}", "a".repeat(MAX_LEN)))), "/");
    }
}
