//! RFC 4119 and RFC 5491 example documents, verbatim, and Locus's own
//! documents (E6, E11).

use pidf_lo::{
    civic_summary, instance_device_id, mac_device_id, CivicAddress, DeviceRef, Elin, LocationDoc,
    PidfError, UsageRules, ELIN_NS,
};

/// RFC 4119 section 2.3, the GML example.
const RFC4119_GEO: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
 <presence xmlns="urn:ietf:params:xml:ns:pidf"
    xmlns:gp="urn:ietf:params:xml:ns:pidf:geopriv10"
    xmlns:gml="urn:opengis:specification:gml:schema-xsd:feature:v3.0"
    entity="pres:geotarget@example.com">
  <tuple id="sg89ae">
   <status>
    <gp:geopriv>
      <gp:location-info>
        <gml:location>
          <gml:Point gml:id="point1" srsName="epsg:4326">
            <gml:coordinates>37:46:30N 122:25:10W</gml:coordinates>
          </gml:Point>
         </gml:location>
      </gp:location-info>
      <gp:usage-rules>
        <gp:retransmission-allowed>no</gp:retransmission-allowed>
        <gp:retention-expiry>2003-06-23T04:57:29Z</gp:retention-expiry>
      </gp:usage-rules>
    </gp:geopriv>
   </status>
   <timestamp>2003-06-22T20:57:29Z</timestamp>
  </tuple>
 </presence>
"#;

/// RFC 4119 section 2.3, the civicLoc example (its namespace declaration
/// has a stray leading space, kept).
const RFC4119_CIVIC: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
 <presence xmlns="urn:ietf:params:xml:ns:pidf"
    xmlns:gp="urn:ietf:params:xml:ns:pidf:geopriv10"
    xmlns:cl=" urn:ietf:params:xml:ns:pidf:geopriv10:civicLoc"
    entity="pres:geotarget@example.com">
  <tuple id="sg89ae">
   <status>
    <gp:geopriv>
      <gp:location-info>
        <cl:civicAddress>
          <cl:country>US</cl:country>
          <cl:A1>New York</cl:A1>
          <cl:A3>New York</cl:A3>
          <cl:A6>Broadway</cl:A6>
          <cl:HNO>123</cl:HNO>
          <cl:LOC>Suite 75</cl:LOC>
          <cl:PC>10027-0401</cl:PC>
        </cl:civicAddress>
      </gp:location-info>
      <gp:usage-rules>
        <gp:retransmission-allowed>yes</gp:retransmission-allowed>
        <gp:retention-expiry>2003-06-23T04:57:29Z</gp:retention-expiry>
      </gp:usage-rules>
    </gp:geopriv>
   </status>
   <timestamp>2003-06-22T20:57:29Z</timestamp>
  </tuple>
 </presence>
"#;

/// RFC 5491 section 3.2, figure 2.
const RFC5491_FIGURE_2: &str = r#"<presence xmlns="urn:ietf:params:xml:ns:pidf"
          xmlns:dm="urn:ietf:params:xml:ns:pidf:data-model"
          xmlns:gp="urn:ietf:params:xml:ns:pidf:geopriv10"
          xmlns:gml="http://www.opengis.net/gml"
          xmlns:cl="urn:ietf:params:xml:ns:pidf:geopriv10:civicAddr"
          entity="pres:mike@seattle.example.com">
  <dm:device id="mikepc">
    <gp:geopriv>
      <gp:location-info>
        <gml:Point srsName="urn:ogc:def:crs:EPSG::4326">
          <gml:pos>-43.5723 153.21760</gml:pos>
        </gml:Point>
        <cl:civicAddress>
          <cl:FLR>2</cl:FLR>
        </cl:civicAddress>
      </gp:location-info>
      <gp:usage-rules/>
      <gp:method>Wiremap</gp:method>
    </gp:geopriv>
    <dm:deviceID>mac:8asd7d7d70cf</dm:deviceID>
    <dm:timestamp>2007-06-22T20:57:29Z</dm:timestamp>
  </dm:device>
</presence>
"#;

/// RFC 5491 section 3.4, figure 3.
const RFC5491_FIGURE_3: &str = r#"<presence xmlns="urn:ietf:params:xml:ns:pidf"
          xmlns:dm="urn:ietf:params:xml:ns:pidf:data-model"
          xmlns:gp="urn:ietf:params:xml:ns:pidf:geopriv10"
          xmlns:ca="urn:ietf:params:xml:ns:pidf:geopriv10:civicAddr"
          xmlns:gml="http://www.opengis.net/gml"
          xmlns:gs="http://www.opengis.net/pidflo/1.0"
          entity="pres:ness@example.com">
  <dm:device id="nesspc-1">
    <gp:geopriv>
      <gp:location-info>
        <ca:civicAddress xml:lang="en-AU">
          <ca:country>AU</ca:country>
          <ca:A1>NSW</ca:A1>
          <ca:A3>     Wollongong
          </ca:A3><ca:A4>North Wollongong
        </ca:A4>
        <ca:RD>Flinders</ca:RD><ca:STS>Street</ca:STS>
        <ca:RDBR>Campbell Street</ca:RDBR>
        <ca:LMK>
          Gilligan's Island
          </ca:LMK> <ca:LOC>Corner</ca:LOC>
          <ca:NAM> Video Rental Store </ca:NAM>
          <ca:PC>2500</ca:PC>
          <ca:ROOM> Westerns and Classics </ca:ROOM>
          <ca:PLC>store</ca:PLC>
          <ca:POBOX>Private Box 15</ca:POBOX>
        </ca:civicAddress>
      </gp:location-info>
      <gp:usage-rules/>
      <gp:method>GPS</gp:method>
    </gp:geopriv>
    <dm:deviceID>mac:1234567890ab</dm:deviceID>
    <dm:timestamp>2007-06-22T20:57:29Z</dm:timestamp>
  </dm:device>
  <dm:person id="ness">
    <gp:geopriv>
      <gp:location-info>
        <gs:Circle srsName="urn:ogc:def:crs:EPSG::4326">
          <gml:pos>-34.410649 150.87651</gml:pos>
          <gs:radius uom="urn:ogc:def:uom:EPSG::9001">
            30
          </gs:radius>
        </gs:Circle>
      </gp:location-info>
      <gp:usage-rules/>
      <gp:method>Manual</gp:method>
    </gp:geopriv>
    <dm:timestamp>2007-06-24T12:28:04Z</dm:timestamp>
  </dm:person>
</presence>
"#;

/// RFC 6442 section 4.1's by-value example body (RFC 6442 is how E6 sends
/// location to the gateway): basicPolicy namespace, boolean values.
const RFC6442_EXAMPLE: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
    <presence
       xmlns="urn:ietf:params:xml:ns:pidf"
       xmlns:gp="urn:ietf:params:xml:ns:pidf:geopriv10"
       xmlns:gbp="urn:ietf:params:xml:ns:pidf:geopriv10:basicPolicy"
       xmlns:cl="urn:ietf:params:xml:ns:pidf:geopriv10:civicAddr"
       xmlns:gml="http://www.opengis.net/gml"
       xmlns:dm="urn:ietf:params:xml:ns:pidf:data-model"
       entity="pres:alice@atlanta.example.com">
     <dm:device id="target123-1">
       <gp:geopriv>
         <gp:location-info>
           <gml:location>
             <gml:Point srsName="urn:ogc:def:crs:EPSG::4326">
               <gml:pos>32.86726 -97.16054</gml:pos>
             </gml:Point>
          </gml:location>
         </gp:location-info>
         <gp:usage-rules>
           <gbp:retransmission-allowed>false
           </gbp:retransmission-allowed>
           <gbp:retention-expiry>2010-11-14T20:00:00Z
           </gbp:retention-expiry>
         </gp:usage-rules>
         <gp:method>802.11</gp:method>
       </gp:geopriv>
       <dm:deviceID>mac:1234567890ab</dm:deviceID>
       <dm:timestamp>2010-11-04T20:57:29Z</dm:timestamp>
     </dm:device>
   </presence>
"#;

#[test]
fn rfc4119_section_2_3_geodetic_example_parses() {
    let doc = LocationDoc::parse(RFC4119_GEO.as_bytes()).unwrap();
    assert_eq!(doc.entity, "pres:geotarget@example.com");
    assert!(doc.civic.is_empty(), "geodetic only");
    assert!(!doc.usage.retransmission_allowed);
    assert_eq!(
        doc.usage.retention_expiry.as_deref(),
        Some("2003-06-23T04:57:29Z")
    );
    assert_eq!(doc.timestamp.as_deref(), Some("2003-06-22T20:57:29Z"));
    assert_eq!(doc.device_id, None);
    assert_eq!(doc.elin, None);
}

#[test]
fn rfc4119_section_2_3_civic_example_parses() {
    let doc = LocationDoc::parse(RFC4119_CIVIC.as_bytes()).unwrap();
    let expected = CivicAddress {
        country: Some("US".into()),
        a1: Some("New York".into()),
        a3: Some("New York".into()),
        a6: Some("Broadway".into()),
        hno: Some("123".into()),
        loc: Some("Suite 75".into()),
        pc: Some("10027-0401".into()),
        ..CivicAddress::default()
    };
    assert_eq!(doc.civic, expected);
    assert!(doc.usage.retransmission_allowed, "RFC 4119's yes");
    assert_eq!(
        civic_summary(&doc.civic),
        "123 Broadway, Suite 75, New York, New York 10027-0401, US"
    );
}

#[test]
fn rfc5491_section_3_2_compound_location_parses() {
    let doc = LocationDoc::parse(RFC5491_FIGURE_2.as_bytes()).unwrap();
    assert_eq!(doc.entity, "pres:mike@seattle.example.com");
    assert_eq!(doc.civic.flr.as_deref(), Some("2"));
    assert_eq!(doc.method.as_deref(), Some("Wiremap"));
    assert_eq!(doc.device_id.as_deref(), Some("mac:8asd7d7d70cf"));
    assert_eq!(doc.device_ref(), Some(DeviceRef::Mac("8asd7d7d70cf")));
    assert_eq!(doc.timestamp.as_deref(), Some("2007-06-22T20:57:29Z"));
    assert_eq!(doc.usage, UsageRules::default());
}

#[test]
fn rfc5491_section_3_4_rule_8_device_first_and_rfc5139_token_whitespace() {
    let doc = LocationDoc::parse(RFC5491_FIGURE_3.as_bytes()).unwrap();
    assert_eq!(
        doc.method.as_deref(),
        Some("GPS"),
        "the device, not the person"
    );
    let c = &doc.civic;
    assert_eq!(c.lang.as_deref(), Some("en-AU"));
    assert_eq!(c.a3.as_deref(), Some("Wollongong"));
    assert_eq!(c.a4.as_deref(), Some("North Wollongong"));
    assert_eq!(c.rd.as_deref(), Some("Flinders"));
    assert_eq!(c.rdbr.as_deref(), Some("Campbell Street"));
    assert_eq!(c.lmk.as_deref(), Some("Gilligan's Island"));
    assert_eq!(c.nam.as_deref(), Some("Video Rental Store"));
    assert_eq!(c.room.as_deref(), Some("Westerns and Classics"));
    assert_eq!(c.plc.as_deref(), Some("store"));
    assert_eq!(c.pobox.as_deref(), Some("Private Box 15"));
    assert_eq!(doc.device_id.as_deref(), Some("mac:1234567890ab"));
    assert_eq!(
        civic_summary(c),
        "Video Rental Store, Flinders Street, Room Westerns and Classics, Corner, \
         Gilligan's Island, Wollongong, NSW 2500, AU"
    );
}

#[test]
fn rfc6442_by_value_example_parses() {
    let doc = LocationDoc::parse(RFC6442_EXAMPLE.as_bytes()).unwrap();
    assert!(!doc.usage.retransmission_allowed);
    assert_eq!(
        doc.usage.retention_expiry.as_deref(),
        Some("2010-11-14T20:00:00Z")
    );
    assert_eq!(doc.method.as_deref(), Some("802.11"));
}

fn every_field() -> CivicAddress {
    let mut c = CivicAddress {
        lang: Some("en-US".into()),
        ..CivicAddress::default()
    };
    for (i, name) in CivicAddress::ELEMENTS.iter().enumerate() {
        *c.field_mut(name).unwrap() = Some(format!("{name} value {i} & <more>"));
    }
    c
}

#[test]
fn e11_round_trip_with_every_civic_field_device_by_mac_and_elin() {
    let doc = LocationDoc {
        entity: "pres:1001@pbx.example.com".into(),
        device_id: mac_device_id("00:04:5A:1B:2C:3D"),
        civic: every_field(),
        elin: Some(Elin::parse("+15551234567").unwrap()),
        method: Some("Manual".into()),
        timestamp: Some("2024-05-01T12:00:00Z".into()),
        usage: UsageRules::default(),
    };
    assert_eq!(doc.device_id.as_deref(), Some("mac:00045a1b2c3d"));
    let xml = doc.to_xml_string();
    assert!(xml.contains(&format!(
        "<elin:elin xmlns:elin=\"{ELIN_NS}\">+15551234567</elin:elin>"
    )));
    assert!(xml.contains("<gbp:retransmission-allowed>false</gbp:retransmission-allowed>"));
    assert!(xml.contains("<dm:deviceID>mac:00045a1b2c3d</dm:deviceID>"));
    assert!(xml.contains("<ca:ROOM>ROOM value 25 &amp; &lt;more&gt;</ca:ROOM>"));
    assert_eq!(LocationDoc::parse(xml.as_bytes()).unwrap(), doc);
}

#[test]
fn e11_round_trip_with_device_by_instance_urn() {
    let mut doc = LocationDoc::new("pres:alice@example.com");
    doc.device_id = Some(instance_device_id(
        "\"<urn:uuid:f81d4fae-7dec-11d0-a765-00a0c91e6bf6>\"",
    ));
    doc.civic.country = Some("US".into());
    doc.civic.flr = Some("3".into());
    doc.elin = Some("+442071234567".parse().unwrap());
    doc.usage.retransmission_allowed = true;
    doc.usage.retention_expiry = Some("2024-05-02T12:00:00Z".into());
    let back = LocationDoc::parse(&doc.to_xml()).unwrap();
    assert_eq!(back, doc);
    assert_eq!(
        back.device_ref(),
        Some(DeviceRef::Urn(
            "urn:uuid:f81d4fae-7dec-11d0-a765-00a0c91e6bf6"
        ))
    );
}

#[test]
fn e6_round_trip_without_device_uses_a_tuple() {
    let mut doc = LocationDoc::new("pres:+15551234567@gw.example.com");
    doc.civic.a3 = Some("Springfield".into());
    doc.elin = Some(Elin::parse("+15551234567").unwrap());
    doc.timestamp = Some("2024-05-01T12:00:00Z".into());
    let xml = doc.to_xml_string();
    assert!(xml.contains("<tuple id=\"location\">\n<status>"));
    assert!(xml.contains("<timestamp>2024-05-01T12:00:00Z</timestamp>"));
    assert_eq!(LocationDoc::parse(xml.as_bytes()).unwrap(), doc);
}

#[test]
fn e11_elin_is_read_from_any_prefix_and_position() {
    let text = r#"<p:presence xmlns:p="urn:ietf:params:xml:ns:pidf"
        xmlns:g="urn:ietf:params:xml:ns:pidf:geopriv10"
        xmlns:c="urn:ietf:params:xml:ns:pidf:geopriv10:civicAddr"
        xmlns:x="urn:locus:params:xml:ns:elin" entity="pres:a@b">
      <p:tuple id="t"><p:status>
        <g:geopriv><g:location-info><c:civicAddress><c:A3>Town</c:A3>
          <c:UNKNOWN>ignored</c:UNKNOWN><other xmlns="urn:x">ignored</other>
        </c:civicAddress></g:location-info><g:usage-rules/></g:geopriv>
        <x:elin> +12125550100 </x:elin>
      </p:status></p:tuple>
      <p:note>unknown element</p:note>
    </p:presence>"#;
    let doc = LocationDoc::parse(text.as_bytes()).unwrap();
    assert_eq!(doc.civic.a3.as_deref(), Some("Town"));
    assert_eq!(doc.elin.unwrap().as_str(), "+12125550100");
    // An elin element in another namespace is not ours.
    let foreign = text.replace("urn:locus:params:xml:ns:elin", "urn:other");
    assert_eq!(LocationDoc::parse(foreign.as_bytes()).unwrap().elin, None);
}

#[test]
fn e11_parse_errors_are_typed() {
    let not_pidf = LocationDoc::parse(b"<reginfo xmlns='urn:ietf:params:xml:ns:reginfo'/>");
    assert!(matches!(not_pidf, Err(PidfError::NotPidf { found }) if found == "reginfo"));
    let no_entity = LocationDoc::parse(b"<presence xmlns='urn:ietf:params:xml:ns:pidf'/>");
    assert_eq!(no_entity, Err(PidfError::MissingEntity));
    let no_location =
        LocationDoc::parse(b"<presence xmlns='urn:ietf:params:xml:ns:pidf' entity='pres:a@b'><tuple id='t'><status><basic>open</basic></status></tuple></presence>");
    assert_eq!(no_location, Err(PidfError::NoLocation));
    let bad_elin = RFC5491_FIGURE_2.replace(
        "<dm:deviceID>",
        "<e:elin xmlns:e=\"urn:locus:params:xml:ns:elin\">5551234567</e:elin><dm:deviceID>",
    );
    let err = LocationDoc::parse(bad_elin.as_bytes()).unwrap_err();
    assert!(matches!(err, PidfError::InvalidElin(_)));
    assert_eq!(
        err.to_string(),
        "the <elin> element is invalid: the ELIN \"5551234567\" does not start with '+'; \
         write it in E.164 form like +15551234567"
    );
    assert!(matches!(
        LocationDoc::parse(b"<presence"),
        Err(PidfError::Xml(_))
    ));
    assert!(matches!(LocationDoc::parse(b""), Err(PidfError::Xml(_))));
}

#[test]
fn e13_civic_summary_reads_like_an_address() {
    let c = CivicAddress {
        country: Some("US".into()),
        a1: Some("IL".into()),
        a3: Some("Springfield".into()),
        hno: Some("12".into()),
        rd: Some("Main".into()),
        sts: Some("St".into()),
        flr: Some("3".into()),
        room: Some("301".into()),
        ..CivicAddress::default()
    };
    assert_eq!(
        civic_summary(&c),
        "12 Main St, Floor 3, Room 301, Springfield, IL, US"
    );

    let c = CivicAddress {
        hno: Some("100".into()),
        hns: Some("A".into()),
        prd: Some("N".into()),
        a6: Some("Broadway".into()),
        pod: Some("SW".into()),
        bld: Some("Tower B".into()),
        unit: Some("4".into()),
        flr: Some("floor 12".into()),
        seat: Some("12-044".into()),
        a3: Some("Portland".into()),
        a1: Some("OR".into()),
        pc: Some("97205".into()),
        ..CivicAddress::default()
    };
    assert_eq!(
        civic_summary(&c),
        "100A N Broadway SW, Tower B, Unit 4, floor 12, Seat 12-044, Portland, OR 97205"
    );
    assert_eq!(civic_summary(&CivicAddress::default()), "");
}

#[test]
fn e11_device_id_helpers() {
    for mac in [
        "00:04:5a:1b:2c:3d",
        "00-04-5A-1B-2C-3D",
        "0004.5a1b.2c3d",
        "00045A1B2C3D",
    ] {
        assert_eq!(
            mac_device_id(mac).as_deref(),
            Some("mac:00045a1b2c3d"),
            "{mac}"
        );
    }
    for bad in [
        "",
        "00:04:5a:1b:2c",
        "00:04:5a:1b:2c:3d:4e",
        "zz:04:5a:1b:2c:3d",
    ] {
        assert_eq!(mac_device_id(bad), None, "{bad}");
    }
    assert_eq!(instance_device_id("<urn:uuid:x>"), "urn:uuid:x");
    assert_eq!(instance_device_id("urn:uuid:x"), "urn:uuid:x");
    let mut doc = LocationDoc::new("pres:a@b");
    doc.device_id = Some("serial:42".into());
    assert_eq!(doc.device_ref(), Some(DeviceRef::Other("serial:42")));
}
