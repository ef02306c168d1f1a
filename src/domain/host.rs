//! Host names as the agent's own rules see them: the database's and the
//! SMTP server's TLS rules allow plain connections to loopback hosts only.

use std::net::IpAddr;

/// `localhost`, `127.0.0.0/8` or `::1` (bracketed or not).
pub fn is_loopback_host(host: &str) -> bool {
    let host = host.trim_start_matches('[').trim_end_matches(']');
    host == "localhost" || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_this_machine_is_loopback() {
        for host in ["localhost", "127.0.0.1", "127.8.9.10", "::1", "[::1]"] {
            assert!(is_loopback_host(host), "{host}");
        }
        for host in [
            "localhost.evil.test",
            "10.0.0.5",
            "db.example.com",
            "",
            "[::2]",
        ] {
            assert!(!is_loopback_host(host), "{host}");
        }
    }
}
