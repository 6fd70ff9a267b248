//! Serialization of reginfo documents.
//!
//! Written directly into a `String` with this crate's own escaping rather
//! than through quick-xml's writer: quick-xml's attribute escaping leaves
//! tab, CR and LF as they are, and XML attribute-value normalization turns
//! them into spaces on the receiving side, so values would not survive a
//! round trip. Each registration is serialized on its own so that E2
//! splitting can measure and pack them.

use std::fmt::Write as _;

use crate::model::{Contact, DocState, Registration, GRUUINFO_NS, REGINFO_NS};
use crate::xml::{escape_attr, escape_text};

const DECL: &str = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n";
const CLOSE: &str = "</reginfo>\n";

/// The document prologue and `<reginfo ...>` start tag.
pub(crate) fn open(version: u32, state: DocState) -> String {
    format!(
        "{DECL}<reginfo xmlns=\"{REGINFO_NS}\" version=\"{version}\" state=\"{}\">\n",
        state.as_str()
    )
}

/// The end of a document.
pub(crate) fn close() -> &'static str {
    CLOSE
}

/// A whole document.
pub(crate) fn document(version: u32, state: DocState, regs: &[Registration]) -> String {
    let mut out = open(version, state);
    for r in regs {
        registration(&mut out, r);
    }
    out.push_str(CLOSE);
    out
}

/// Appends one `<registration>` element followed by a newline.
pub(crate) fn registration(out: &mut String, r: &Registration) {
    out.push_str("<registration aor=\"");
    escape_attr(out, &r.aor);
    out.push_str("\" id=\"");
    escape_attr(out, &r.id);
    out.push_str("\" state=\"");
    out.push_str(r.state.as_str());
    if r.contacts.is_empty() {
        out.push_str("\"/>\n");
        return;
    }
    out.push_str("\">");
    for c in &r.contacts {
        contact(out, c);
    }
    out.push_str("</registration>\n");
}

fn contact(out: &mut String, c: &Contact) {
    out.push_str("<contact id=\"");
    escape_attr(out, &c.id);
    out.push_str("\" state=\"");
    out.push_str(c.state.as_str());
    out.push_str("\" event=\"");
    out.push_str(c.event.as_str());
    out.push('"');
    let numbers = [
        ("expires", c.expires),
        ("retry-after", c.retry_after),
        ("duration-registered", c.duration_registered),
    ];
    for (name, value) in numbers {
        if let Some(v) = value {
            let _ = write!(out, " {name}=\"{v}\"");
        }
    }
    if let Some(q) = &c.q {
        out.push_str(" q=\"");
        escape_attr(out, q);
        out.push('"');
    }
    if let Some(callid) = &c.callid {
        out.push_str(" callid=\"");
        escape_attr(out, callid);
        out.push('"');
    }
    if let Some(cseq) = c.cseq {
        let _ = write!(out, " cseq=\"{cseq}\"");
    }
    out.push_str("><uri>");
    escape_text(out, &c.uri);
    out.push_str("</uri>");
    if let Some(d) = &c.display_name {
        out.push_str("<display-name>");
        escape_text(out, d);
        out.push_str("</display-name>");
    }
    for (name, value) in &c.unknown_params {
        out.push_str("<unknown-param name=\"");
        escape_attr(out, name);
        out.push_str("\">");
        escape_text(out, value);
        out.push_str("</unknown-param>");
    }
    if let Some(g) = &c.pub_gruu {
        out.push_str("<gr:pub-gruu xmlns:gr=\"");
        out.push_str(GRUUINFO_NS);
        out.push_str("\" uri=\"");
        escape_attr(out, g);
        out.push_str("\"/>");
    }
    if let Some(g) = &c.temp_gruu {
        out.push_str("<gr:temp-gruu xmlns:gr=\"");
        out.push_str(GRUUINFO_NS);
        out.push_str("\" uri=\"");
        escape_attr(out, &g.uri);
        let _ = write!(out, "\" first-cseq=\"{}\"/>", g.first_cseq);
    }
    out.push_str("</contact>");
}
