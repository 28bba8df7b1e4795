//! SMS as the gateway takes them: the recipient in E.164, the reminder's text in as few
//! GSM-7 segments as it fits, and the sender name shown on the phone.

use super::booking::normalize_phone;

/// Why a stored phone number cannot get an SMS; nothing is sent.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum UnusableNumber {
    #[error("not a phone number")]
    NotANumber,
    #[error("not a valid international (E.164) number")]
    NotE164,
    #[error("a German number that is not a mobile number (015x, 016x, 017x)")]
    NotMobile,
}

/// The stored number as `+<country><number>` (E.164): `0171 5550123` → `+491715550123`.
/// German numbers must be mobile numbers: an SMS to a landline is at best read out by a
/// machine voice, which is not what the citizen agreed to.
pub fn e164(stored: &str) -> Result<String, UnusableNumber> {
    let number = normalize_phone(stored).ok_or(UnusableNumber::NotANumber)?;
    let digits = &number[1..];
    if !(digits.starts_with(|c: char| ('1'..='9').contains(&c)) && (8..=15).contains(&digits.len()))
    {
        return Err(UnusableNumber::NotE164);
    }
    if let Some(national) = digits.strip_prefix("49")
        && !["15", "16", "17"].iter().any(|p| national.starts_with(p))
    {
        return Err(UnusableNumber::NotMobile);
    }
    Ok(number)
}

/// Characters of the GSM 03.38 default alphabet (one septet each).
const GSM7_BASIC: &str = "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?\
¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà";
/// Characters of its extension table (an escape and a septet: two each).
const GSM7_EXTENSION: &str = "^{}\\[~]|€\x0c";

/// Septets `text` takes in GSM-7, or `None` when a character needs UCS-2 (Unicode).
pub fn gsm7_septets(text: &str) -> Option<usize> {
    text.chars().try_fold(0, |n, c| {
        if GSM7_BASIC.contains(c) {
            Some(n + 1)
        } else if GSM7_EXTENSION.contains(c) {
            Some(n + 2)
        } else {
            None
        }
    })
}

/// How many SMS `text` is sent as: 160 septets in one, 153 per part when concatenated;
/// in Unicode 70 characters, 67 per part.
pub fn segments(text: &str) -> usize {
    let (single, part, units) = match gsm7_septets(text) {
        Some(septets) => (160, 153, septets),
        None => (70, 67, text.encode_utf16().count()),
    };
    if units <= single {
        1
    } else {
        units.div_ceil(part)
    }
}

/// Whether the gateway must send `text` as Unicode.
pub fn needs_unicode(text: &str) -> bool {
    gsm7_septets(text).is_none()
}

/// The reminder 24 hours before the appointment: service, local time, office and
/// reference, and no name (the phone may be read by others). Made to fit one SMS: the
/// office's name is left out, then the service shortened, when the whole does not.
pub fn reminder_text(service: &str, when: &str, office: &str, reference: &str) -> String {
    let full = format!("Erinnerung: {service} am {when}, {office}. Buchungsnr. {reference}");
    if segments(&full) == 1 {
        return full;
    }
    let shorter = format!("Erinnerung: {service} am {when}. Buchungsnr. {reference}");
    if segments(&shorter) == 1 {
        return shorter;
    }
    // The service cut at a character boundary until the text fits (or the service is gone).
    let mut chars: Vec<char> = service.chars().collect();
    while !chars.is_empty() {
        chars.pop();
        let cut: String = chars.iter().collect::<String>().trim_end().to_owned();
        let text = format!("Erinnerung: {cut}... am {when}. Buchungsnr. {reference}");
        if segments(&text) == 1 {
            return text;
        }
    }
    shorter
}

/// The sender name an SMS shows when the operator set none: the tenant's name without
/// "Stadt"/"Gemeinde"/…, letters and digits only, at most 11 characters (the limit of an
/// alphanumeric sender ID), e.g. "Stadt Oer-Erkenschwick" → "OerErkensch".
pub fn default_sender(tenant_name: &str) -> String {
    const PREFIXES: [&str; 5] = [
        "Stadt ",
        "Gemeinde ",
        "Markt ",
        "Verwaltungsgemeinschaft ",
        "VG ",
    ];
    let mut name = tenant_name.trim();
    for p in PREFIXES {
        if let Some(rest) = name.strip_prefix(p) {
            name = rest;
        }
    }
    let mut out: String = name
        .chars()
        .map(|c| match c {
            'ä' => "ae".to_owned(),
            'ö' => "oe".to_owned(),
            'ü' => "ue".to_owned(),
            'Ä' => "Ae".to_owned(),
            'Ö' => "Oe".to_owned(),
            'Ü' => "Ue".to_owned(),
            'ß' => "ss".to_owned(),
            c if c.is_ascii_alphanumeric() => c.to_string(),
            _ => String::new(),
        })
        .collect();
    out.truncate(11);
    if out.is_empty() {
        "Termin".to_owned()
    } else {
        out
    }
}

/// Whether `s` is a sender ID the gateway takes: up to 11 letters, digits or spaces, or a
/// phone number of up to 15 digits.
pub fn is_sender_id(s: &str) -> bool {
    let digits = s.strip_prefix('+').unwrap_or(s);
    let number = !digits.is_empty()
        && digits.len() <= 15
        && digits.chars().all(|c| c.is_ascii_digit())
        && !digits.starts_with('0');
    let name = (1..=11).contains(&s.chars().count())
        && s.chars().all(|c| c.is_ascii_alphanumeric() || c == ' ')
        && !s.trim().is_empty();
    number || name
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn german_mobile_numbers_become_e164() {
        assert_eq!(e164("0171 5550123").as_deref(), Ok("+491715550123"));
        assert_eq!(e164("+49 (0)152 1223648").as_deref(), Ok("+491521223648"));
        assert_eq!(e164("0043 664 1234567").as_deref(), Ok("+436641234567"));
        assert_eq!(e164("+491715550123").as_deref(), Ok("+491715550123"));
    }

    #[test]
    fn landlines_garbage_and_impossible_numbers_are_unusable() {
        assert_eq!(e164("02361 501640"), Err(UnusableNumber::NotMobile));
        assert_eq!(e164("Handy"), Err(UnusableNumber::NotANumber));
        assert_eq!(e164("12345"), Err(UnusableNumber::NotANumber));
        assert_eq!(e164("+0171 5550123"), Err(UnusableNumber::NotE164));
        assert_eq!(e164(""), Err(UnusableNumber::NotANumber));
    }

    #[test]
    fn german_letters_are_gsm7_and_a_dash_or_emoji_is_not() {
        assert_eq!(gsm7_septets("Größe über Ärger"), Some(16));
        assert_eq!(gsm7_septets("10 €"), Some(5));
        assert_eq!(gsm7_septets("Pass – neu"), None);
        assert!(needs_unicode("Termin 👍"));
        assert!(!needs_unicode("Termin"));
    }

    #[test]
    fn segments_follow_the_gsm7_and_unicode_limits() {
        assert_eq!(segments(&"a".repeat(160)), 1);
        assert_eq!(segments(&"a".repeat(161)), 2);
        assert_eq!(segments(&"a".repeat(306)), 2);
        assert_eq!(segments(&"a".repeat(307)), 3);
        assert_eq!(segments(&"€".repeat(80)), 1);
        assert_eq!(segments(&"€".repeat(81)), 2);
        assert_eq!(segments(&"–".repeat(70)), 1);
        assert_eq!(segments(&"–".repeat(71)), 2);
    }

    #[test]
    fn the_reminder_fits_one_sms_and_names_no_person() {
        let when = "Donnerstag, 03.12.2026, 08:20 Uhr";
        let t = reminder_text(
            "Personalausweis beantragen",
            when,
            "Stadt Oer-Erkenschwick",
            "K7QM-4XRT-P2",
        );
        assert_eq!(
            t,
            "Erinnerung: Personalausweis beantragen am Donnerstag, 03.12.2026, 08:20 Uhr, \
             Stadt Oer-Erkenschwick. Buchungsnr. K7QM-4XRT-P2"
        );
        assert_eq!(segments(&t), 1);
        let long = "Anmeldung einer Eheschließung mit Beteiligung ausländischer Staatsangehöriger und Dolmetscher";
        let t = reminder_text(
            long,
            when,
            "Verwaltungsgemeinschaft Westendorf",
            "K7QM-4XRT-P2",
        );
        assert_eq!(segments(&t), 1, "{t}");
        assert!(
            t.ends_with("Buchungsnr. K7QM-4XRT-P2") && t.contains("08:20 Uhr"),
            "{t}"
        );
        assert!(!t.contains("Westendorf"), "{t}");
    }

    #[test]
    fn a_default_sender_is_a_valid_alphanumeric_sender_id() {
        assert_eq!(default_sender("Stadt Oer-Erkenschwick"), "OerErkensch");
        assert_eq!(
            default_sender("Verwaltungsgemeinschaft Westendorf"),
            "Westendorf"
        );
        assert_eq!(default_sender("Stadt Recklinghausen"), "Recklinghau");
        assert_eq!(default_sender("Gemeinde Übersee"), "Uebersee");
        assert_eq!(default_sender("–"), "Termin");
        for name in ["OerErkensch", "Westendorf", "Termin", "+491701234567"] {
            assert!(is_sender_id(name), "{name}");
        }
        for bad in ["", "Oer-Erkenschwick", "ABCDEFGHIJKL", "+0171123", "   "] {
            assert!(!is_sender_id(bad), "{bad}");
        }
    }
}
