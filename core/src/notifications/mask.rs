//! Addresses as the clinic's history shows them: enough to recognise, not enough to read.

/// `jane@example.com` → `j***@e***.com`: the first letter of the local part and of the domain,
/// and the top-level domain.
pub fn mask_email(address: &str) -> String {
    let Some((local, domain)) = address.trim().rsplit_once('@') else {
        return "***".to_owned();
    };
    let first = |s: &str| s.chars().next().map(String::from).unwrap_or_default();
    let (name, tld) = domain.rsplit_once('.').unwrap_or((domain, ""));
    let tld = if tld.is_empty() {
        String::new()
    } else {
        format!(".{tld}")
    };
    format!("{}***@{}***{tld}", first(local), first(name))
}

/// `+61 412 345 123` → `+61 *** *** 123`: the country code (when written with `+`) and the last
/// three digits.
pub fn mask_phone(number: &str) -> String {
    let digits: Vec<char> = number.chars().filter(char::is_ascii_digit).collect();
    let last: String = digits[digits.len().saturating_sub(3)..].iter().collect();
    let trimmed = number.trim_start();
    let country = trimmed
        .strip_prefix('+')
        .map(|rest| {
            let code: String = rest
                .chars()
                .take_while(char::is_ascii_digit)
                .take(3)
                .collect();
            format!("+{code} ")
        })
        .unwrap_or_default();
    format!("{country}*** *** {last}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_email_keeps_two_letters_and_the_top_level_domain() {
        assert_eq!(mask_email("jane.doe@example.com"), "j***@e***.com");
        assert_eq!(mask_email("x@localhost"), "x***@l***");
        assert_eq!(mask_email("not an address"), "***");
    }

    #[test]
    fn a_phone_keeps_its_country_code_and_last_three_digits() {
        assert_eq!(mask_phone("+61 412 345 123"), "+61 *** *** 123");
        assert_eq!(mask_phone("0412345123"), "*** *** 123");
    }
}
