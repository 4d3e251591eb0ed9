//! RFC 3161 trusted timestamps over signature files (issue 24).
//!
//! A time-stamping authority (TSA) signs "these bytes existed no later than genTime". airlock
//! stamps the exact bytes of `signatures/<KEYID>.minisig` and stores the TSA's whole
//! `TimeStampResp` beside it as `signatures/<KEYID>.tsr` (what `openssl ts -reply -out`
//! writes and `openssl ts -verify -in` reads).
//!
//! [`verify_timestamp`] is the one function the enclave uses: pure, offline, no clock. It
//! checks, in order (docs/design/keys-and-time.md §2.3): the response parses and was
//! granted; the token is CMS `SignedData` over a `TSTInfo`; the imprint is the hash of the
//! stamped bytes as read; the signed attributes name the content type, the digest of the
//! `TSTInfo` and the TSA certificate (ESSCertID or ESSCertIDv2); the signature verifies
//! with that certificate's key; the certificate is for time-stamping (critical EKU) and
//! chains, each link's signature verified, to a certificate the policy pins; genTime lies
//! inside every chain certificate's validity (checked at genTime, never at the enclave's
//! clock); and the TSA policy OID is one the policy allows. Not checked: the nonce (the
//! connected side's job, [`check_response`]) and revocation (offline there is none).
//!
//! Crates: `cms` 0.2 and `x509-cert` 0.2 parse; nothing here trusts them to verify. They
//! are on `der` 0.7 while the rest of the core is on 0.8: the only `der` 0.8 `cms` is a
//! release candidate, so the stable family is used and the two `der` versions never meet
//! (nothing here takes or returns a `der` type). The TSP structures are declared here
//! rather than taken from `x509-tsp` 0.1: it pulls `cmpv2`/`crmf` in for one status type,
//! and its `TSTInfo` refuses the fractional genTime RFC 3161 allows (RustCrypto/formats
//! #2061; Microsoft's TSA sends milliseconds).

use cms::cert::CertificateChoices;
use cms::content_info::ContentInfo;
use cms::signed_data::{SignedData, SignerIdentifier, SignerInfo};
use der::asn1::{Any, Int, ObjectIdentifier, OctetString};
use der::{Decode, DecodeValue, Encode, EncodeValue, FixedTag, Header, Length, Reader, Sequence};
use der::{Tag, Writer};
use sha2::Digest as _;
use x509_cert::Certificate;
use x509_cert::ext::Extensions;
use x509_cert::ext::pkix::{BasicConstraints, ExtendedKeyUsage};
use x509_cert::spki::{AlgorithmIdentifierOwned, SubjectPublicKeyInfoOwned};

use super::TrustError;
use crate::time::Timestamp;

/// Largest `.tsr` read; a real response with one certificate is 1.5-5 KiB.
pub const TIMESTAMP_MAX_BYTES: usize = 64 * 1024;
/// Longest certificate chain followed from the TSA certificate to a pinned one.
pub const MAX_CHAIN: usize = 3;

const ID_SIGNED_DATA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.7.2");
const ID_CT_TSTINFO: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.16.1.4");
const ID_CONTENT_TYPE: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.3");
const ID_MESSAGE_DIGEST: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.4");
const ID_SIGNING_CERT: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.16.2.12");
const ID_SIGNING_CERT_V2: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.16.2.47");
const ID_KP_TIME_STAMPING: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.5.5.7.3.8");
const ID_CE_EKU: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.29.37");
const ID_CE_BASIC_CONSTRAINTS: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.29.19");
const ID_SHA1: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.14.3.2.26");
const ID_SHA256: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.16.840.1.101.3.4.2.1");
const ID_SHA384: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.16.840.1.101.3.4.2.2");
const ID_SHA512: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.16.840.1.101.3.4.2.3");
const ID_RSA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.1");
const ID_RSA_PSS: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.10");
const ID_SHA256_RSA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.11");
const ID_SHA384_RSA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.12");
const ID_SHA512_RSA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.13");
const ID_EC_PUBLIC_KEY: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.2.1");
const ID_P256: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.3.1.7");
const ID_P384: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.132.0.34");
const ID_ECDSA_SHA256: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.4.3.2");
const ID_ECDSA_SHA384: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.4.3.3");
const ID_ECDSA_SHA512: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.4.3.4");
const ID_ED25519: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.101.112");

const ARTIFACT: &str = "timestamp";

/// A TSA the trust policy lists: a certificate (its root, an intermediate, or the TSA
/// certificate itself) that a token's chain must reach.
#[derive(Debug, Clone)]
pub struct PinnedTsa {
    /// The name the policy gives it.
    pub name: String,
    /// The pinned certificate, DER.
    der: Vec<u8>,
    cert: Certificate,
    /// TSA policy OIDs accepted (dotted); empty accepts any.
    pub policy_oids: Vec<String>,
}

impl PinnedTsa {
    /// Parse a pinned certificate (DER) and the policy OIDs allowed with it.
    pub fn new(name: &str, der: &[u8], policy_oids: Vec<String>) -> Result<Self, TrustError> {
        let cert = Certificate::from_der(der).map_err(|e| {
            malformed(format!(
                "pinned certificate of TSA {name:?} is not an X.509 certificate: {e}"
            ))
        })?;
        for oid in &policy_oids {
            ObjectIdentifier::new(oid).map_err(|_| {
                malformed(format!("TSA {name:?}: policy OID {oid:?} is not an OID"))
            })?;
        }
        Ok(PinnedTsa {
            name: name.to_string(),
            der: der.to_vec(),
            cert,
            policy_oids,
        })
    }

    /// The certificate's subject, as text.
    pub fn subject(&self) -> String {
        self.cert.tbs_certificate.subject.to_string()
    }

    /// SHA-256 of the certificate's DER, hex.
    pub fn sha256_hex(&self) -> String {
        hex::encode(sha2::Sha256::digest(&self.der))
    }
}

/// What a valid timestamp says.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct TimeStampFacts {
    /// The TSA's time, whole seconds (fractions truncated: the bound is "no later than").
    pub time: Timestamp,
    /// The accuracy the TSA claims, rounded up to whole seconds (0 when it gives none).
    pub accuracy_secs: u64,
    /// The policy's name for the TSA whose pinned certificate the chain reached.
    pub tsa: String,
    /// The token's serial number, hex.
    pub serial: String,
    /// The TSA policy OID the token names.
    pub policy_oid: String,
}

impl TimeStampFacts {
    /// The earliest real time the stamp proves: genTime minus its accuracy.
    pub fn lower_bound(&self) -> Timestamp {
        self.time
            .plus(-(self.accuracy_secs.min(i64::MAX as u64) as i64))
    }
}

// ---- RFC 3161 structures (§2.4.1, §2.4.2) ----

/// `MessageImprint ::= SEQUENCE { hashAlgorithm AlgorithmIdentifier, hashedMessage OCTET STRING }`
#[derive(Clone, Debug, Eq, PartialEq, Sequence)]
struct MessageImprint {
    hash_algorithm: AlgorithmIdentifierOwned,
    hashed_message: OctetString,
}

/// `TimeStampReq` (RFC 3161 §2.4.1).
#[derive(Clone, Debug, Eq, PartialEq, Sequence)]
struct TimeStampReq {
    version: u8,
    message_imprint: MessageImprint,
    req_policy: Option<ObjectIdentifier>,
    nonce: Option<Int>,
    #[asn1(default = "Default::default")]
    cert_req: bool,
    #[asn1(context_specific = "0", tag_mode = "IMPLICIT", optional = "true")]
    extensions: Option<Extensions>,
}

/// `PKIStatusInfo` (RFC 3161 §2.4.2, from RFC 4210).
#[derive(Clone, Debug, Eq, PartialEq, Sequence)]
struct PkiStatusInfo {
    status: u32,
    status_string: Option<Vec<String>>,
    fail_info: Option<der::asn1::BitString>,
}

/// `TimeStampResp ::= SEQUENCE { status PKIStatusInfo, timeStampToken TimeStampToken OPTIONAL }`
#[derive(Clone, Debug, Eq, PartialEq, Sequence)]
struct TimeStampResp {
    status: PkiStatusInfo,
    time_stamp_token: Option<ContentInfo>,
}

/// `Accuracy` (RFC 3161 §2.4.2).
#[derive(Clone, Debug, Eq, PartialEq, Sequence)]
struct Accuracy {
    seconds: Option<u64>,
    #[asn1(context_specific = "0", tag_mode = "IMPLICIT", optional = "true")]
    millis: Option<u16>,
    #[asn1(context_specific = "1", tag_mode = "IMPLICIT", optional = "true")]
    micros: Option<u16>,
}

/// `TSTInfo` (RFC 3161 §2.4.2), with a genTime that keeps fractional seconds.
#[derive(Clone, Debug, Eq, PartialEq, Sequence)]
struct TstInfo {
    version: u8,
    policy: ObjectIdentifier,
    message_imprint: MessageImprint,
    serial_number: Int,
    gen_time: GenTime,
    accuracy: Option<Accuracy>,
    #[asn1(default = "Default::default")]
    ordering: bool,
    nonce: Option<Int>,
    #[asn1(context_specific = "0", tag_mode = "EXPLICIT", optional = "true")]
    tsa: Option<Any>,
    #[asn1(context_specific = "1", tag_mode = "IMPLICIT", optional = "true")]
    extensions: Option<Extensions>,
}

/// `ESSCertIDv2` (RFC 5035 §4): hash algorithm DEFAULT sha256.
#[derive(Clone, Debug, Eq, PartialEq, Sequence)]
struct EssCertIdV2 {
    hash_algorithm: Option<AlgorithmIdentifierOwned>,
    cert_hash: OctetString,
    issuer_serial: Option<Any>,
}

/// `SigningCertificateV2` (RFC 5035 §3).
#[derive(Clone, Debug, Eq, PartialEq, Sequence)]
struct SigningCertificateV2 {
    certs: Vec<EssCertIdV2>,
    policies: Option<Any>,
}

/// `ESSCertID` (RFC 2634 §5.4.1): a SHA-1 hash of the certificate.
#[derive(Clone, Debug, Eq, PartialEq, Sequence)]
struct EssCertId {
    cert_hash: OctetString,
    issuer_serial: Option<Any>,
}

/// `SigningCertificate` (RFC 2634 §5.4).
#[derive(Clone, Debug, Eq, PartialEq, Sequence)]
struct SigningCertificate {
    certs: Vec<EssCertId>,
    policies: Option<Any>,
}

/// `GeneralizedTime` as RFC 3161 §2.4.2 allows it: `YYYYMMDDhhmmss[.f+]Z`. `der`'s own type
/// refuses the fraction (RFC 5280's profile), so the text is kept and parsed here.
#[derive(Clone, Debug, Eq, PartialEq)]
struct GenTime(String);

impl FixedTag for GenTime {
    const TAG: Tag = Tag::GeneralizedTime;
}

impl<'a> DecodeValue<'a> for GenTime {
    fn decode_value<R: Reader<'a>>(reader: &mut R, header: Header) -> der::Result<Self> {
        let bytes = reader.read_vec(header.length)?;
        let text = String::from_utf8(bytes).map_err(|_| Tag::GeneralizedTime.value_error())?;
        Ok(GenTime(text))
    }
}

impl EncodeValue for GenTime {
    fn value_len(&self) -> der::Result<Length> {
        Length::try_from(self.0.len())
    }
    fn encode_value(&self, writer: &mut impl Writer) -> der::Result<()> {
        writer.write(self.0.as_bytes())
    }
}

impl GenTime {
    /// Seconds since the epoch, the fraction truncated; `None` unless exactly
    /// `YYYYMMDDhhmmss[.d+]Z` with a fraction that has no trailing zero (RFC 3161 §2.4.2).
    fn unix(&self) -> Option<Timestamp> {
        let s = self.0.strip_suffix('Z')?;
        let (whole, frac) = match s.split_once('.') {
            Some((w, f)) => (w, Some(f)),
            None => (s, None),
        };
        if let Some(f) = frac
            && (f.is_empty() || f.ends_with('0') || !f.bytes().all(|b| b.is_ascii_digit()))
        {
            return None;
        }
        if whole.len() != 14 || !whole.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let n = |r: std::ops::Range<usize>| whole[r].parse::<u16>().ok();
        let dt = der::DateTime::new(
            n(0..4)?,
            n(4..6)? as u8,
            n(6..8)? as u8,
            n(8..10)? as u8,
            n(10..12)? as u8,
            n(12..14)? as u8,
        )
        .ok()?;
        i64::try_from(dt.unix_duration().as_secs())
            .ok()
            .map(Timestamp)
    }
}

// ---- errors ----

fn malformed(reason: impl Into<String>) -> TrustError {
    TrustError::TimestampMalformed {
        artifact: ARTIFACT.into(),
        reason: reason.into(),
    }
}

fn bad_sig(reason: impl Into<String>) -> TrustError {
    TrustError::TimestampSignature {
        artifact: ARTIFACT.into(),
        reason: reason.into(),
    }
}

fn der_err(what: &str) -> impl Fn(der::Error) -> TrustError + '_ {
    move |e| malformed(format!("{what}: {e}"))
}

// ---- the connected side ----

/// A nonce for a request, from the operating system's generator.
pub fn random_nonce() -> Result<u64, TrustError> {
    use rand::TryRng as _;
    let mut b = [0u8; 8];
    rand::rngs::SysRng
        .try_fill_bytes(&mut b)
        .map_err(|e| TrustError::Random {
            reason: e.to_string(),
        })?;
    Ok(u64::from_be_bytes(b))
}

/// A DER `TimeStampReq` for SHA-256 of `stamped`, asking for the TSA certificate
/// (`certReq`) and carrying `nonce` (RFC 3161 §2.4.1).
pub fn request_der(stamped: &[u8], nonce: u64) -> Result<Vec<u8>, TrustError> {
    let req = TimeStampReq {
        version: 1,
        message_imprint: MessageImprint {
            hash_algorithm: AlgorithmIdentifierOwned {
                oid: ID_SHA256,
                parameters: None,
            },
            hashed_message: OctetString::new(sha2::Sha256::digest(stamped).to_vec())
                .map_err(der_err("request imprint"))?,
        },
        req_policy: None,
        nonce: Some(nonce_int(nonce)?),
        cert_req: true,
        extensions: None,
    };
    req.to_der().map_err(der_err("request"))
}

/// A positive INTEGER for `nonce` (a leading zero byte keeps the top bit from making it
/// negative; DER wants no other leading zeros).
fn nonce_int(nonce: u64) -> Result<Int, TrustError> {
    let bytes = nonce.to_be_bytes();
    let start = bytes.iter().position(|&b| b != 0).unwrap_or(7);
    let mut v = Vec::with_capacity(9);
    if bytes[start] & 0x80 != 0 {
        v.push(0);
    }
    v.extend_from_slice(&bytes[start..]);
    Int::new(&v).map_err(der_err("nonce"))
}

/// The connected side's check of a TSA's answer before it is written: granted, the nonce
/// of the request, then everything [`verify_timestamp`] checks. With `tsas` empty the chain
/// is only checked to be internally consistent (the signer may not have the enclave's
/// policy); the enclave always checks it against the policy's pins.
pub fn check_response(
    response: &[u8],
    stamped: &[u8],
    nonce: u64,
    tsas: &[PinnedTsa],
) -> Result<TimeStampFacts, TrustError> {
    let parsed = Parsed::new(response)?;
    if parsed.tst.nonce.as_ref() != Some(&nonce_int(nonce)?) {
        return Err(TrustError::TimestampNonce {
            artifact: ARTIFACT.into(),
        });
    }
    parsed.verify(stamped, if tsas.is_empty() { None } else { Some(tsas) })
}

// ---- the verify path ----

/// Verify a stored `TimeStampResp` (`.tsr`) over `stamped` (the `.minisig` bytes as read)
/// against the TSAs the policy pins. Pure and offline: no clock, no network.
pub fn verify_timestamp(
    token: &[u8],
    stamped: &[u8],
    tsas: &[PinnedTsa],
) -> Result<TimeStampFacts, TrustError> {
    Parsed::new(token)?.verify(stamped, Some(tsas))
}

/// A response decoded down to its parts, nothing verified yet.
struct Parsed {
    signed: SignedData,
    signer: SignerInfo,
    econtent: Vec<u8>,
    tst: TstInfo,
}

impl Parsed {
    fn new(bytes: &[u8]) -> Result<Self, TrustError> {
        if bytes.len() > TIMESTAMP_MAX_BYTES {
            return Err(TrustError::TooLarge {
                artifact: ARTIFACT.into(),
                limit: TIMESTAMP_MAX_BYTES as u64,
            });
        }
        let resp = TimeStampResp::from_der(bytes).map_err(der_err("TimeStampResp"))?;
        // 0 granted, 1 grantedWithMods (RFC 3161 §2.4.2); anything else carries no token.
        if resp.status.status > 1 {
            let text = resp.status.status_string.unwrap_or_default().join("; ");
            return Err(TrustError::TimestampNotGranted {
                artifact: ARTIFACT.into(),
                status: format!("status {} {}", resp.status.status, text.trim()),
            });
        }
        let info = resp
            .time_stamp_token
            .ok_or_else(|| malformed("granted response without a token"))?;
        if info.content_type != ID_SIGNED_DATA {
            return Err(malformed(format!(
                "token is {}, not CMS SignedData",
                info.content_type
            )));
        }
        let signed: SignedData = info.content.decode_as().map_err(der_err("SignedData"))?;
        if signed.encap_content_info.econtent_type != ID_CT_TSTINFO {
            return Err(malformed("signed content is not a TSTInfo"));
        }
        let econtent = signed
            .encap_content_info
            .econtent
            .as_ref()
            .ok_or_else(|| malformed("SignedData without its TSTInfo"))?
            .decode_as::<OctetString>()
            .map_err(der_err("TSTInfo wrapper"))?
            .into_bytes();
        let tst = TstInfo::from_der(&econtent).map_err(der_err("TSTInfo"))?;
        if tst.version != 1 {
            return Err(malformed(format!("TSTInfo version {}", tst.version)));
        }
        let signers = signed.signer_infos.0.as_slice();
        let [signer] = signers else {
            return Err(malformed(format!(
                "{} signers; a token has exactly one",
                signers.len()
            )));
        };
        let signer = signer.clone();
        Ok(Parsed {
            signed,
            signer,
            econtent,
            tst,
        })
    }

    fn verify(
        &self,
        stamped: &[u8],
        tsas: Option<&[PinnedTsa]>,
    ) -> Result<TimeStampFacts, TrustError> {
        self.check_imprint(stamped)?;
        let digest = HashAlg::from_oid(&self.signer.digest_alg.oid)?;
        let signed_attrs = self.check_signed_attrs(digest)?;
        let pool = self.cert_pool(tsas.unwrap_or_default());
        let leaf = self.signer_cert(&pool)?;
        check_ess_cert_id(&self.signer, &leaf.der)?;
        check_tsa_usage(leaf.cert)?;
        let scheme = Scheme::for_signer(&self.signer.signature_algorithm.oid, digest)?;
        verify_with(
            &leaf.cert.tbs_certificate.subject_public_key_info,
            scheme,
            &signed_attrs,
            self.signer.signature.as_bytes(),
        )
        .map_err(|reason| bad_sig(format!("token signature: {reason}")))?;
        let time = self
            .tst
            .gen_time
            .unix()
            .ok_or_else(|| malformed(format!("genTime {:?}", self.tst.gen_time.0)))?;
        let leaf_subject = leaf.cert.tbs_certificate.subject.to_string();
        let chain = chain_to_pin(leaf, &pool, tsas)?;
        for c in &chain.certs {
            check_validity(c.cert, time)?;
        }
        let tsa = match chain.pin {
            Some(pin) => {
                let oid = self.tst.policy.to_string();
                if !pin.policy_oids.is_empty() && !pin.policy_oids.contains(&oid) {
                    return Err(TrustError::TimestampPolicy {
                        artifact: ARTIFACT.into(),
                        reason: format!("{oid} is not listed for TSA {:?}", pin.name),
                    });
                }
                pin.name.clone()
            }
            None => leaf_subject,
        };
        Ok(TimeStampFacts {
            time,
            accuracy_secs: self.tst.accuracy.as_ref().map_or(0, accuracy_secs),
            tsa,
            serial: hex::encode(self.tst.serial_number.as_bytes()),
            policy_oid: self.tst.policy.to_string(),
        })
    }

    /// The imprint is the hash of the stamped bytes exactly as read.
    fn check_imprint(&self, stamped: &[u8]) -> Result<(), TrustError> {
        let mi = &self.tst.message_imprint;
        let alg = HashAlg::from_oid(&mi.hash_algorithm.oid)?;
        if alg == HashAlg::Sha1 {
            return Err(TrustError::TimestampAlgorithm {
                artifact: ARTIFACT.into(),
                algorithm: "SHA-1 message imprint".into(),
            });
        }
        if alg.hash(stamped) != mi.hashed_message.as_bytes() {
            return Err(TrustError::TimestampImprint {
                artifact: ARTIFACT.into(),
            });
        }
        Ok(())
    }

    /// `contentType` and `messageDigest` (RFC 5652 §5.3); returns the DER the signature is
    /// over: the attributes as a `SET OF` (RFC 5652 §5.4).
    fn check_signed_attrs(&self, digest: HashAlg) -> Result<Vec<u8>, TrustError> {
        let attrs = self
            .signer
            .signed_attrs
            .as_ref()
            .ok_or_else(|| malformed("signer without signed attributes"))?;
        let ct = single_attr(attrs, &ID_CONTENT_TYPE, "contentType")?
            .decode_as::<ObjectIdentifier>()
            .map_err(der_err("contentType"))?;
        if ct != ID_CT_TSTINFO {
            return Err(bad_sig("signed contentType is not TSTInfo"));
        }
        let md = single_attr(attrs, &ID_MESSAGE_DIGEST, "messageDigest")?
            .decode_as::<OctetString>()
            .map_err(der_err("messageDigest"))?;
        if md.as_bytes() != digest.hash(&self.econtent) {
            return Err(bad_sig(
                "messageDigest does not match the TSTInfo (tampered)",
            ));
        }
        attrs.to_der().map_err(der_err("signed attributes"))
    }

    /// Certificates the token carries, then the pinned ones (a TSA may send none).
    fn cert_pool<'a>(&'a self, tsas: &'a [PinnedTsa]) -> Vec<CertRef<'a>> {
        let mut pool = Vec::new();
        if let Some(set) = &self.signed.certificates {
            for c in set.0.iter() {
                if let CertificateChoices::Certificate(cert) = c
                    && let Ok(der) = cert.to_der()
                {
                    pool.push(CertRef { cert, der });
                }
            }
        }
        for t in tsas {
            pool.push(CertRef {
                cert: &t.cert,
                der: t.der.clone(),
            });
        }
        pool
    }

    /// The certificate `sid` names.
    fn signer_cert<'a>(&self, pool: &[CertRef<'a>]) -> Result<CertRef<'a>, TrustError> {
        let found = pool.iter().find(|c| match &self.signer.sid {
            SignerIdentifier::IssuerAndSerialNumber(ias) => {
                c.cert.tbs_certificate.issuer == ias.issuer
                    && c.cert.tbs_certificate.serial_number == ias.serial_number
            }
            SignerIdentifier::SubjectKeyIdentifier(ski) => {
                subject_key_id(c.cert).is_some_and(|k| k == ski.0.as_bytes())
            }
        });
        found
            .cloned()
            .ok_or_else(|| TrustError::TimestampUnlistedTsa {
                artifact: ARTIFACT.into(),
                reason: "the TSA certificate is neither in the token nor pinned".into(),
            })
    }
}

fn accuracy_secs(a: &Accuracy) -> u64 {
    let sub_micros = u64::from(a.millis.unwrap_or(0)) * 1000 + u64::from(a.micros.unwrap_or(0));
    a.seconds
        .unwrap_or(0)
        .saturating_add(sub_micros.div_ceil(1_000_000))
}

fn single_attr<'a>(
    attrs: &'a cms::signed_data::SignedAttributes,
    oid: &ObjectIdentifier,
    what: &str,
) -> Result<&'a Any, TrustError> {
    let mut found = attrs.iter().filter(|a| &a.oid == oid);
    match (found.next(), found.next()) {
        (Some(a), None) => match a.values.as_slice() {
            [v] => Ok(v),
            _ => Err(malformed(format!("{what} attribute must have one value"))),
        },
        (None, _) => Err(malformed(format!("no {what} signed attribute"))),
        (Some(_), Some(_)) => Err(malformed(format!("{what} signed attribute twice"))),
    }
}

/// One certificate and its DER (pins are recognised by their DER).
#[derive(Clone)]
struct CertRef<'a> {
    cert: &'a Certificate,
    der: Vec<u8>,
}

fn extension<'a>(
    cert: &'a Certificate,
    oid: &ObjectIdentifier,
) -> Option<&'a x509_cert::ext::Extension> {
    cert.tbs_certificate
        .extensions
        .as_ref()?
        .iter()
        .find(|e| &e.extn_id == oid)
}

fn subject_key_id(cert: &Certificate) -> Option<Vec<u8>> {
    let oid = ObjectIdentifier::new_unwrap("2.5.29.14");
    let ext = extension(cert, &oid)?;
    OctetString::from_der(ext.extn_value.as_bytes())
        .ok()
        .map(OctetString::into_bytes)
}

/// The signer certificate's hash in `signingCertificateV2` (or v1): binds the signature
/// to that certificate, not merely to its key (RFC 5816, RFC 2634 §5.4).
fn check_ess_cert_id(signer: &SignerInfo, cert_der: &[u8]) -> Result<(), TrustError> {
    let attrs = signer
        .signed_attrs
        .as_ref()
        .ok_or_else(|| malformed("signer without signed attributes"))?;
    // v2 when the signer sent one (then it alone counts, strictly), else v1.
    let has_v2 = attrs.iter().any(|a| a.oid == ID_SIGNING_CERT_V2);
    let (alg, hash) = if has_v2 {
        let v2 = single_attr(attrs, &ID_SIGNING_CERT_V2, "signingCertificateV2")?;
        let sc: SigningCertificateV2 = v2.decode_as().map_err(der_err("signingCertificateV2"))?;
        let first = sc
            .certs
            .into_iter()
            .next()
            .ok_or_else(|| malformed("signingCertificateV2 lists no certificate"))?;
        let alg = match &first.hash_algorithm {
            Some(a) => HashAlg::from_oid(&a.oid)?,
            None => HashAlg::Sha256,
        };
        (alg, first.cert_hash.into_bytes())
    } else {
        let v1 = single_attr(
            attrs,
            &ID_SIGNING_CERT,
            "signingCertificate or signingCertificateV2",
        )?;
        let sc: SigningCertificate = v1.decode_as().map_err(der_err("signingCertificate"))?;
        let first = sc
            .certs
            .into_iter()
            .next()
            .ok_or_else(|| malformed("signingCertificate lists no certificate"))?;
        (HashAlg::Sha1, first.cert_hash.into_bytes())
    };
    if alg.hash(cert_der) != hash {
        return Err(bad_sig(
            "the signed ESSCertID does not name the certificate the token was signed with",
        ));
    }
    Ok(())
}

/// RFC 3161 §2.3: the TSA certificate has exactly the `timeStamping` extended key usage,
/// marked critical.
fn check_tsa_usage(cert: &Certificate) -> Result<(), TrustError> {
    let subject = cert.tbs_certificate.subject.to_string();
    let ext = extension(cert, &ID_CE_EKU).ok_or_else(|| TrustError::TimestampUnlistedTsa {
        artifact: ARTIFACT.into(),
        reason: format!("certificate {subject:?} has no extended key usage timeStamping"),
    })?;
    let eku = ExtendedKeyUsage::from_der(ext.extn_value.as_bytes())
        .map_err(der_err("extendedKeyUsage"))?;
    if !ext.critical || eku.0 != [ID_KP_TIME_STAMPING] {
        return Err(TrustError::TimestampUnlistedTsa {
            artifact: ARTIFACT.into(),
            reason: format!(
                "certificate {subject:?}: extended key usage must be only timeStamping, critical \
                 (RFC 3161 section 2.3)"
            ),
        });
    }
    Ok(())
}

/// The chain from the signer certificate to a pinned one, each link's signature verified.
struct Chain<'a> {
    certs: Vec<CertRef<'a>>,
    pin: Option<&'a PinnedTsa>,
}

fn chain_to_pin<'a>(
    leaf: CertRef<'a>,
    pool: &[CertRef<'a>],
    tsas: Option<&'a [PinnedTsa]>,
) -> Result<Chain<'a>, TrustError> {
    let pinned = |c: &CertRef<'a>| tsas.and_then(|t| t.iter().find(|p| p.der == c.der));
    let mut certs = vec![leaf];
    loop {
        let cur = certs
            .last()
            .cloned()
            .ok_or_else(|| malformed("empty chain"))?;
        if let Some(pin) = pinned(&cur) {
            return Ok(Chain {
                certs,
                pin: Some(pin),
            });
        }
        let issuer = pool.iter().find(|c| {
            c.der != cur.der
                && c.cert.tbs_certificate.subject == cur.cert.tbs_certificate.issuer
                && verify_cert_signature(cur.cert, c.cert).is_ok()
        });
        let Some(issuer) = issuer else {
            // Without pins (the connected side), a chain that ends is all there is to check.
            if tsas.is_none() {
                return Ok(Chain { certs, pin: None });
            }
            return Err(TrustError::TimestampUnlistedTsa {
                artifact: ARTIFACT.into(),
                reason: format!(
                    "certificate {:?} (issued by {:?}) does not chain to a TSA the policy lists",
                    cur.cert.tbs_certificate.subject.to_string(),
                    cur.cert.tbs_certificate.issuer.to_string()
                ),
            });
        };
        if !is_ca(issuer.cert) {
            return Err(TrustError::TimestampUnlistedTsa {
                artifact: ARTIFACT.into(),
                reason: format!(
                    "issuer {:?} is not a CA (basicConstraints)",
                    issuer.cert.tbs_certificate.subject.to_string()
                ),
            });
        }
        if certs.len() >= MAX_CHAIN {
            return Err(TrustError::TimestampUnlistedTsa {
                artifact: ARTIFACT.into(),
                reason: format!("no pinned certificate within {MAX_CHAIN} links"),
            });
        }
        certs.push(issuer.clone());
    }
}

fn is_ca(cert: &Certificate) -> bool {
    extension(cert, &ID_CE_BASIC_CONSTRAINTS)
        .and_then(|e| BasicConstraints::from_der(e.extn_value.as_bytes()).ok())
        .is_some_and(|bc| bc.ca)
}

fn verify_cert_signature(cert: &Certificate, issuer: &Certificate) -> Result<(), String> {
    let scheme =
        Scheme::for_certificate(&cert.signature_algorithm.oid).map_err(|e| e.to_string())?;
    let tbs = cert.tbs_certificate.to_der().map_err(|e| e.to_string())?;
    let sig = cert
        .signature
        .as_bytes()
        .ok_or_else(|| "signature is not whole bytes".to_string())?;
    verify_with(
        &issuer.tbs_certificate.subject_public_key_info,
        scheme,
        &tbs,
        sig,
    )
}

/// genTime inside the certificate's validity, judged at genTime (never the enclave clock).
fn check_validity(cert: &Certificate, at: Timestamp) -> Result<(), TrustError> {
    let v = &cert.tbs_certificate.validity;
    let secs = |t: x509_cert::time::Time| t.to_unix_duration().as_secs() as i64;
    let (nb, na) = (secs(v.not_before), secs(v.not_after));
    if at.0 < nb || at.0 > na {
        return Err(TrustError::TimestampCertValidity {
            artifact: ARTIFACT.into(),
            reason: format!(
                "genTime {at}, certificate {:?} valid {} to {}",
                cert.tbs_certificate.subject.to_string(),
                Timestamp(nb),
                Timestamp(na)
            ),
        });
    }
    Ok(())
}

// ---- algorithms ----

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum HashAlg {
    Sha1,
    Sha256,
    Sha384,
    Sha512,
}

impl HashAlg {
    fn from_oid(oid: &ObjectIdentifier) -> Result<Self, TrustError> {
        Ok(match *oid {
            ID_SHA1 => HashAlg::Sha1,
            ID_SHA256 => HashAlg::Sha256,
            ID_SHA384 => HashAlg::Sha384,
            ID_SHA512 => HashAlg::Sha512,
            other => {
                return Err(TrustError::TimestampAlgorithm {
                    artifact: ARTIFACT.into(),
                    algorithm: format!("digest {other}"),
                });
            }
        })
    }

    fn hash(self, data: &[u8]) -> Vec<u8> {
        match self {
            HashAlg::Sha1 => {
                use sha1::Digest as _;
                sha1::Sha1::digest(data).to_vec()
            }
            HashAlg::Sha256 => sha2::Sha256::digest(data).to_vec(),
            HashAlg::Sha384 => sha2::Sha384::digest(data).to_vec(),
            HashAlg::Sha512 => sha2::Sha512::digest(data).to_vec(),
        }
    }

    /// The DER `DigestInfo` prefix PKCS #1 v1.5 signatures carry (RFC 8017 §9.2, note 1).
    fn pkcs1_prefix(self) -> Option<&'static [u8]> {
        match self {
            HashAlg::Sha1 => None,
            HashAlg::Sha256 => Some(&[
                0x30, 0x31, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02,
                0x01, 0x05, 0x00, 0x04, 0x20,
            ]),
            HashAlg::Sha384 => Some(&[
                0x30, 0x41, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02,
                0x02, 0x05, 0x00, 0x04, 0x30,
            ]),
            HashAlg::Sha512 => Some(&[
                0x30, 0x51, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02,
                0x03, 0x05, 0x00, 0x04, 0x40,
            ]),
        }
    }
}

/// The signature schemes accepted: RSA PKCS #1 v1.5, ECDSA P-256/P-384, Ed25519. Each is
/// code a reviewer reads, so anything else (RSA-PSS, SHA-1, other curves) is refused by name.
#[derive(Clone, Copy, Debug)]
enum Scheme {
    Rsa(HashAlg),
    Ecdsa(HashAlg),
    Ed25519,
}

impl Scheme {
    /// A SignerInfo names `rsaEncryption` or a combined OID; the digest is `digestAlgorithm`.
    fn for_signer(oid: &ObjectIdentifier, digest: HashAlg) -> Result<Self, TrustError> {
        if digest == HashAlg::Sha1 {
            return Err(TrustError::TimestampAlgorithm {
                artifact: ARTIFACT.into(),
                algorithm: "SHA-1 signature digest".into(),
            });
        }
        match *oid {
            ID_RSA => Ok(Scheme::Rsa(digest)),
            ID_ED25519 => Ok(Scheme::Ed25519),
            _ => {
                let s = Self::for_certificate(oid)?;
                match s {
                    Scheme::Rsa(h) | Scheme::Ecdsa(h) if h != digest => Err(malformed(format!(
                        "signature algorithm {oid} disagrees with digest algorithm"
                    ))),
                    s => Ok(s),
                }
            }
        }
    }

    fn for_certificate(oid: &ObjectIdentifier) -> Result<Self, TrustError> {
        Ok(match *oid {
            ID_SHA256_RSA => Scheme::Rsa(HashAlg::Sha256),
            ID_SHA384_RSA => Scheme::Rsa(HashAlg::Sha384),
            ID_SHA512_RSA => Scheme::Rsa(HashAlg::Sha512),
            ID_ECDSA_SHA256 => Scheme::Ecdsa(HashAlg::Sha256),
            ID_ECDSA_SHA384 => Scheme::Ecdsa(HashAlg::Sha384),
            ID_ECDSA_SHA512 => Scheme::Ecdsa(HashAlg::Sha512),
            ID_ED25519 => Scheme::Ed25519,
            ID_RSA_PSS => {
                return Err(TrustError::TimestampAlgorithm {
                    artifact: ARTIFACT.into(),
                    algorithm: "RSASSA-PSS".into(),
                });
            }
            other => {
                return Err(TrustError::TimestampAlgorithm {
                    artifact: ARTIFACT.into(),
                    algorithm: format!("signature {other}"),
                });
            }
        })
    }
}

/// Verify `sig` over `msg` with `spki`'s key; the key type must match the scheme.
fn verify_with(
    spki: &SubjectPublicKeyInfoOwned,
    scheme: Scheme,
    msg: &[u8],
    sig: &[u8],
) -> Result<(), String> {
    let key = spki
        .subject_public_key
        .as_bytes()
        .ok_or_else(|| "public key is not whole bytes".to_string())?;
    let key_alg = spki.algorithm.oid;
    let want = match scheme {
        Scheme::Rsa(_) => ID_RSA,
        Scheme::Ecdsa(_) => ID_EC_PUBLIC_KEY,
        Scheme::Ed25519 => ID_ED25519,
    };
    if key_alg != want {
        return Err(format!("a {scheme:?} signature with a {key_alg} key"));
    }
    match scheme {
        Scheme::Rsa(h) => verify_rsa(key, h, msg, sig),
        Scheme::Ecdsa(h) => {
            let curve = spki
                .algorithm
                .parameters
                .as_ref()
                .and_then(|p| p.decode_as::<ObjectIdentifier>().ok())
                .ok_or("EC key without a named curve")?;
            verify_ecdsa(key, curve, &h.hash(msg), sig)
        }
        Scheme::Ed25519 => verify_ed25519(key, msg, sig),
    }
}

/// RSASSA-PKCS1-v1_5 (RFC 8017 §8.2) with SHA-256/384/512.
fn verify_rsa(key: &[u8], h: HashAlg, msg: &[u8], sig: &[u8]) -> Result<(), String> {
    use rsa::pkcs1::DecodeRsaPublicKey as _;
    let pk = rsa::RsaPublicKey::from_pkcs1_der(key).map_err(|e| format!("RSA key: {e}"))?;
    let prefix = h.pkcs1_prefix().ok_or("SHA-1 is refused")?;
    let padding = rsa::Pkcs1v15Sign {
        hash_len: Some(h.hash(b"").len()),
        prefix: prefix.into(),
    };
    pk.verify(padding, &h.hash(msg), sig)
        .map_err(|_| "RSA signature does not verify".to_string())
}

/// ECDSA over a digest already taken, P-256 or P-384, DER signature (RFC 5753).
fn verify_ecdsa(
    key: &[u8],
    curve: ObjectIdentifier,
    digest: &[u8],
    sig: &[u8],
) -> Result<(), String> {
    use p256::ecdsa::signature::hazmat::PrehashVerifier as _;
    match curve {
        ID_P256 => {
            let vk = p256::ecdsa::VerifyingKey::from_sec1_bytes(key)
                .map_err(|_| "invalid P-256 key".to_string())?;
            let s = p256::ecdsa::Signature::from_der(sig)
                .map_err(|_| "malformed ECDSA signature".to_string())?;
            vk.verify_prehash(digest, &s)
                .map_err(|_| "ECDSA P-256 signature does not verify".to_string())
        }
        ID_P384 => {
            let vk = p384::ecdsa::VerifyingKey::from_sec1_bytes(key)
                .map_err(|_| "invalid P-384 key".to_string())?;
            let s = p384::ecdsa::Signature::from_der(sig)
                .map_err(|_| "malformed ECDSA signature".to_string())?;
            vk.verify_prehash(digest, &s)
                .map_err(|_| "ECDSA P-384 signature does not verify".to_string())
        }
        other => Err(format!("EC curve {other} is not accepted (P-256, P-384)")),
    }
}

/// Pure Ed25519 over the message itself (RFC 8419), strict verification.
fn verify_ed25519(key: &[u8], msg: &[u8], sig: &[u8]) -> Result<(), String> {
    let bytes: [u8; 32] = key.try_into().map_err(|_| "Ed25519 key is not 32 bytes")?;
    let vk = ed25519_dalek::VerifyingKey::from_bytes(&bytes)
        .map_err(|_| "invalid Ed25519 key".to_string())?;
    let s = ed25519_dalek::Signature::from_slice(sig)
        .map_err(|_| "Ed25519 signature is not 64 bytes".to_string())?;
    vk.verify_strict(msg, &s)
        .map_err(|_| "Ed25519 signature does not verify".to_string())
}

#[cfg(test)]
mod tests {
    // `verify_timestamp` against tokens from OpenSSL's own TSA (`openssl ts -reply`), each
    // case also judged by `openssl ts -verify`, so airlock and OpenSSL agree on both sides.

    use std::path::{Path, PathBuf};
    use std::process::Command;

    use super::*;

    /// A TSA made by `openssl` in a temporary directory: an Ed25519 root and a TSA
    /// certificate of `key` (`ec` for P-256, `ec384`, `rsa`).
    struct Tsa {
        dir: tempfile::TempDir,
        key: &'static str,
    }

    fn openssl(dir: &Path, args: &[&str]) -> std::process::Output {
        Command::new("openssl")
            .args(args)
            .current_dir(dir)
            .output()
            .expect("run openssl")
    }

    fn ok(dir: &Path, args: &[&str]) {
        let out = openssl(dir, args);
        assert!(
            out.status.success(),
            "openssl {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    const TSA_EXT: &str = "basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\n\
                           extendedKeyUsage=critical,timeStamping\n";

    impl Tsa {
        fn new(key: &'static str, root: &str) -> Tsa {
            let dir = tempfile::tempdir().expect("tempdir");
            let d = dir.path();
            ok(
                d,
                &[
                    "req",
                    "-x509",
                    "-newkey",
                    "ed25519",
                    "-nodes",
                    "-keyout",
                    "ca.key",
                    "-out",
                    "ca.pem",
                    "-days",
                    "3650",
                    "-subj",
                    root,
                    "-addext",
                    "basicConstraints=critical,CA:TRUE",
                    "-addext",
                    "keyUsage=critical,keyCertSign,cRLSign",
                ],
            );
            let newkey: &[&str] = match key {
                "ec" => &["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"],
                "ec384" => &["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-384"],
                _ => &["-newkey", "rsa:2048"],
            };
            let mut args = vec!["req"];
            args.extend_from_slice(newkey);
            args.extend_from_slice(&[
                "-nodes",
                "-keyout",
                "tsa.key",
                "-out",
                "tsa.csr",
                "-subj",
                "/CN=test TSA",
            ]);
            ok(d, &args);
            std::fs::write(d.join("tsa.ext"), TSA_EXT).expect("write");
            ok(
                d,
                &[
                    "x509",
                    "-req",
                    "-in",
                    "tsa.csr",
                    "-CA",
                    "ca.pem",
                    "-CAkey",
                    "ca.key",
                    "-CAcreateserial",
                    "-days",
                    "365",
                    "-extfile",
                    "tsa.ext",
                    "-out",
                    "tsa.pem",
                ],
            );
            std::fs::write(d.join("tsaserial"), "01\n").expect("write");
            Tsa { dir, key }.config("")
        }

        fn config(self, extra: &str) -> Tsa {
            let cnf = format!(
                "[tsa]\ndefault_tsa = t\n[t]\nserial = ./tsaserial\ncrypto_device = builtin\n\
                 signer_cert = ./tsa.pem\ncerts = ./ca.pem\nsigner_key = ./tsa.key\n\
                 signer_digest = {}\ndefault_policy = 1.3.6.1.4.1.99999.1\n\
                 other_policies = 1.3.6.1.4.1.99999.2\n\
                 digests = sha256, sha384, sha512\naccuracy = secs:1\nordering = yes\n\
                 tsa_name = yes\ness_cert_id_chain = no\ness_cert_id_alg = sha256\n{extra}",
                if self.key == "ec384" {
                    "sha384"
                } else {
                    "sha256"
                }
            );
            std::fs::write(self.dir.path().join("tsa.cnf"), cnf).expect("write");
            self
        }

        fn path(&self, name: &str) -> PathBuf {
            self.dir.path().join(name)
        }

        /// The `TimeStampResp` OpenSSL's TSA answers for `data` (the request is airlock's).
        fn stamp(&self, data: &[u8]) -> Vec<u8> {
            std::fs::write(
                self.path("q.tsq"),
                request_der(data, 0x8123_4567_89ab_cdef).expect("req"),
            )
            .expect("write");
            ok(
                self.dir.path(),
                &[
                    "ts",
                    "-reply",
                    "-config",
                    "tsa.cnf",
                    "-queryfile",
                    "q.tsq",
                    "-out",
                    "r.tsr",
                ],
            );
            std::fs::read(self.path("r.tsr")).expect("read")
        }

        fn pin(&self, which: &str) -> PinnedTsa {
            let der = pem_to_der(&std::fs::read_to_string(self.path(which)).expect("read"));
            PinnedTsa::new("test TSA", &der, vec![]).expect("pin")
        }

        /// `openssl ts -verify` of `token` over `data` against this TSA's root.
        fn openssl_accepts(&self, token: &[u8], data: &[u8]) -> bool {
            std::fs::write(self.path("v.tsr"), token).expect("write");
            std::fs::write(self.path("v.data"), data).expect("write");
            openssl(
                self.dir.path(),
                &[
                    "ts", "-verify", "-data", "v.data", "-in", "v.tsr", "-CAfile", "ca.pem",
                ],
            )
            .status
            .success()
        }
    }

    fn pem_to_der(pem: &str) -> Vec<u8> {
        use base64::Engine as _;
        let body: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
        base64::engine::general_purpose::STANDARD
            .decode(body)
            .expect("base64")
    }

    const DATA: &[u8] = b"untrusted comment: signature\nRUQ...\ntrusted comment: x\nabc\n";

    #[test]
    fn tokens_from_openssl_verify_for_each_tsa_key_type() {
        for key in ["ec", "ec384", "rsa"] {
            let tsa = Tsa::new(key, "/CN=test TSA root");
            let token = tsa.stamp(DATA);
            assert!(tsa.openssl_accepts(&token, DATA), "{key}");
            let facts = verify_timestamp(&token, DATA, &[tsa.pin("ca.pem")]).expect(key);
            assert_eq!(facts.tsa, "test TSA");
            assert_eq!(facts.policy_oid, "1.3.6.1.4.1.99999.1");
            assert_eq!(facts.accuracy_secs, 1);
            assert!(
                (facts.time.0 - Timestamp::now().0).abs() < 120,
                "{key}: {:?}",
                facts.time
            );
            // Pinning the TSA certificate itself works too.
            verify_timestamp(&token, DATA, &[tsa.pin("tsa.pem")]).expect("leaf pin");
        }
    }

    #[test]
    fn another_signature_is_refused_by_both() {
        let tsa = Tsa::new("ec", "/CN=test TSA root");
        let token = tsa.stamp(DATA);
        let other = b"another signature file";
        assert!(!tsa.openssl_accepts(&token, other));
        let e = verify_timestamp(&token, other, &[tsa.pin("ca.pem")]).unwrap_err();
        assert!(matches!(e, TrustError::TimestampImprint { .. }), "{e}");
        assert_eq!(e.exit_code(), 3);
    }

    #[test]
    fn another_tsa_is_refused_by_both() {
        let tsa = Tsa::new("ec", "/CN=test TSA root");
        let stranger = Tsa::new("ec", "/CN=test TSA root");
        let token = stranger.stamp(DATA);
        assert!(!tsa.openssl_accepts(&token, DATA));
        let e = verify_timestamp(&token, DATA, &[tsa.pin("ca.pem")]).unwrap_err();
        assert!(matches!(e, TrustError::TimestampUnlistedTsa { .. }), "{e}");
        let e = verify_timestamp(&token, DATA, &[]).unwrap_err();
        assert!(matches!(e, TrustError::TimestampUnlistedTsa { .. }), "{e}");
    }

    #[test]
    fn every_flipped_byte_of_the_tstinfo_is_refused_by_both() {
        let tsa = Tsa::new("ec", "/CN=test TSA root");
        let token = tsa.stamp(DATA);
        // The TSTInfo starts at the policy OID, which OpenSSL writes once.
        let oid = [
            0x06, 0x09, 0x2b, 0x06, 0x01, 0x04, 0x01, 0x86, 0x8d, 0x1f, 0x01,
        ];
        let at = token
            .windows(oid.len())
            .position(|w| w == oid)
            .expect("policy OID");
        for i in [at + 10, at + 20, at + 40] {
            let mut bad = token.clone();
            bad[i] ^= 0x01;
            let ours = verify_timestamp(&bad, DATA, &[tsa.pin("ca.pem")]);
            assert!(ours.is_err(), "byte {i} accepted");
            assert!(
                !tsa.openssl_accepts(&bad, DATA),
                "openssl accepted byte {i}"
            );
        }
    }

    #[test]
    fn gen_time_outside_the_tsa_certificate_is_refused() {
        let tsa = Tsa::new("ec", "/CN=test TSA root");
        let d = tsa.dir.path();
        // A TSA certificate valid only in January 2020; OpenSSL's TSA still signs with it.
        std::fs::write(
            d.join("ca.cnf"),
            "[ca]\ndefault_ca = c\n[c]\ndatabase = ./index.txt\nnew_certs_dir = .\n\
             serial = ./ca.srl\ndefault_md = sha256\npolicy = p\ncopy_extensions = none\n\
             [p]\ncommonName = supplied\n[tsaext]\nbasicConstraints=critical,CA:FALSE\n\
             keyUsage=critical,digitalSignature\nextendedKeyUsage=critical,timeStamping\n",
        )
        .expect("write");
        std::fs::write(d.join("index.txt"), "").expect("write");
        ok(
            d,
            &[
                "ca",
                "-batch",
                "-config",
                "ca.cnf",
                "-cert",
                "ca.pem",
                "-keyfile",
                "ca.key",
                "-in",
                "tsa.csr",
                "-out",
                "tsa.pem",
                "-startdate",
                "20200101000000Z",
                "-enddate",
                "20200201000000Z",
                "-extensions",
                "tsaext",
                "-notext",
            ],
        );
        let token = tsa.stamp(DATA);
        assert!(!tsa.openssl_accepts(&token, DATA));
        let e = verify_timestamp(&token, DATA, &[tsa.pin("ca.pem")]).unwrap_err();
        assert!(matches!(e, TrustError::TimestampCertValidity { .. }), "{e}");
        assert!(e.to_string().contains("2020-02-01"), "{e}");
    }

    #[test]
    fn fractional_gen_time_is_read_and_truncated() {
        let tsa = Tsa::new("rsa", "/CN=test TSA root").config("clock_precision_digits = 3\n");
        let token = tsa.stamp(DATA);
        assert!(tsa.openssl_accepts(&token, DATA));
        let facts = verify_timestamp(&token, DATA, &[tsa.pin("ca.pem")]).expect("fractions");
        assert!((facts.time.0 - Timestamp::now().0).abs() < 120);
        let g = GenTime("20261207010203.5Z".into());
        assert_eq!(g.unix(), GenTime("20261207010203Z".into()).unix());
        for bad in [
            "20261207010203.50Z",
            "20261207010203.Z",
            "202612070102Z",
            "20261207010203",
        ] {
            assert_eq!(GenTime(bad.into()).unix(), None, "{bad}");
        }
    }

    #[test]
    fn a_policy_oid_the_pin_does_not_allow_is_refused() {
        let tsa = Tsa::new("ec", "/CN=test TSA root");
        let token = tsa.stamp(DATA);
        let der = pem_to_der(&std::fs::read_to_string(tsa.path("ca.pem")).expect("read"));
        let only = PinnedTsa::new("t", &der, vec!["1.3.6.1.4.1.99999.2".into()]).expect("pin");
        let e = verify_timestamp(&token, DATA, &[only]).unwrap_err();
        assert!(matches!(e, TrustError::TimestampPolicy { .. }), "{e}");
    }

    #[test]
    fn check_response_wants_the_request_nonce() {
        let tsa = Tsa::new("ec", "/CN=test TSA root");
        let token = tsa.stamp(DATA);
        check_response(&token, DATA, 0x8123_4567_89ab_cdef, &[]).expect("same nonce");
        let e = check_response(&token, DATA, 7, &[]).unwrap_err();
        assert!(matches!(e, TrustError::TimestampNonce { .. }), "{e}");
    }

    #[test]
    fn garbage_and_oversize_are_refused_by_name() {
        let e = verify_timestamp(b"\x30\x03\x02\x01", DATA, &[]).unwrap_err();
        assert!(matches!(e, TrustError::TimestampMalformed { .. }), "{e}");
        let big = vec![0u8; TIMESTAMP_MAX_BYTES + 1];
        let e = verify_timestamp(&big, DATA, &[]).unwrap_err();
        assert!(matches!(e, TrustError::TooLarge { .. }), "{e}");
    }
}
