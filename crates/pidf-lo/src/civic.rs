//! RFC 5139 civic address.

macro_rules! civic_address {
    ($( $(#[$doc:meta])* $field:ident => $element:literal ),+ $(,)?) => {
        /// A civic address (RFC 5139 section 4, `<ca:civicAddress>`).
        ///
        /// Every element is optional; field names are the RFC 5139 element
        /// names in lower case. Values are tokens (RFC 5139 section 3.4):
        /// the parser trims them and collapses inner whitespace runs to one
        /// space.
        #[derive(Debug, Clone, PartialEq, Eq, Default)]
        pub struct CivicAddress {
            /// `xml:lang` of the address, for example `en-US`.
            pub lang: Option<String>,
            $( $(#[$doc])* pub $field: Option<String>, )+
        }

        impl CivicAddress {
            /// The RFC 5139 element names, in schema order.
            pub const ELEMENTS: &'static [&'static str] = &[$($element),+];

            /// `(element name, value)` for every field, in schema order.
            pub fn fields(&self) -> [(&'static str, Option<&str>); CivicAddress::ELEMENTS.len()] {
                [$( ($element, self.$field.as_deref()) ),+]
            }

            /// The field for an RFC 5139 element name (exact case), or
            /// `None` for a name RFC 5139 does not define.
            pub fn field_mut(&mut self, element: &str) -> Option<&mut Option<String>> {
                match element {
                    $( $element => Some(&mut self.$field), )+
                    _ => None,
                }
            }
        }
    };
}

civic_address! {
    /// `country`: ISO 3166 alpha-2 code, upper case (`US`).
    country => "country",
    /// `A1`: national subdivision: state, province (`IL`).
    a1 => "A1",
    /// `A2`: county, parish, district.
    a2 => "A2",
    /// `A3`: city, township (`Springfield`).
    a3 => "A3",
    /// `A4`: city division, borough, ward.
    a4 => "A4",
    /// `A5`: neighbourhood, block.
    a5 => "A5",
    /// `A6`: street (RFC 4119 style; RFC 5139 prefers `RD`).
    a6 => "A6",
    /// `PRM`: road pre-modifier.
    prm => "PRM",
    /// `PRD`: leading street direction (`N`).
    prd => "PRD",
    /// `RD`: primary road or street (`Main`).
    rd => "RD",
    /// `STS`: street suffix (`St`, `Avenue`).
    sts => "STS",
    /// `POD`: trailing street suffix direction (`SW`).
    pod => "POD",
    /// `POM`: road post-modifier.
    pom => "POM",
    /// `RDSEC`: road section.
    rdsec => "RDSEC",
    /// `RDBR`: road branch.
    rdbr => "RDBR",
    /// `RDSUBBR`: road sub-branch.
    rdsubbr => "RDSUBBR",
    /// `HNO`: house number, numeric part (`12`).
    hno => "HNO",
    /// `HNS`: house number suffix (`A`, `1/2`).
    hns => "HNS",
    /// `LMK`: landmark or vanity address.
    lmk => "LMK",
    /// `LOC`: additional location information.
    loc => "LOC",
    /// `FLR`: floor (`3`).
    flr => "FLR",
    /// `NAM`: name of the occupant (business, residence).
    nam => "NAM",
    /// `PC`: postal code.
    pc => "PC",
    /// `BLD`: building.
    bld => "BLD",
    /// `UNIT`: unit, apartment, suite.
    unit => "UNIT",
    /// `ROOM`: room (`301`).
    room => "ROOM",
    /// `SEAT`: seat, desk, cubicle, workstation.
    seat => "SEAT",
    /// `PLC`: place type (RFC 4589 token, for example `office`).
    plc => "PLC",
    /// `PCN`: postal community name.
    pcn => "PCN",
    /// `POBOX`: post office box.
    pobox => "POBOX",
    /// `ADDCODE`: additional code.
    addcode => "ADDCODE",
}

impl CivicAddress {
    /// No element is set.
    pub fn is_empty(&self) -> bool {
        self.fields().iter().all(|(_, v)| v.is_none())
    }
}

/// A one-line summary for alerts and the web UI, for example
/// `12 Main St, Floor 3, Room 301, Springfield, IL, US`.
///
/// Order: occupant name (NAM), street line (house number and suffix,
/// leading direction, street from RD or else A6, suffix, trailing
/// direction), building, unit, floor, room, seat, additional location
/// (LOC), landmark, city (A3), state (A1) with the postal code, country.
/// Floor, room, unit and seat get a label (`Floor 3`) unless the value
/// already starts with it. Empty parts are left out; an empty address
/// gives an empty string.
pub fn civic_summary(a: &CivicAddress) -> String {
    fn val(v: &Option<String>) -> Option<&str> {
        v.as_deref().map(str::trim).filter(|s| !s.is_empty())
    }
    fn labelled(label: &str, v: &Option<String>) -> Option<String> {
        let v = val(v)?;
        let starts = v
            .get(..label.len())
            .is_some_and(|p| p.eq_ignore_ascii_case(label));
        Some(if starts {
            v.to_owned()
        } else {
            format!("{label} {v}")
        })
    }
    let mut parts: Vec<String> = Vec::new();
    if let Some(n) = val(&a.nam) {
        parts.push(n.to_owned());
    }
    let number = match (val(&a.hno), val(&a.hns)) {
        (Some(n), Some(s)) => Some(format!("{n}{s}")),
        (Some(n), None) => Some(n.to_owned()),
        (None, Some(s)) => Some(s.to_owned()),
        (None, None) => None,
    };
    let street: Vec<String> = [
        number,
        val(&a.prd).map(str::to_owned),
        val(&a.prm).map(str::to_owned),
        val(&a.rd).or(val(&a.a6)).map(str::to_owned),
        val(&a.sts).map(str::to_owned),
        val(&a.pod).map(str::to_owned),
        val(&a.pom).map(str::to_owned),
    ]
    .into_iter()
    .flatten()
    .collect();
    if !street.is_empty() {
        parts.push(street.join(" "));
    }
    if let Some(b) = val(&a.bld) {
        parts.push(b.to_owned());
    }
    parts.extend(labelled("Unit", &a.unit));
    parts.extend(labelled("Floor", &a.flr));
    parts.extend(labelled("Room", &a.room));
    parts.extend(labelled("Seat", &a.seat));
    for v in [&a.loc, &a.lmk, &a.a3] {
        if let Some(v) = val(v) {
            parts.push(v.to_owned());
        }
    }
    match (val(&a.a1), val(&a.pc)) {
        (Some(s), Some(pc)) => parts.push(format!("{s} {pc}")),
        (Some(s), None) => parts.push(s.to_owned()),
        (None, Some(pc)) => parts.push(pc.to_owned()),
        (None, None) => {}
    }
    if let Some(c) = val(&a.country) {
        parts.push(c.to_owned());
    }
    parts.join(", ")
}
