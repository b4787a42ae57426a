//! Whether a certificate's DNS name is the name a client asked for
//! ([RFC 6125 §6.4](https://www.rfc-editor.org/rfc/rfc6125#section-6.4)):
//! the one matcher of the project, used by the checks of a captured
//! session (`verify`) and by the lab's client when it checks a server.

/// Whether `pattern`, a DNS name from a certificate (subjectAltName or
/// CN), names `host`: the same name, ASCII case ignored, a trailing dot on
/// either ignored; or a wildcard `*` standing for the whole left-most label
/// of `host` (one label, never empty), with at least two labels after it
/// (`*.example.com`, not `*.com`: as curl and the browsers). A `*` anywhere
/// else (`f*.example.com`, `www.*.com`) matches nothing but itself.
pub fn dns_name_matches(pattern: &str, host: &str) -> bool {
    let pattern = pattern.strip_suffix('.').unwrap_or(pattern);
    let host = host.strip_suffix('.').unwrap_or(host);
    if pattern.is_empty() || host.is_empty() {
        return false;
    }
    if pattern.eq_ignore_ascii_case(host) {
        return true;
    }
    match (pattern.strip_prefix("*."), host.split_once('.')) {
        (Some(rest), Some((label, host_rest))) => {
            !label.is_empty() && rest.contains('.') && rest.eq_ignore_ascii_case(host_rest)
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::dns_name_matches;

    #[test]
    fn the_same_name_matches_whatever_its_case_and_trailing_dot() {
        assert!(dns_name_matches("localhost", "localhost"));
        assert!(dns_name_matches("LocalHost.", "localhost"));
        assert!(dns_name_matches("www.example.com", "WWW.Example.COM."));
        assert!(!dns_name_matches("localhost", "localhost2"));
        assert!(!dns_name_matches("example.com", "www.example.com"));
        assert!(!dns_name_matches("", ""));
        assert!(!dns_name_matches(".", "."));
    }

    #[test]
    fn a_wildcard_is_one_whole_left_most_label_with_two_labels_after_it() {
        assert!(dns_name_matches("*.example.com", "www.example.com"));
        assert!(dns_name_matches("*.Example.com", "WWW.example.COM"));
        assert!(!dns_name_matches("*.example.com", "example.com"));
        assert!(!dns_name_matches("*.example.com", ".example.com"));
        assert!(!dns_name_matches("*.example.com", "a.b.example.com"));
        assert!(!dns_name_matches("*.com", "example.com"), "a wildcard needs two labels after it");
        assert!(!dns_name_matches("*.localhost", "a.localhost"));
        assert!(!dns_name_matches("www.*.com", "www.example.com"));
        assert!(!dns_name_matches("f*.example.com", "foo.example.com"));
        assert!(!dns_name_matches("*", "localhost"));
    }
}
