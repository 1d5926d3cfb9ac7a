//! Phone numbers, stored in E.164 (`+66812345678`). Thai numbers are accepted
//! as people write them (`081-234-5678`, `+66 81 234 5678`, `66812345678`);
//! other countries with their `+` prefix.

/// The E.164 form of `input`, or `None` when it is not a phone number.
pub fn normalise(input: &str) -> Option<String> {
    let trimmed = input.trim();
    let plus = trimmed.starts_with('+');
    let mut digits = String::with_capacity(16);
    for (i, c) in trimmed.chars().enumerate() {
        match c {
            '0'..='9' => digits.push(c),
            '+' if i == 0 => {}
            ' ' | '-' | '.' | '(' | ')' => {}
            _ => return None,
        }
    }
    let national = if plus || digits.starts_with("66") && digits.len() == 11 {
        if !plus {
            // 66 and nine digits: a Thai number written without its +.
            return thai(&digits[2..]);
        }
        match digits.strip_prefix("66") {
            // Some write +66 0812345678: the trunk 0 is dropped.
            Some(rest) => return thai(rest.strip_prefix('0').unwrap_or(rest)),
            None => {
                return (8..=15)
                    .contains(&digits.len())
                    .then(|| format!("+{digits}"));
            }
        }
    } else {
        digits.strip_prefix('0')?
    };
    thai(national)
}

/// A Thai national number without its trunk 0: mobiles (6, 8, 9) have nine
/// digits, fixed lines eight.
fn thai(national: &str) -> Option<String> {
    let ok = match national.chars().next()? {
        '6' | '8' | '9' => national.len() == 9,
        '1'..='7' => national.len() == 8,
        _ => false,
    };
    ok.then(|| format!("+66{national}"))
}

/// How a number is shown to staff: `081-234-5678` for Thai mobiles, E.164
/// otherwise.
pub fn display(e164: &str) -> String {
    match e164.strip_prefix("+66") {
        Some(n) if n.len() == 9 => format!("0{}-{}-{}", &n[..2], &n[2..5], &n[5..]),
        Some(n) if n.len() == 8 => format!("0{}-{}-{}", &n[..1], &n[1..4], &n[4..]),
        _ => e164.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thai_numbers_as_people_write_them() {
        for input in [
            "081-234-5678",
            "0812345678",
            "+66 81 234 5678",
            "+66812345678",
            "66812345678",
            "(081) 234 5678",
            "+66 0812345678",
        ] {
            assert_eq!(normalise(input).as_deref(), Some("+66812345678"), "{input}");
        }
        assert_eq!(normalise("02-123-4567").as_deref(), Some("+6621234567"));
        assert_eq!(display("+66812345678"), "081-234-5678");
        assert_eq!(display("+6621234567"), "02-123-4567");
    }

    #[test]
    fn other_countries_need_their_prefix_and_nonsense_is_refused() {
        assert_eq!(
            normalise("+44 20 7946 0958").as_deref(),
            Some("+442079460958")
        );
        assert_eq!(display("+442079460958"), "+442079460958");
        for bad in [
            "",
            "12345",
            "081-234-567",
            "08123456789",
            "abc",
            "+1 23",
            "0812345678x",
            "1+66812345678",
        ] {
            assert_eq!(normalise(bad), None, "{bad}");
        }
    }
}
