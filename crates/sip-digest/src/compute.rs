//! The digest computation shared by both sides (RFC 7616 section 3.4.1-3.4.3,
//! RFC 2617 section 3.2.2, RFC 3261 section 22.4).

use crate::algorithm::{Algorithm, Qop};

/// Everything the response digest covers besides HA1.
pub(crate) struct Inputs<'a> {
    pub(crate) algorithm: Algorithm,
    pub(crate) nonce: &'a str,
    pub(crate) cnonce: &'a str,
    pub(crate) nc: u32,
    pub(crate) qop: Option<Qop>,
    pub(crate) method: &'a str,
    pub(crate) uri: &'a str,
    /// The message body for `auth-int` (empty when the request has none).
    pub(crate) body: &'a [u8],
}

/// H(username ":" realm ":" password), hex, for the base algorithm.
pub(crate) fn base_ha1(algorithm: Algorithm, user: &str, realm: &str, password: &str) -> String {
    algorithm.base().hash_hex(&[
        user.as_bytes(),
        b":",
        realm.as_bytes(),
        b":",
        password.as_bytes(),
    ])
}

/// The response digest, lower-case hex, from the stored (base) HA1.
pub(crate) fn response(base_ha1: &str, i: &Inputs<'_>) -> String {
    let h = i.algorithm;
    let session;
    let ha1 = if h.is_session() {
        session = h.hash_hex(&[
            base_ha1.as_bytes(),
            b":",
            i.nonce.as_bytes(),
            b":",
            i.cnonce.as_bytes(),
        ]);
        session.as_str()
    } else {
        base_ha1
    };
    let ha2 = match i.qop {
        Some(Qop::AuthInt) => {
            let body = h.hash_hex(&[i.body]);
            h.hash_hex(&[
                i.method.as_bytes(),
                b":",
                i.uri.as_bytes(),
                b":",
                body.as_bytes(),
            ])
        }
        _ => h.hash_hex(&[i.method.as_bytes(), b":", i.uri.as_bytes()]),
    };
    match i.qop {
        Some(qop) => {
            let nc = format!("{:08x}", i.nc);
            h.hash_hex(&[
                ha1.as_bytes(),
                b":",
                i.nonce.as_bytes(),
                b":",
                nc.as_bytes(),
                b":",
                i.cnonce.as_bytes(),
                b":",
                qop.as_str().as_bytes(),
                b":",
                ha2.as_bytes(),
            ])
        }
        None => h.hash_hex(&[
            ha1.as_bytes(),
            b":",
            i.nonce.as_bytes(),
            b":",
            ha2.as_bytes(),
        ]),
    }
}
