//! Kubernetes resource quantities (`512Mi`, `1G`, `0.5`, `500m`, `1e3`) as numbers, for
//! comparing a value before and after a change.
//!
//! Follows `k8s.io/apimachinery/pkg/api/resource`: a signed decimal number followed by a binary
//! suffix (`Ki Mi Gi Ti Pi Ei`), a decimal suffix (`n u m "" k M G T P E`) or a decimal
//! exponent (`e3`, `E-2`). `1E` is an exa, `1E3` is a thousand. Invariants: parsing never
//! panics; anything the API server would reject is `None`, never zero.

use crate::node::{Node, Value};

/// A quantity in base units (bytes for memory, cores for CPU).
#[derive(Debug, Clone, Copy, PartialEq, PartialOrd)]
pub struct Quantity(pub f64);

impl Quantity {
    /// Parses the text form. Surrounding whitespace is rejected, as the API server does.
    pub fn parse(text: &str) -> Option<Quantity> {
        let bytes = text.as_bytes();
        let mut i = 0;
        if matches!(bytes.first(), Some(b'+' | b'-')) {
            i += 1;
        }
        let digits_start = i;
        while i < bytes.len() && (bytes[i].is_ascii_digit() || bytes[i] == b'.') {
            i += 1;
        }
        let number = &text[digits_start..i];
        if number.is_empty()
            || number == "."
            || number.matches('.').count() > 1
            || !number.bytes().any(|b| b.is_ascii_digit())
        {
            return None;
        }
        let mantissa: f64 = text[..i].parse().ok()?;
        let suffix = &text[i..];
        let factor = match suffix {
            "" => 1.0,
            "Ki" => 1024f64,
            "Mi" => 1024f64.powi(2),
            "Gi" => 1024f64.powi(3),
            "Ti" => 1024f64.powi(4),
            "Pi" => 1024f64.powi(5),
            "Ei" => 1024f64.powi(6),
            "n" => 1e-9,
            "u" => 1e-6,
            "m" => 1e-3,
            "k" => 1e3,
            "M" => 1e6,
            "G" => 1e9,
            "T" => 1e12,
            "P" => 1e15,
            "E" => 1e18,
            _ => {
                // A decimal exponent: `e` or `E`, an optional sign, then digits only.
                let rest = suffix.strip_prefix(['e', 'E'])?;
                let exp_digits = rest.strip_prefix(['+', '-']).unwrap_or(rest);
                if exp_digits.is_empty() || !exp_digits.bytes().all(|b| b.is_ascii_digit()) {
                    return None;
                }
                let exp: i32 = rest.parse().ok()?;
                10f64.powi(exp)
            }
        };
        let value = mantissa * factor;
        value.is_finite().then_some(Quantity(value))
    }

    /// A quantity from a manifest value: a string, or a bare YAML/JSON number (`cpu: 2`).
    pub fn of(node: &Node) -> Option<Quantity> {
        match &node.value {
            Value::Str(s) => Quantity::parse(s),
            Value::Int(i) => Some(Quantity(*i as f64)),
            Value::Float(f) if f.is_finite() => Some(Quantity(*f)),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_forms_kubernetes_accepts() {
        let table: &[(&str, f64)] = &[
            ("512Mi", 512.0 * 1024.0 * 1024.0),
            ("1Gi", 1073741824.0),
            ("1G", 1e9),
            ("1k", 1e3),
            ("1Ki", 1024.0),
            ("0.5", 0.5),
            (".5", 0.5),
            ("5.", 5.0),
            ("500m", 0.5),
            ("250u", 250e-6),
            ("100n", 100e-9),
            ("1e3", 1000.0),
            ("1E3", 1000.0),
            ("1e-3", 0.001),
            ("1E", 1e18),
            ("2Ei", 2.0 * 1024f64.powi(6)),
            ("+3", 3.0),
            ("-1", -1.0),
            ("0", 0.0),
            ("1.5Gi", 1.5 * 1073741824.0),
        ];
        for (text, want) in table {
            let got = Quantity::parse(text).unwrap_or_else(|| panic!("{text} should parse"));
            assert!(
                (got.0 - want).abs() <= want.abs() * 1e-12,
                "{text}: got {}, want {want}",
                got.0
            );
        }
    }

    #[test]
    fn rejects_what_the_api_server_rejects() {
        for text in [
            "", " 1", "1 ", "Mi", "1mi", "1MB", "1.2.3", ".", "1e", "1e+", "1ee3", "1Gi2", "abc",
            "1K", "--1",
        ] {
            assert_eq!(Quantity::parse(text), None, "{text:?} should be rejected");
        }
    }

    #[test]
    fn orders_across_suffixes() {
        let q = |s| Quantity::parse(s).expect("valid");
        assert!(q("1Gi") > q("1G"));
        assert!(q("1000Mi") < q("1Gi"));
        assert!(q("1500m") > q("1"));
        assert!(q("1e3") == q("1k"));
    }

    #[test]
    fn reads_bare_numbers_from_manifests() {
        let n = |value| Node::new(1, value);
        assert_eq!(Quantity::of(&n(Value::Int(2))), Some(Quantity(2.0)));
        assert_eq!(Quantity::of(&n(Value::Float(0.25))), Some(Quantity(0.25)));
        assert_eq!(
            Quantity::of(&n(Value::Str("64Mi".into()))),
            Some(Quantity(64.0 * 1024.0 * 1024.0))
        );
        assert_eq!(Quantity::of(&n(Value::Bool(true))), None);
    }
}
