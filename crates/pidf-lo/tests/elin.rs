//! The ELIN is an E.164 number: `+` and 2 to 15 digits (E11, E12).

use pidf_lo::{Elin, ElinError};

#[test]
fn e11_elin_accepts_e164() {
    for ok in ["+15551234567", "+12", "+123456789012345", "+442071234567"] {
        let elin = Elin::parse(ok).unwrap();
        assert_eq!(elin.as_str(), ok);
        assert_eq!(elin.to_string(), ok);
        assert_eq!(elin.digits(), &ok[1..]);
        assert_eq!(ok.parse::<Elin>().unwrap(), elin);
    }
}

#[test]
fn e11_elin_rejects_what_is_not_e164() {
    assert_eq!(Elin::parse(""), Err(ElinError::Empty));
    assert!(matches!(
        Elin::parse("15551234567"),
        Err(ElinError::MissingPlus(_))
    ));
    assert!(matches!(
        Elin::parse("tel:+15551234567"),
        Err(ElinError::MissingPlus(_))
    ));
    assert!(matches!(
        Elin::parse(" +15551234567"),
        Err(ElinError::MissingPlus(_))
    ));
    assert_eq!(
        Elin::parse("+1 555 123"),
        Err(ElinError::NotADigit {
            value: "+1 555 123".into(),
            found: ' ',
            index: 2
        })
    );
    assert!(matches!(
        Elin::parse("+1-555"),
        Err(ElinError::NotADigit { found: '-', .. })
    ));
    assert!(matches!(
        Elin::parse("+1555123456７"),
        Err(ElinError::NotADigit { .. })
    ));
    assert!(matches!(
        Elin::parse("+"),
        Err(ElinError::Length { digits: 0, .. })
    ));
    assert!(matches!(
        Elin::parse("+1"),
        Err(ElinError::Length { digits: 1, .. })
    ));
    assert!(matches!(
        Elin::parse("+1234567890123456"),
        Err(ElinError::Length { digits: 16, .. })
    ));
    assert_eq!(
        Elin::parse("+1").unwrap_err().to_string(),
        "the ELIN \"+1\" has 1 digits; E.164 allows 2 to 15"
    );
}
