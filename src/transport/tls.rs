//! The roots TLS trusts: webpki's built-in roots (Mozilla's), plus the CA certificates of a
//! PEM bundle (`AWS_CA_BUNDLE` for AWS, `CW2MACKEREL_CA_BUNDLE` for Mackerel) for a network
//! where a TLS-inspecting proxy or a private CA signs the certificates. A bundle adds to the
//! built-in roots, never replaces them.

use crate::fault::Invalid;
use crate::files;
use rustls_pki_types::{CertificateDer, TrustAnchor};
use std::path::Path;
use ureq::tls::{Certificate, PemItem, RootCerts};

/// The CA bundles trusted beside the built-in roots.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Trust {
    /// `AWS_CA_BUNDLE` (or the profile's `ca_bundle`): AWS, and the credential endpoints when
    /// they are https (plain http ones have no certificate to check).
    pub aws: Option<Bundle>,
    /// `CW2MACKEREL_CA_BUNDLE`: Mackerel.
    pub mackerel: Option<Bundle>,
}

/// A bundle larger than this is a mistake (Mozilla's whole bundle is about 220 KB).
const BUNDLE_LIMIT: u64 = 4 << 20;

/// The CA certificates of a PEM file, each one webpki takes as a root.
#[derive(Clone, PartialEq)]
pub struct Bundle {
    /// Each certificate, DER.
    certs: Vec<Vec<u8>>,
}

/// The number of certificates only.
impl std::fmt::Debug for Bundle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Bundle({} certificates)", self.certs.len())
    }
}

impl Bundle {
    /// Reads the PEM file at `path`: every `CERTIFICATE` in it (keys and other blocks are
    /// passed over). A file that cannot be read, holds no certificate, or holds one that
    /// cannot be a root is an error, so that a mistake shows before any call rather than as
    /// a certificate refused later.
    pub fn read(path: &str) -> Result<Bundle, Invalid> {
        let bytes = files::read(Path::new(path), BUNDLE_LIMIT)
            .map_err(|e| Invalid::new(format!("reading the CA bundle {path}: {e}")))?;
        let mut certs = Vec::new();
        for item in ureq::tls::parse_pem(&bytes) {
            match item {
                Ok(PemItem::Certificate(cert)) => {
                    let der = CertificateDer::from(cert.der());
                    webpki::anchor_from_trusted_cert(&der).map_err(|e| {
                        Invalid::new(format!(
                            "the CA bundle {path}: certificate {} cannot be read ({e:?})",
                            certs.len() + 1
                        ))
                    })?;
                    certs.push(cert.der().to_vec());
                }
                Ok(_) => {}
                Err(e) => {
                    return Err(Invalid::new(format!(
                        "the CA bundle {path} is not valid PEM: {e}"
                    )));
                }
            }
        }
        match certs.is_empty() {
            true => Err(Invalid::new(format!(
                "the CA bundle {path} holds no PEM certificate (-----BEGIN CERTIFICATE-----)"
            ))),
            false => Ok(Bundle { certs }),
        }
    }
}

/// The roots of an agent: webpki's, and the bundle's too if there is one. ureq takes either
/// its built-in webpki roots or a list of certificates, so with a bundle the list is webpki's
/// anchors, each written as a certificate webpki reads back as that same anchor, then the
/// bundle's.
pub fn roots(bundle: Option<&Bundle>) -> RootCerts {
    match bundle {
        None => RootCerts::WebPki,
        Some(b) => webpki_roots::TLS_SERVER_ROOTS
            .iter()
            .map(|a| Certificate::from_der(&anchor_certificate(a)).to_owned())
            .chain(b.certs.iter().map(|c| Certificate::from_der(c).to_owned()))
            .collect::<Vec<_>>()
            .into(),
    }
}

/// The tag of an ASN.1 DER element.
const SEQUENCE: u8 = 0x30;

/// One DER element: tag, definite length, contents.
fn der(tag: u8, contents: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    let len = contents.len();
    if len < 0x80 {
        out.push(len as u8);
    } else {
        // The long form: 0x80 | the number of length bytes, then the length, big-endian.
        let bytes = len.to_be_bytes();
        let skip = bytes.iter().take_while(|b| **b == 0).count();
        out.push(0x80 | (bytes.len() - skip) as u8);
        out.extend_from_slice(&bytes[skip..]);
    }
    out.extend_from_slice(contents);
    out
}

/// A trust anchor as the smallest X.509 v3 certificate that carries it. webpki takes exactly
/// three things from a root (`anchor_from_trusted_cert`): the subject, the public key and the
/// name constraints; it checks neither a root's signature nor its validity, so the rest is
/// filler (an empty algorithm, issuer = subject, an empty validity and signature).
fn anchor_certificate(anchor: &TrustAnchor<'_>) -> Vec<u8> {
    // id-ce-nameConstraints, 2.5.29.30.
    const NAME_CONSTRAINTS: [u8; 3] = [0x55, 0x1d, 0x1e];
    let algorithm = der(SEQUENCE, &[]);
    let subject = der(SEQUENCE, &anchor.subject);
    let mut tbs = der(0xa0, &der(0x02, &[2])); // [0] version: v3
    tbs.extend(der(0x02, &[1])); // serial number
    tbs.extend(&algorithm);
    tbs.extend(&subject); // issuer
    tbs.extend(der(SEQUENCE, &[])); // validity
    tbs.extend(&subject);
    tbs.extend(der(SEQUENCE, &anchor.subject_public_key_info));
    if let Some(nc) = &anchor.name_constraints {
        let mut ext = der(0x06, &NAME_CONSTRAINTS);
        ext.extend(der(0x04, &der(SEQUENCE, nc)));
        tbs.extend(der(0xa3, &der(SEQUENCE, &der(SEQUENCE, &ext))));
    }
    let mut cert = der(SEQUENCE, &tbs);
    cert.extend(algorithm);
    cert.extend(der(0x03, &[0])); // an empty signature, no unused bits
    der(SEQUENCE, &cert)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every built-in root goes through [`anchor_certificate`] and comes back from webpki as
    /// the very same anchor: with a bundle, nothing webpki trusted is lost or changed.
    #[test]
    fn webpki_reads_every_built_in_root_back() {
        assert!(webpki_roots::TLS_SERVER_ROOTS.len() > 100);
        assert!(
            webpki_roots::TLS_SERVER_ROOTS
                .iter()
                .any(|a| a.name_constraints.is_some())
        );
        for anchor in webpki_roots::TLS_SERVER_ROOTS {
            let cert = CertificateDer::from(anchor_certificate(anchor));
            let back = webpki::anchor_from_trusted_cert(&cert).unwrap();
            assert_eq!(&back, anchor);
        }
        assert!(matches!(roots(None), RootCerts::WebPki));
        let bundle = Bundle {
            certs: vec![anchor_certificate(&webpki_roots::TLS_SERVER_ROOTS[0])],
        };
        let RootCerts::Specific(list) = roots(Some(&bundle)) else {
            panic!("a bundle makes a list of roots");
        };
        assert_eq!(list.len(), webpki_roots::TLS_SERVER_ROOTS.len() + 1);
    }

    #[test]
    fn der_lengths() {
        assert_eq!(der(4, &[9; 3]), [4, 3, 9, 9, 9]);
        assert_eq!(der(4, &[0; 200])[..3], [4, 0x81, 200]);
        assert_eq!(der(4, &[0; 300])[..4], [4, 0x82, 1, 44]);
        assert_eq!(der(4, &[0; 70000])[..5], [4, 0x83, 1, 0x11, 0x70]);
    }
}
