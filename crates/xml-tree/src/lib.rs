//! A small owned XML element tree built from quick-xml events, plus escaping.
//!
//! Shared by the crates that read the XML bodies SIP carries (`reginfo` for
//! RFC 3680, `pidf-lo` for RFC 4119): small documents, read whole. The parser
//! first builds a tree with namespaces resolved and text decoded, then the
//! caller walks it. Building is iterative and the depth is bounded, so hostile
//! input can neither overflow the stack while building nor while dropping the
//! tree. It must not know any SIP document type: those live in their crates.
//!
//! Writing is plain string building with [`escape_text`] and [`escape_attr`]:
//! quick-xml's writer leaves tab, CR and LF unescaped in attributes, which a
//! receiving parser turns into spaces.

#![forbid(unsafe_code)]

use std::fmt;

use quick_xml::events::{BytesStart, Event};
use quick_xml::name::ResolveResult;
use quick_xml::reader::NsReader;

/// Deepest element nesting accepted. Real reginfo documents are 4 or 5 deep
/// (6 with an extension element under a contact).
pub const MAX_DEPTH: usize = 32;

/// The XML namespace (`xml:lang`).
pub const XML_NS: &str = "http://www.w3.org/XML/1998/namespace";

/// An element with its namespace resolved.
#[derive(Debug, Default)]
pub struct Element {
    /// Namespace URI; `None` when the element is in no namespace, `Some("")`
    /// never occurs. An element whose prefix is undeclared gets
    /// [`UNDECLARED_PREFIX`] so it matches no known namespace.
    pub ns: Option<String>,
    /// Local name (without prefix).
    pub name: String,
    /// Attributes: (namespace, local name, unescaped value). `xmlns`
    /// declarations are not kept.
    pub attrs: Vec<(Option<String>, String, String)>,
    /// Child elements, in document order.
    pub children: Vec<Element>,
    /// The concatenated character data directly inside this element.
    pub text: String,
}

/// Stand-in namespace for a prefix that no `xmlns:` declares.
pub const UNDECLARED_PREFIX: &str = "\u{0}undeclared-prefix";

impl Element {
    /// Is this element `name` in namespace `ns`, or `name` in no namespace?
    /// (Tolerance: some peers omit the default namespace declaration.)
    pub fn is(&self, ns: &str, name: &str) -> bool {
        self.name == name && self.ns.as_deref().is_none_or(|n| n.trim() == ns)
    }

    /// An attribute in no namespace (the way RFC 3680 attributes are written).
    pub fn attr(&self, name: &str) -> Option<&str> {
        self.attrs
            .iter()
            .find(|(ns, n, _)| ns.is_none() && n == name)
            .map(|(_, _, v)| v.as_str())
    }

    /// An attribute in a given namespace.
    pub fn attr_ns(&self, ns: &str, name: &str) -> Option<&str> {
        self.attrs
            .iter()
            .find(|(n_ns, n, _)| n_ns.as_deref() == Some(ns) && n == name)
            .map(|(_, _, v)| v.as_str())
    }

    /// Child elements matching [`Element::is`].
    pub fn children_named<'a>(
        &'a self,
        ns: &'a str,
        name: &'a str,
    ) -> impl Iterator<Item = &'a Element> + 'a {
        self.children.iter().filter(move |c| c.is(ns, name))
    }
}

/// Why a document could not be read as XML at all.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum TreeError {
    /// Not well-formed (message from the XML reader) at a byte offset.
    Syntax {
        /// Byte offset in the input.
        position: u64,
        /// What the reader found wrong.
        message: String,
    },
    /// Nesting deeper than [`MAX_DEPTH`].
    TooDeep,
    /// The document ended inside an element.
    UnexpectedEof,
    /// There is no element at all.
    Empty,
}

impl fmt::Display for TreeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TreeError::Syntax { position, message } => {
                write!(f, "not well-formed XML at byte {position}: {message}")
            }
            TreeError::TooDeep => write!(f, "elements nested deeper than {MAX_DEPTH} levels"),
            TreeError::UnexpectedEof => write!(f, "the document ends inside an element"),
            TreeError::Empty => write!(f, "the document has no root element"),
        }
    }
}

fn syntax(position: u64, message: impl fmt::Display) -> TreeError {
    TreeError::Syntax {
        position,
        message: message.to_string(),
    }
}

/// Parses `input` into the tree of its root element. Anything after the
/// root element other than whitespace, comments and processing instructions
/// is an error (the reader reports it).
pub fn parse_tree(input: &[u8]) -> Result<Element, TreeError> {
    let text = std::str::from_utf8(input).map_err(|e| {
        syntax(
            e.valid_up_to() as u64,
            "body is not UTF-8 (RFC 3680 section 5.1 and RFC 4119 require UTF-8)",
        )
    })?;
    let mut reader = NsReader::from_str(text);
    let mut stack: Vec<Element> = Vec::new();
    let mut root: Option<Element> = None;
    loop {
        let position = reader.buffer_position();
        let event = reader.read_event().map_err(|e| syntax(position, e))?;
        match event {
            Event::Start(start) => {
                if root.is_some() {
                    return Err(syntax(position, "a second root element"));
                }
                if stack.len() >= MAX_DEPTH {
                    return Err(TreeError::TooDeep);
                }
                stack.push(element_from(&reader, &start, position)?);
            }
            Event::Empty(start) => {
                if root.is_some() {
                    return Err(syntax(position, "a second root element"));
                }
                if stack.len() >= MAX_DEPTH {
                    return Err(TreeError::TooDeep);
                }
                let el = element_from(&reader, &start, position)?;
                match stack.last_mut() {
                    Some(parent) => parent.children.push(el),
                    None => root = Some(el),
                }
            }
            Event::End(_) => {
                // The reader checks that end names match start names.
                let Some(el) = stack.pop() else {
                    return Err(syntax(position, "an end tag without a start tag"));
                };
                match stack.last_mut() {
                    Some(parent) => parent.children.push(el),
                    None => root = Some(el),
                }
            }
            Event::Text(t) => {
                let s = t.xml10_content().map_err(|e| syntax(position, e))?;
                match stack.last_mut() {
                    Some(el) => el.text.push_str(&s),
                    None if s.trim().is_empty() => {}
                    None => return Err(syntax(position, "text outside the root element")),
                }
            }
            Event::CData(t) => {
                let s = t.xml10_content().map_err(|e| syntax(position, e))?;
                match stack.last_mut() {
                    Some(el) => el.text.push_str(&s),
                    None => return Err(syntax(position, "CDATA outside the root element")),
                }
            }
            Event::GeneralRef(r) => {
                let ch = if let Some(ch) = r.resolve_char_ref().map_err(|e| syntax(position, e))? {
                    ch.to_string()
                } else {
                    let name = r.decode().map_err(|e| syntax(position, e))?;
                    match quick_xml::escape::resolve_predefined_entity(&name) {
                        Some(s) => s.to_string(),
                        None => {
                            return Err(syntax(position, format_args!("unknown entity &{name};")))
                        }
                    }
                };
                match stack.last_mut() {
                    Some(el) => el.text.push_str(&ch),
                    None => return Err(syntax(position, "a reference outside the root element")),
                }
            }
            Event::Eof => {
                if !stack.is_empty() {
                    return Err(TreeError::UnexpectedEof);
                }
                return root.ok_or(TreeError::Empty);
            }
            Event::Decl(_) | Event::PI(_) | Event::Comment(_) | Event::DocType(_) => {}
        }
    }
}

fn element_from(
    reader: &NsReader<&[u8]>,
    start: &BytesStart<'_>,
    position: u64,
) -> Result<Element, TreeError> {
    let (ns, local) = reader.resolver().resolve_element(start.name());
    let ns = resolved(ns, position)?;
    let name = std::str::from_utf8(local.as_ref())
        .map_err(|e| syntax(position, e))?
        .to_owned();
    let mut attrs = Vec::new();
    for attr in start.attributes() {
        let attr = attr.map_err(|e| syntax(position, e))?;
        let key = attr.key.as_ref();
        if key == b"xmlns" || key.starts_with(b"xmlns:") {
            continue;
        }
        let (ans, alocal) = reader.resolver().resolve_attribute(attr.key);
        let ans = resolved(ans, position)?;
        let alocal = std::str::from_utf8(alocal.as_ref())
            .map_err(|e| syntax(position, e))?
            .to_owned();
        let value = attr
            .decode_and_unescape_value(reader.decoder())
            .map_err(|e| syntax(position, e))?
            .into_owned();
        attrs.push((ans, alocal, value));
    }
    Ok(Element {
        ns,
        name,
        attrs,
        children: Vec::new(),
        text: String::new(),
    })
}

fn resolved(ns: ResolveResult<'_>, position: u64) -> Result<Option<String>, TreeError> {
    Ok(match ns {
        ResolveResult::Bound(n) => Some(
            std::str::from_utf8(n.as_ref())
                .map_err(|e| syntax(position, e))?
                .to_owned(),
        ),
        ResolveResult::Unbound => None,
        ResolveResult::Unknown(_) => Some(UNDECLARED_PREFIX.to_owned()),
    })
}

/// Appends `s` escaped for an attribute value in double quotes. Tab, CR and
/// LF become character references so that attribute-value normalization
/// does not turn them into spaces; characters XML 1.0 cannot carry at all
/// (C0 controls other than tab, CR, LF; U+FFFE, U+FFFF) become U+FFFD.
pub fn escape_attr(out: &mut String, s: &str) {
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\t' => out.push_str("&#9;"),
            '\n' => out.push_str("&#10;"),
            '\r' => out.push_str("&#13;"),
            c => push_char(out, c),
        }
    }
}

/// Appends `s` escaped for character data. CR becomes a character reference
/// (end-of-line normalization would otherwise drop it); see [`escape_attr`]
/// for characters XML cannot carry.
pub fn escape_text(out: &mut String, s: &str) {
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '\r' => out.push_str("&#13;"),
            c => push_char(out, c),
        }
    }
}

fn push_char(out: &mut String, c: char) {
    if (c < ' ' && c != '\t' && c != '\n') || c == '\u{FFFE}' || c == '\u{FFFF}' {
        out.push('\u{FFFD}');
    } else {
        out.push(c);
    }
}
