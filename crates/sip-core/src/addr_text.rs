//! IP addresses and ports as text, written without `core::fmt`: every
//! message Locus builds carries several (Via, Contact, URIs), and the
//! standard `Display` of `Ipv4Addr` goes through padding-aware formatting
//! that costs several times more.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

/// Writes `n` in decimal into the end of `buf`; returns where it starts.
pub(crate) fn decimal(mut n: u32, buf: &mut [u8]) -> usize {
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            return i;
        }
    }
}

/// Dotted-quad text of `ip` in `buf` (as `Ipv4Addr`'s `Display` writes it).
pub fn ipv4_str(ip: Ipv4Addr, buf: &mut [u8; 15]) -> &str {
    let mut len = 0;
    for (k, n) in ip.octets().into_iter().enumerate() {
        if k > 0 {
            buf[len] = b'.';
            len += 1;
        }
        // Digit by digit: a copy of a 1-3 byte slice is a `memcpy` call.
        if n >= 100 {
            buf[len] = b'0' + n / 100;
            len += 1;
        }
        if n >= 10 {
            buf[len] = b'0' + n / 10 % 10;
            len += 1;
        }
        buf[len] = b'0' + n % 10;
        len += 1;
    }
    // Only ASCII digits and dots were written: the word-wise ASCII view
    // (`str::from_utf8` costs about 80 instructions on 7 to 15 bytes).
    crate::ascii::ascii_str(buf, 0, len).unwrap_or_default()
}

/// Appends `ip` as `Display` writes it (IPv6 without brackets).
pub fn push_ip(out: &mut String, ip: IpAddr) {
    match ip {
        IpAddr::V4(v4) => out.push_str(ipv4_str(v4, &mut [0; 15])),
        IpAddr::V6(v6) => {
            use std::fmt::Write;
            let _ = write!(out, "{v6}");
        }
    }
}

/// Decimal text of `n` (a port, a status code, a length) in `buf`.
pub fn u16_str(n: u16, buf: &mut [u8; 5]) -> &str {
    let start = decimal(u32::from(n), buf);
    // ASCII digits only.
    crate::ascii::ascii_str(buf, start, buf.len()).unwrap_or_default()
}

/// Appends `port` in decimal.
pub fn push_port(out: &mut String, port: u16) {
    out.push_str(u16_str(port, &mut [0; 5]));
}

/// Appends `addr` as `Display` writes it: `1.2.3.4:5060`, `[::1]:5060`.
pub fn push_socket_addr(out: &mut String, addr: SocketAddr) {
    match addr.ip() {
        IpAddr::V4(_) => push_ip(out, addr.ip()),
        IpAddr::V6(_) => {
            out.push('[');
            push_ip(out, addr.ip());
            out.push(']');
        }
    }
    out.push(':');
    push_port(out, addr.port());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_text_as_display() {
        let ips: [IpAddr; 9] = [
            "0.0.0.0".parse().unwrap(),
            "1.99.109.250".parse().unwrap(),
            "127.0.0.1".parse().unwrap(),
            "10.9.80.255".parse().unwrap(),
            "255.255.255.255".parse().unwrap(),
            "192.0.2.100".parse().unwrap(),
            "::1".parse().unwrap(),
            "2001:db8::5:1".parse().unwrap(),
            "::ffff:1.2.3.4".parse().unwrap(),
        ];
        for ip in ips {
            for port in [0u16, 9, 10, 5060, 65535] {
                let addr = SocketAddr::new(ip, port);
                let mut s = String::new();
                push_socket_addr(&mut s, addr);
                assert_eq!(s, addr.to_string());
                let mut s = String::new();
                push_ip(&mut s, ip);
                assert_eq!(s, ip.to_string());
            }
        }
        for n in 0..=u32::from(u8::MAX) {
            let ip = Ipv4Addr::new(n as u8, 0, (255 - n) as u8, 7);
            assert_eq!(ipv4_str(ip, &mut [0; 15]), ip.to_string());
        }
    }
}
